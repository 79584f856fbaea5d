//! The state lock as users meet it through the real binary (stdin not a terminal, as in
//! CI): a stale lock is broken with a note, a held one is an error whose hint is the
//! `force-unlock` command that removes it, ready to run from the same directory.

use std::path::Path;

use fgform::state::{self, Lock, LockInfo};

use crate::context::HANDLER;
use crate::support::fgform_in;

const STACK: &str =
    "stack: locky\nstages: [prod]\nfunctions:\n  hello:\n    runtime: Python3.9\n    handler: index.handler\n    code: ./hello\n";

/// A working directory holding the stack at `stack/`.
fn workdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("stack/hello")).unwrap();
    std::fs::write(tmp.path().join("stack/stack.yaml"), STACK).unwrap();
    std::fs::write(tmp.path().join("stack/hello/index.py"), HANDLER).unwrap();
    tmp
}

#[test]
fn breaking_a_stale_lock_prints_a_note_naming_its_holder() {
    let tmp = workdir();
    let state = tmp.path().join("state/locky.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let dead = LockInfo {
        id: "0d9c1e5e-dead-lock".into(),
        user: "ci".into(),
        host: "runner-7".into(),
        pid: u32::MAX - 1,
        operation: "apply".into(),
        created: "2026-11-30T23:59:00Z".into(),
        ci_url: None,
    };
    std::fs::write(state::lock_path(&state), serde_json::to_vec(&dead).unwrap()).unwrap();

    let (code, stdout, stderr) = fgform_in(tmp.path(), &["apply", "stack", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let note = stderr
        .lines()
        .find(|l| l.starts_with("note: removed the stale lock"))
        .unwrap_or_else(|| panic!("no note on stderr:\n{stderr}"));
    assert!(note.contains(&dead.to_string()), "{note}");
    assert!(state::holder(&state).is_none(), "released after the apply");
    assert_eq!(state::load(&state).unwrap().unwrap().resources.len(), 1);
}

/// The command between the backticks of the `hint:` line.
fn hinted_command(stderr: &str) -> String {
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint:\n{stderr}"));
    hint.split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no command in {hint}"))
        .to_string()
}

/// Runs a hinted `fgform …` command in `cwd` (its words need no shell quoting here).
fn run_hint(cwd: &Path, command: &str, extra: &[&str]) -> (i32, String, String) {
    let mut words: Vec<&str> = command.split(' ').collect();
    assert_eq!(words.remove(0), "fgform", "{command}");
    words.extend(extra);
    fgform_in(cwd, &words)
}

#[test]
fn the_locked_error_hints_the_force_unlock_command_that_removes_that_lock() {
    let tmp = workdir();
    let cwd = tmp.path();

    // --state given: the hint names it.
    let custom = cwd.join("custom/s.json");
    let lock = Lock::acquire(&custom, "apply", std::time::Duration::ZERO).unwrap();
    let (code, _, stderr) = fgform_in(cwd, &["apply", "stack", "--state", "custom/s.json", "--auto-approve"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("error: state `custom/s.json` is locked by "),
        "{stderr}"
    );
    let command = hinted_command(&stderr);
    assert_eq!(
        command,
        format!("fgform force-unlock {} stack --state custom/s.json", lock.info.id)
    );
    // As printed, without a terminal, it gets as far as asking for confirmation …
    let (code, _, stderr) = run_hint(cwd, &command, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("refusing to force-unlock without confirmation"),
        "{stderr}"
    );
    // … and with the --force its own hint asks for, it removes exactly that lock.
    let (code, stdout, stderr) = run_hint(cwd, &command, &["--force"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("Removed lock {}", lock.info.id)), "{stdout}");
    assert!(state::holder(&custom).is_none());
    drop(lock);

    // The default state of a stage: the hint names the stage, which picks the state file.
    let default = cwd.join("state/locky-prod.json");
    let lock = Lock::acquire(&default, "apply", std::time::Duration::ZERO).unwrap();
    let (code, _, stderr) = fgform_in(cwd, &["state", "rm", "function.hello", "stack", "--stage", "prod"]);
    assert_eq!(code, 1, "{stderr}");
    let command = hinted_command(&stderr);
    assert_eq!(
        command,
        format!("fgform force-unlock {} stack --stage prod", lock.info.id)
    );
    let (code, stdout, stderr) = run_hint(cwd, &command, &["--force"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(state::holder(&default).is_none());
}

#[test]
fn lock_false_runs_without_the_lock_and_says_so_loudly() {
    let tmp = workdir();
    let cwd = tmp.path();
    let state = cwd.join("state/locky.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let held = Lock::acquire(&state, "apply", std::time::Duration::ZERO).unwrap();
    // Held: refused …
    let (code, _, stderr) = fgform_in(cwd, &["apply", "stack", "--auto-approve"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is locked by"), "{stderr}");
    // … unless the user says --lock=false, which warns and leaves the other's lock alone.
    let (code, stdout, stderr) = fgform_in(cwd, &["apply", "stack", "--auto-approve", "--lock=false"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("WARNING: --lock=false"), "{stderr}");
    assert!(stdout.contains("Apply complete!"), "{stdout}");
    assert_eq!(state::holder(&state).map(|h| h.id), Some(held.info.id.clone()));
    // `--lock=true` is the default spelled out.
    let (code, _, stderr) = fgform_in(cwd, &["apply", "stack", "--auto-approve", "--lock=true"]);
    assert_eq!(code, 1, "{stderr}");
    drop(held);
}
