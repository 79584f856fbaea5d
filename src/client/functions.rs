//! Functions: config, code, max instances, versions and aliases (fgs-api.md §3, §4).
//! Function URN parameters accept any form of §1 (a full URN, or a bare name).

use base64::Engine as _;
use sha2::Digest as _;

use super::pagination;
use super::{boxed, optional, seg, ApiError, Call, Client, Kind, Lookup};
use crate::api::types::{
    Alias, AliasRequest, CreateFunctionRequest, FunctionCode, FunctionConfig, FunctionPage, MaxInstanceRequest,
    PublishVersionRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigRequest, VersionPage,
};

/// Largest page `maxitems` allows for functions.
pub const MAX_FUNCTION_PAGE: u32 = 400;

/// Lowercase hex SHA-512 of the code package a create or code update sends (the base64
/// `func_code.file`, decoded): what the service reports as `digest`.
pub fn code_digest(file_base64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file_base64.trim())
        .ok()?;
    Some(hex::encode(sha2::Sha512::digest(bytes)))
}

/// Compares what a create sent with what exists; `Err` says what differs.
pub fn matches_created(sent: &CreateFunctionRequest, found: &FunctionConfig) -> Result<(), String> {
    let mut diffs = Vec::new();
    let mut check = |field: &str, a: String, b: String| {
        if a != b {
            diffs.push(format!("{field}: sent `{a}`, found `{b}`"));
        }
    };
    check("package", sent.package.clone(), found.package.clone());
    check("runtime", sent.runtime.clone(), found.runtime.clone());
    check("handler", sent.handler.clone(), found.handler.clone());
    check(
        "memory_size",
        sent.memory_size.to_string(),
        found.memory_size.to_string(),
    );
    check("timeout", sent.timeout.to_string(), found.timeout.to_string());
    check("code_type", sent.code_type.clone(), found.code_type.clone());
    if let Some(digest) = sent
        .func_code
        .as_ref()
        .and_then(|c| c.file.as_deref())
        .and_then(code_digest)
    {
        check("code digest", digest, found.digest.clone());
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

impl Client {
    /// `POST /fgs/functions`. Never blindly retried: if the answer is lost (timeout, 5xx,
    /// reset) the function is looked up by name and adopted when runtime, handler, memory,
    /// timeout and code digest match what was sent; otherwise [`ApiError::Conflict`].
    pub async fn create_function(&self, body: &CreateFunctionRequest) -> Result<FunctionConfig, ApiError> {
        let package = (!body.package.is_empty()).then_some(body.package.as_str());
        let urn = self.function_urn(package, &body.func_name);
        let urn = urn.as_str();
        self.create_adopting(
            "function",
            &body.func_name,
            || {
                boxed(async move {
                    self.json(Call::with_body("POST", "/fgs/functions".into(), body, Kind::Create))
                        .await
                })
            },
            || {
                boxed(async move {
                    Ok(match self.show_function_config_opt(urn).await? {
                        None => Lookup::Absent,
                        Some(found) => match matches_created(body, &found) {
                            Ok(()) => Lookup::Found(found),
                            Err(diff) => Lookup::Conflict(diff),
                        },
                    })
                })
            },
        )
        .await
    }

    /// One page of `GET /fgs/functions` (`marker` = index of the first item; `maxitems` ≤ 400).
    pub async fn list_functions(
        &self,
        marker: i64,
        maxitems: u32,
        func_name: Option<&str>,
        package_name: Option<&str>,
    ) -> Result<FunctionPage, ApiError> {
        let mut call = Call::get("/fgs/functions".into())
            .query("marker", marker)
            .query("maxitems", maxitems.min(MAX_FUNCTION_PAGE));
        if let Some(n) = func_name {
            call = call.query("func_name", n);
        }
        if let Some(p) = package_name {
            call = call.query("package_name", p);
        }
        self.json(call).await
    }

    /// Every function of the project (all pages, 400 a page).
    pub async fn list_all_functions(&self) -> Result<Vec<FunctionConfig>, ApiError> {
        pagination::collect_marker(|marker| {
            boxed(async move {
                let page = self.list_functions(marker, MAX_FUNCTION_PAGE, None, None).await?;
                Ok((page.functions, page.next_marker, page.count))
            })
        })
        .await
    }

    /// `GET …/functions/{urn}/config`.
    pub async fn show_function_config(&self, urn: &str) -> Result<FunctionConfig, ApiError> {
        self.json(Call::get(format!("/fgs/functions/{}/config", seg(urn))))
            .await
    }

    /// Like [`Client::show_function_config`], with 404 as `None`.
    pub async fn show_function_config_opt(&self, urn: &str) -> Result<Option<FunctionConfig>, ApiError> {
        optional(self.show_function_config(urn).await)
    }

    /// `PUT …/functions/{urn}/config` (send the complete desired metadata).
    pub async fn update_function_config(
        &self,
        urn: &str,
        body: &UpdateFunctionConfigRequest,
    ) -> Result<FunctionConfig, ApiError> {
        let path = format!("/fgs/functions/{}/config", seg(urn));
        self.json(Call::with_body("PUT", path, body, Kind::Write)).await
    }

    /// `GET …/functions/{urn}/code` (the file itself never comes back, only its digest).
    pub async fn show_function_code(&self, urn: &str) -> Result<FunctionCode, ApiError> {
        self.json(Call::get(format!("/fgs/functions/{}/code", seg(urn)))).await
    }

    /// `GET …/functions/{urn}/export?type=code`: the code package itself (a zip; its SHA-512
    /// is the function's `digest`). The one documented way to get a function's code back.
    pub async fn export_function_code(&self, urn: &str) -> Result<bytes::Bytes, ApiError> {
        let call = Call::get(format!("/fgs/functions/{}/export", seg(urn))).query("type", "code");
        Ok(self.execute(call).await?.body)
    }

    /// `PUT …/functions/{urn}/code` (code and dependency versions).
    pub async fn update_function_code(
        &self,
        urn: &str,
        body: &UpdateFunctionCodeRequest,
    ) -> Result<FunctionCode, ApiError> {
        let path = format!("/fgs/functions/{}/code", seg(urn));
        self.json(Call::with_body("PUT", path, body, Kind::Write)).await
    }

    /// `PUT …/functions/{urn}/config-max-instance` (−1 unlimited, 0 disabled, ≤ 1000).
    pub async fn update_max_instances(&self, urn: &str, max_instance_num: i64) -> Result<FunctionConfig, ApiError> {
        let path = format!("/fgs/functions/{}/config-max-instance", seg(urn));
        let body = MaxInstanceRequest { max_instance_num };
        self.json(Call::with_body("PUT", path, &body, Kind::Write)).await
    }

    /// `DELETE …/functions/{urn}`: unqualified = the whole function, `:v1` = that version.
    pub async fn delete_function(&self, urn: &str) -> Result<(), ApiError> {
        self.unit(Call::delete(format!("/fgs/functions/{}", seg(urn)))).await
    }

    /// `POST …/functions/{urn}/versions`. With a version name, a lost answer is resolved by
    /// looking the version up (adopted when its digest matches).
    pub async fn publish_version(&self, urn: &str, body: &PublishVersionRequest) -> Result<FunctionConfig, ApiError> {
        let path = format!("/fgs/functions/{}/versions", seg(urn));
        let name = body.version.clone().unwrap_or_default();
        let (path, name) = (path.as_str(), name.as_str());
        self.create_adopting(
            "function version",
            name,
            || {
                boxed(async move {
                    self.json(Call::with_body("POST", path.to_string(), body, Kind::Create))
                        .await
                })
            },
            || {
                boxed(async move {
                    if name.is_empty() {
                        // Unnamed: nothing to look up by; re-sending would publish twice.
                        return Ok(Lookup::Conflict("an unnamed publish cannot be verified".into()));
                    }
                    let found = self
                        .list_all_versions(urn)
                        .await?
                        .into_iter()
                        .find(|v| v.version == name);
                    Ok(match found {
                        None => Lookup::Absent,
                        Some(v) if body.digest.as_ref().is_none_or(|d| *d == v.digest) => Lookup::Found(v),
                        Some(v) => Lookup::Conflict(format!("its digest is {}", v.digest)),
                    })
                })
            },
        )
        .await
    }

    /// One page of `GET …/functions/{urn}/versions`.
    pub async fn list_versions(&self, urn: &str, marker: i64, maxitems: u32) -> Result<VersionPage, ApiError> {
        let call = Call::get(format!("/fgs/functions/{}/versions", seg(urn)))
            .query("marker", marker)
            .query("maxitems", maxitems);
        self.json(call).await
    }

    /// All versions of a function (`latest` included).
    pub async fn list_all_versions(&self, urn: &str) -> Result<Vec<FunctionConfig>, ApiError> {
        pagination::collect_marker(|marker| {
            boxed(async move {
                let page = self.list_versions(urn, marker, 400).await?;
                Ok((page.versions, page.next_marker, page.count))
            })
        })
        .await
    }

    /// `POST …/functions/{urn}/aliases`; a lost answer is resolved by showing the alias.
    pub async fn create_alias(&self, urn: &str, body: &AliasRequest) -> Result<Alias, ApiError> {
        let path = format!("/fgs/functions/{}/aliases", seg(urn));
        let name = body.name.clone().unwrap_or_default();
        let (path, name) = (path.as_str(), name.as_str());
        self.create_adopting(
            "alias",
            name,
            || {
                boxed(async move {
                    self.json(Call::with_body("POST", path.to_string(), body, Kind::Create))
                        .await
                })
            },
            || {
                boxed(async move {
                    Ok(match optional(self.show_alias(urn, name).await)? {
                        None => Lookup::Absent,
                        Some(a) if a.version == body.version => Lookup::Found(a),
                        Some(a) => Lookup::Conflict(format!("it points at version {}", a.version)),
                    })
                })
            },
        )
        .await
    }

    /// `GET …/functions/{urn}/aliases` (a bare array).
    pub async fn list_aliases(&self, urn: &str) -> Result<Vec<Alias>, ApiError> {
        self.json(Call::get(format!("/fgs/functions/{}/aliases", seg(urn))))
            .await
    }

    /// `GET …/functions/{urn}/aliases/{name}`.
    pub async fn show_alias(&self, urn: &str, name: &str) -> Result<Alias, ApiError> {
        self.json(Call::get(format!("/fgs/functions/{}/aliases/{}", seg(urn), seg(name))))
            .await
    }

    /// `PUT …/functions/{urn}/aliases/{name}` (`body.name` is ignored).
    pub async fn update_alias(&self, urn: &str, name: &str, body: &AliasRequest) -> Result<Alias, ApiError> {
        let path = format!("/fgs/functions/{}/aliases/{}", seg(urn), seg(name));
        let body = AliasRequest {
            name: None,
            ..body.clone()
        };
        self.json(Call::with_body("PUT", path, &body, Kind::Write)).await
    }

    /// `DELETE …/functions/{urn}/aliases/{name}`.
    pub async fn delete_alias(&self, urn: &str, name: &str) -> Result<(), ApiError> {
        self.unit(Call::delete(format!(
            "/fgs/functions/{}/aliases/{}",
            seg(urn),
            seg(name)
        )))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::FuncCode;

    #[test]
    fn created_function_matching() {
        let file = base64::engine::general_purpose::STANDARD.encode(b"PK\x03\x04zip");
        let sent = CreateFunctionRequest {
            func_name: "f".into(),
            package: "default".into(),
            runtime: "Python3.9".into(),
            handler: "index.handler".into(),
            memory_size: 128,
            timeout: 30,
            code_type: "zip".into(),
            func_code: Some(FuncCode {
                file: Some(file.clone()),
                link: None,
            }),
            ..Default::default()
        };
        let mut found = FunctionConfig {
            func_name: "f".into(),
            package: "default".into(),
            runtime: "Python3.9".into(),
            handler: "index.handler".into(),
            memory_size: 128,
            timeout: 30,
            code_type: "zip".into(),
            digest: code_digest(&file).unwrap(),
            ..Default::default()
        };
        assert_eq!(matches_created(&sent, &found), Ok(()));
        found.memory_size = 256;
        found.digest = "00".into();
        let diff = matches_created(&sent, &found).unwrap_err();
        assert!(diff.contains("memory_size") && diff.contains("code digest"), "{diff}");
    }
}
