use std::process::ExitCode;

/// jemalloc rather than the system allocator: a reconcile keeps a few hundred thousand
/// small strings and records alive at once (10,000 functions: their specs, state records
/// and live configs), and glibc's 32-byte minimum chunk and per-chunk header cost a third
/// on top of them. A no-op plan of 10,000 functions peaked at 108.5 MB RSS with glibc
/// malloc and at 98 MB with jemalloc (one arena: `.cargo/config.toml`), in less CPU time.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    fgform::main(std::env::args_os())
}
