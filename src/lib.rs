//! fgform: a Terraform-style declarative reconciler for Huawei Cloud FunctionGraph.
//!
//! # Architecture
//!
//! ```text
//!  main.rs ─► cli ─► commands/<verb>.rs ─► session (settings once, one runtime)
//!                                              │
//!                      ops/ (artifacts, refresh + plan, run a plan, plan files)
//!        ┌──────────────┬───────────┬──────────┴──────┬─────────────┬──────────┐
//!    manifest/       package/    refresh          plan/ (pure)    apply/      drift/ (pure)
//!  YAML → model/   zips, SHA-512  GETs → Live   typed calls, order  sends,     live × state
//!                                                                   records ─► state/
//!                                     └──── client/ ──HTTP──► FunctionGraph or emulator/
//!                                              └──────── api/ ────────┘
//! ```
//!
//! | module | what it holds | I/O |
//! |---|---|---|
//! | [`cli`] | the command line (clap), Terraform's `-out` spellings | none |
//! | [`commands`] | one thin file per subcommand: arguments → [`session`] → [`ops`] → output and exit status; `interrupt` (Ctrl-C/SIGTERM, exit 130) | terminal |
//! | [`session`] | a command's settings resolved once: stack, stage, desired model, state location (`--state`, `FGFORM_STATE`, `state:`, default) and codec, endpoint or embedded emulator, credentials, rate, parallelism; its state store, lock and one tokio runtime | files, network |
//! | [`ops`] | operations the commands and tests share: artifacts in memory, resolving an interrupted run, refresh + plan, running a plan (the one `apply::apply` call), plan files, suggested commands, rollout status / promote / abort, `outputs:` resolved from the state | files, network |
//! | [`api`] | the wire vocabulary both sides share: [`api::Operation`] (every SDK operation with its method and path), request and response types, the error body, the one limits table, the API's validation rules (`api::rules`), URNs, AK/SK signing, timer schedules, `Secret`, local credentials | none |
//! | [`manifest`] | stack directory → validated [`model`]: spanned YAML, overlays and stages, `${…}`, diagnostics with file:line, the format's schema | reads the stack |
//! | [`model`] | desired state in API vocabulary (`Desired`, `FunctionSpec`, `Address`); it builds the `api::types` requests; the ownership tag (`Owner`) | none |
//! | [`package`] | deterministic zips hashed once by the writer, upload limits checked in one place | reads code, writes zips |
//! | [`refresh`] | the live side of what the state records and the manifests name ([`plan::Live`]): GETs only, bounded parallelism | network |
//! | [`plan`] | desired × state × live → changes, each with its typed calls (`plan::call`: an operation and the request pure code built), one diff file per resource kind (`resources/`), the step graph (`order`) and the resource graph `fgform graph` draws from its edges (`graph`: `dot` and Mermaid), plan text, JSON and Markdown with a Mermaid chart of each changed workflow (`render`), saved plans and their stale checks (`saved`), import records, rollouts as plans and state carry them and how a step is judged (`rollout`) | none |
//! | [`apply`] | the scheduler (steps in dependency order, `parallelism` at a time, a failure stops only its dependents) and one sender per resource kind (`function`, `dependency`, `trigger`, `async_config`, `version`, `alias`, `workflow`) filling the values only the run knows; `rollout` (an alias's traffic moved to a new version step by step, each step recorded before it is waited on, judged by the new version's statistics, rolled back when it fails); `recover` (intents a killed run left), `inventory` (what the project holds, for drift), `import` (import's reads and refusals) | network |
//! | [`drift`] | live × recorded attributes × inventory → changed/deleted/unmanaged/pending, the ignore file, drift text and JSON | none |
//! | [`generate`] | `fgform generate`'s pure half: what a live project holds → a stack in the manifest's vocabulary (values at defaults left out, the stack's URNs as references, secrets as `${env:…}` placeholders, comments where something cannot be said) and the imports that record it; a small block-YAML writer | none |
//! | [`state`] | the state document (serial, lineage, raw JSON attributes, pending intents) and where it lives: `location` (parsing, pure), `backend` (one trait: conditional write, journal, lock, history; `file`, `postgres`, `s3` for S3/OBS with the store probe), `store` (`StateStore`: load with the journal replayed, conditional save against the version read), `crypto` (AES-256-GCM at rest), the group-commit writer (`recorder`), `state mv`/`rm` surgery | state dir, PostgreSQL, S3/OBS |
//! | [`codestore`] | the code bucket: packages over the inline upload limit put under content-addressed keys in an S3/OBS bucket (`provider.code_bucket`, or the state's), sent as `code_type: obs` | network |
//! | [`client`] | typed FunctionGraph calls per resource family over `transport` (signing, IAM tokens, retries, rate limit, adopting a create whose answer was lost) | network |
//! | [`emulator`] | the local FunctionGraph: axum router per route family (`routes/`), gateway layers (request id, log, body limit, project check, chaos, auth), store + journal, code blobs, control plane (`admin`), the runtimes that run functions' code (`runtime/`: Python and Node worker processes), `EmulatorHandle` | network, `--data` dir, child processes |
//! | [`atomic`] | temp file, fsync, rename: the one way a file is replaced | writes files |
//! | [`printer`] | colour only on a terminal and never with `NO_COLOR`; plan symbols | none |
//! | [`error`] | exit statuses, `error:` / `Caused by:` / `hint:` rendering | none |
//!
//! Rules:
//! - `model`, `plan`, `drift` and `api` do no I/O; their tests need no server (the planner's
//!   fixture cases live in `tests/fixtures/plan/`).
//! - `emulator` and `client` depend on `api` only, so neither can lean on the other.
//!   [`atomic`] depends on nothing in the crate, so every layer may use it.
//! - Operation names are written once, in [`api::Operation`]; limits once, in `api::limits`;
//!   each rule the API enforces once, in `api::rules`, for the emulator and the validator.
//! - Nothing under `src/` imports `commands`: what two commands share lives in `ops` or `session`.

pub mod api;
pub mod apply;
pub mod atomic;
pub mod cli;
pub mod client;
pub mod codestore;
pub mod commands;
pub mod drift;
pub mod emulator;
pub mod error;
pub mod generate;
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
        Command::Graph(args) => commands::graph::run(args),
        Command::Apply(args) => commands::apply::run(args, false),
        Command::Destroy(args) => commands::apply::run(args, true),
        Command::Drift(args) => commands::drift::run(args),
        Command::Show(args) => commands::state::show(args),
        Command::State(args) => commands::state::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::ForceUnlock(args) => commands::force_unlock::run(args),
        Command::Invoke(args) => commands::invoke::run(args),
        Command::Logs(args) => commands::invoke::logs(args),
        Command::Rollout(args) => commands::rollout::run(args),
        Command::Output(args) => commands::output::run(args),
        Command::Completions(args) => commands::completions::run(args),
        Command::Man(args) => commands::completions::man(args),
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
