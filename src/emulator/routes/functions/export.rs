//! `GET …/functions/{urn}/export` (ExportFunction): a function's code and configuration as a
//! download. The reference documents the query (`code`, `config`, or `type=code|config`, which
//! cannot be mixed with them) but not the answer's shape; the console's export is "a ZIP
//! package that contains the function code (ZIP) and function configuration file (YAML)".
//! So the emulator answers `application/zip`:
//!
//! | query | body |
//! |---|---|
//! | `type=code` | the code package itself, as it was uploaded (its SHA-512 is `digest`) |
//! | `type=config` | a zip holding `<name>.yaml` |
//! | `code=true`, `config=true` (either or both) | a zip holding `<name>.zip` (the package) and/or `<name>.yaml` |
//!
//! The configuration file is the `GET …/config` answer written as JSON, which YAML parsers
//! read as it is; secrets stay masked. Code named by an OBS URL is not stored here and cannot
//! be exported (400).

use std::io::Write as _;

use super::render;
use crate::emulator::fail::{Fail, Res};
use crate::emulator::routes::{resolve, snapshot, Ctx, Resp};
use crate::emulator::store::Db;

/// What the query asks to export: (code, config).
fn wanted(ctx: &Ctx<'_>) -> Res<(bool, bool)> {
    let get = |name: &str| ctx.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let flag = |name: &str| -> Res<bool> {
        match get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(Fail::param(format!("{name} must be true or false, not `{other}`"))),
        }
    };
    let (code, config) = (flag("code")?, flag("config")?);
    match get("type") {
        Some(_) if get("code").is_some() || get("config").is_some() => {
            Err(Fail::param("type cannot be used with code or config"))
        }
        Some("code") => Ok((true, false)),
        Some("config") => Ok((false, true)),
        Some(other) => Err(Fail::param(format!("type must be code or config, not `{other}`"))),
        None if !code && !config => Err(Fail::param(
            "at least one of code=true or config=true must be specified",
        )),
        None => Ok((code, config)),
    }
}

pub(crate) fn export(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (code, config) = wanted(ctx)?;
    let (key, target, _) = resolve(ctx, db, ctx.param(0))?;
    let f = &db.tables.functions[&key];
    let package = if code {
        let snap = snapshot(f, &target);
        let bytes = ctx
            .shared
            .blobs
            .get(&snap.code.digest)
            .map_err(|e| Fail::new(500, "FSS.0500", format!("cannot read the code: {e}")))?;
        Some(bytes.ok_or_else(|| {
            Fail::bad(
                "FSS.1063",
                format!(
                    "the code of this function lives at {}: fetch it from there",
                    snap.code.code_url
                ),
            )
        })?)
    } else {
        None
    };
    let only_code = ctx.query.iter().any(|(k, v)| k == "type" && v == "code");
    let body = match package {
        Some(package) if only_code => package.to_vec(),
        package => {
            let config = config.then(|| render(ctx, db, f, &target, true));
            bundle(&f.name, package.as_deref(), config.as_ref())
                .map_err(|e| Fail::new(500, "FSS.0500", format!("cannot write the export: {e}")))?
        }
    };
    Ok(Resp::bytes(200, body, "application/zip"))
}

/// The export zip: `<name>.zip` and `<name>.yaml`, stored (the package is compressed already).
fn bundle(name: &str, package: Option<&[u8]>, config: Option<&serde_json::Value>) -> std::io::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    if let Some(package) = package {
        zip.start_file(format!("{name}.zip"), options)?;
        zip.write_all(package)?;
    }
    if let Some(config) = config {
        zip.start_file(format!("{name}.yaml"), options)?;
        zip.write_all(&serde_json::to_vec_pretty(config)?)?;
    }
    Ok(zip.finish()?.into_inner())
}
