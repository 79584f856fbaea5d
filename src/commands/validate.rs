//! `fgform validate [DIR]`: load and check a stack; print every problem, exit 0 or 1.

use anyhow::Context as _;

use crate::cli::{StackArgs, ValidateArgs};
use crate::error::ExitStatus;
use crate::manifest::{self, diagnostic, LoadOptions, ManifestError};
use crate::model::Desired;

/// Loads the stack the arguments name; `Ok(Err(text))` carries rendered diagnostics.
pub fn load(args: &StackArgs) -> anyhow::Result<Result<Desired, String>> {
    let options = LoadOptions {
        stage: args.stage.clone(),
        vars: args.vars.clone(),
        var_files: args.var_files.clone(),
        ..LoadOptions::from_process_env()
    };
    match manifest::load_dir(&args.dir, &options) {
        Ok(desired) => Ok(Ok(desired)),
        Err(ManifestError::Invalid { dir, diagnostics }) => Ok(Err(diagnostic::render_all(&diagnostics, &dir))),
        Err(err) => Err(err).with_context(|| format!("failed to load the stack at `{}`", args.dir.display())),
    }
}

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
    match load(&args.stack)? {
        Ok(desired) => {
            println!("ok: {}", summary(&desired));
            Ok(ExitStatus::Success)
        }
        Err(rendered) => {
            eprint!("{rendered}");
            Ok(ExitStatus::Error)
        }
    }
}
