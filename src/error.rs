//! Exit statuses and the user-facing error rendering: `error: …`, `Caused by: …`,
//! `hint: …`.

use std::fmt::Write as _;
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: ok, no changes.
    Success,
    /// 1: an error.
    Error,
    /// 2: changes or drift present (where `--detailed-exitcode` or `drift` asks).
    Changes,
    /// 130: stopped by Ctrl-C or SIGTERM (after saving what completed).
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Error => ExitCode::from(1),
            ExitStatus::Changes => ExitCode::from(2),
            ExitStatus::Interrupted => ExitCode::from(130),
        }
    }
}

const HINT_PREFIX: &str = "hint: ";

/// A hint attached to an error with `.context(Hint(..))` is printed last, as `hint: …`.
#[derive(Debug)]
pub struct Hint(pub String);

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{HINT_PREFIX}{}", self.0)
    }
}

/// An error chain split the way [`render`] prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// The `error:` line.
    pub error: String,
    /// The `Caused by:` lines, outermost first.
    pub causes: Vec<String>,
    /// The `hint:` lines.
    pub hints: Vec<String>,
}

/// Splits an error chain into its message, its causes and its hints.
pub fn parts(error: &anyhow::Error) -> Parts {
    let mut parts = Parts {
        error: String::new(),
        causes: Vec::new(),
        hints: Vec::new(),
    };
    let mut first = true;
    for cause in error.chain() {
        let text = cause.to_string();
        if let Some(hint) = text.strip_prefix(HINT_PREFIX) {
            parts.hints.push(hint.to_string());
        } else if first {
            parts.error = text;
            first = false;
        } else {
            parts.causes.push(text);
        }
    }
    parts
}

/// Renders an error chain the way every fgform command reports failure.
pub fn render(error: &anyhow::Error) -> String {
    let Parts { error, causes, hints } = parts(error);
    let mut out = String::new();
    if !error.is_empty() || !causes.is_empty() {
        let _ = writeln!(out, "error: {error}");
    }
    for cause in causes {
        let _ = writeln!(out, "  Caused by: {cause}");
    }
    for hint in hints {
        let _ = writeln!(out, "hint: {hint}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn renders_error_causes_and_hints() {
        let err = Err::<(), _>(anyhow::anyhow!("disk full"))
            .context("failed to write `state.json`")
            .context(Hint("free some space".into()))
            .unwrap_err();
        assert_eq!(
            render(&err),
            "error: failed to write `state.json`\n  Caused by: disk full\nhint: free some space\n"
        );
    }
}
