//! Manifest loading end to end: the malformed-manifest corpus (snapshots of the exact error
//! output), the examples, the schema and docs staying in sync, and "never panics" properties.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fgform::manifest::{self, diagnostic, LoadOptions, ManifestError, Source};
use proptest::prelude::*;

fn options() -> LoadOptions {
    LoadOptions {
        env: BTreeMap::from([("HOME".to_string(), "/home/test".to_string())]),
        check_paths: true,
        ..LoadOptions::default()
    }
}

/// Every `tests/fixtures/invalid/<case>/` must fail to load; its rendered diagnostics are
/// snapshotted as `manifest__invalid@<case>.snap`. `options.txt` may hold `stage=…`, `var=k=v`, `var_file=FILE`.
#[test]
fn malformed_manifests_report_every_problem_with_its_place() {
    let root = Path::new("tests/fixtures/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus shrank to {}", cases.len());
    for dir in cases {
        let mut options = options();
        if let Ok(text) = std::fs::read_to_string(dir.join("options.txt")) {
            for line in text.lines() {
                match line.split_once('=') {
                    Some(("stage", stage)) => options.stage = Some(stage.into()),
                    Some(("var_file", name)) => options.var_files.push(dir.join(name)),
                    Some(("var", pair)) => {
                        let (k, v) = pair.split_once('=').unwrap();
                        options.vars.push((k.into(), v.into()));
                    }
                    _ => panic!("bad options line {line}"),
                }
            }
        }
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let output = match manifest::load_dir(&dir, &options) {
            Ok(desired) => panic!("{case} loaded: {desired:#?}"),
            Err(ManifestError::Invalid { dir, diagnostics }) => {
                assert!(!diagnostics.is_empty());
                for d in &diagnostics {
                    assert!(
                        d.location.is_some() || d.path.is_empty() || case == "stage_overlay_missing",
                        "{case}: {d:?} has no location"
                    );
                }
                diagnostic::render_all(&diagnostics, &dir)
            }
            Err(other) => panic!("{case}: {other}"),
        };
        insta::with_settings!({snapshot_suffix => case.as_str(), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!("invalid", output);
        });
    }
}

#[test]
fn examples_validate() {
    for (dir, stage, vars) in [
        ("examples/quickstart", None, vec![]),
        ("examples/shop", None, vec![]),
        ("examples/canary", None, vec![]),
        ("examples/staged", Some("dev"), vec![]),
        ("examples/staged", Some("prod"), vec![]),
    ] {
        let options = LoadOptions {
            stage: stage.map(String::from),
            vars,
            ..options()
        };
        if let Err(err) = manifest::load_dir(Path::new(dir), &options) {
            match err {
                ManifestError::Invalid { dir, diagnostics } => panic!("{}", diagnostic::render_all(&diagnostics, &dir)),
                other => panic!("{dir}: {other}"),
            }
        }
    }
}

#[test]
fn the_shop_example_maps_to_api_fields() {
    let desired = manifest::load_dir(Path::new("examples/shop"), &options()).unwrap();
    let thumbnail = &desired.functions["thumbnail"];
    let body = thumbnail.config_body();
    assert_eq!(body["memory_size"], 512);
    assert_eq!(body["xrole"], "fgs-obs");
    assert_eq!(
        body["strategy_config"],
        serde_json::json!({"concurrency": 100, "concurrent_num": 10})
    );
    assert_eq!(body["user_data"], r#"{"BUCKET":"shop-media-dev","STAGE":"dev"}"#);
    assert_eq!(body["encrypted_user_data"], r#"{"DB_PASSWORD":"change-me"}"#);
    assert!(
        !format!("{thumbnail:?}").contains("change-me"),
        "secrets leak through Debug"
    );
    let nightly = thumbnail.triggers.get("nightly").unwrap().create_body();
    assert_eq!(
        nightly,
        serde_json::json!({"trigger_type_code": "TIMER", "trigger_status": "ACTIVE", "event_data": {
            "name": "nightly", "schedule_type": "Cron", "schedule": "0 30 2 * * ?", "user_event": "{\"mode\":\"full\"}"}})
    );
    assert_eq!(
        desired.functions["orders"]
            .triggers
            .get("hourly-report")
            .unwrap()
            .trigger_status
            .as_str(),
        "DISABLED"
    );
    let async_body = thumbnail.async_config.as_ref().unwrap().body(&desired);
    assert_eq!(async_body["max_async_retry_attempts"], 2);
    assert_eq!(
        async_body["destination_config"]["on_success"]["destination"],
        "FunctionGraph"
    );
    assert_eq!(
        async_body["destination_config"]["on_success"]["param"],
        r#"{"func_urn":"urn:fss:cn-north-4:0123456789abcdef0123456789abcdef:function:default:audit"}"#
    );
    let workflow = desired.workflows["nightly-etl"].definition(&desired);
    assert_eq!(workflow["functions"][0]["name"], "thumbnail");
    assert_eq!(workflow["states"][0]["transition"], "report");
    assert_eq!(
        workflow["states"][0]["actions"][0]["function_ref"]["ref_name"],
        "thumbnail"
    );
    assert_eq!(workflow["states"][0]["on_errors"][0]["transition"], "report");
    assert_eq!(workflow["states"][2]["end"], true);
    // References only: a child's edge to its own function is implied (`Address::parent`).
    let edges: Vec<String> = desired.edges.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
    insta::assert_snapshot!(edges.join("\n"), @r"
    function.orders -> function.notify
    function.thumbnail -> dependency.pillow
    function.thumbnail.async -> function.audit
    workflow.nightly-etl -> function.notify
    workflow.nightly-etl -> function.thumbnail
    ");
    let thumbnail_async = fgform::model::Address::Async("thumbnail".into());
    assert_eq!(
        fgform::plan::order::prerequisites(&desired, &thumbnail_async),
        [
            fgform::model::Address::Function("audit".into()),
            fgform::model::Address::Function("thumbnail".into())
        ]
    );
}

/// `--stage prod` alone deploys prod as prod: before `${stage}`, the example labelled prod
/// `STAGE=dev` and named (so tagged and state-filed) it `staged-dev` unless `--var stage=prod`
/// was given as well. Now the stage itself names the state and the tag.
#[test]
fn stage_overlays_merge_maps_and_replace_the_rest() {
    let options = LoadOptions {
        stage: Some("prod".into()),
        ..options()
    };
    let desired = manifest::load_dir(Path::new("examples/staged"), &options).unwrap();
    let api = &desired.functions["api"];
    assert_eq!(desired.stack, "staged");
    assert_eq!(
        fgform::state::default_path(Path::new(""), &desired.stack, desired.stage.as_deref()),
        Path::new("state/staged-prod.json")
    );
    assert_eq!(desired.stage.as_deref(), Some("prod"));
    assert_eq!(api.memory_size, 1024);
    assert_eq!(api.timeout, 15, "untouched keys survive the overlay");
    assert_eq!(api.environment["LOG_LEVEL"], "warning");
    assert_eq!(api.environment["STAGE"], "prod");
    assert_eq!(api.triggers.get("warmup").unwrap().event_data["schedule"], "5m");
    assert_eq!(desired.provider.as_ref().unwrap().region, "cn-north-4");
}

#[test]
fn variables_come_from_var_then_var_files_then_defaults() {
    let text = "stack: s-${var.a}-${var.b}-${var.c}\nvariables:\n  a: { default: da }\n  b: { default: db }\n  c: { default: dc }\n";
    let sources = vec![Source {
        path: "stack.yaml".into(),
        text: text.into(),
    }];
    let var_files = vec![
        Source {
            path: "one.yaml".into(),
            text: "a: fa\nb: fb\n".into(),
        },
        Source {
            path: "two.yaml".into(),
            text: "b: fb2\n".into(),
        },
    ];
    let options = LoadOptions {
        vars: vec![("a".into(), "cli".into())],
        ..LoadOptions::default()
    };
    let desired = manifest::load_sources(Path::new("."), sources, var_files, &options).unwrap();
    assert_eq!(desired.stack, "s-cli-fb2-dc");
}

#[test]
fn code_sources_map_to_the_code_api() {
    let desired = manifest::load_dir(Path::new("examples/shop"), &options()).unwrap();
    let body = desired.functions["thumbnail"].code_body(desired.region(), Some("UEsDB"), &["v-1".into()]);
    assert_eq!(
        body,
        serde_json::json!({"code_type": "zip", "func_code": {"file": "UEsDB"}, "depend_version_list": ["v-1"], "code_filename": "index.zip"})
    );
    let text = "stack: s\nfunctions:\n  f: { runtime: Java11, handler: a.b, code: obs://bkt/path/f.jar }\n";
    let sources = vec![Source {
        path: "stack.yaml".into(),
        text: text.into(),
    }];
    let desired = manifest::load_sources(Path::new("."), sources, Vec::new(), &LoadOptions::default()).unwrap();
    let body = desired.functions["f"].code_body(desired.region(), None, &[]);
    assert_eq!(body["code_type"], "obs");
    assert_eq!(body["code_url"], "https://bkt.obs.local-1.myhuaweicloud.com/path/f.jar");
}

/// `docs/manifest.schema.json` (what the examples' `$schema` lines point at) is exactly what
/// `fgform schema` prints, and `docs/manifest.md` documents every key.
#[test]
fn schema_file_and_docs_are_in_sync_with_the_format() {
    let schema = serde_json::to_string_pretty(&manifest::schema::json_schema()).unwrap() + "\n";
    let committed = std::fs::read_to_string("docs/manifest.schema.json").unwrap_or_default();
    if committed != schema {
        std::fs::write("docs/manifest.schema.json", &schema).unwrap();
        panic!("docs/manifest.schema.json was stale and has been rewritten; commit it");
    }
    let docs = std::fs::read_to_string("docs/manifest.md").unwrap();
    let table = manifest::schema::reference_table();
    let (begin, end) = ("<!-- keys:begin -->\n", "<!-- keys:end -->");
    let start = docs.find(begin).expect("docs/manifest.md has a keys:begin marker") + begin.len();
    let stop = docs.find(end).expect("docs/manifest.md has a keys:end marker");
    if docs[start..stop] != table {
        std::fs::write(
            "docs/manifest.md",
            format!("{}{table}{}", &docs[..start], &docs[stop..]),
        )
        .unwrap();
        panic!("the key table of docs/manifest.md was stale and has been regenerated; commit it");
    }
    let missing: Vec<String> = manifest::schema::key_paths()
        .into_iter()
        .filter(|path| !docs.contains(&format!("`{path}`")))
        .collect();
    assert!(missing.is_empty(), "docs/manifest.md does not document: {missing:#?}");
}

/// The binary: exit statuses and where output goes.
#[test]
fn cli_validate_package_and_schema() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_fgform"))
            .args(args)
            .env_remove("HUAWEICLOUD_SDK_PROJECT_ID")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, stdout, _) = run(&["validate", "examples/shop"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "ok: stack `shop`: 4 functions, 3 triggers, 1 dependency, 1 workflow\n"
    );
    let (code, stdout, _) = run(&["validate", "examples/staged", "--stage", "prod"]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            Some(0),
            "ok: stack `staged` (stage prod): 1 function, 1 trigger, 0 dependencies, 0 workflows\n"
        )
    );

    let (code, stdout, stderr) = run(&["validate", "tests/fixtures/invalid/bad_memory"]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: functions.f.memory: 300 is not a valid memory size\n"),
        "{stderr}"
    );

    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let (code, stdout, stderr) = run(&["package", "examples/shop", "--list", "--out", out_dir]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("function.thumbnail "), "{stdout}");
    assert!(stdout.contains("  index.py\n"), "{stdout}");
    assert!(!stdout.contains("tests/test_index.py"), "exclude is honoured: {stdout}");
    assert!(out.path().join("function.thumbnail.zip").is_file());
    let (_, again, _) = run(&["package", "examples/shop", "--out", out_dir]);
    let digests = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("function."))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(&again), digests(&stdout), "the same digests on a second run");

    let (code, stdout, _) = run(&["schema"]);
    assert_eq!(code, Some(0));
    let schema: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
}

fn load_text(text: &str) {
    let sources = vec![Source {
        path: "stack.yaml".into(),
        text: text.to_string(),
    }];
    let options = LoadOptions::default();
    let _ = manifest::load_sources(Path::new("."), sources, Vec::new(), &options);
}

fn key() -> impl Strategy<Value = String> {
    let mut keys: Vec<String> = manifest::schema::key_paths()
        .iter()
        .map(|p| p.rsplit('.').next().unwrap().trim_end_matches("[]").to_string())
        .collect();
    keys.extend(["f", "g", "t", "a", "b", "$x", "${var.x}", "on_errors", "next"].map(String::from));
    keys.sort();
    keys.dedup();
    prop::sample::select(keys)
}

fn value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9 .:/${}*?_-]{0,12}".prop_map(serde_json::Value::from),
        prop::sample::select(vec![
            "Python3.9",
            "index.handler",
            "obs://b/k",
            "5m",
            "0 0 * * * ?",
            "End",
            "${env:X, 1}",
            "${var.x}",
            "128"
        ])
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        load_text(&text);
    }

    #[test]
    fn the_loader_never_panics_on_yaml_punctuation(text in "[a-z0-9:{}\\[\\],\\- \\n'\"&*!|>#%@?$.]{0,160}") {
        load_text(&text);
    }

    #[test]
    fn the_loader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        load_text(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn the_loader_never_panics_on_manifest_shaped_documents(
        functions in prop::collection::btree_map("[a-z]{1,3}", value(), 0..3),
        workflows in prop::collection::btree_map("[a-z]{1,3}", value(), 0..2),
        other in value(),
    ) {
        let document = serde_json::json!({"stack": "s", "functions": functions, "workflows": workflows, "dependencies": other.clone(), "variables": other});
        load_text(&serde_yaml::to_string(&document).unwrap());
    }
}

/// Runs the binary with no `HW_*` / `HUAWEICLOUD_*` variable of this process, plus `env`.
fn fgform_with_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fgform"));
    for (name, _) in std::env::vars() {
        if name.starts_with("HW_") || name.starts_with("HUAWEICLOUD_") {
            command.env_remove(name);
        }
    }
    let output = command.args(args).envs(env.iter().copied()).output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The README's promise: with a region, the project id may come from the environment the
/// client reads, so `provider.project_id` is optional; with neither, the error names both.
#[test]
fn project_id_may_come_from_the_environment() {
    let stack = tempfile::tempdir().unwrap();
    std::fs::write(
        stack.path().join("stack.yaml"),
        "stack: s\nprovider:\n  region: cn-north-4\n",
    )
    .unwrap();
    let dir = stack.path().to_str().unwrap();
    for name in ["HUAWEICLOUD_SDK_PROJECT_ID", "HW_PROJECT_ID"] {
        let (code, stdout, stderr) = fgform_with_env(&["validate", dir], &[(name, "0123456789abcdef")]);
        assert_eq!(
            (code, stdout.as_str()),
            (
                Some(0),
                "ok: stack `s`: 0 functions, 0 triggers, 0 dependencies, 0 workflows\n"
            ),
            "{name}: {stderr}"
        );
    }
    let (code, _, stderr) = fgform_with_env(&["validate", dir], &[("HW_PROJECT_ID", " ")]);
    assert_eq!(code, Some(1), "an empty variable counts as unset");
    assert!(
        stderr.contains("error: provider: no `project_id`: it is not in the manifest and neither `HUAWEICLOUD_SDK_PROJECT_ID` nor `HW_PROJECT_ID` is set\n"),
        "{stderr}"
    );
    assert!(stderr.contains("stack.yaml:2:1\n"), "{stderr}");
    assert!(
        stderr.contains("hint: add `project_id:` under `provider:`, or set it in the environment: `export HUAWEICLOUD_SDK_PROJECT_ID=…` (or `HW_PROJECT_ID`)\n"),
        "{stderr}"
    );

    // The loaded model carries the project, so URNs and the client agree.
    let options = LoadOptions {
        env: BTreeMap::from([("HW_PROJECT_ID".to_string(), "p-env".to_string())]),
        ..LoadOptions::default()
    };
    let sources = vec![Source {
        path: "stack.yaml".into(),
        text: "stack: s\nprovider: { region: r }\nfunctions:\n  f: { runtime: Python3.9, handler: a.b, code: obs://b/k, environment: { SELF: '${function.f.urn}' } }\n".into(),
    }];
    let desired = manifest::load_sources(Path::new("."), sources, Vec::new(), &options).unwrap();
    assert_eq!(desired.project_id(), "p-env");
    assert_eq!(
        desired.functions["f"].environment["SELF"],
        "urn:fss:r:p-env:function:default:f"
    );
}

/// The safety issue: `--stage prdo` on a stack that declares no stages used to load the base
/// stack under a new state (`state/quickstart-prdo.json`), so `apply` adopted the real
/// function and `destroy` then deleted it. Any `--stage` on such a stack is refused, and a
/// stage outside a `stages:` list is refused with the known ones.
#[test]
fn stage_must_be_one_the_stack_declares() {
    let load = |dir: &str, stage: &str| {
        let options = LoadOptions {
            stage: Some(stage.into()),
            ..options()
        };
        match manifest::load_dir(Path::new(dir), &options) {
            Ok(desired) => panic!("{dir} --stage {stage} loaded stack `{}`", desired.stack),
            Err(ManifestError::Invalid { diagnostics, .. }) => diagnostics,
            Err(other) => panic!("{other}"),
        }
    };
    let diagnostics = load("examples/quickstart", "prdo");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(
        diagnostics[0].message,
        "`--stage prdo` is given, but the stack at `examples/quickstart` declares no stages"
    );
    assert!(diagnostics[0]
        .hint
        .as_deref()
        .unwrap()
        .starts_with("leave out `--stage`"));

    let stack = tempfile::tempdir().unwrap();
    std::fs::write(stack.path().join("stack.yaml"), "stack: s\nstages: [dev, prod]\n").unwrap();
    let diagnostics = load(stack.path().to_str().unwrap(), "prdo");
    assert_eq!(
        diagnostics[0].hint.as_deref(),
        Some("did you mean `--stage prod`? the stages are: dev, prod")
    );
    let options = LoadOptions {
        stage: Some("dev".into()),
        ..options()
    };
    let desired = manifest::load_dir(stack.path(), &options).expect("a declared stage needs no overlay");
    assert_eq!(desired.stage.as_deref(), Some("dev"));

    // The commands refuse it before touching any state or API (plan would otherwise start
    // the embedded emulator and read a new, empty state).
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("quickstart-prdo.json");
    for verb in ["plan", "destroy"] {
        let (code, stdout, stderr) = fgform_with_env(
            &[
                verb,
                "examples/quickstart",
                "--stage",
                "prdo",
                "--state",
                state_file.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code, Some(1), "{verb}: {stdout}{stderr}");
        assert!(
            stderr.starts_with(
                "error: `--stage prdo` is given, but the stack at `examples/quickstart` declares no stages\n"
            ),
            "{verb}: {stderr}"
        );
        assert_eq!(
            std::fs::read_dir(state.path()).unwrap().count(),
            0,
            "{verb} wrote state"
        );
    }
}

/// `${stage}` has no default: without `--stage` it is an error naming the stages to pass, and
/// the `--var stage=…` that used to be needed is pointed at `--stage`.
#[test]
fn stage_interpolation_needs_a_stage() {
    let err = |options: &LoadOptions| match manifest::load_dir(Path::new("examples/staged"), options) {
        Ok(desired) => panic!("loaded stack `{}`", desired.stack),
        Err(ManifestError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("{other}"),
    };
    let diagnostics = err(&options());
    assert!(!diagnostics.is_empty());
    for d in &diagnostics {
        assert_eq!(d.message, "`${stage}` is used but no `--stage` is given");
        assert_eq!(
            d.hint.as_deref(),
            Some("pass one of the stack's stages: `--stage dev`, `--stage prod`")
        );
        assert!(d.location.is_some());
    }
    let diagnostics = err(&LoadOptions {
        stage: Some("prod".into()),
        vars: vec![("stage".into(), "prod".into())],
        ..options()
    });
    assert_eq!(
        diagnostics[0].hint.as_deref(),
        Some("the stage is given with `--stage`, and `${stage}` is its value")
    );
    let dev = manifest::load_dir(
        Path::new("examples/staged"),
        &LoadOptions {
            stage: Some("dev".into()),
            ..options()
        },
    )
    .unwrap();
    assert_eq!(
        (dev.stack.as_str(), dev.functions["api"].environment["STAGE"].as_str()),
        ("staged", "dev")
    );
}
