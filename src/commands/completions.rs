//! `fgform completions SHELL` and `fgform man`: the command line as clap knows it, written out
//! as a shell completion script or a roff man page.
//!
//! Terraform's single-dash `-out FILE` is rewritten to `--out` before clap parses
//! ([`crate::cli::terraform_spellings`]), so both only know `--out`; its help says `-out` works too.

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::ExitStatus;

pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "fgform", &mut script);
    crate::out!("{}", String::from_utf8(script)?);
    Ok(ExitStatus::Success)
}

pub fn man(args: ManArgs) -> anyhow::Result<ExitStatus> {
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
        clap_mangen::generate_to(Cli::command(), &dir)
            .with_context(|| format!("failed to write the man pages into `{}`", dir.display()))?;
        return Ok(ExitStatus::Success);
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    crate::out!("{}", String::from_utf8(page)?);
    Ok(ExitStatus::Success)
}
