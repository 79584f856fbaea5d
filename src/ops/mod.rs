//! Library operations behind the commands (after cargo's `ops`): what `commands/` and the
//! tests call, so no command is imported as a library. Each returns data or an error;
//! commands render it and pick the exit status.
//!
//! | file | concern |
//! |---|---|
//! | `artifacts.rs` | every local artifact of a stack, built in memory: digests for the plan, base64 for the applier |
//! | `generate.rs` | `fgform generate`'s reads (a live project, its code and dependency packages), the files it writes and the state it records |
//! | `reconcile.rs` | resolving what an interrupted run left, refresh + plan, running a plan through the applier |
//! | `outputs.rs` | a stack's `outputs:` resolved from the manifests and the state alone, rendered as `output` and `apply` print them |
//! | `saved.rs` | plan files: write, read, and the inputs `apply FILE` replays |
//! | `rollout.rs` | the rollouts state records under way: their status with the new version's figures, promote and abort |
//! | `rerun.rs` | suggested commands that run as printed: shell words, paths, the arguments that reach the same stack and state |
//!
//! The settings a command resolves once, and its runtime, are [`crate::session`].

pub mod artifacts;
pub mod generate;
pub mod outputs;
pub mod reconcile;
pub mod rerun;
pub mod rollout;
pub mod saved;

pub use artifacts::{build_artifacts, build_artifacts_with, build_error};
