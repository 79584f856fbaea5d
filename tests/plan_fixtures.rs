//! The planner against fixtures, no server: every `tests/fixtures/plan/<case>/` holds
//!
//! - `manifests/`: a stack dir (`stack.yaml`, code folders), loaded with an empty environment;
//! - `state.json`: the state file (absent: a new state of lineage
//!   `00000000-0000-4000-8000-000000000000`);
//! - `live.json`: what refresh read, a `plan::Live` as JSON;
//! - `case.json` (optional): `{"stage": "prod", "vars": {"name": "value"}}`.
//!
//! Artifacts are packaged from the manifests (local I/O), `plan::plan` runs, and the text
//! and JSON plans are snapshotted as `plan_fixtures__text@<case>.snap` and
//! `plan_fixtures__json@<case>.snap` (and, when the plan rewrites state records without a
//! call, what it writes as `plan_fixtures__rerecord@<case>.snap`). Each snapshot is the planner's spec for its case:
//! review it, never just accept it. The fixtures are written by
//! `FGFORM_REGEN_PLAN_FIXTURES=1 cargo test --test it regen_plan_fixtures`
//! (`tests/it/reconcile/regen_plan_fixtures.rs`), or by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fgform::manifest::{self, LoadOptions};
use fgform::ops::build_artifacts;
use fgform::plan::{self, render, Live};
use fgform::state::{self, State};
use serde::Deserialize;

/// The lineage of the state a case without `state.json` plans with.
const LINEAGE: &str = "00000000-0000-4000-8000-000000000000";

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CaseOptions {
    stage: Option<String>,
    vars: BTreeMap<String, String>,
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// Plans case `dir`; returns the plan and the stack's name.
fn plan_case(dir: &Path) -> (plan::Plan, String) {
    let case = dir.file_name().unwrap().to_string_lossy();
    let options: CaseOptions = match std::fs::read_to_string(dir.join("case.json")) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{case}: case.json: {e}")),
        Err(_) => CaseOptions::default(),
    };
    let load = LoadOptions {
        stage: options.stage,
        vars: options.vars.into_iter().collect(),
        env: BTreeMap::new(),
        check_paths: true,
        ..LoadOptions::default()
    };
    let desired = manifest::load_dir(&dir.join("manifests"), &load).unwrap_or_else(|e| panic!("{case}: {e}"));
    let state = state::load(&dir.join("state.json"))
        .unwrap_or_else(|e| panic!("{case}: state.json: {e}"))
        .unwrap_or_else(|| {
            let mut s = State::new(&desired.stack, desired.stage.as_deref());
            s.lineage = LINEAGE.into();
            s
        });
    let live = std::fs::read_to_string(dir.join("live.json")).unwrap_or_else(|e| panic!("{case}: live.json: {e}"));
    let live: Live = serde_json::from_str(&live).unwrap_or_else(|e| panic!("{case}: live.json: {e}"));
    let (artifacts, _) = build_artifacts(&desired).unwrap_or_else(|e| panic!("{case}: packaging: {e:#}"));
    (plan::plan(&desired, &artifacts, &state, &live), desired.stack)
}

#[test]
fn plans_match_their_snapshots() {
    let cases = cases();
    assert!(cases.len() >= 22, "the plan fixtures shrank to {}", cases.len());
    for dir in cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (plan, stack) = plan_case(&dir);
        insta::with_settings!({snapshot_suffix => case.as_str(), omit_expression => true, description => format!("tests/fixtures/plan/{case}")}, {
            insta::assert_snapshot!("text", render::text(&plan));
            insta::assert_json_snapshot!("json", render::json(&plan, &stack));
            // Neither rendering shows what a rerecord writes into state: that is spec too.
            if !plan.rerecord.is_empty() {
                insta::assert_json_snapshot!("rerecord", plan.rerecord);
            }
        });
    }
}
