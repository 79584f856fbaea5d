//! `fgform validate [DIR]`: load and check a stack, including the size of every local package
//! against the API's upload limits; print every problem, exit 0 or 1.

use serde_json::{json, Value};

use crate::cli::ValidateArgs;
use crate::error::ExitStatus;
use crate::manifest::diagnostic::Diagnostic;
use crate::model::Desired;
use crate::session::load_stack;

/// One line describing what a stack holds.
pub fn summary(desired: &Desired) -> String {
    let triggers: usize = desired.functions.values().map(|f| f.triggers.len()).sum();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "stack `{}`{}: {}, {}, {}, {}",
        desired.stack,
        desired
            .stage
            .as_ref()
            .map(|s| format!(" (stage {s})"))
            .unwrap_or_default(),
        plural(desired.functions.len(), "function"),
        plural(triggers, "trigger"),
        plural(desired.dependencies.len(), "dependency").replace("dependencys", "dependencies"),
        plural(desired.workflows.len(), "workflow"),
    )
}

/// `format_version` of `validate --json`.
pub const JSON_FORMAT_VERSION: u32 = 1;

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitStatus> {
    let loaded = load_stack(&args.stack, true);
    if args.json {
        let diagnostics: Vec<Value> = match &loaded {
            Ok(Ok(_)) => Vec::new(),
            Ok(Err(invalid)) => invalid.diagnostics.iter().map(|d| d.to_json()).collect(),
            // Not a problem of the manifests (no such directory, unreadable): still one document.
            Err(e) => vec![error_json(e)],
        };
        crate::outln!("{}", serde_json::to_string_pretty(&document(diagnostics))?);
    }
    match loaded? {
        Ok(desired) => {
            if !args.json {
                crate::outln!("ok: {}", summary(&desired));
            }
            Ok(ExitStatus::Success)
        }
        Err(invalid) => {
            eprint!("{invalid}");
            Ok(ExitStatus::Error)
        }
    }
}

/// The `validate --json` document (docs/validate-json.schema.json) for these diagnostics.
fn document(diagnostics: Vec<Value>) -> Value {
    let count = |severity: &str| diagnostics.iter().filter(|d| d["severity"] == severity).count();
    let (errors, warnings) = (count("error"), count("warning"));
    json!({
        "format_version": JSON_FORMAT_VERSION,
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": warnings,
        "diagnostics": diagnostics,
    })
}

/// An error that kept the stack from loading at all, as a diagnostic with no place.
fn error_json(e: &anyhow::Error) -> Value {
    let parts = crate::error::parts(e);
    let mut message = parts.error;
    for cause in parts.causes {
        message.push_str(": ");
        message.push_str(&cause);
    }
    let mut diagnostic = Diagnostic::new("", message);
    diagnostic.hint = (!parts.hints.is_empty()).then(|| parts.hints.join("\n"));
    diagnostic.to_json()
}
