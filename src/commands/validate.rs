//! `fgform validate [DIR]`: load and check a stack, including the size of every local package
//! against the API's upload limits; print every problem, exit 0 or 1.

use anyhow::Context as _;

use crate::cli::{StackArgs, ValidateArgs};
use crate::error::ExitStatus;
use crate::manifest::{self, diagnostic, LoadOptions, ManifestError};
use crate::model::Desired;

/// Loads the stack the arguments name; `Ok(Err(text))` carries rendered diagnostics.
pub fn load(args: &StackArgs) -> anyhow::Result<Result<Desired, String>> {
    load_with(args, false)
}

/// [`load`], and with `check_upload_sizes` also refuses a local package the API would refuse
/// (packaging each folder into a sink: `validate` does, commands that build the packages
/// anyway check what they build).
fn load_with(args: &StackArgs, check_upload_sizes: bool) -> anyhow::Result<Result<Desired, String>> {
    let options = LoadOptions {
        stage: args.stage.clone(),
        vars: args.vars.clone(),
        var_files: args.var_files.clone(),
        check_upload_sizes,
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
    match load_with(&args.stack, true)? {
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
