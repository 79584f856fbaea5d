//! Writes the fixtures of `tests/plan_fixtures.rs` (`tests/fixtures/plan/<case>/`): each case
//! applies an example to the in-process emulator, makes the change the case is about, then
//! dumps the manifests, the state file and what `refresh` read (`plan::Live`) as JSON.
//!
//! Only with `FGFORM_REGEN_PLAN_FIXTURES=1` (otherwise each test returns at once):
//!
//! ```text
//! FGFORM_REGEN_PLAN_FIXTURES=1 cargo test --test it regen_plan_fixtures
//! ```
//!
//! The dumps are made stable: the state's lineage (random per state, and part of every
//! ownership tag `<stack>[:<stage>]@<lineage>`) becomes [`LINEAGE`], every other UUID (ids,
//! other states' lineages) the n-th of `00000000-0000-4000-8000-…` in order of appearance,
//! and timestamps a fixed instant. Secret fingerprints (salted Argon2id) stay as made: they
//! differ per run, but the planner only verifies them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fgform::api::types::Tag;
use fgform::emulator::ChaosRule;
use fgform::model::limits::OWNERSHIP_TAG_KEY;
use fgform::plan::Live;
use fgform::refresh::refresh;
use fgform::state::State;

use crate::context::TestContext;
use crate::support::copy_dir;

/// The lineage of every fixture state (and of the state a case without `state.json` plans with).
const LINEAGE: &str = "00000000-0000-4000-8000-000000000000";

fn enabled() -> bool {
    std::env::var_os("FGFORM_REGEN_PLAN_FIXTURES").is_some()
}

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plan")
        .join(case)
}

/// Replaces `lineage` by [`LINEAGE`], other UUIDs by sequential ones and timestamps by a
/// fixed instant, consistently over `texts`.
fn canonical(texts: &[&str], lineage: &str) -> Vec<String> {
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let times = [
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?",
            "2026-01-01T00:00:00Z",
        ),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "2026-01-01 00:00:00"),
        (r#""last_modified": \d{10}"#, r#""last_modified": 1767225600"#),
        // Image names carry the time of the code upload.
        (r"latest-\d{12}@[0-9a-f]+", "latest-260101000000@00000"),
    ]
    .map(|(re, to)| (regex::Regex::new(re).unwrap(), to));
    let mut ids: BTreeMap<String, String> = BTreeMap::from([(lineage.to_string(), LINEAGE.to_string())]);
    let mut next = 1;
    texts
        .iter()
        .map(|text| {
            let text = uuid.replace_all(text, |c: &regex::Captures<'_>| {
                ids.entry(c[0].to_string())
                    .or_insert_with(|| {
                        next += 1;
                        format!("00000000-0000-4000-8000-{:012}", next - 1)
                    })
                    .clone()
            });
            times.iter().fold(text.into_owned(), |text, (re, to)| {
                re.replace_all(&text, *to).into_owned()
            })
        })
        .collect()
}

/// Dumps case `case`: `h`'s manifests, `state` (none: the case plans with a new state of
/// lineage [`LINEAGE`]) and what refresh reads for them; `options` becomes `case.json`.
async fn dump(case: &str, h: &TestContext, state: Option<State>, options: Option<serde_json::Value>) {
    let dir = case_dir(case);
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&h.dir, &dir.join("manifests"));
    let desired = h.desired();
    let refresh_state = state.clone().unwrap_or_else(|| {
        let mut s = State::new(&desired.stack, desired.stage.as_deref());
        s.lineage = LINEAGE.into();
        s
    });
    let live = refresh(&h.client, Some(&desired), &refresh_state, 1).await.unwrap();
    let live_text = serde_json::to_string_pretty(&live).unwrap();
    let back: Live = serde_json::from_str(&live_text).unwrap();
    assert_eq!(back, live, "{case}: Live does not round-trip through JSON");
    let state_text = state
        .as_ref()
        .map(|s| serde_json::to_string_pretty(s).unwrap())
        .unwrap_or_default();
    let texts = canonical(&[&state_text, &live_text], &refresh_state.lineage);
    if state.is_some() {
        std::fs::write(dir.join("state.json"), format!("{}\n", texts[0])).unwrap();
    }
    std::fs::write(dir.join("live.json"), format!("{}\n", texts[1])).unwrap();
    if let Some(options) = options {
        let text = serde_json::to_string_pretty(&options).unwrap();
        std::fs::write(dir.join("case.json"), format!("{text}\n")).unwrap();
    }
}

fn append(h: &TestContext, file: &str, text: &str) {
    let path = h.dir.join(file);
    let mut code = std::fs::read_to_string(&path).unwrap();
    code.push_str(text);
    std::fs::write(path, code).unwrap();
}

#[tokio::test]
async fn creates() {
    if !enabled() {
        return;
    }
    let h = super::on_example("shop", None, vec![]).await;
    dump("shop_create", &h, None, None).await;
    let h = super::on_example("staged", Some("prod"), vec![]).await;
    dump(
        "staged_prod_create",
        &h,
        None,
        Some(serde_json::json!({"stage": "prod"})),
    )
    .await;
}

#[tokio::test]
async fn quickstart_changes() {
    if !enabled() {
        return;
    }
    let h = super::applied("quickstart").await;
    h.edit("stack.yaml", "memory: 128", "memory: 256");
    dump("memory_only", &h, Some(h.state()), None).await;

    let h = super::applied("quickstart").await;
    append(&h, "hello/index.py", "\n# changed\n");
    dump("code_only", &h, Some(h.state()), None).await;

    let h = super::applied("quickstart").await;
    h.edit("stack.yaml", "every-5m:", "every-five:");
    dump("timer_rename", &h, Some(h.state()), None).await;

    let h = super::applied("quickstart").await;
    h.edit("stack.yaml", "payload:", "enabled: false\n        payload:");
    dump("timer_disable", &h, Some(h.state()), None).await;

    let h = super::applied("quickstart").await;
    dump("no_changes", &h, Some(h.state()), None).await;

    let rule = ChaosRule::parse("status=400,op=CreateFunctionTrigger,times=1").unwrap();
    let h = super::on_example("quickstart", None, vec![rule]).await;
    let (_, outcome) = h.apply_in_process(false).await;
    assert_eq!(outcome.errors.len(), 1);
    dump("failure_rest", &h, Some(h.state()), None).await;
}

#[tokio::test]
async fn shop_changes() {
    if !enabled() {
        return;
    }
    let h = super::applied("shop").await;
    append(&h, "deps/pillow/python/PIL.py", "\nVERSION = 2\n");
    dump("dependency_bump", &h, Some(h.state()), None).await;

    let h = super::applied("shop").await;
    h.remove_notify();
    std::fs::remove_dir_all(h.dir.join("functions/notify")).unwrap();
    dump("remove_function_used_by_workflow", &h, Some(h.state()), None).await;

    let h = super::applied("shop").await;
    h.edit("workflows.yaml", "mode: full", "mode: quick");
    dump("workflow_state", &h, Some(h.state()), None).await;

    // Applied with the default bucket, planned with `--var media_bucket=…` (case.json): the
    // OBS trigger's event data changes, which only a new trigger can carry.
    let h = super::applied("shop").await;
    let vars = serde_json::json!({"vars": {"media_bucket": "shop-media-prod"}});
    dump("var_changes_trigger_event_data", &h, Some(h.state()), Some(vars)).await;

    // An async config put whose answer was lost: live as desired, not in state.
    let h = super::applied("shop").await;
    let mut state = h.state();
    assert!(state.resources.remove("function.thumbnail.async").is_some());
    dump("async_unrecorded_rerecord", &h, Some(state), None).await;
}

#[tokio::test]
async fn ownership() {
    if !enabled() {
        return;
    }
    // Made by another state of the same stack: its tag names that state's lineage.
    let h = super::applied("quickstart").await;
    dump("owner_other_state_blocked", &h, None, None).await;

    // Made outside fgform: no ownership tag.
    let h = super::on_example("quickstart", None, vec![]).await;
    crate::support::create_function(&h.client, "hello", None).await;
    dump("owner_untagged_blocked", &h, None, None).await;

    // What a crash of this state left: tagged for it, recorded nowhere.
    let h = super::applied("quickstart").await;
    let mut state = h.state();
    state.resources.clear();
    dump("owner_this_state_unrecorded_adopted", &h, Some(state), None).await;

    // Recorded, but tagged the way fgform tagged before the tag named the state.
    let h = super::applied("quickstart").await;
    let urn = h.state().resources["function.hello"].id.clone();
    let tag = Tag {
        key: OWNERSHIP_TAG_KEY.into(),
        value: "quickstart".into(),
    };
    h.client.add_function_tags(&urn, &[tag]).await.unwrap();
    dump("owner_legacy_tag_updated", &h, Some(h.state()), None).await;

    // A code update whose answer was lost: live has the new code, the record the old.
    let h = super::applied("quickstart").await;
    let before = h.state();
    append(&h, "hello/index.py", "\n# changed\n");
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    dump("stale_record_rerecorded", &h, Some(before), None).await;
}

/// The cases of `tests/it/reconcile.rs` the ones above leave out.
#[tokio::test]
async fn reconcile_cases() {
    if !enabled() {
        return;
    }
    // `quickstart_converges_and_destroys` and `staged_converges_and_destroys_in_both_stages`
    // start by creating everything.
    let h = super::on_example("quickstart", None, vec![]).await;
    dump("quickstart_create", &h, None, None).await;
    let h = super::on_example("staged", Some("dev"), vec![]).await;
    dump("staged_dev_create", &h, None, Some(serde_json::json!({"stage": "dev"}))).await;

    // `a_trigger_forgotten_by_state_is_adopted_not_duplicated`: only the trigger's record is
    // gone.
    let h = super::applied("quickstart").await;
    let mut state = h.state();
    assert!(state.resources.remove("function.hello.trigger.every-5m").is_some());
    dump("trigger_unrecorded_adopted", &h, Some(state), None).await;

    // `an_old_dependency_version_left_by_an_interrupted_replace_is_deleted_next_time`: the
    // replace's last call, the old version's delete, failed.
    let rule = ChaosRule::parse("status=500,op=DeleteDependencyVersion,times=1").unwrap();
    let h = super::on_example("shop", None, vec![rule]).await;
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    append(&h, "deps/pillow/python/PIL.py", "\nVERSION = 2\n");
    let (_, outcome) = h.apply_in_process(false).await;
    assert_eq!(outcome.errors.len(), 1, "the old version's delete failed");
    dump("dependency_old_version_cleanup", &h, Some(h.state()), None).await;
}
