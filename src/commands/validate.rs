//! `fgform validate [DIR]`: load and check a stack, including the size of every local package
//! against the API's upload limits; print every problem, exit 0 or 1.

use crate::cli::ValidateArgs;
use crate::error::ExitStatus;
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

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitStatus> {
    match load_stack(&args.stack, true)? {
        Ok(desired) => {
            crate::outln!("ok: {}", summary(&desired));
            Ok(ExitStatus::Success)
        }
        Err(rendered) => {
            eprint!("{rendered}");
            Ok(ExitStatus::Error)
        }
    }
}
