//! Dependencies (§7): packages with numbered immutable versions (the version API), and the
//! older package API mapped onto the same model.

use serde_json::Value;

use super::functions::{dependency_in_use, domain_id, Staged};
use super::{marker_page, opt_str, packages, page, refused, req_str, Ctx, Resp, Routes};
use crate::api::types::{DependencyPackage, DependencyPage, DependencyVersion, DependencyVersionResponse, Timestamp};
use crate::api::{rules, Operation};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Db, DepPackage, DepVersion, Table};

fn dep_key(project: &str, dep_id: &str) -> String {
    format!("{project}/{dep_id}")
}

/// A version as create, show (with `download_link`) and list-versions return it.
/// A show's `download_link` is a URL that serves the package: the emulator's own
/// `/_emulator/packages/{sha512}` for an uploaded one, the OBS link for a linked one.
fn version_view(ctx: &Ctx<'_>, p: &DepPackage, v: &DepVersion, show: bool) -> DependencyVersionResponse {
    let project = ctx.project.as_str();
    DependencyVersionResponse {
        version: DependencyVersion {
            id: v.id.clone(),
            dep_id: p.dep_id.clone(),
            version: v.version as i64,
            name: p.name.clone(),
            runtime: v.runtime.clone(),
            owner: domain_id(project),
            link: v.link.clone(),
            etag: v.etag.clone(),
            size: v.size as i64,
            file_name: v.file_name.clone(),
            description: v.description.clone(),
            last_modified: Timestamp::Epoch(v.last_modified),
        },
        is_shared: false,
        download_link: show.then(|| {
            if v.blob_digest.is_empty() {
                v.link.clone()
            } else {
                format!("{}/_emulator/packages/{}", ctx.shared.url, v.blob_digest)
            }
        }),
    }
}

/// A package as the package API and the package list return it: its latest version's fields
/// under the package id; list items also carry `version` and `last_modified`.
fn package_view(project: &str, p: &DepPackage, v: &DepVersion, listed: bool) -> DependencyPackage {
    DependencyPackage {
        id: p.dep_id.clone(),
        owner: domain_id(project),
        link: v.link.clone(),
        runtime: v.runtime.clone(),
        etag: v.etag.clone(),
        size: v.size as i64,
        name: p.name.clone(),
        file_name: v.file_name.clone(),
        description: v.description.clone(),
        version: listed.then_some(v.version as i64),
        last_modified: listed.then_some(Timestamp::Epoch(v.last_modified)),
    }
}

/// A response body from its [`crate::api::types`] struct.
fn body(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("a dependency response serializes")
}

/// A page of `items`.
fn page_body<T: serde::Serialize>(items: Vec<T>, next: usize, count: usize) -> Value {
    body(DependencyPage {
        dependencies: items,
        next_marker: Some(next as i64),
        count: Some(count as i64),
    })
}

/// Validated fields of a version create (both APIs).
struct NewVersion {
    name: String,
    runtime: String,
    description: String,
    depend_type: String,
    link: String,
    blob: String,
    etag: String,
    size: u64,
    file_name: String,
}

fn validated(ctx: &Ctx<'_>, staged: Option<Staged>) -> Res<NewVersion> {
    let body = ctx.json()?;
    let depend_type = req_str(&body, "depend_type", "FSS.1032")?;
    rules::depend_type(depend_type).map_err(refused)?;
    let runtime = req_str(&body, "runtime", "FSS.1005")?;
    rules::runtime(runtime).map_err(refused)?;
    let name = req_str(&body, "name", "FSS.1024")?;
    rules::dependency_name(name).map_err(refused)?;
    let description = super::opt_description(&body)?.unwrap_or("");
    let (link, blob, etag, size, file_name) = if depend_type == "obs" {
        let link = opt_str(&body, "depend_link", "FSS.1010")?.unwrap_or("");
        if !(link.starts_with("https://") || link.starts_with("http://") || link.starts_with("obs://")) {
            return Err(Fail::bad("FSS.1010", "depend_link must be the OBS URL of the package"));
        }
        let file_name = link.rsplit('/').next().unwrap_or("").to_string();
        match staged {
            // Fetched from `--obs-endpoint`: the object's own MD5 and size.
            Some(staged) => {
                let stored = staged.stored;
                (link.to_string(), stored.sha512, stored.md5, stored.size, file_name)
            }
            None => {
                let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(link.as_bytes()));
                (link.to_string(), String::new(), etag, 0, file_name)
            }
        }
    } else {
        let stored = staged
            .ok_or_else(|| Fail::bad("FSS.1024", "depend_file is required"))?
            .stored;
        let link = format!(
            "https://fgs-dependencies-{}.obs.local/{}/{}.zip",
            ctx.region(),
            ctx.project,
            stored.sha512
        );
        (link, stored.sha512, stored.md5, stored.size, format!("{name}.zip"))
    };
    Ok(NewVersion {
        name: name.to_string(),
        runtime: runtime.to_string(),
        description: description.to_string(),
        depend_type: depend_type.to_string(),
        link,
        blob,
        etag,
        size,
        file_name,
    })
}

/// Appends a version to the package named `n.name`, creating the package when new.
fn add_version(ctx: &Ctx<'_>, db: &mut Db, n: NewVersion) -> Res<(String, u64)> {
    let existing = packages(db, &ctx.project)
        .find(|p| p.name == n.name)
        .map(|p| p.dep_id.clone());
    let dep_id = match existing {
        Some(id) => id,
        None => {
            if packages(db, &ctx.project).count() as u64 >= ctx.shared.config.quotas.dependencies {
                return Err(Fail::new(403, "FSS.1045", "the dependency quota is used up"));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let pkg = DepPackage {
                project: ctx.project.clone(),
                dep_id: id.clone(),
                name: n.name.clone(),
                next_version: 1,
                versions: Default::default(),
            };
            db.tables.dependencies.insert(dep_key(&ctx.project, &id), pkg);
            id
        }
    };
    let key = dep_key(&ctx.project, &dep_id);
    let pkg = db.tables.dependencies.get_mut(&key).expect("just ensured");
    let number = pkg.next_version;
    pkg.next_version += 1;
    pkg.versions.insert(
        number,
        DepVersion {
            id: uuid::Uuid::new_v4().to_string(),
            version: number,
            runtime: n.runtime,
            description: n.description,
            depend_type: n.depend_type,
            link: n.link,
            blob_digest: n.blob,
            etag: n.etag,
            size: n.size,
            file_name: n.file_name,
            last_modified: ctx.now.timestamp(),
        },
    );
    db.touch(Table::Dependencies, &key);
    Ok((key, number))
}

pub(crate) fn create_version(ctx: &Ctx<'_>, db: &mut Db, staged: Option<Staged>) -> Res<Resp> {
    let n = validated(ctx, staged)?;
    let (key, number) = add_version(ctx, db, n)?;
    let p = &db.tables.dependencies[&key];
    Resp::ok(version_view(ctx, p, &p.versions[&number], false))
}

fn package_not_found() -> Fail {
    Fail::new(404, "FSS.1056", "Not found the dependency")
}

fn package_key(ctx: &Ctx<'_>, db: &Db) -> Res<String> {
    let key = dep_key(&ctx.project, ctx.param(0));
    if db.tables.dependencies.contains_key(&key) {
        Ok(key)
    } else {
        Err(package_not_found())
    }
}

fn version_number(raw: &str) -> Res<u64> {
    raw.parse()
        .map_err(|_| Fail::new(404, "FSS.1056", format!("Not found the dependency version {raw}")))
}

pub(crate) fn list_versions(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let key = package_key(ctx, db)?;
    let (start, items) = marker_page(ctx, 400)?;
    let p = &db.tables.dependencies[&key];
    let all: Vec<&DepVersion> = p.versions.values().collect();
    let (page, next, count) = page(all, start, items);
    let deps: Vec<_> = page.iter().map(|v| version_view(ctx, p, v, false)).collect();
    Resp::ok(page_body(deps, next, count))
}

pub(crate) fn show_version(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let key = package_key(ctx, db)?;
    let n = version_number(ctx.param(1))?;
    let p = &db.tables.dependencies[&key];
    let v = p.versions.get(&n).ok_or_else(package_not_found)?;
    Resp::ok(version_view(ctx, p, v, true))
}

pub(crate) fn delete_version(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let key = package_key(ctx, db)?;
    let n = version_number(ctx.param(1))?;
    let v = db.tables.dependencies[&key]
        .versions
        .get(&n)
        .ok_or_else(package_not_found)?;
    if let Some(function) = dependency_in_use(db, &ctx.project, &v.id) {
        return Err(Fail::new(
            412,
            "FSS.1033",
            format!("the dependency version is used by function {function}"),
        ));
    }
    let p = db.tables.dependencies.get_mut(&key).expect("checked");
    p.versions.remove(&n);
    if p.versions.is_empty() {
        db.tables.dependencies.remove(&key);
    }
    db.touch(Table::Dependencies, &key);
    Resp::no_content()
}

pub(crate) fn list_packages(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (start, items) = marker_page(ctx, 400)?;
    let runtime = ctx.query("runtime").filter(|s| !s.is_empty());
    let name = ctx.query("name").filter(|s| !s.is_empty());
    let kind = ctx.query("dependency_type").unwrap_or("all");
    if !matches!(kind, "all" | "private" | "public" | "") {
        return Err(Fail::bad("FSS.1001", format!("invalid dependency_type `{kind}`")));
    }
    let all: Vec<DependencyPackage> = if kind == "public" {
        Vec::new()
    } else {
        packages(db, &ctx.project)
            .filter_map(|p| p.versions.values().next_back().map(|v| (p, v)))
            .filter(|(_, v)| runtime.is_none_or(|r| v.runtime == r))
            .filter(|(p, _)| name.is_none_or(|n| p.name.contains(n)))
            .map(|(p, v)| package_view(&ctx.project, p, v, true))
            .collect()
    };
    let (page, next, count) = page(all, start, items);
    Resp::ok(page_body(page, next, count))
}

fn old_view(project: &str, p: &DepPackage) -> Value {
    let v = p
        .versions
        .values()
        .next_back()
        .expect("packages keep at least one version");
    body(package_view(project, p, v, false))
}

pub(crate) fn old_create(ctx: &Ctx<'_>, db: &mut Db, staged: Option<Staged>) -> Res<Resp> {
    let n = validated(ctx, staged)?;
    if packages(db, &ctx.project).any(|p| p.name == n.name) {
        return Err(Fail::new(
            409,
            "FSS.1065",
            format!("dependency {} already exists", n.name),
        ));
    }
    let (key, _) = add_version(ctx, db, n)?;
    Resp::ok(old_view(&ctx.project, &db.tables.dependencies[&key]))
}

pub(crate) fn old_show(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let key = package_key(ctx, db)?;
    Resp::ok(old_view(&ctx.project, &db.tables.dependencies[&key]))
}

pub(crate) fn old_update(ctx: &Ctx<'_>, db: &mut Db, staged: Option<Staged>) -> Res<Resp> {
    let key = package_key(ctx, db)?;
    let n = validated(ctx, staged)?;
    if n.name != db.tables.dependencies[&key].name {
        return Err(Fail::bad("FSS.1024", "a dependency cannot be renamed"));
    }
    let (key, _) = add_version(ctx, db, n)?;
    Resp::ok(old_view(&ctx.project, &db.tables.dependencies[&key]))
}

pub(crate) fn old_delete(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let key = package_key(ctx, db)?;
    for v in db.tables.dependencies[&key].versions.values() {
        if let Some(function) = dependency_in_use(db, &ctx.project, &v.id) {
            return Err(Fail::new(
                412,
                "FSS.1033",
                format!("version {} is used by function {function}", v.version),
            ));
        }
    }
    db.tables.dependencies.remove(&key);
    db.touch(Table::Dependencies, &key);
    Resp::no_content()
}

/// The version API and the older package API.
pub(super) fn routes(r: Routes) -> Routes {
    use Operation::*;
    r.op(ListDependencies, |c, db, _| list_packages(c, db))
        .op(CreateDependencyVersion, create_version)
        .op(ListDependencyVersion, |c, db, _| list_versions(c, db))
        .op(ShowDependencyVersion, |c, db, _| show_version(c, db))
        .op(DeleteDependencyVersion, |c, db, _| delete_version(c, db))
        .op(CreateDependency, old_create)
        .op(ShowDependency, |c, db, _| old_show(c, db))
        .op(UpdateDependency, old_update)
        .op(DeleteDependency, |c, db, _| old_delete(c, db))
}
