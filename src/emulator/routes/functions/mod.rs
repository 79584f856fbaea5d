//! Functions: create, list, show/update config, show/update code, max instances, delete.
//! The configuration checks are in `config.rs`, the views in `render.rs`.

mod config;
mod export;
mod render;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::refused;
use super::{
    function_key, is_unqualified, marker_page, opt_obj, opt_str, opt_str_list, page, req_int, req_str, resolve, Ctx,
    Resp, Routes, Target,
};
use crate::api::{limits, rules, Operation};
use crate::emulator::blobs::{Pin, Stored};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Code, Db, Function, Snapshot, Table};
use config::validated_config;
use render::code_view;
pub(crate) use render::{domain_id, render};

/// Package bytes decoded and stored before the store lock is taken.
pub(crate) struct Staged {
    pub stored: Stored,
    /// Keeps the blob from a sweep until the request's row is in the tables.
    pub _pin: Pin,
}

/// Decodes and stores the package of the operations that upload one.
pub(crate) fn stage_code(operation: Operation, ctx: &Ctx<'_>) -> Res<Option<Staged>> {
    let (field, code, limit) = match operation {
        Operation::CreateFunction | Operation::UpdateFunctionCode => {
            ("func_code", "FSS.1011", limits::PACKAGE_MAX_BYTES)
        }
        Operation::CreateDependencyVersion | Operation::CreateDependency | Operation::UpdateDependency => {
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

/// Stores a package fetched from the OBS endpoint (`--obs-endpoint`), as an upload's would
/// be; it must be a zip as an upload must.
pub(crate) fn stage_fetched(ctx: &Ctx<'_>, bytes: &[u8]) -> Res<Staged> {
    if !is_zip(bytes) {
        return Err(Fail::bad("FSS.1013", "the package at the OBS URL is not a ZIP file"));
    }
    let (stored, _pin) = ctx.store_blob(bytes)?;
    Ok(Staged { stored, _pin })
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
    rules::code_type(code_type).map_err(refused)?;
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
            match staged {
                // Fetched from `--obs-endpoint`: the object's own digest and size.
                Some(staged) => {
                    code.digest = staged.stored.sha512;
                    code.code_size = staged.stored.size;
                }
                // The service fetches the object; without an OBS endpoint the emulator
                // cannot, so the digest is that of the URL's text: stable, and it changes
                // when the URL does.
                None => code.digest = hex::encode(<sha2::Sha512 as sha2::Digest>::digest(url.as_bytes())),
            }
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
            let Some((_, dep)) = super::find_version(db, &ctx.project, id) else {
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
    rules::function_name(name).map_err(refused)?;
    let package = req_str(&body, "package", "FSS.1004")?;
    rules::package_name(package).map_err(refused)?;
    let runtime = req_str(&body, "runtime", "FSS.1005")?;
    rules::runtime(runtime).map_err(refused)?;
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
    super::check_tags(&tags)?;
    Ok(tags)
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
    Resp::ok(render::view(ctx, db, f, &target, true))
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
    rules::max_instances("max_instance_num", n).map_err(refused)?;
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
    let urn = ctx.function_urn(&db.tables.functions[&key]);
    if is_unqualified(raw) {
        ctx.shared.runtime.metrics.forget_function(&urn);
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
            ctx.shared.runtime.metrics.forget_name(&urn, Some(&version), None);
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

/// Functions: create, list, config, code, max instances, delete.
pub(super) fn routes(r: Routes) -> Routes {
    use Operation::*;
    r.op(ListFunctions, |c, db, _| list(c, db))
        .op(CreateFunction, create)
        .op(DeleteFunction, |c, db, _| delete(c, db))
        .op(ShowFunctionConfig, |c, db, _| show_config(c, db))
        .op(UpdateFunctionConfig, |c, db, _| update_config(c, db))
        .op(ShowFunctionCode, |c, db, _| show_code(c, db))
        .op(ExportFunction, |c, db, _| export::export(c, db))
        .op(UpdateFunctionCode, update_code)
        .op(UpdateFunctionMaxInstanceConfig, |c, db, _| max_instances(c, db))
}

#[cfg(test)]
mod tests {
    use super::render::mask;
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
