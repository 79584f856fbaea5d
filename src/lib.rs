//! fgform: a Terraform-style declarative reconciler for Huawei Cloud FunctionGraph.
//!
//! # Architecture
//!
//! ```text
//!  main.rs ─► cli (clap) ─► commands/<verb>.rs          anyhow at this layer
//!                              │
//!     manifest/ (YAML → validated model/)  package (zip + SHA-512)
//!                              │
//!     plan/ (pure diff, order, drift) ─► apply/ ─► state/
//!                              │
//!                           client/ ──HTTP──► FunctionGraph or emulator/
//!                              └────── api/ ──────┘  wire facts shared by both
//! ```
//!
//! | module | concern | I/O |
//! |---|---|---|
//! | [`cli`] | command-line syntax | none |
//! | [`commands`] | one file per subcommand (`drift.rs`: the read-only drift report); `commands::interrupt` (Ctrl-C/SIGTERM: graceful stop, exit 130) | yes |
//! | [`session`] | a command's settings resolved once (stack, stage, desired model, state path, endpoint or embedded emulator, rate, parallelism, credentials), its state loading and lock, its one tokio runtime | yes |
//! | [`ops`] | library operations the commands and tests call: artifacts in memory, refresh + plan, running a plan (the one `apply::apply` call), plan files, suggested-command arguments | yes |
//! | [`atomic`] | temp file, fsync, rename: the one way a file is replaced | writes files |
//! | [`api`] | URNs, AK/SK signing, limits, timer schedules, wire types, error envelope, local credentials | none |
//! | [`manifest`] | stack directory → validated model: spanned YAML, merging, stages, `${…}`, diagnostics, the format's schema | reads `*.yaml`, var files, checks code paths exist |
//! | [`model`] | typed desired state in API vocabulary (`Desired`, `FunctionSpec`, `Address`, `Secret`), every API limit (`model::limits`), the ownership tag (`model::Owner`: stack, stage, state lineage) | none |
//! | [`package`] | deterministic zips, streaming SHA-512 | reads code folders, writes zips |
//! | [`client`] | typed FunctionGraph calls: signing, IAM tokens, retries, rate limit, create adoption | network |
//! | [`emulator`] | the local FunctionGraph API (store, routes, auth, journal, chaos) | network, `--data` dir |
//! | [`plan`] | pure diff (live × state × desired → changes with their narrowest calls), ordering, plan text, JSON and Markdown (`render/markdown.rs`); saved plans and their stale checks (`plan::saved`); `plan::drift`: live × recorded attributes × project inventory → changed/deleted/unmanaged/pending, the ignore-file parser, drift text and JSON; the record an import writes (`import.rs`) | none |
//! | [`apply`] | refresh (GETs, bounded parallelism), `apply::inventory` (what the project holds beyond the state, for drift), the parallel applier (each mutating call's intent durable before it is sent, its result and the intent's confirmation in one group-committed journal write), `apply::recover`, which resolves the intents a killed run left, and import's reads and refusals (`import.rs`) | network, state file |
//! | [`refresh`] | reads the live side of what the state records and the manifests name: GETs only, bounded parallelism | network |
//! | [`drift`] | pure drift: live × recorded attributes × project inventory → changed/deleted/unmanaged/pending, the ignore-file parser, drift text and JSON | none |
//! | [`printer`] | colour only on a terminal and never with `NO_COLOR`; plan symbols | none |
//! | [`state`] | the state file (serial, lineage, attributes kept as raw JSON, pending intents, atomic save + `.backup`, replayed `.journal`), its lock, and pure surgery for `state mv`/`rm` (`surgery.rs`) | state dir |
//! | [`error`] | exit statuses, `error:`/`Caused by:`/`hint:` rendering | none |
//!
//! Rules: `model`, `plan` and `api` do no I/O; `emulator` and `client` depend on `api` only,
//! so the client can never lean on emulator internals and the emulator never on the client.
//! [`atomic`] (temp file, fsync, rename: the one way a file is replaced) is a leaf that
//! depends on nothing in the crate, so every layer, `emulator` included, may use it.

pub mod api;
pub mod apply;
pub mod atomic;
pub mod cli;
pub mod client;
pub mod commands;
pub mod drift;
pub mod emulator;
pub mod error;
pub mod manifest;
pub mod model;
pub mod ops;
pub mod package;
pub mod plan;
pub mod printer;
pub mod refresh;
pub mod session;
pub mod state;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::ExitStatus;

/// Entry point behind `src/main.rs`: parse, run, render errors, map the exit status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(cli::terraform_spellings(args)) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            eprint!("{}", error::render(&err));
            ExitStatus::Error.into()
        }
    }
}

/// Sends `tracing` output to stderr when `--debug` or `RUST_LOG` asks for it.
fn init_logging(debug: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ if debug => EnvFilter::new("fgform=debug"),
        _ => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(printer::stderr_color())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    init_logging(cli.debug);
    match cli.command {
        Command::Emulator(args) => commands::emulator::run(args),
        Command::Validate(args) => commands::validate::run(args),
        Command::Package(args) => commands::package::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Apply(args) => commands::apply::run(args, false),
        Command::Destroy(args) => commands::apply::run(args, true),
        Command::Drift(args) => commands::drift::run(args),
        Command::Show(args) => commands::state::show(args),
        Command::State(args) => commands::state::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::ForceUnlock(args) => commands::force_unlock::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_out_spellings_parse_as_out() {
        for args in [
            ["fgform", "plan", "-out", "p.plan"].as_slice(),
            &["fgform", "plan", "-out=p.plan"],
            &["fgform", "plan", "--out", "p.plan"],
        ] {
            let cli = Cli::try_parse_from(cli::terraform_spellings(args.iter().map(OsString::from))).unwrap();
            let Command::Plan(plan) = cli.command else {
                panic!("not a plan")
            };
            assert_eq!(plan.out.as_deref(), Some(std::path::Path::new("p.plan")), "{args:?}");
        }
    }
}
