//! The typed requests the model builds are what the JSON forms describe, byte for byte on
//! the wire: each request serializes exactly as its JSON form read back as that request
//! type did (what the applier sent before it took the typed form), and the JSON forms keep
//! the key order plans show.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::api::types::{
    AsyncInvokeConfigRequest, CreateDependencyVersionRequest, CreateFunctionRequest, CreateTriggerRequest, Tag,
    UpdateFunctionCodeRequest, UpdateFunctionConfigRequest, WorkflowDefinition,
};
use crate::manifest::{self, LoadOptions};
use crate::model::Desired;

fn shop() -> Desired {
    let options = LoadOptions {
        env: BTreeMap::from([("HOME".to_string(), "/home/test".to_string())]),
        ..LoadOptions::default()
    };
    manifest::load_dir(Path::new("examples/shop"), &options).unwrap()
}

/// `typed` on the wire is `json` read as `T`, on the wire.
fn same_wire<T: Serialize + DeserializeOwned>(typed: &T, json: Value) {
    let read: T = serde_json::from_value(json).unwrap();
    assert_eq!(
        serde_json::to_string(typed).unwrap(),
        serde_json::to_string(&read).unwrap()
    );
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn function_requests_send_what_their_json_forms_say() {
    let desired = shop();
    let region = desired.region();
    for spec in desired.functions.values() {
        let versions = ["v-1".to_string()];
        same_wire::<UpdateFunctionConfigRequest>(&spec.config_request(), spec.config_body());
        let code = spec.code_request(region, Some("UEsDB"), &versions);
        same_wire::<UpdateFunctionCodeRequest>(&code, spec.code_body(region, Some("UEsDB"), &versions));
        let tags = vec![Tag {
            key: "fgform-owner".into(),
            value: "shop".into(),
        }];
        let mut merged = spec.config_body();
        let code = spec.code_body(region, Some("UEsDB"), &versions);
        merged
            .as_object_mut()
            .unwrap()
            .extend(code.as_object().unwrap().clone());
        merged["tags"] = serde_json::to_string(&tags).unwrap().into();
        let create = spec.create_request(region, Some("UEsDB"), &versions, &tags);
        same_wire::<CreateFunctionRequest>(&create, merged);
    }
}

#[test]
fn function_json_forms_keep_the_order_plans_show() {
    let desired = shop();
    let body = desired.functions["thumbnail"].config_body();
    assert_eq!(
        keys(&body)[..9],
        [
            "func_name",
            "package",
            "runtime",
            "handler",
            "memory_size",
            "timeout",
            "description",
            "user_data",
            "encrypted_user_data"
        ]
    );
    assert_eq!(keys(&body).last(), Some(&"strategy_config"));
    let code = desired.functions["thumbnail"].code_body(desired.region(), None, &[]);
    assert_eq!(
        keys(&code),
        ["code_type", "func_code", "depend_version_list", "code_filename"]
    );
}

#[test]
fn trigger_async_dependency_and_workflow_requests_send_their_json_forms() {
    let desired = shop();
    let mut checked = 0;
    for spec in desired.functions.values() {
        for trigger in spec.triggers.values() {
            same_wire::<CreateTriggerRequest>(&trigger.create_request(), trigger.create_body());
            checked += 1;
        }
        if let Some(a) = &spec.async_config {
            same_wire::<AsyncInvokeConfigRequest>(&a.request(&desired), a.body(&desired));
            assert_eq!(keys(&a.body(&desired)).last(), Some(&"destination_config"));
            checked += 1;
        }
    }
    for d in desired.dependencies.values() {
        let body = d.create_body(desired.region());
        same_wire::<CreateDependencyVersionRequest>(&d.create_request(desired.region()), body.clone());
        assert_eq!(keys(&body)[..3], ["depend_type", "runtime", "name"]);
        checked += 1;
    }
    for w in desired.workflows.values() {
        let definition = w.definition(&desired);
        let request: WorkflowDefinition = serde_json::from_value(definition.clone()).unwrap();
        assert_eq!(request, {
            let mut typed = w.definition_request(&desired);
            // The manifest's `triggers` rides in `extra`; read back it is the field.
            if let Some(Value::Array(t)) = typed.extra.shift_remove("triggers") {
                typed.triggers = Some(t);
            }
            typed
        });
        assert_eq!(keys(&definition)[..3], ["name", "start", "mode"]);
        checked += 1;
    }
    assert!(checked >= 5, "the shop example covers every kind ({checked})");
}
