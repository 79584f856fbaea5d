//! What several route families need of one another's tables: dependency versions by id
//! (functions reference them) and the tag rules (functions are created with tags). Kept
//! here so that no route file imports another in a circle.

use crate::api::limits;
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

/// Tag rules: at most 20, key 1–128, value ≤ 255, keys unique.
pub(crate) fn check_tags(tags: &[Tag]) -> Res<()> {
    if tags.len() > limits::TAGS_MAX {
        return Err(Fail::param("a function can carry at most 20 tags"));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > limits::TAG_KEY_MAX {
            return Err(Fail::param(format!("tag key `{}` must be 1-128 characters", t.key)));
        }
        if t.value.chars().count() > limits::TAG_VALUE_MAX {
            return Err(Fail::param(format!(
                "tag value of `{}` is longer than 255 characters",
                t.key
            )));
        }
        if !seen.insert(&t.key) {
            return Err(Fail::param(format!("tag key `{}` appears twice", t.key)));
        }
    }
    Ok(())
}
