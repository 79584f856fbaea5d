//! Names the commit the binary was built from, for `fgform --version`: the `git describe`
//! of the work tree (`-dirty` when it has uncommitted changes), or `FGFORM_COMMIT` when set
//! (a build from a source tarball), else "unknown commit".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=FGFORM_COMMIT");
    // Rebuilt when HEAD moves or the index changes (a commit, a checkout).
    for path in [".git/HEAD", ".git/index", ".git/refs", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("FGFORM_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["describe", "--always", "--dirty", "--abbrev=12", "--exclude", "*"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
                .filter(|c| !c.is_empty())
        });
    let commit = commit.unwrap_or_else(|| "unknown commit".into());
    println!(
        "cargo:rustc-env=FGFORM_LONG_VERSION={} ({commit})",
        env!("CARGO_PKG_VERSION")
    );
}
