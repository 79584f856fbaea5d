use std::process::ExitCode;

fn main() -> ExitCode {
    fgform::main(std::env::args_os())
}
