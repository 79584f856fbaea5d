//! One module per subcommand: thin glue from parsed arguments to the library.

pub mod emulator;
