//! One module per subcommand: thin glue from parsed arguments to the library.

pub mod emulator;
pub mod package;
pub mod schema;
pub mod validate;
