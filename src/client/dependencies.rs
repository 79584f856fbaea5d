//! Dependency packages and their immutable versions (fgs-api.md §7.1, the new API).

use base64::Engine as _;
use md5::Digest as _;

use super::pagination;
use super::{boxed, optional, seg, ApiError, Call, Client, Kind, Lookup};
use crate::api::types::{CreateDependencyVersionRequest, DependencyPage, DependencyVersion};

/// MD5 hex of the package a create sends (what the service reports as `etag`).
pub fn package_etag(depend_file_base64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(depend_file_base64.trim())
        .ok()?;
    Some(hex::encode(md5::Md5::digest(bytes)))
}

impl Client {
    /// `POST /fgs/dependencies/version`: a new version of the package `body.name` (version
    /// 1 of a new package). A create whose answer was lost did make a new version, so the
    /// lookup adopts the package's **latest** version when its etag is the MD5 of the zip
    /// sent (for zip uploads); otherwise the create is sent again.
    pub async fn create_dependency_version(
        &self,
        body: &CreateDependencyVersionRequest,
    ) -> Result<DependencyVersion, ApiError> {
        let etag = body.depend_file.as_deref().and_then(package_etag);
        let etag = etag.as_deref();
        self.create_adopting(
            "dependency version",
            &body.name,
            || {
                boxed(async move {
                    self.json(Call::with_body(
                        "POST",
                        "/fgs/dependencies/version".into(),
                        body,
                        Kind::Create,
                    ))
                    .await
                })
            },
            || {
                boxed(async move {
                    let Some(package) = self.find_dependency(&body.name).await? else {
                        return Ok(Lookup::Absent);
                    };
                    let latest = self
                        .list_all_dependency_versions(&package.id)
                        .await?
                        .into_iter()
                        .max_by_key(|v| v.version);
                    Ok(match (latest, etag) {
                        (Some(v), Some(etag)) if v.etag == etag && v.runtime == body.runtime => Lookup::Found(v),
                        (Some(v), None) if v.runtime == body.runtime && body.depend_link.is_some() => {
                            // OBS links are copied, so only the runtime and name can be compared.
                            Lookup::Found(v)
                        }
                        _ => Lookup::Absent,
                    })
                })
            },
        )
        .await
    }

    /// One page of `GET /fgs/dependencies` (each item describes a package's newest version).
    pub async fn list_dependencies(
        &self,
        marker: i64,
        maxitems: u32,
        name: Option<&str>,
    ) -> Result<DependencyPage, ApiError> {
        let mut call = Call::get("/fgs/dependencies".into())
            .query("marker", marker)
            .query("maxitems", maxitems)
            .query("dependency_type", "private");
        if let Some(n) = name {
            call = call.query("name", n);
        }
        self.json(call).await
    }

    /// Every private dependency package.
    pub async fn list_all_dependencies(&self) -> Result<Vec<DependencyVersion>, ApiError> {
        pagination::collect_marker(|marker| {
            boxed(async move {
                let page = self.list_dependencies(marker, 400, None).await?;
                Ok((page.dependencies, page.next_marker, page.count))
            })
        })
        .await
    }

    /// The private package with exactly this name (the `name` filter matches substrings).
    pub async fn find_dependency(&self, name: &str) -> Result<Option<DependencyVersion>, ApiError> {
        let all = pagination::collect_marker(|marker| {
            boxed(async move {
                let page = self.list_dependencies(marker, 400, Some(name)).await?;
                Ok((page.dependencies, page.next_marker, page.count))
            })
        })
        .await?;
        Ok(all.into_iter().find(|d| d.name == name))
    }

    /// One page of `GET /fgs/dependencies/{dep_id}/version`.
    pub async fn list_dependency_versions(
        &self,
        dep_id: &str,
        marker: i64,
        maxitems: u32,
    ) -> Result<DependencyPage, ApiError> {
        let call = Call::get(format!("/fgs/dependencies/{}/version", seg(dep_id)))
            .query("marker", marker)
            .query("maxitems", maxitems);
        self.json(call).await
    }

    /// Every version of a package.
    pub async fn list_all_dependency_versions(&self, dep_id: &str) -> Result<Vec<DependencyVersion>, ApiError> {
        pagination::collect_marker(|marker| {
            boxed(async move {
                let page = self.list_dependency_versions(dep_id, marker, 400).await?;
                Ok((page.dependencies, page.next_marker, page.count))
            })
        })
        .await
    }

    /// `GET /fgs/dependencies/{dep_id}/version/{version}`; 404 as `None`.
    pub async fn show_dependency_version(
        &self,
        dep_id: &str,
        version: i64,
    ) -> Result<Option<DependencyVersion>, ApiError> {
        Ok(self
            .show_dependency_version_response(dep_id, version)
            .await?
            .map(|r| r.version))
    }

    /// [`Client::show_dependency_version`]'s whole answer, with `download_link` (a URL
    /// serving the package).
    pub async fn show_dependency_version_response(
        &self,
        dep_id: &str,
        version: i64,
    ) -> Result<Option<crate::api::types::DependencyVersionResponse>, ApiError> {
        optional(
            self.json(Call::get(format!(
                "/fgs/dependencies/{}/version/{version}",
                seg(dep_id)
            )))
            .await,
        )
    }

    /// `DELETE /fgs/dependencies/{dep_id}/version/{version}` (412 FSS.1033 while in use).
    pub async fn delete_dependency_version(&self, dep_id: &str, version: i64) -> Result<(), ApiError> {
        self.unit(Call::delete(format!(
            "/fgs/dependencies/{}/version/{version}",
            seg(dep_id)
        )))
        .await
    }
}
