//! One module per subcommand: thin glue from parsed arguments to the library — parse the
//! arguments, open a [`Session`](crate::session::Session), call [`ops`](crate::ops), render,
//! pick the exit status. No library module imports from here.

pub mod apply;
pub mod apply_saved;
pub mod completions;
pub mod drift;
pub mod emulator;
pub mod events;
pub mod force_unlock;
pub mod generate;
pub mod graph;
pub mod import;
pub mod interrupt;
pub mod invoke;
pub mod output;
pub mod package;
pub mod plan;
pub mod plan_output;
pub mod rollout;
pub mod schema;
pub mod state;
pub mod state_versions;
pub mod validate;
