//! One module per subcommand: thin glue from parsed arguments to the library.

pub mod drift;
pub mod emulator;
pub mod force_unlock;
pub mod import;
pub mod interrupt;
pub mod package;
pub mod plan_output;
pub mod reconcile;
pub mod schema;
pub mod state;
pub mod validate;
