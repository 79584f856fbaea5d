//! What several route families need of one another's tables: dependency versions by id
//! (functions reference them) and the tag rules (functions are created with tags). Kept
//! here so that no route file imports another in a circle.

use crate::api::rules;
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Db, DepPackage, DepVersion, Tag};

/// A project's dependency packages, in id order.
pub(crate) fn packages<'d>(db: &'d Db, project: &str) -> impl Iterator<Item = &'d DepPackage> + 'd {
    let prefix = format!("{project}/");
    db.tables
        .dependencies
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(_, p)| p)
}

/// Finds a dependency version by its id.
pub(crate) fn find_version<'d>(db: &'d Db, project: &str, id: &str) -> Option<(&'d DepPackage, &'d DepVersion)> {
    packages(db, project).find_map(|p| p.versions.values().find(|v| v.id == id).map(|v| (p, v)))
}

/// Tag rules ([`rules::tag_count`], [`rules::tag_key`], [`rules::tag_value`]), and keys unique
/// within one list.
pub(crate) fn check_tags(tags: &[Tag]) -> Res<()> {
    rules::tag_count(tags.len()).map_err(super::refused)?;
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        rules::tag_key(&t.key).map_err(super::refused)?;
        rules::tag_value(&t.key, &t.value).map_err(super::refused)?;
        if !seen.insert(&t.key) {
            return Err(Fail::param(format!("tag key `{}` appears twice", t.key)));
        }
    }
    Ok(())
}
