use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::api::types::{FunctionConfig, Tag, Trigger, Workflow};
use crate::plan::{AttrDiff, Change, LiveFunction};

const URN: &str = "urn:fss:r:p:function:default:api";

fn record(kind: &str, id: &str, attributes: Value, private: Value) -> ResourceState {
    let map = |v: Value| -> BTreeMap<String, Value> { serde_json::from_value(v).unwrap() };
    ResourceState {
        kind: kind.into(),
        id: id.into(),
        attributes: map(attributes).into(),
        private: map(private).into(),
    }
}

/// A state with `function.api` (memory 256, one dependency created in the same apply) and
/// its timer `function.api.trigger.nightly`.
/// The state's lineage, fixed so ownership tags can name it.
const LINEAGE: &str = "0f0f0f0f-0000-4000-8000-00000000000a";

fn state() -> State {
    let mut state = State::new("shop", None).with_identity(LINEAGE, 0);
    state.resources.insert(
        "function.api".into(),
        record(
            "function",
            URN,
            json!({
                "memory_size": 256, "handler": "index.handler", "description": "",
                "user_data": {"STAGE": "dev"}, "encrypted_user_data": "(sensitive)",
                "code": "ab12", "depend_version_list": [KNOWN_AFTER_APPLY],
                "tags": {OWNERSHIP_TAG_KEY: "shop", "team": "web"},
            }),
            json!({"depends_on": ["dependency.lib"], "secrets_hmac": "x"}),
        ),
    );
    state.resources.insert(
        "dependency.lib".into(),
        record(
            "dependency",
            "version-2",
            json!({"name": "lib", "runtime": "Python3.9", "description": "", "content": "md5", "dep_id": "pkg-1", "version": 2}),
            json!({}),
        ),
    );
    state.resources.insert(
        "function.api.trigger.nightly".into(),
        record(
            "trigger",
            "t-1",
            json!({"trigger_type_code": "TIMER", "trigger_status": "ACTIVE", "event_data": {"name": "nightly", "schedule": "1h"}}),
            json!({}),
        ),
    );
    state
}

/// Live matching [`state`] exactly (plus server defaults).
fn live() -> Live {
    let mut live = Live::default();
    live.functions.insert(
        "api".into(),
        Box::new(LiveFunction {
            config: FunctionConfig {
                func_urn: URN.into(),
                func_name: "api".into(),
                memory_size: 256,
                handler: "index.handler".into(),
                user_data: r#"{"STAGE":"dev"}"#.into(),
                encrypted_user_data: "***".into(),
                code_type: "zip".into(),
                digest: "ab12".into(),
                timeout: 30,
                depend_version_list: vec!["version-2".into()],
                ..FunctionConfig::default()
            },
            triggers: vec![Trigger {
                trigger_id: "t-1".into(),
                trigger_type_code: "TIMER".into(),
                trigger_status: "ACTIVE".into(),
                event_data: json!({"name": "nightly", "schedule": "1h", "server_default": 1})
                    .as_object()
                    .unwrap()
                    .clone(),
                ..Trigger::default()
            }],
            async_config: None,
            tags: vec![
                Tag {
                    key: OWNERSHIP_TAG_KEY.into(),
                    value: "shop".into(),
                },
                Tag {
                    key: "team".into(),
                    value: "web".into(),
                },
            ],
            ..LiveFunction::default()
        }),
    );
    live.dependencies.insert(
        "lib".into(),
        DependencyVersion {
            name: "lib".into(),
            runtime: "Python3.9".into(),
            etag: "md5".into(),
            ..DependencyVersion::default()
        },
    );
    live
}

fn detect_plain(state: &State, live: &Live) -> Report {
    detect(state, live, &Inventory::default(), &Plan::default())
}

fn api(live: &mut Live) -> &mut LiveFunction {
    live.functions.get_mut("api").unwrap()
}

#[test]
fn live_matching_the_state_is_no_drift_even_with_a_version_id_recorded_before_it_was_known() {
    let report = detect_plain(&state(), &live());
    assert!(report.in_sync(), "{report:#?}");
    assert_eq!(report.checked.managed_total(), 3);
    assert_eq!(report.checked.managed["function"], 1);
}

#[test]
fn changed_attributes_are_reported_by_path_and_secrets_never() {
    let mut live = live();
    let f = api(&mut live);
    f.config.memory_size = 512;
    f.config.digest = "cd34".into();
    f.config.user_data = r#"{"STAGE":"dev","DEBUG":"1"}"#.into();
    f.config.encrypted_user_data = "something else entirely".into();
    f.tags.retain(|t| t.key != "team");
    f.triggers[0].trigger_status = "DISABLED".into();
    let report = detect_plain(&state(), &live);
    let found: Vec<(String, String, Option<Value>, Option<Value>)> = report
        .changed
        .iter()
        .flat_map(|c| {
            c.attributes.iter().map(|a| {
                (
                    c.address.to_string(),
                    a.path.clone(),
                    a.recorded.clone(),
                    a.live.clone(),
                )
            })
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "function.api".into(),
                "memory_size".into(),
                Some(json!(256)),
                Some(json!(512))
            ),
            ("function.api".into(), "user_data.DEBUG".into(), None, Some(json!("1"))),
            (
                "function.api".into(),
                "code".into(),
                Some(json!("ab12")),
                Some(json!("cd34"))
            ),
            ("function.api".into(), "tags.team".into(), Some(json!("web")), None),
            (
                "function.api.trigger.nightly".into(),
                "trigger_status".into(),
                Some(json!("ACTIVE")),
                Some(json!("DISABLED"))
            ),
        ]
    );
    assert!(report.changed.iter().all(|c| c.baseline == Baseline::State));
    assert!(report.deleted.is_empty());
}

#[test]
fn a_dependency_version_moved_behind_fgforms_back_is_drift() {
    let mut live = live();
    api(&mut live).config.depend_version_list = vec!["version-9".into()];
    let report = detect_plain(&state(), &live);
    let a = &report.changed[0].attributes[0];
    assert_eq!(a.path, "depend_version_list");
    assert_eq!(
        a.recorded,
        Some(json!(["version-2"])),
        "resolved from the dependency's record"
    );
}

#[test]
fn a_dependency_whose_content_changed_is_drift() {
    let mut live = live();
    live.dependencies.get_mut("lib").unwrap().etag = "other".into();
    let report = detect_plain(&state(), &live);
    assert_eq!(report.changed[0].address.to_string(), "dependency.lib");
    assert_eq!(report.changed[0].attributes[0].path, "content");
}

#[test]
fn gone_resources_are_deleted_and_so_are_their_children() {
    let mut gone_trigger = live();
    api(&mut gone_trigger).triggers.clear();
    let report = detect_plain(&state(), &gone_trigger);
    let deleted: Vec<(String, &str)> = report
        .deleted
        .iter()
        .map(|d| (d.address.to_string(), d.reason.as_str()))
        .collect();
    assert_eq!(deleted, [("function.api.trigger.nightly".into(), NOT_FOUND)]);

    let mut gone_function = live();
    gone_function.functions.clear();
    gone_function.dependencies.clear();
    let report = detect_plain(&state(), &gone_function);
    let deleted: Vec<(String, &str)> = report
        .deleted
        .iter()
        .map(|d| (d.address.to_string(), d.reason.as_str()))
        .collect();
    assert_eq!(
        deleted,
        [
            ("dependency.lib".into(), NOT_FOUND),
            ("function.api".into(), NOT_FOUND),
            ("function.api.trigger.nightly".into(), PARENT_GONE),
        ]
    );
    assert_eq!(report.deleted[1].id, URN);
}

fn change(address: &str, action: Action, attributes: Vec<AttrDiff>) -> Change {
    Change {
        address: address.parse().unwrap(),
        action,
        calls: vec![],
        changed: attributes,
        before: None,
        after: None,
        rollout: None,
    }
}

fn attr(path: &str, before: Value, after: Value, sensitive: bool) -> AttrDiff {
    AttrDiff {
        path: path.into(),
        before: Some(before),
        after: Some(after),
        forces_replacement: false,
        sensitive,
    }
}

#[test]
fn an_adopted_resource_compares_with_the_manifests() {
    let mut state = state();
    let trigger = state.resources.get_mut("function.api.trigger.nightly").unwrap();
    trigger.attributes = Default::default();
    let mut live = live();
    api(&mut live).triggers[0].trigger_status = "DISABLED".into();
    let plan = Plan {
        changes: vec![change(
            "function.api.trigger.nightly",
            Action::Update,
            vec![attr("trigger_status", json!("DISABLED"), json!("ACTIVE"), false)],
        )],
        ..Plan::default()
    };
    let report = detect(&state, &live, &Inventory::default(), &plan);
    assert_eq!(report.changed.len(), 1);
    let c = &report.changed[0];
    assert_eq!(c.baseline, Baseline::Manifest);
    assert_eq!(
        c.attributes,
        [AttrDrift {
            path: "trigger_status".into(),
            recorded: Some(json!("ACTIVE")),
            live: Some(json!("DISABLED")),
        }]
    );
    assert!(
        report.pending.is_empty(),
        "reported as changed, so not again as pending"
    );
}

#[test]
fn pending_changes_skip_what_drift_reported_and_hide_secrets() {
    let mut live = live();
    api(&mut live).config.memory_size = 512;
    let plan = Plan {
        changes: vec![
            change(
                "function.api",
                Action::Update,
                vec![attr("memory_size", json!(512), json!(256), false)],
            ),
            change(
                "function.new",
                Action::Create,
                vec![attr("memory_size", json!(1), json!(2), false)],
            ),
            change(
                "function.web",
                Action::Update,
                vec![attr(
                    "encrypted_user_data",
                    json!("(sensitive)"),
                    json!("(sensitive)"),
                    true,
                )],
            ),
        ],
        ..Plan::default()
    };
    let report = detect(&state(), &live, &Inventory::default(), &plan);
    let pending: Vec<String> = report.pending.iter().map(|p| p.address.to_string()).collect();
    assert_eq!(pending, ["function.new", "function.web"]);
    assert!(report.pending[0].attributes.is_empty(), "a create lists no attributes");
    assert_eq!(
        report.pending[1].attributes,
        [PendingAttr {
            path: "encrypted_user_data".into(),
            live: None,
            manifest: None,
            sensitive: true
        }]
    );
}

fn inventory() -> Inventory {
    let function = |name: &str, owner: Option<&str>| ProjectFunction {
        name: name.into(),
        urn: format!("urn:{name}"),
        owner: owner.map(str::to_string),
    };
    Inventory {
        functions: 5,
        unrecorded_functions: vec![
            function("manual", None),
            function("lost", Some(&format!("shop@{LINEAGE}"))),
            function("theirs", Some("billing")),
            function("also-theirs", Some("billing")),
        ],
        workflows: vec![WorkflowSummary {
            id: "w-1".into(),
            name: "adhoc".into(),
            ..WorkflowSummary::default()
        }],
        dependencies: vec![
            DependencyVersion {
                id: "pkg-1".into(),
                name: "lib".into(),
                ..DependencyVersion::default()
            },
            DependencyVersion {
                id: "pkg-2".into(),
                name: "numpy".into(),
                ..DependencyVersion::default()
            },
        ],
    }
}

#[test]
fn unmanaged_resources_are_reported_and_other_stacks_functions_only_counted() {
    let report = detect(&state(), &live(), &inventory(), &Plan::default());
    let unmanaged: Vec<(String, &str, &str)> = report
        .unmanaged
        .iter()
        .map(|u| (u.address.to_string(), u.id.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        unmanaged,
        [
            (
                "function.lost".into(),
                "urn:lost",
                "tagged for this state but not in it"
            ),
            ("function.manual".into(), "urn:manual", "no `fgform-stack` tag"),
            ("dependency.numpy".into(), "pkg-2", "not in this state"),
            ("workflow.adhoc".into(), "w-1", "not in this state"),
        ]
    );
    let c = &report.checked;
    assert_eq!((c.functions, c.other_stacks, c.workflows, c.dependencies), (5, 2, 1, 2));
}

#[test]
fn functions_of_another_state_or_stage_of_this_stack_are_reported_not_counted_away() {
    let mut inventory = inventory();
    inventory.unrecorded_functions = vec![
        ProjectFunction {
            name: "sibling".into(),
            urn: "urn:sibling".into(),
            owner: Some("shop@another-lineage".into()),
        },
        ProjectFunction {
            name: "staged".into(),
            urn: "urn:staged".into(),
            owner: Some(format!("shop:prod@{LINEAGE}")),
        },
        ProjectFunction {
            name: "old".into(),
            urn: "urn:old".into(),
            owner: Some("shop".into()),
        },
    ];
    let report = detect(&state(), &live(), &inventory, &Plan::default());
    let reasons: BTreeMap<String, &str> = report
        .unmanaged
        .iter()
        .map(|u| (u.address.to_string(), u.reason.as_str()))
        .collect();
    assert_eq!(
        reasons["function.sibling"],
        "tagged for stack `shop`, state lineage another-lineage"
    );
    assert_eq!(
        reasons["function.staged"],
        format!("tagged for stack `shop` stage `prod`, state lineage {LINEAGE}")
    );
    assert_eq!(
        reasons["function.old"],
        "tagged for stack `shop` (a tag from before fgform named the owning state)"
    );
    assert_eq!(report.checked.other_stacks, 0);
}

#[test]
fn creates_an_interrupted_run_left_unconfirmed_are_named_as_such() {
    let mut state = state();
    let intent = |call: crate::api::Operation, lookup: Value| crate::state::Intent {
        address: "x".into(),
        call,
        started: "2026-11-23T00:00:00.000Z".into(),
        lookup,
        record: None,
    };
    state.pending.insert(
        "1".into(),
        intent(
            crate::api::Operation::CreateFunction,
            json!({"urn": "urn:lost", "owner": format!("shop@{LINEAGE}")}),
        ),
    );
    state.pending.insert(
        "2".into(),
        intent(crate::api::Operation::CreateWorkflow, json!({"name": "adhoc"})),
    );
    let report = detect(&state, &live(), &inventory(), &Plan::default());
    let reasons: BTreeMap<String, &str> = report
        .unmanaged
        .iter()
        .map(|u| (u.address.to_string(), u.reason.as_str()))
        .collect();
    let interrupted = "created by an interrupted run: the next plan or apply records it";
    assert_eq!(reasons["function.lost"], interrupted);
    assert_eq!(reasons["workflow.adhoc"], interrupted);
    assert_eq!(reasons["function.manual"], "no `fgform-stack` tag");
    assert_eq!(reasons["dependency.numpy"], "not in this state");
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
}

/// A report with one changed function (memory and a tag), one deleted trigger, two
/// unmanaged functions and a pending create.
fn noisy() -> Report {
    let mut live = live();
    let f = api(&mut live);
    f.config.memory_size = 512;
    f.tags.retain(|t| t.key != "team");
    f.triggers.clear();
    let plan = Plan {
        changes: vec![change("function.new", Action::Create, vec![])],
        ..Plan::default()
    };
    let mut inventory = inventory();
    inventory.workflows.clear();
    inventory.dependencies.truncate(1);
    detect(&state(), &live, &inventory, &plan)
}

#[test]
fn ignore_rules_silence_findings_and_count_them_per_rule() {
    let mut report = noisy();
    assert_eq!(
        (
            report.changed[0].attributes.len(),
            report.deleted.len(),
            report.unmanaged.len(),
            report.pending.len()
        ),
        (2, 1, 2, 1)
    );
    let rules = ignore::parse(
        ".fgform-drift-ignore",
        "function.api:memory_size # tuned by hand\n\
         function.*:tags.* # FinOps\n\
         function.api.trigger.* until 2025-06-01 # moving to EventGrid\n\
         function.m* # the data team's\n\
         function.l* until 2025-05-31 # expired yesterday\n\
         function.new # not yet\n\
         workflow.* # nothing matches\n",
    )
    .unwrap();
    report.apply_ignore(&rules, today());
    assert!(report.changed.is_empty(), "every changed attribute was silenced");
    assert!(report.deleted.is_empty());
    assert!(report.pending.is_empty());
    let left: Vec<String> = report.unmanaged.iter().map(|u| u.address.to_string()).collect();
    assert_eq!(left, ["function.lost"], "its rule expired");
    let counts: Vec<(usize, usize)> = report.ignored.iter().map(|r| (r.line, r.matched)).collect();
    assert_eq!(counts, [(1, 1), (2, 1), (3, 1), (4, 1), (6, 1), (7, 0)]);
    assert_eq!(report.ignored_count(), 5);
    assert_eq!(report.expired.iter().map(|r| r.line).collect::<Vec<_>>(), [5]);
    assert!(!report.in_sync());
}

#[test]
fn the_first_matching_rule_takes_a_finding_and_unsilenced_attributes_stay() {
    let mut report = noisy();
    let rules = ignore::parse("i", "function.api:tags.* # one\nfunction.*:* # two\n").unwrap();
    report.apply_ignore(&rules, today());
    assert!(report.changed.is_empty());
    let counts: Vec<usize> = report.ignored.iter().map(|r| r.matched).collect();
    assert_eq!(counts, [1, 1]);

    let mut report = noisy();
    let rules = ignore::parse("i", "function.api:tags.* # one\n").unwrap();
    report.apply_ignore(&rules, today());
    let paths: Vec<&str> = report.changed[0].attributes.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, ["memory_size"]);
}

#[test]
fn the_text_report_has_sections_and_always_the_population_checked() {
    let mut report = noisy();
    let rules = ignore::parse(
        ".fgform-drift-ignore",
        "function.m* # the data team's\nfunction.x until 2020-01-01 # old\n",
    )
    .unwrap();
    report.apply_ignore(&rules, today());
    let text = render::text(&report);
    for line in [
        "  ~ function.api: memory_size 256 -> 512\n",
        "  ~ function.api: tags.team \"web\" -> null\n",
        "  - function.api.trigger.nightly (t-1): not found live\n",
        "  ? function.lost (urn:lost): tagged for this state but not in it\n",
        "  + function.new: create\n",
        "Ignored: 1 finding ignored by 1 rule (1 rule expired: .fgform-drift-ignore:2)\n",
        "  expired, not applied: .fgform-drift-ignore:2  function.x until 2020-01-01  # old\n",
        "Checked 3 managed resources (1 function, 1 trigger, 1 dependency) and 5 live functions, 0 workflows, \
         1 dependency in the project; 2 functions are tagged for other stacks.\n",
        "Drift: 1 changed, 1 deleted, 1 unmanaged, 1 pending; 1 ignored.\n",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    let clean = render::text(&detect_plain(&state(), &live()));
    assert!(
        clean.ends_with(
            "Checked 3 managed resources (1 function, 1 trigger, 1 dependency) and 0 live functions, 0 workflows, \
             0 dependencies in the project.\nNo drift: live resources match the state and the manifests.\n"
        ),
        "{clean}"
    );
}

#[test]
fn the_json_report_carries_counts_findings_and_rules() {
    let mut report = noisy();
    let rules = ignore::parse("ign", "function.m* # data\n").unwrap();
    report.apply_ignore(&rules, today());
    let v = render::json(&report, "2025-06-01T00:00:00Z");
    assert_eq!(v["schema_version"], "1.0");
    assert_eq!(
        v["summary"],
        json!({"changed": 1, "deleted": 1, "unmanaged": 1, "pending": 1, "ignored": 1, "in_sync": false})
    );
    assert_eq!(v["checked"]["managed"]["total"], 3);
    assert_eq!(v["checked"]["project"]["functions_of_other_stacks"], 2);
    assert_eq!(
        v["changed"][0]["attributes"][0],
        json!({"path": "memory_size", "recorded": 256, "live": 512})
    );
    assert_eq!(v["unmanaged"][0]["name"], "lost");
    assert_eq!(v["pending"][0]["action"], "create");
    assert_eq!(
        v["ignored"],
        json!([{"rule": "function.m*", "line": 1, "reason": "data", "expires": null, "matched": 1}])
    );
}

#[test]
fn workflow_definitions_compare_structurally() {
    let mut state = State::new("s", None);
    let definition = json!({"name": "flow", "start": "a", "states": [{"id": "a", "type": "End"}]});
    state.resources.insert(
        "workflow.flow".into(),
        record("workflow", "w-1", json!({"definition": definition}), json!({})),
    );
    let mut live = Live::default();
    let mut workflow = Workflow {
        id: "w-1".into(),
        definition: serde_json::from_value(definition.clone()).unwrap(),
        ..Workflow::default()
    };
    live.workflows.insert("flow".into(), workflow.clone());
    assert!(detect_plain(&state, &live).in_sync());
    workflow.definition.start = "b".into();
    live.workflows.insert("flow".into(), workflow);
    let report = detect_plain(&state, &live);
    assert_eq!(report.changed[0].attributes[0].path, "definition.start");
}
