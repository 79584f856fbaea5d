//! The configuration fields of create and PUT /config: checked with the API's rules
//! ([`crate::api::rules`]) and kept keyed by API name.

use serde_json::{json, Map, Value};

use super::super::{opt_int, opt_obj, opt_str, refused, req_int, req_str};
use crate::api::rules;
use crate::emulator::fail::{Fail, Res};

fn check_user_data(m: &Map<String, Value>, key: &str) -> Res<Option<String>> {
    let Some(s) = opt_str(m, key, "FSS.1009")? else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(Some(String::new()));
    }
    let parsed: Value =
        serde_json::from_str(s).map_err(|_| Fail::bad("FSS.1009", format!("{key} must be a JSON object string")))?;
    let obj = parsed
        .as_object()
        .ok_or_else(|| Fail::bad("FSS.1009", format!("{key} must be a JSON object string")))?;
    if obj.values().any(|v| !v.is_string()) {
        return Err(Fail::bad("FSS.1009", format!("every value in {key} must be a string")));
    }
    rules::user_data_keys(key, obj.len()).map_err(refused)?;
    rules::user_data_bytes(key, s.len()).map_err(refused)?;
    Ok(Some(s.to_string()))
}

/// Validates the configuration fields shared by create and PUT /config and returns them
/// keyed by API name.
pub(super) fn validated_config(body: &Map<String, Value>, runtime: &str) -> Res<Map<String, Value>> {
    let mut out = Map::new();
    let handler = req_str(body, "handler", "FSS.1003")?;
    rules::handler(handler, runtime).map_err(refused)?;
    out.insert("handler".into(), json!(handler));
    let memory = req_int(body, "memory_size", "FSS.1007")?;
    rules::memory_size(memory).map_err(refused)?;
    out.insert("memory_size".into(), json!(memory));
    let timeout = req_int(body, "timeout", "FSS.1008")?;
    rules::timeout(timeout).map_err(refused)?;
    out.insert("timeout".into(), json!(timeout));
    for key in ["user_data", "encrypted_user_data"] {
        if let Some(v) = check_user_data(body, key)? {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(d) = super::super::opt_description(body)? {
        out.insert("description".into(), json!(d));
    }
    for key in [
        "xrole",
        "app_xrole",
        "peering_cidr",
        "user_data_encrypt_kms_key_id",
        "heartbeat_handler",
        "gpu_type",
    ] {
        if let Some(v) = opt_str(body, key, "FSS.0400")? {
            out.insert(key.into(), json!(v));
        }
    }
    placement(body, &mut out)?;
    hooks(body, &mut out)?;
    resources(body, &mut out)?;
    Ok(out)
}

/// `func_vpc`, `mount_config` and `strategy_config`.
fn placement(body: &Map<String, Value>, out: &mut Map<String, Value>) -> Res<()> {
    if let Some(vpc) = opt_obj(body, "func_vpc", "FSS.0400")? {
        for key in ["vpc_id", "subnet_id"] {
            if opt_str(vpc, key, "FSS.0400")?.is_none_or(str::is_empty) {
                return Err(Fail::param(format!("func_vpc.{key} is required")));
            }
        }
        out.insert("func_vpc".into(), Value::Object(vpc.clone()));
    }
    if let Some(mc) = opt_obj(body, "mount_config", "FSS.0400")? {
        check_mount_config(mc)?;
        out.insert("mount_config".into(), Value::Object(mc.clone()));
    }
    if let Some(sc) = opt_obj(body, "strategy_config", "FSS.1026")? {
        if let Some(c) = opt_int(sc, "concurrency", "FSS.1026")? {
            rules::max_instances("strategy_config.concurrency", c).map_err(refused)?;
        }
        if let Some(c) = opt_int(sc, "concurrent_num", "FSS.1026")? {
            rules::concurrent_num(c).map_err(refused)?;
        }
        out.insert("strategy_config".into(), Value::Object(sc.clone()));
    }
    Ok(())
}

/// The initializer and pre-stop hooks: a handler and its timeout, together.
fn hooks(body: &Map<String, Value>, out: &mut Map<String, Value>) -> Res<()> {
    let init_handler = opt_str(body, "initializer_handler", "FSS.1404")?.filter(|s| !s.is_empty());
    let init_timeout = opt_int(body, "initializer_timeout", "FSS.1405")?;
    match (init_handler, init_timeout) {
        (Some(h), Some(t)) => {
            if !h.contains('.') {
                return Err(Fail::bad(
                    "FSS.1404",
                    "initializer_handler must look like file.function",
                ));
            }
            rules::initializer_timeout(t).map_err(refused)?;
            out.insert("initializer_handler".into(), json!(h));
            out.insert("initializer_timeout".into(), json!(t));
        }
        (Some(_), None) => {
            return Err(Fail::bad(
                "FSS.1405",
                "initializer_timeout is required with initializer_handler",
            ))
        }
        (None, Some(t)) if t != 0 => {
            return Err(Fail::bad(
                "FSS.1404",
                "initializer_handler is required with initializer_timeout",
            ))
        }
        _ => {}
    }
    let stop_handler = opt_str(body, "pre_stop_handler", "FSS.0400")?.filter(|s| !s.is_empty());
    let stop_timeout = opt_int(body, "pre_stop_timeout", "FSS.0400")?;
    if let Some(h) = stop_handler {
        let t = stop_timeout.ok_or_else(|| Fail::param("pre_stop_timeout is required with pre_stop_handler"))?;
        rules::pre_stop_timeout(t).map_err(refused)?;
        out.insert("pre_stop_handler".into(), json!(h));
        out.insert("pre_stop_timeout".into(), json!(t));
    }
    Ok(())
}

/// GPU memory, ephemeral storage, and the fields kept as sent.
fn resources(body: &Map<String, Value>, out: &mut Map<String, Value>) -> Res<()> {
    if let Some(g) = opt_int(body, "gpu_memory", "FSS.0400")? {
        if !(1024..=16384).contains(&g) || g % 1024 != 0 {
            return Err(Fail::param("gpu_memory must be 1024-16384 in steps of 1024"));
        }
        out.insert("gpu_memory".into(), json!(g));
    }
    if let Some(e) = opt_int(body, "ephemeral_storage", "FSS.0400")? {
        if e != 512 && e != 10240 {
            return Err(Fail::param("ephemeral_storage must be 512 or 10240"));
        }
        out.insert("ephemeral_storage".into(), json!(e));
    }
    for key in [
        "custom_image",
        "log_config",
        "network_controller",
        "extend_config",
        "lts_custom_tag",
        "is_stateful_function",
        "enable_dynamic_memory",
        "enable_lts_log",
        "enable_auth_in_header",
        "enable_class_isolation",
        "domain_names",
        "restore_hook_handler",
        "restore_hook_timeout",
    ] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    Ok(())
}

fn check_mount_config(mc: &Map<String, Value>) -> Res<()> {
    if let Some(user) = opt_obj(mc, "mount_user", "FSS.1075")? {
        for key in ["user_id", "user_group_id"] {
            let id = opt_int(user, key, "FSS.1075")?
                .ok_or_else(|| Fail::bad("FSS.1075", format!("mount_user.{key} is required")))?;
            rules::mount_id(key, id).map_err(refused)?;
        }
    }
    if let Some(mounts) = mc.get("func_mounts") {
        let mounts = mounts
            .as_array()
            .ok_or_else(|| Fail::param("mount_config.func_mounts must be an array"))?;
        rules::mount_count(mounts.len()).map_err(refused)?;
        for m in mounts {
            let m = m
                .as_object()
                .ok_or_else(|| Fail::param("each mount must be an object"))?;
            let ty = req_str(m, "mount_type", "FSS.0400")?;
            rules::mount_type(ty).map_err(refused)?;
            req_str(m, "mount_resource", "FSS.0400")?;
            req_str(m, "local_mount_path", "FSS.0400")?;
            if ty == "ecs" {
                req_str(m, "mount_share_path", "FSS.0400")?;
            }
        }
    }
    Ok(())
}
