//! Names the commit the binary was built from, for `fgform --version`: the `git describe`
//! of the work tree (`-dirty` when it has uncommitted changes), or `FGFORM_COMMIT` when set
//! (a build from a source tarball), else "unknown commit".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=FGFORM_COMMIT");
    // Rebuilt when HEAD moves or the index changes (a commit, a checkout). Git says where
    // those live: in a linked worktree `.git` is a file, HEAD and index are under the main
    // clone's .git/worktrees/NAME/ and refs are shared, so fixed `.git/...` paths would never
    // change and `--version` would keep naming the commit of the first build.
    for name in ["HEAD", "index", "refs", "packed-refs"] {
        let path = Command::new("git")
            .args(["rev-parse", "--git-path", name])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| format!(".git/{name}"));
        if std::path::Path::new(&path).exists() {
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
