//! Tags on functions (§9), quotas (§3.9) and the IAM password-token call (§13; a token is
//! only ever scoped to a project the emulator serves).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{check_tags, resolve, Ctx, Resp, Routes};
use crate::api::types::{self, ProjectTag, ProjectTagsResponse, QuotaResource, Quotas, QuotasResponse, TagsResponse};
use crate::api::Operation;
use crate::api::{signing, SUBJECT_TOKEN_HEADER};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Db, Table, Tag, Token};

fn body_tags(ctx: &Ctx<'_>, action: &str) -> Res<Vec<Tag>> {
    let body = ctx.json()?;
    if let Some(a) = body.get("action").and_then(Value::as_str) {
        if a != action {
            return Err(Fail::param(format!("action must be `{action}`")));
        }
    }
    let tags = body.get("tags").cloned().unwrap_or(Value::Array(vec![]));
    let tags: Vec<Tag> = serde_json::from_value(tags).map_err(|_| Fail::param("tags must be [{key, value}]"))?;
    Ok(tags)
}

pub(crate) fn show_tags(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let f = &db.tables.functions[&key];
    let wire = |tags: &[Tag]| -> Vec<types::Tag> {
        tags.iter()
            .map(|t| types::Tag {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect()
    };
    let out = TagsResponse {
        tags: wire(&f.tags),
        sys_tags: wire(&f.sys_tags),
    };
    Resp::ok(out)
}

pub(crate) fn create_tags(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let new = body_tags(ctx, "create")?;
    // The request itself must be valid (a key twice in one body is refused, not merged).
    check_tags(&new)?;
    let f = &db.tables.functions[&key];
    let mut merged = f.tags.clone();
    for t in new {
        match merged.iter_mut().find(|m| m.key == t.key) {
            Some(m) => m.value = t.value,
            None => merged.push(t),
        }
    }
    check_tags(&merged)?;
    db.tables.functions.get_mut(&key).expect("resolved").tags = merged;
    db.touch(Table::Functions, &key);
    Resp::no_content()
}

pub(crate) fn delete_tags(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let gone = body_tags(ctx, "delete")?;
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    f.tags.retain(|t| !gone.iter().any(|g| g.key == t.key));
    db.touch(Table::Functions, &key);
    Resp::no_content()
}

pub(crate) fn project_tags(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let prefix = format!("{}/", ctx.project);
    for (_, f) in db
        .tables
        .functions
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
    {
        for t in &f.tags {
            let values = keys.entry(t.key.clone()).or_default();
            if !values.contains(&t.value) {
                values.push(t.value.clone());
            }
        }
    }
    let out = ProjectTagsResponse {
        tags: keys
            .into_iter()
            .map(|(key, values)| ProjectTag { key, values })
            .collect(),
        sys_tags: vec![ProjectTag {
            key: "_sys_enterprise_project_id".into(),
            values: vec!["0".into()],
        }],
    };
    Resp::ok(out)
}

pub(crate) fn quotas(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let q = &ctx.shared.config.quotas;
    let prefix = format!("{}/", ctx.project);
    let functions: Vec<_> = db
        .tables
        .functions
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, f)| f)
        .collect();
    let code_mb = functions
        .iter()
        .map(|f| f.latest.code.code_size + f.versions.iter().map(|v| v.code.code_size).sum::<u64>())
        .sum::<u64>()
        .div_ceil(1024 * 1024);
    let workflows = db
        .tables
        .workflows
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .count();
    let quota = |kind: &str, quota: u64, used: usize, unit: &str| QuotaResource {
        kind: kind.into(),
        quota: quota as i64,
        used: used as i64,
        unit: unit.into(),
    };
    let resources = vec![
        quota("fgs_func_num", q.functions, functions.len(), ""),
        quota("fgs_func_code_size", q.code_size_mb, code_mb as usize, "MB"),
        quota("fgs_workflow_num", q.workflows, workflows, ""),
        quota("fgs_func_occurs", 1000, 0, ""),
        quota("fgs_func_scale_down_timeout", 900, 0, "s"),
        quota("fgs_func_pat_idle_time", 600, 0, "s"),
        quota("fgs_on_demand_instance_limit", 1000, 0, ""),
        quota("fgs_func_qos_limit", 1000, 0, ""),
    ];
    Resp::ok(QuotasResponse {
        quotas: Quotas { resources },
    })
}

fn iam_fail(msg: &str) -> Fail {
    Fail::new(
        401,
        "APIGW.0301",
        format!("Incorrect IAM authentication information: {msg}"),
    )
}

/// `POST /v3/auth/tokens` with the password method: 201, token in `X-Subject-Token`.
pub(crate) fn iam_token(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let body = ctx.json()?;
    let identity = body
        .get("auth")
        .and_then(|a| a.get("identity"))
        .ok_or_else(|| Fail::param("auth.identity is required"))?;
    let methods = identity
        .get("methods")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !methods.iter().any(|m| m == "password") {
        return Err(Fail::param("only the password method is emulated"));
    }
    let user = identity
        .pointer("/password/user")
        .ok_or_else(|| Fail::param("auth.identity.password.user is required"))?;
    let name = user.get("name").and_then(Value::as_str).unwrap_or_default();
    let password = user.get("password").and_then(Value::as_str).unwrap_or_default();
    let domain = user.pointer("/domain/name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() || domain.is_empty() {
        return Err(Fail::param("user name and domain name are required"));
    }
    if password != ctx.shared.config.iam_password {
        return Err(iam_fail("the username or password is wrong"));
    }
    let scope = body.get("auth").and_then(|a| a.pointer("/scope/project"));
    let project_id = match scope {
        Some(p) => match (
            p.get("id").and_then(Value::as_str),
            p.get("name").and_then(Value::as_str),
        ) {
            (Some(id), _) if ctx.shared.config.serves(id) => id.to_string(),
            (Some(id), _) => {
                return Err(Fail::param(format!(
                    "project {id} does not exist (this emulator serves {})",
                    ctx.shared.config.project_ids().collect::<Vec<_>>().join(", ")
                )))
            }
            (None, Some(n)) if n == ctx.region() => ctx.shared.config.project_id.clone(),
            (None, Some(n)) => {
                return Err(Fail::param(format!(
                    "project {n} does not exist (this emulator serves {})",
                    ctx.region()
                )))
            }
            _ => return Err(Fail::param("scope.project needs an id or a name")),
        },
        None => ctx.shared.config.project_id.clone(),
    };
    let token = format!(
        "MIIemu{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let expires = ctx.now + chrono::Duration::hours(24);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let record = Token {
        project_id: project_id.clone(),
        project_name: ctx.region().to_string(),
        user: name.to_string(),
        domain: domain.to_string(),
        issued_at: fmt(ctx.now),
        expires_at_epoch: expires.timestamp(),
        expires_at: fmt(expires),
    };
    let key = signing::sha256_hex(token.as_bytes());
    let domain_id = super::functions::domain_id(&project_id);
    // Keystone's token body (IAM, not FunctionGraph): the client reads only the
    // X-Subject-Token header and `token.expires_at`, so api::types does not model it.
    let out = json!({ "token": {
        "expires_at": record.expires_at, "issued_at": record.issued_at, "methods": ["password"], "catalog": [],
        "project": { "id": project_id, "name": ctx.region(), "domain": { "id": domain_id, "name": domain } },
        "roles": [{ "id": "0", "name": "te_admin" }],
        "user": { "id": signing::sha256_hex(name.as_bytes())[..32].to_string(), "name": name,
                  "domain": { "id": domain_id, "name": domain }, "password_expires_at": "" },
    } });
    db.tables.tokens.retain(|_, t| t.expires_at_epoch > ctx.now.timestamp());
    db.tables.tokens.insert(key.clone(), record);
    db.touch(Table::Tokens, &key);
    let mut resp = Resp::created(out)?;
    resp.headers.push((SUBJECT_TOKEN_HEADER.to_string(), token));
    Ok(resp)
}

/// Tags (both path spellings: `/v2/{project_id}/functions/...` and `.../fgs/functions/...`),
/// quotas and the public IAM token call.
pub(super) fn routes(r: Routes) -> Routes {
    const FGS_TAGS: &str = "/v2/{project_id}/fgs/functions/{function_urn}/tags";
    r.op(Operation::ListQuotas, |c, db, _| quotas(c, db))
        .op(Operation::ShowProjectTagsList, |c, db, _| project_tags(c, db))
        .at(
            "/v2/{project_id}/fgs/functions/tags",
            Operation::ShowProjectTagsList,
            |c, db, _| project_tags(c, db),
        )
        .op(Operation::ListFunctionTags, |c, db, _| show_tags(c, db))
        .at(FGS_TAGS, Operation::ListFunctionTags, |c, db, _| show_tags(c, db))
        .op(Operation::CreateTags, |c, db, _| create_tags(c, db))
        .at(&format!("{FGS_TAGS}/create"), Operation::CreateTags, |c, db, _| {
            create_tags(c, db)
        })
        .op(Operation::DeleteTags, |c, db, _| delete_tags(c, db))
        .at(&format!("{FGS_TAGS}/delete"), Operation::DeleteTags, |c, db, _| {
            delete_tags(c, db)
        })
        .op(Operation::KeystoneCreateUserTokenByPassword, |c, db, _| {
            iam_token(c, db)
        })
}
