//! Shells the completion tests load `fgform completions` into. bash is everywhere; fish is
//! found on `PATH` or installed on first use with Debian's `apt-get` (the tests run as root
//! on a fresh machine; `.ci/run` pre-installs it). Installing happens once per machine: one
//! test thread per process, and a file lock across test processes so two `apt-get` runs never
//! race for dpkg's lock. A fish that cannot be installed fails the test, loudly, with a hint.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::seaweedfs::{install, on_path};

/// The `fish` binary, installed when missing.
pub fn fish() -> PathBuf {
    static FISH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FISH.get_or_init(find_or_install_fish)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn find_or_install_fish() -> Result<PathBuf, String> {
    if let Some(fish) = on_path("fish") {
        return Ok(fish);
    }
    let lock_path = std::env::temp_dir().join("fgform-test-install-fish.lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    // Another test process may have installed it while this one waited for the lock.
    if let Some(fish) = on_path("fish") {
        return Ok(fish);
    }
    let hint = "hint: install fish (`apt-get install fish`, `brew install fish`) and put it on PATH";
    install(Command::new("apt-get").args(["update", "-q"])).map_err(|e| format!("{e}\n{hint}"))?;
    install(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", "fish"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map_err(|e| format!("{e}\n{hint}"))?;
    on_path("fish").ok_or_else(|| format!("apt-get installed fish but no `fish` is on PATH\n{hint}"))
}
