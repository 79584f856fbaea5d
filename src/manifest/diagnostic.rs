//! Problems found in a stack, with where they are, and their uv-style rendering:
//!
//! ```text
//! error: functions.thumbnail.memory: 300 is not a valid memory size
//!   --> stack.yaml:12:13
//!   = address: function.thumbnail
//! hint: use one of 128, 256, 512, …
//! ```

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::model::Address;

/// A place in a file: path as the user gave it, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct Diagnostic {
    /// The dotted key path, e.g. `functions.thumbnail.memory` (empty for file-level problems).
    pub path: String,
    pub message: String,
    pub location: Option<Location>,
    /// A second place the problem involves (the first definition of a duplicate key).
    pub related: Option<(String, Location)>,
    pub address: Option<Address>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.into(),
            message: message.into(),
            location: None,
            related: None,
            address: None,
            hint: None,
        }
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn with_address(mut self, address: Option<Address>) -> Self {
        self.address = address;
        self
    }

    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// The multi-line rendering (ends with a newline).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.path.is_empty() {
            let _ = writeln!(out, "error: {}", self.message);
        } else {
            let _ = writeln!(out, "error: {}: {}", self.path, self.message);
        }
        if let Some(location) = &self.location {
            let _ = writeln!(out, "  --> {location}");
        }
        if let Some((what, location)) = &self.related {
            let _ = writeln!(out, "  = {what}: {location}");
        }
        if let Some(address) = &self.address {
            let _ = writeln!(out, "  = address: {address}");
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}

impl Diagnostic {
    /// One entry of `validate --json`'s `diagnostics` (docs/validate-json.schema.json):
    /// every field, `null` where the problem has none; paths as the text form prints them.
    pub fn to_json(&self) -> Value {
        let place = |l: Option<&Location>| {
            (
                l.map(|l| l.file.display().to_string()),
                l.map(|l| l.line),
                l.map(|l| l.column),
            )
        };
        let (file, line, column) = place(self.location.as_ref());
        let related = self.related.as_ref().map(|(what, l)| {
            let (file, line, column) = place(Some(l));
            json!({"message": what, "file": file, "line": line, "column": column})
        });
        json!({
            "severity": "error",
            "message": self.message,
            "file": file,
            "line": line,
            "column": column,
            "address": self.address.as_ref().map(Address::to_string),
            "path": (!self.path.is_empty()).then_some(&self.path),
            "hint": self.hint,
            "related": related,
        })
    }
}

/// Renders all problems, a blank line between them, then the count line.
pub fn render_all(diagnostics: &[Diagnostic], dir: &std::path::Path) -> String {
    let mut out = String::new();
    for (i, diagnostic) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&diagnostic.render());
    }
    let n = diagnostics.len();
    let _ = writeln!(
        out,
        "\nerror: found {n} problem{} in the stack at `{}`; nothing was sent to any API",
        if n == 1 { "" } else { "s" },
        dir.display()
    );
    out
}

/// The closest candidate to `input`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let score = strsim::jaro_winkler(&lower, &candidate.to_ascii_lowercase());
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_uv() {
        let diagnostic = Diagnostic::new("functions.thumbnail.memory", "300 is not a valid memory size")
            .at(Some(Location {
                file: "stack.yaml".into(),
                line: 12,
                column: 13,
            }))
            .with_address(Some(Address::Function("thumbnail".into())))
            .with_hint(Some("use one of 128, 256, 512".into()));
        assert_eq!(
            diagnostic.render(),
            "error: functions.thumbnail.memory: 300 is not a valid memory size\n  --> stack.yaml:12:13\n  = address: function.thumbnail\nhint: use one of 128, 256, 512\n"
        );
    }

    #[test]
    fn json_has_every_field_null_where_absent() {
        let place = |file: &str, line, column| Location {
            file: file.into(),
            line,
            column,
        };
        let mut full = Diagnostic::new("functions.f.memory", "bad")
            .at(Some(place("b.yaml", 4, 5)))
            .with_address(Some(Address::Function("f".into())))
            .with_hint(Some("fix it".into()));
        full.related = Some(("first defined at".into(), place("a.yaml", 2, 3)));
        assert_eq!(
            full.to_json(),
            json!({"severity": "error", "message": "bad", "file": "b.yaml", "line": 4, "column": 5,
                   "address": "function.f", "path": "functions.f.memory", "hint": "fix it",
                   "related": {"message": "first defined at", "file": "a.yaml", "line": 2, "column": 3}})
        );
        assert_eq!(
            Diagnostic::new("", "not a mapping").to_json(),
            json!({"severity": "error", "message": "not a mapping", "file": null, "line": null, "column": null,
                   "address": null, "path": null, "hint": null, "related": null})
        );
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("memroy", ["memory", "timeout"]), Some("memory"));
        assert_eq!(did_you_mean("zzz", ["memory", "timeout"]), None);
    }
}
