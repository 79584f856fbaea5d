use super::*;
use crate::api::types::StrategyConfig;

fn names() -> Names {
    Names {
        functions: [("urn:fss:r:p:function:default:audit".to_string(), "audit".to_string())].into(),
        workflows: BTreeMap::new(),
        dependencies: BTreeMap::new(),
    }
}

#[test]
fn urns_become_references_only_where_whole() {
    let n = names();
    assert_eq!(n.text("urn:fss:r:p:function:default:audit"), "${function.audit.urn}");
    assert_eq!(
        n.text("urn:fss:r:p:function:default:audit:!live"),
        "${function.audit.urn}:!live"
    );
    assert_eq!(
        n.text("urn:fss:r:p:function:default:audit2"),
        "urn:fss:r:p:function:default:audit2"
    );
    assert_eq!(n.text("cost ${x}"), "cost $${x}");
    assert_eq!(n.function("urn:fss:r:p:function:default:audit:latest"), "audit");
    assert_eq!(
        n.function("urn:fss:r:p:function:default:other"),
        "urn:fss:r:p:function:default:other"
    );
}

#[test]
fn secret_placeholders_name_the_function_and_the_key() {
    assert_eq!(
        function::secret_var("thumb-nail", "db.password"),
        "THUMB_NAIL_DB_PASSWORD"
    );
}

fn found() -> Found {
    let config = FunctionConfig {
        func_urn: "urn:fss:r:p:function:default:api:latest".into(),
        func_name: "api".into(),
        package: "default".into(),
        runtime: "Python3.9".into(),
        handler: "index.handler".into(),
        memory_size: 256,
        timeout: 30,
        user_data: r#"{"AUDIT":"urn:fss:r:p:function:default:audit","N":"1"}"#.into(),
        encrypted_user_data: r#"{"TOKEN":""}"#.into(),
        strategy_config: Some(StrategyConfig {
            concurrency: Some(-1),
            concurrent_num: Some(5),
        }),
        ..Default::default()
    };
    let audit = FunctionConfig {
        func_urn: "urn:fss:r:p:function:default:audit:latest".into(),
        func_name: "audit".into(),
        runtime: "Python3.9".into(),
        handler: "index.handler".into(),
        memory_size: 128,
        timeout: 3,
        ..Default::default()
    };
    let timer = Trigger {
        trigger_id: "t1".into(),
        trigger_type_code: "TIMER".into(),
        trigger_status: "DISABLED".into(),
        event_data: serde_json::json!({"name": "nightly", "schedule_type": "Cron", "schedule": "0 0 2 * * ?", "user_event": "{}"})
            .as_object()
            .unwrap()
            .clone(),
        ..Default::default()
    };
    Found {
        stack: "gen".into(),
        functions: vec![
            FoundFunction {
                config,
                triggers: vec![timer],
                code: Code::Folder("./functions/api".into()),
                tags: vec![Tag {
                    key: "team".into(),
                    value: "x".into(),
                }],
                ..Default::default()
            },
            FoundFunction {
                config: audit,
                code: Code::Folder("./functions/audit".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

#[test]
fn a_function_comes_out_in_the_manifests_vocabulary() {
    let generated = generate(&found());
    let text = &generated.manifest;
    for want in [
        "stack: gen\n",
        "  api:\n    runtime: Python3.9\n    handler: index.handler\n    memory: 256\n    timeout: 30\n",
        "    environment:\n      AUDIT: ${function.audit.urn}\n      N: \"1\"\n",
        "      TOKEN: ${env:API_TOKEN}\n",
        "    concurrency_per_instance: 5\n",
        "    tags:\n      team: x\n",
        "      nightly:\n        timer:\n          cron: 0 0 2 * * ?\n        payload: \"{}\"\n        enabled: false\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("max_instances"), "{text}");
    assert_eq!(
        generated.secrets,
        vec![SecretVar {
            function: "api".into(),
            key: "TOKEN".into(),
            var: "API_TOKEN".into()
        }]
    );
    let addresses: Vec<String> = generated.imports.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(
        addresses,
        ["function.api", "function.api.trigger.nightly", "function.audit"]
    );
}

#[test]
fn the_generated_manifest_validates() {
    let generated = generate(&found());
    let dir = tempfile::tempdir().unwrap();
    for f in ["api", "audit"] {
        std::fs::create_dir_all(dir.path().join("functions").join(f)).unwrap();
        std::fs::write(
            dir.path().join("functions").join(f).join("index.py"),
            "def handler(e, c):\n    return 1\n",
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("stack.yaml"), &generated.manifest).unwrap();
    let mut options = crate::manifest::LoadOptions {
        check_paths: true,
        ..Default::default()
    };
    options.env.insert("API_TOKEN".into(), "t".into());
    let desired =
        crate::manifest::load_dir(dir.path(), &options).unwrap_or_else(|e| panic!("{e:?}\n{}", generated.manifest));
    assert_eq!(desired.functions["api"].memory_size, 256);
    assert_eq!(
        desired.functions["api"].environment["AUDIT"],
        desired.function_urn("audit")
    );
}

#[test]
fn secrets_that_would_share_a_variable_get_their_own() {
    let mut found = found();
    let mut other = found.functions[0].clone();
    other.config.func_name = "api-db".into();
    other.config.func_urn = "urn:fss:r:p:function:default:api-db:latest".into();
    other.config.encrypted_user_data = r#"{"PASS":""}"#.into();
    found.functions[0].config.encrypted_user_data = r#"{"DB_PASS":""}"#.into();
    found.functions.push(other);
    let generated = generate(&found);
    let vars: Vec<&str> = generated.secrets.iter().map(|s| s.var.as_str()).collect();
    assert_eq!(vars, ["API_DB_PASS", "API_DB_PASS_2"]);
    assert!(
        generated.manifest.contains("PASS: ${env:API_DB_PASS_2}"),
        "{}",
        generated.manifest
    );
}
