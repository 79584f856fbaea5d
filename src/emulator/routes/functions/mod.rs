//! Functions: create, list, show/update config, show/update code, max instances, delete.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{
    function_key, is_name, is_unqualified, marker_page, opt_int, opt_obj, opt_str, opt_str_list, page, req_int,
    req_str, resolve, snapshot, Ctx, Resp, Target,
};
use crate::api::limits;
use crate::emulator::blobs::{Pin, Stored};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Code, Db, Function, Snapshot, Table};

/// Package bytes decoded and stored before the store lock is taken.
pub(crate) struct Staged {
    pub stored: Stored,
    /// Keeps the blob from a sweep until the request's row is in the tables.
    pub _pin: Pin,
}

/// Decodes and stores the package of the operations that upload one.
pub(crate) fn stage_code(operation: &str, ctx: &Ctx<'_>) -> Res<Option<Staged>> {
    let (field, code, limit) = match operation {
        "CreateFunction" | "UpdateFunctionCode" => ("func_code", "FSS.1011", limits::PACKAGE_MAX_BYTES),
        "CreateDependencyVersion" | "CreateDependency" | "UpdateDependency" => {
            ("depend_file", "FSS.1024", limits::DEPENDENCY_MAX_BYTES)
        }
        _ => return Ok(None),
    };
    let body = ctx.json()?;
    let encoded = if field == "func_code" {
        let code_type = opt_str(&body, "code_type", "FSS.1006")?.unwrap_or("");
        if !matches!(code_type, "inline" | "zip" | "jar") {
            return Ok(None);
        }
        let func_code = opt_obj(&body, "func_code", "FSS.1011")?;
        let file = match func_code {
            Some(fc) => opt_str(fc, "file", "FSS.1011")?.unwrap_or(""),
            None => "",
        };
        if file.is_empty() {
            if code_type == "inline" {
                let (stored, _pin) = ctx.store_blob(&default_inline_package())?;
                return Ok(Some(Staged { stored, _pin }));
            }
            return Err(Fail::bad("FSS.1012", "func_code.file is required for zip and jar code"));
        }
        file
    } else {
        if opt_str(&body, "depend_type", "FSS.1032")? != Some("zip") {
            return Ok(None);
        }
        match opt_str(&body, "depend_file", "FSS.1024")? {
            Some(f) if !f.is_empty() => f,
            _ => return Err(Fail::bad("FSS.1024", "depend_file is required when depend_type is zip")),
        }
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Fail::bad(code, format!("{field} is not valid base64")))?;
    if bytes.len() as u64 > limit {
        let code = if field == "func_code" { "FSS.1071" } else { "FSS.0413" };
        return Err(Fail::new(
            413,
            code,
            format!("the package is {} bytes; the limit is {limit}", bytes.len()),
        ));
    }
    if !is_zip(&bytes) {
        return Err(Fail::bad("FSS.1013", "the package is not a ZIP file"));
    }
    if field == "func_code"
        && opt_str(&body, "code_type", "FSS.1006")? == Some("inline")
        && bytes.len() as u64 > limits::INLINE_MAX_BYTES
    {
        return Err(Fail::new(
            413,
            "FSS.1072",
            "inline code is larger than 10 KB; upload it as a zip",
        ));
    }
    let (stored, _pin) = ctx.store_blob(&bytes)?;
    Ok(Some(Staged { stored, _pin }))
}

fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The console's default code when an inline function is created without any: a zip
/// holding `index.py`, with fixed timestamps so its digest is stable.
fn default_inline_package() -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        zip.start_file("index.py", options).expect("in-memory zip");
        zip.write_all(b"# -*- coding:utf-8 -*-\nimport json\n\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": json.dumps(event)}\n")
            .expect("in-memory zip");
        zip.finish().expect("in-memory zip");
    }
    buf.into_inner()
}

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
    if obj.len() > limits::USER_DATA_MAX_KEYS {
        return Err(Fail::bad(
            "FSS.1017",
            format!("{key} has {} keys; at most 20 are allowed", obj.len()),
        ));
    }
    if s.len() > limits::USER_DATA_MAX_BYTES {
        return Err(Fail::bad(
            "FSS.1018",
            format!("{key} is {} bytes; at most 4096 are allowed", s.len()),
        ));
    }
    Ok(Some(s.to_string()))
}

fn check_handler(handler: &str, runtime: &str) -> Res<()> {
    if runtime == "Custom Image" || runtime == "http" || runtime == "Custom" {
        if handler.is_empty() || handler.len() > 128 {
            return Err(Fail::bad("FSS.1003", "invalid handler"));
        }
        return Ok(());
    }
    if !limits::HANDLER_LEN.contains(&handler.len()) || !handler.contains('.') || handler.contains(char::is_whitespace)
    {
        return Err(Fail::bad(
            "FSS.1003",
            format!("handler `{handler}` must look like file.function (3-128 characters)"),
        ));
    }
    Ok(())
}

/// Validates the configuration fields shared by create and PUT /config and returns them
/// keyed by API name.
fn validated_config(body: &Map<String, Value>, runtime: &str) -> Res<Map<String, Value>> {
    let mut out = Map::new();
    let handler = req_str(body, "handler", "FSS.1003")?;
    check_handler(handler, runtime)?;
    out.insert("handler".into(), json!(handler));
    let memory = req_int(body, "memory_size", "FSS.1007")?;
    if !limits::MEMORY_SIZES.contains(&memory) {
        return Err(Fail::bad(
            "FSS.1007",
            format!("memory_size {memory} is not one of {:?}", limits::MEMORY_SIZES),
        ));
    }
    out.insert("memory_size".into(), json!(memory));
    let timeout = req_int(body, "timeout", "FSS.1008")?;
    if !limits::TIMEOUT_RANGE.contains(&timeout) {
        return Err(Fail::bad(
            "FSS.1008",
            format!("timeout {timeout} is outside 3-259200 seconds"),
        ));
    }
    out.insert("timeout".into(), json!(timeout));
    for key in ["user_data", "encrypted_user_data"] {
        if let Some(v) = check_user_data(body, key)? {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(d) = super::opt_description(body)? {
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
            if !limits::MAX_INSTANCES.contains(&c) {
                return Err(Fail::bad(
                    "FSS.1026",
                    format!("strategy_config.concurrency {c} is outside -1..1000"),
                ));
            }
        }
        if let Some(c) = opt_int(sc, "concurrent_num", "FSS.1026")? {
            if !limits::CONCURRENT_NUM.contains(&c) {
                return Err(Fail::bad(
                    "FSS.1026",
                    format!("strategy_config.concurrent_num {c} is outside 1..1000"),
                ));
            }
        }
        out.insert("strategy_config".into(), Value::Object(sc.clone()));
    }
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
            if !limits::INITIALIZER_TIMEOUT.contains(&t) {
                return Err(Fail::bad("FSS.1405", "initializer_timeout must be 1-300 seconds"));
            }
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
        if !limits::PRE_STOP_TIMEOUT.contains(&t) {
            return Err(Fail::param("pre_stop_timeout must be 1-90 seconds"));
        }
        out.insert("pre_stop_handler".into(), json!(h));
        out.insert("pre_stop_timeout".into(), json!(t));
    }
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
    ] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    for key in [
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
    Ok(out)
}

fn check_mount_config(mc: &Map<String, Value>) -> Res<()> {
    if let Some(user) = opt_obj(mc, "mount_user", "FSS.1075")? {
        for key in ["user_id", "user_group_id"] {
            let id = opt_int(user, key, "FSS.1075")?
                .ok_or_else(|| Fail::bad("FSS.1075", format!("mount_user.{key} is required")))?;
            if !(-1..=65534).contains(&id) || [0, 1000, 1002].contains(&id) {
                return Err(Fail::bad("FSS.1075", format!("mount_user.{key} {id} is not allowed")));
            }
        }
    }
    if let Some(mounts) = mc.get("func_mounts") {
        let mounts = mounts
            .as_array()
            .ok_or_else(|| Fail::param("mount_config.func_mounts must be an array"))?;
        if mounts.len() > 5 {
            return Err(Fail::param("at most 5 mounts are allowed"));
        }
        for m in mounts {
            let m = m
                .as_object()
                .ok_or_else(|| Fail::param("each mount must be an object"))?;
            let ty = req_str(m, "mount_type", "FSS.0400")?;
            if !["sfs", "sfsTurbo", "ecs"].contains(&ty) {
                return Err(Fail::param(format!("mount_type `{ty}` is not sfs, sfsTurbo or ecs")));
            }
            req_str(m, "mount_resource", "FSS.0400")?;
            req_str(m, "local_mount_path", "FSS.0400")?;
            if ty == "ecs" {
                req_str(m, "mount_share_path", "FSS.0400")?;
            }
        }
    }
    Ok(())
}

/// Code fields of create / PUT code, with the staged package.
fn validated_code(
    body: &Map<String, Value>,
    staged: Option<Staged>,
    db: &Db,
    ctx: &Ctx<'_>,
    runtime: &str,
) -> Res<Code> {
    // code_type is optional for custom-image functions only (§2): it can only be the image.
    let code_type = match opt_str(body, "code_type", "FSS.1006")? {
        None | Some("") if runtime == "Custom Image" => "Custom-Image-Swr",
        _ => req_str(body, "code_type", "FSS.1006")?,
    };
    if !limits::CODE_TYPES.contains(&code_type) {
        return Err(Fail::bad(
            "FSS.1006",
            format!("code_type `{code_type}` is not one of {:?}", limits::CODE_TYPES),
        ));
    }
    let mut code = Code {
        code_type: code_type.to_string(),
        ..Code::default()
    };
    match code_type {
        "obs" => {
            let url = opt_str(body, "code_url", "FSS.1010")?.unwrap_or("");
            if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("obs://")) {
                return Err(Fail::bad("FSS.1010", "code_url must be the OBS URL of the package"));
            }
            code.code_url = url.to_string();
            code.code_filename = url.rsplit('/').next().unwrap_or_default().to_string();
            // The service fetches the object; the emulator cannot, so the digest is that
            // of the URL's text: stable, and it changes when the URL does.
            code.digest = hex::encode(<sha2::Sha512 as sha2::Digest>::digest(url.as_bytes()));
        }
        "Custom-Image-Swr" => {}
        _ => {
            let filename = opt_str(body, "code_filename", "FSS.1013")?.unwrap_or("");
            if code_type != "inline" {
                if filename.is_empty() {
                    return Err(Fail::bad("FSS.1013", "code_filename is required for zip and jar code"));
                }
                let ok_ext = if code_type == "jar" {
                    [".jar", ".zip"]
                } else {
                    [".zip", ".zip"]
                };
                if !ok_ext.iter().any(|e| filename.to_ascii_lowercase().ends_with(e)) {
                    return Err(Fail::bad(
                        "FSS.1013",
                        format!("code_filename `{filename}` does not fit code_type {code_type}"),
                    ));
                }
            }
            code.code_filename = if filename.is_empty() {
                "index.zip".into()
            } else {
                filename.into()
            };
            let staged = staged.ok_or_else(|| Fail::bad("FSS.1012", "func_code.file is required"))?;
            code.digest = staged.stored.sha512;
            code.code_size = staged.stored.size;
        }
    }
    if let Some(list) = opt_str_list(body, "depend_version_list", "FSS.1024")? {
        for id in &list {
            let Some((_, dep)) = super::dependencies::find_version(db, &ctx.project, id) else {
                return Err(Fail::bad("FSS.1024", format!("dependency version {id} does not exist")));
            };
            if dep.runtime != runtime {
                return Err(Fail::bad(
                    "FSS.1024",
                    format!(
                        "dependency version {id} is for {}, the function runs {runtime}",
                        dep.runtime
                    ),
                ));
            }
        }
        code.depend_version_list = list;
    }
    if let Some(k) = opt_str(body, "code_encrypt_kms_key_id", "FSS.0400")? {
        code.code_encrypt_kms_key_id = k.into();
    }
    Ok(code)
}

fn image_name(ctx: &Ctx<'_>, version: &str) -> String {
    let suffix: String = ctx.request_id.chars().take(5).collect();
    format!("{version}-{}@{suffix}", ctx.now.format("%y%m%d%H%M%S"))
}

fn project_code_bytes(db: &Db, project: &str) -> u64 {
    let prefix = format!("{project}/");
    db.tables
        .functions
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, f)| f.latest.code.code_size + f.versions.iter().map(|v| v.code.code_size).sum::<u64>())
        .sum()
}

pub(crate) fn create(ctx: &Ctx<'_>, db: &mut Db, staged: Option<Staged>) -> Res<Resp> {
    let body = ctx.json()?;
    let name = req_str(&body, "func_name", "FSS.1002")?;
    if !is_name(name, limits::FUNCTION_NAME_MAX, &[]) {
        return Err(Fail::bad(
            "FSS.1002",
            format!("func_name `{name}` must start with a letter, end with a letter or digit, use letters, digits, _ and -, and be 1-60 characters"),
        ));
    }
    let package = req_str(&body, "package", "FSS.1004")?;
    if package.is_empty()
        || package.len() > 64
        || !package
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Fail::bad("FSS.1004", format!("package `{package}` is invalid")));
    }
    let runtime = req_str(&body, "runtime", "FSS.1005")?;
    if !limits::RUNTIMES.contains(&runtime) {
        return Err(Fail::bad("FSS.1005", format!("runtime `{runtime}` is not supported")));
    }
    let mut config = validated_config(&body, runtime)?;
    let ty = opt_str(&body, "type", "FSS.0400")?.unwrap_or("v2");
    if ty != "v1" && ty != "v2" {
        return Err(Fail::param(format!("type `{ty}` is not v1 or v2")));
    }
    let epid = opt_str(&body, "enterprise_project_id", "FSS.0400")?.unwrap_or("0");
    let code = validated_code(&body, staged, db, ctx, runtime)?;
    let key = function_key(&ctx.project, name);
    if db.tables.functions.contains_key(&key) {
        return Err(Fail::new(409, "FSS.1061", format!("function {name} already exists")));
    }
    let quotas = &ctx.shared.config.quotas;
    let prefix = format!("{}/", ctx.project);
    let count = db
        .tables
        .functions
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .count() as u64;
    if count >= quotas.functions {
        return Err(Fail::new(
            403,
            "FSS.1041",
            format!("the function quota ({}) is used up", quotas.functions),
        ));
    }
    if project_code_bytes(db, &ctx.project) + code.code_size > quotas.code_size_mb * 1024 * 1024 {
        return Err(Fail::new(403, "FSS.1042", "the total code size quota is used up"));
    }
    let mut tags = Vec::new();
    if let Some(t) = opt_str(&body, "tags", "FSS.0400")? {
        tags = parse_create_tags(t)?;
    }
    config.insert("runtime".into(), json!(runtime));
    config.insert("type".into(), json!(ty));
    config.insert("enterprise_project_id".into(), json!(epid));
    let f = Function {
        project: ctx.project.clone(),
        package: package.to_string(),
        name: name.to_string(),
        func_id: uuid::Uuid::new_v4().to_string(),
        created: ctx.ts(),
        latest: Snapshot {
            version: "latest".into(),
            config,
            code,
            last_modified: ctx.ts(),
            version_description: String::new(),
            image_name: image_name(ctx, "latest"),
        },
        versions: Vec::new(),
        aliases: Default::default(),
        async_configs: Default::default(),
        triggers: Vec::new(),
        tags,
        sys_tags: vec![crate::emulator::store::Tag {
            key: "_sys_enterprise_project_id".into(),
            value: epid.into(),
        }],
    };
    let out = render(ctx, db, &f, &Target::Latest, true);
    db.tables.functions.insert(key.clone(), f);
    db.touch(Table::Functions, &key);
    Resp::ok(out)
}

/// `tags` at create time: a JSON array of `{key, value}` as a string, or `k=v,k2=v2`.
fn parse_create_tags(s: &str) -> Res<Vec<crate::emulator::store::Tag>> {
    use crate::emulator::store::Tag;
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let tags: Vec<Tag> = if let Ok(v) = serde_json::from_str::<Vec<Tag>>(s) {
        v
    } else {
        s.split(',')
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Fail::param(format!("tag `{kv}` is not key=value")))?;
                Ok(Tag {
                    key: k.trim().into(),
                    value: v.trim().into(),
                })
            })
            .collect::<Res<_>>()?
    };
    super::misc::check_tags(&tags)?;
    Ok(tags)
}

/// Renders a function snapshot as the API does (`full`: show/create/update; otherwise a
/// list item without the heavy fields).
pub(crate) fn render(ctx: &Ctx<'_>, db: &Db, f: &Function, target: &Target, full: bool) -> Value {
    let snap = snapshot(f, target);
    let c = &snap.config;
    let get = |k: &str, default: Value| c.get(k).cloned().unwrap_or(default);
    let memory = c.get("memory_size").and_then(Value::as_i64).unwrap_or(128);
    let timeout = c.get("timeout").and_then(Value::as_i64).unwrap_or(3);
    let qualifier = match target {
        Target::Latest => "latest".to_string(),
        Target::Version(_) => snap.version.clone(),
        Target::Alias(a) => format!("!{a}"),
    };
    let mut m = Map::new();
    m.insert("func_id".into(), json!(f.func_id));
    m.insert("resource_id".into(), json!(format!("{}:{}", f.func_id, f.name)));
    let urn = if full {
        ctx.qualified_urn(f, &qualifier)
    } else {
        ctx.function_urn(f)
    };
    m.insert("func_urn".into(), json!(urn));
    m.insert("func_name".into(), json!(f.name));
    m.insert("domain_id".into(), json!(domain_id(&f.project)));
    m.insert("namespace".into(), json!(f.project));
    m.insert("project_name".into(), json!(ctx.region()));
    m.insert("package".into(), json!(f.package));
    m.insert("runtime".into(), get("runtime", json!("")));
    m.insert("timeout".into(), json!(timeout));
    m.insert("handler".into(), get("handler", json!("")));
    m.insert("memory_size".into(), json!(memory));
    m.insert("cpu".into(), json!(limits::cpu_for_memory(memory)));
    m.insert("code_type".into(), json!(snap.code.code_type));
    m.insert("code_url".into(), json!(snap.code.code_url));
    m.insert("code_filename".into(), json!(snap.code.code_filename));
    m.insert("code_size".into(), json!(snap.code.code_size));
    m.insert("digest".into(), json!(snap.code.digest));
    m.insert("user_data".into(), get("user_data", json!("")));
    m.insert(
        "encrypted_user_data".into(),
        json!(mask(c.get("encrypted_user_data").and_then(Value::as_str))),
    );
    m.insert("version".into(), json!(snap.version));
    m.insert("image_name".into(), json!(snap.image_name));
    m.insert("xrole".into(), get("xrole", json!("")));
    m.insert("app_xrole".into(), get("app_xrole", json!("")));
    m.insert("description".into(), get("description", json!("")));
    if !snap.version_description.is_empty() {
        m.insert("version_description".into(), json!(snap.version_description));
    }
    m.insert("last_modified".into(), json!(snap.last_modified));
    let mut strategy = json!({ "concurrency": -1, "concurrent_num": 1 });
    if let Some(Value::Object(sc)) = c.get("strategy_config") {
        for (k, v) in sc {
            strategy[k] = v.clone();
        }
    }
    m.insert("strategy_config".into(), strategy);
    if full {
        if let Some(v) = c.get("func_vpc") {
            m.insert("func_vpc".into(), v.clone());
        }
        if let Some(v) = c.get("mount_config") {
            m.insert("mount_config".into(), v.clone());
        }
        let deps = dependency_views(db, &f.project, &snap.code.depend_version_list);
        let dep_ids: Vec<Value> = deps.iter().map(|d| d["dep_id"].clone()).collect();
        m.insert("depend_list".into(), Value::Array(dep_ids));
        m.insert("depend_version_list".into(), json!(snap.code.depend_version_list));
        m.insert("dependencies".into(), Value::Array(deps));
    } else {
        m.insert(
            "func_vpc_id".into(),
            json!(c
                .get("func_vpc")
                .and_then(|v| v.get("vpc_id"))
                .cloned()
                .unwrap_or(json!(""))),
        );
        m.insert("fail_count".into(), json!(0));
        m.insert("bind_bridge_funcUrns".into(), json!([]));
        m.insert("extend_config".into(), get("extend_config", json!("")));
    }
    for key in [
        "initializer_handler",
        "initializer_timeout",
        "pre_stop_handler",
        "pre_stop_timeout",
    ] {
        if let Some(v) = c.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    m.insert("enterprise_project_id".into(), get("enterprise_project_id", json!("0")));
    m.insert("long_time".into(), json!(timeout > 900));
    let log = c.get("log_config");
    m.insert(
        "log_group_id".into(),
        json!(log.and_then(|l| l.get("group_id")).cloned().unwrap_or(json!(""))),
    );
    m.insert(
        "log_stream_id".into(),
        json!(log.and_then(|l| l.get("stream_id")).cloned().unwrap_or(json!(""))),
    );
    m.insert("type".into(), get("type", json!("v2")));
    m.insert("is_bridge_function".into(), json!(false));
    m.insert("apig_route_enable".into(), json!(false));
    if full {
        m.insert("reserved_instance_count".into(), json!(0));
        m.insert(
            "allow_ephemeral_storage".into(),
            json!(c.contains_key("ephemeral_storage")),
        );
    }
    for (k, v) in c {
        if !m.contains_key(k) && !matches!(k.as_str(), "encrypted_user_data" | "func_vpc" | "mount_config") {
            m.insert(k.clone(), v.clone());
        }
    }
    if full {
        if let Some(cfg) = f.async_configs.get(&qualifier) {
            if !matches!(target, Target::Latest) {
                m.insert("function_async_config".into(), cfg.clone());
            }
        }
    }
    Value::Object(m)
}

/// `encrypted_user_data` comes back with its values blanked: `{"password":""}`.
fn mask(s: Option<&str>) -> String {
    match s.and_then(|s| serde_json::from_str::<Map<String, Value>>(s).ok()) {
        Some(obj) => {
            let masked: Map<String, Value> = obj.into_iter().map(|(k, _)| (k, json!(""))).collect();
            Value::Object(masked).to_string()
        }
        None => String::new(),
    }
}

/// A stable 32-hex account (domain) id for a project.
pub(crate) fn domain_id(project: &str) -> String {
    crate::api::signing::sha256_hex(format!("domain:{project}").as_bytes())[..32].to_string()
}

fn dependency_views(db: &Db, project: &str, ids: &[String]) -> Vec<Value> {
    ids.iter()
        .filter_map(|id| super::dependencies::find_version(db, project, id))
        .map(|(pkg, v)| {
            json!({
                "id": v.id, "owner": domain_id(project), "link": v.link, "runtime": v.runtime, "etag": v.etag,
                "size": v.size, "name": pkg.name, "description": v.description, "file_name": v.file_name,
                "version": v.version, "dep_id": pkg.dep_id, "last_modified": v.last_modified,
            })
        })
        .collect()
}

pub(crate) fn list(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (start, items) = marker_page(ctx, 400)?;
    let package = ctx.query("package_name").filter(|s| !s.is_empty());
    let name = ctx.query("func_name").filter(|s| !s.is_empty());
    let prefix = format!("{}/", ctx.project);
    let all: Vec<&Function> = db
        .tables
        .functions
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, f)| f)
        .filter(|f| package.is_none_or(|p| f.package == p))
        .filter(|f| name.is_none_or(|n| f.name.contains(n)))
        .collect();
    let (page, next, count) = page(all, start, items);
    let functions: Vec<Value> = page
        .iter()
        .map(|f| render(ctx, db, f, &Target::Latest, false))
        .collect();
    Resp::ok(json!({ "functions": functions, "next_marker": next, "count": count }))
}

pub(crate) fn show_config(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, target, _) = resolve(ctx, db, ctx.param(0))?;
    let f = &db.tables.functions[&key];
    Resp::ok(render(ctx, db, f, &target, true))
}

fn require_latest(target: &Target) -> Res<()> {
    if *target != Target::Latest {
        return Err(Fail::bad(
            "FSS.1015",
            "only latest can be changed; published versions are immutable",
        ));
    }
    Ok(())
}

pub(crate) fn update_config(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, target, _) = resolve(ctx, db, ctx.param(0))?;
    require_latest(&target)?;
    let body = ctx.json()?;
    let f = &db.tables.functions[&key];
    let name = req_str(&body, "func_name", "FSS.1002")?;
    if name != f.name {
        return Err(Fail::bad(
            "FSS.1002",
            format!("func_name `{name}` does not match the function `{}`", f.name),
        ));
    }
    let runtime = f
        .latest
        .config
        .get("runtime")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut config = validated_config(&body, &runtime)?;
    // Immutable fields stay; strategy_config has its own call and is kept when omitted;
    // every other optional field omitted from the PUT is cleared.
    for keep in ["runtime", "type", "enterprise_project_id"] {
        if let Some(v) = f.latest.config.get(keep) {
            config.insert(keep.into(), v.clone());
        }
    }
    if !config.contains_key("strategy_config") {
        if let Some(v) = f.latest.config.get("strategy_config") {
            config.insert("strategy_config".into(), v.clone());
        }
    }
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    f.latest.config = config;
    f.latest.last_modified = ctx.ts();
    db.touch(Table::Functions, &key);
    let f = &db.tables.functions[&key];
    Resp::ok(render(ctx, db, f, &Target::Latest, true))
}

fn code_view(ctx: &Ctx<'_>, db: &Db, f: &Function, target: &Target) -> Value {
    let snap = snapshot(f, target);
    let full = render(ctx, db, f, target, true);
    json!({
        "func_urn": full["func_urn"], "func_name": f.name, "domain_id": domain_id(&f.project),
        "runtime": full["runtime"], "code_type": snap.code.code_type, "code_url": snap.code.code_url,
        "code_filename": snap.code.code_filename, "code_size": snap.code.code_size, "digest": snap.code.digest,
        "last_modified": snap.last_modified, "func_code": { "file": "", "link": "" },
        "depend_list": full["depend_list"], "depend_version_list": snap.code.depend_version_list,
        "strategy_config": full["strategy_config"], "dependencies": full["dependencies"],
        "code_encrypt_kms_key_id": snap.code.code_encrypt_kms_key_id,
    })
}

pub(crate) fn show_code(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, target, _) = resolve(ctx, db, ctx.param(0))?;
    Resp::ok(code_view(ctx, db, &db.tables.functions[&key], &target))
}

pub(crate) fn update_code(ctx: &Ctx<'_>, db: &mut Db, staged: Option<Staged>) -> Res<Resp> {
    let (key, target, _) = resolve(ctx, db, ctx.param(0))?;
    require_latest(&target)?;
    let body = ctx.json()?;
    if opt_obj(&body, "func_code", "FSS.1011")?.is_none()
        && body.get("code_type").and_then(Value::as_str) != Some("obs")
    {
        return Err(Fail::bad("FSS.1012", "func_code is required"));
    }
    let runtime = db.tables.functions[&key]
        .latest
        .config
        .get("runtime")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let code = validated_code(&body, staged, db, ctx, &runtime)?;
    let old_size = db.tables.functions[&key].latest.code.code_size;
    let quota = ctx.shared.config.quotas.code_size_mb * 1024 * 1024;
    if project_code_bytes(db, &ctx.project) - old_size + code.code_size > quota {
        return Err(Fail::new(403, "FSS.1042", "the total code size quota is used up"));
    }
    let image = image_name(ctx, "latest");
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    f.latest.code = code;
    f.latest.last_modified = ctx.ts();
    f.latest.image_name = image;
    db.touch(Table::Functions, &key);
    Resp::ok(code_view(ctx, db, &db.tables.functions[&key], &Target::Latest))
}

pub(crate) fn max_instances(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, target, _) = resolve(ctx, db, ctx.param(0))?;
    require_latest(&target)?;
    let body = ctx.json()?;
    let n = req_int(&body, "max_instance_num", "FSS.1026")?;
    if !limits::MAX_INSTANCES.contains(&n) {
        return Err(Fail::bad(
            "FSS.1026",
            format!("max_instance_num {n} is outside -1..1000"),
        ));
    }
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    let sc = f.latest.config.entry("strategy_config").or_insert_with(|| json!({}));
    if !sc.is_object() {
        *sc = json!({});
    }
    sc["concurrency"] = json!(n);
    f.latest.last_modified = ctx.ts();
    db.touch(Table::Functions, &key);
    let f = &db.tables.functions[&key];
    Resp::ok(render(ctx, db, f, &Target::Latest, true))
}

pub(crate) fn delete(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let raw = ctx.param(0);
    let (key, target, _) = resolve(ctx, db, raw)?;
    if is_unqualified(raw) {
        db.tables.functions.remove(&key);
        db.touch(Table::Functions, &key);
        return Resp::no_content();
    }
    match target {
        Target::Latest => Err(Fail::param(
            "latest cannot be deleted on its own; delete the unqualified URN",
        )),
        Target::Alias(_) => Err(Fail::bad("FSS.1015", "delete an alias through the aliases API")),
        Target::Version(i) => {
            let f = db.tables.functions.get_mut(&key).expect("resolved");
            let version = f.versions[i].version.clone();
            let used = f
                .aliases
                .values()
                .any(|a| a.version == version || a.additional_version_weights.contains_key(&version));
            if used {
                return Err(Fail::new(
                    403,
                    "FSS.1094",
                    format!("version {version} is used by an alias"),
                ));
            }
            f.versions.remove(i);
            f.triggers.retain(|t| t.qualifier != version);
            f.async_configs.remove(&version);
            db.touch(Table::Functions, &key);
            Resp::no_content()
        }
    }
}

/// Whether any function version uses this dependency version id.
pub(crate) fn dependency_in_use(db: &Db, project: &str, version_id: &str) -> Option<String> {
    let prefix = format!("{project}/");
    db.tables
        .functions
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .find(|(_, f)| {
            std::iter::once(&f.latest)
                .chain(f.versions.iter())
                .any(|s| s.code.depend_version_list.iter().any(|d| d == version_id))
        })
        .map(|(_, f)| f.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_encrypted_values_and_keeps_keys() {
        assert_eq!(
            mask(Some(r#"{"password":"hunter2","k":"v"}"#)),
            r#"{"password":"","k":""}"#
        );
        assert_eq!(mask(None), "");
    }

    #[test]
    fn default_inline_package_is_stable() {
        assert_eq!(default_inline_package(), default_inline_package());
        assert!(is_zip(&default_inline_package()));
    }
}
