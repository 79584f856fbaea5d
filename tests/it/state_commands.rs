//! `fgform state mv` / `state rm` on an applied stack, and `fgform force-unlock` run as the
//! real binary (stdin not a terminal, as in CI).

use fgform::plan::render;
use fgform::state::{self, Lock};

use crate::context::{TestContext, HANDLER};

/// A function with an async config and a timer (also what `json_output` applies).
pub const STACK: &str = r#"
stack: moves
functions:
  hello:
    runtime: Python3.9
    handler: index.handler
    code: ./hello
    async: { max_retries: 1 }
    triggers:
      nightly: { timer: { cron: "0 30 2 * * ?" } }
"#;

#[tokio::test]
async fn moving_a_function_moves_its_children_and_the_plan_stays_empty() {
    let s = TestContext::with_files(&[("stack.yaml", STACK), ("hello/index.py", HANDLER)]).await;
    s.apply().await;
    let before = s.state();
    s.write("stack.yaml", &STACK.replace("  hello:", "  greeter:"));

    // Without the move the rename would destroy and recreate everything.
    let plan = s.plan().await;
    assert!(
        render::text(&plan).contains("Plan: 3 to add, 0 to change, 3 to destroy."),
        "{}",
        render::text(&plan)
    );

    s.ok(&["state", "mv", "function.hello", "function.greeter"]).await;
    let after = s.state();
    assert_eq!(
        after.resources.keys().collect::<Vec<_>>(),
        [
            "function.greeter",
            "function.greeter.async",
            "function.greeter.trigger.nightly"
        ]
    );
    assert_eq!(after.resources["function.greeter"], before.resources["function.hello"]);
    assert_eq!(
        after.resources["function.greeter.trigger.nightly"].id,
        before.resources["function.hello.trigger.nightly"].id
    );
    assert_eq!(
        after.resources["function.greeter.async"].private.get("depends_on"),
        Some(serde_json::json!(["function.greeter"]))
    );
    assert_eq!(after.serial, before.serial + 1);
    assert_eq!(after.lineage, before.lineage);

    let plan = s.plan().await;
    assert!(plan.is_empty() && plan.warnings.is_empty(), "{}", render::text(&plan));

    // A taken destination and a change of kind are refused; the state stays as it is.
    let text = s
        .fails(&[
            "state",
            "mv",
            "function.greeter.trigger.nightly",
            "function.greeter.async",
        ])
        .await;
    assert!(text.contains("a trigger stays a trigger"), "{text}");
    let text = s.fails(&["state", "mv", "function.nope", "function.greeter"]).await;
    assert!(text.contains("error: function.nope is not in state"), "{text}");
    assert!(
        text.contains(&format!(
            "hint: `fgform state list{}` shows the addresses in state",
            s.rerun(false)
        )),
        "{text}"
    );
    assert_eq!(s.state(), after);
}

#[tokio::test]
async fn moving_onto_a_recorded_address_is_refused_with_a_hint() {
    let two = format!("{STACK}  other:\n    runtime: Python3.9\n    handler: index.handler\n    code: ./hello\n");
    let s = TestContext::with_files(&[("stack.yaml", two.as_str()), ("hello/index.py", HANDLER)]).await;
    s.apply().await;
    let before = s.state();
    let text = s.fails(&["state", "mv", "function.hello", "function.other"]).await;
    assert!(text.contains("error: function.other is already in state"), "{text}");
    assert!(
        text.contains(&format!(
            "hint: forget what is recorded there first: `fgform state rm function.other{}`",
            s.rerun(false)
        )),
        "{text}"
    );
    assert_eq!(s.state(), before);
    assert!(state::holder(&s.state_path).is_none());
}

#[tokio::test]
async fn removing_a_function_forgets_its_children_but_not_the_live_function() {
    let s = TestContext::with_files(&[("stack.yaml", STACK), ("hello/index.py", HANDLER)]).await;
    s.apply().await;
    let urn = s.state().resources["function.hello"].id.clone();
    s.ok(&["state", "rm", "function.hello"]).await;
    assert!(s.state().resources.is_empty());
    assert!(s.client.show_function_config_opt(&urn).await.unwrap().is_some());
    let text = s.fails(&["state", "rm", "function.hello"]).await;
    assert!(text.contains("error: function.hello is not in state"), "{text}");
    // It still carries this stack's tag, so the next plan adopts it (and its children).
    let plan = s.plan().await;
    assert!(plan.changes.is_empty(), "{}", render::text(&plan));
    assert_eq!(plan.adopt.len(), 2, "{:?}", plan.adopt);
}

/// `fgform ARGS` as a child process in the current directory (see `support::fgform_in`).
fn fgform(args: &[&str]) -> (i32, String, String) {
    crate::support::fgform_in(std::path::Path::new("."), args)
}

#[test]
fn force_unlock_needs_force_without_a_terminal_and_the_right_id() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state/s.json");
    let state = path.to_str().unwrap();
    let lock = Lock::acquire(&path, "apply", std::time::Duration::ZERO).unwrap();
    let id = lock.info.id.clone();
    // Left behind, as by a killed process.
    std::mem::forget(lock);

    let (code, stdout, stderr) = fgform(&["force-unlock", &id, "--state", state]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("error: refusing to force-unlock without confirmation: stdin is not a terminal"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: pass --force"), "{stderr}");
    assert_eq!(state::holder(&path).map(|h| h.id), Some(id.clone()), "still locked");

    let (code, _, stderr) = fgform(&["force-unlock", "not-the-id", "--state", state, "--force"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: lock id `not-the-id` is not the lock on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Caused by: the state is locked by ") && stderr.contains("running `apply`"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("[lock id {id}]")), "{stderr}");
    assert!(state::holder(&path).is_some(), "still locked");

    let (code, stdout, stderr) = fgform(&["force-unlock", &id, "--state", state, "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("Removed lock {id}, held by ")), "{stdout}");
    assert!(stdout.contains("running `apply`"), "{stdout}");
    assert!(state::holder(&path).is_none(), "unlocked");

    let (code, _, stderr) = fgform(&["force-unlock", &id, "--state", state, "--force"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("error: no lock with id `{id}` is held on")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: the state is not locked"), "{stderr}");
}

#[test]
fn a_held_lock_names_the_way_to_force_unlock_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.json");
    std::fs::write(&path, serde_json::to_vec(&state::State::new("s", None)).unwrap()).unwrap();
    let lock = Lock::acquire(&path, "apply", std::time::Duration::ZERO).unwrap();
    let (code, _, stderr) = fgform(&["state", "rm", "function.x", "--state", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is locked by"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`fgform force-unlock {} . --state {}`",
            lock.info.id,
            path.display()
        )),
        "{stderr}"
    );
}
