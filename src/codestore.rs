//! The code bucket: packages too large for a base64 upload (`api::limits::upload_refusal`)
//! are put in an S3-compatible bucket (OBS through its S3 API) under a content-addressed key,
//! `<prefix>/code/<sha256 hex>.zip`, and the API is given its URL (`code_type: obs` +
//! `code_url`, or `depend_type: obs` + `depend_link`).
//!
//! The bucket is spelled as state locations are (`obs://bucket/prefix`,
//! `s3://bucket/prefix?endpoint=URL&region=R`) and parsed by the same rules
//! ([`crate::state::location`]). Credentials come from `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else `HUAWEICLOUD_SDK_AK` /
//! `HUAWEICLOUD_SDK_SK`; none → unsigned requests. They never appear in a message.
//!
//! A key names its content, so an object that exists with the right size is the package:
//! it is not sent again, and a concurrent writer of the same key (`PutMode::Create`, refused
//! with 412) wrote the same bytes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig};
use sha2::{Digest as _, Sha256};

use crate::model::CodeBucket;
use crate::state::location::{Context, Location, S3Location};

/// Why the code bucket could not be used. Messages name the bucket and key, never a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum CodeStoreError {
    #[error("cannot use the code bucket `{bucket}`")]
    Connect {
        bucket: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot upload `{key}` to the code bucket `{bucket}`")]
    Upload {
        bucket: String,
        key: String,
        #[source]
        source: object_store::Error,
    },
}

/// An object in the code bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    /// What the API is given (`code_url` / `depend_link`): [`CodeBucket::object_url`].
    pub url: String,
}

/// What [`CodeStore::upload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploaded {
    /// The bytes were sent.
    Sent,
    /// The object was already there with the same size (its key names its content): no
    /// bytes were sent.
    Present,
    /// Another writer created the object between the check and the put (the same bytes:
    /// the key names them).
    Raced,
}

/// A connected code bucket.
#[derive(Debug, Clone)]
pub struct CodeStore {
    bucket: CodeBucket,
    store: Arc<AmazonS3>,
}

/// Hex SHA-256 of a package: the name of its object.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The object a package of `bytes` is stored as in `bucket`.
pub fn object_for(bucket: &CodeBucket, bytes: &[u8]) -> ObjectRef {
    let key = bucket.key(&sha256_hex(bytes));
    ObjectRef {
        bucket: bucket.bucket.clone(),
        url: bucket.object_url(&key),
        key,
    }
}

/// Parses `provider.code_bucket` with the state locations' URL rules; `region` is the
/// provider's (for `obs://`), `env` the environment the stack was loaded with.
pub fn parse_bucket(text: &str, region: Option<&str>, env: &BTreeMap<String, String>) -> Result<CodeBucket, String> {
    let not_a_bucket = || {
        format!(
            "`{}` is not a bucket location (`obs://…` or `s3://…`)",
            crate::state::location::redact(text)
        )
    };
    if !(text.starts_with("obs://") || text.starts_with("s3://")) {
        return Err(not_a_bucket());
    }
    let context = Context {
        stack: "code",
        stage: None,
        region,
        base: std::path::Path::new("."),
        env: Some(env),
    };
    match Location::parse(text, &context) {
        Ok(Location::S3(location)) => Ok(from_location(&location)),
        Ok(_) => Err(not_a_bucket()),
        Err(err) => Err(err.reason),
    }
}

/// The code bucket an S3/OBS state location names (its bucket and prefix).
pub fn from_location(location: &S3Location) -> CodeBucket {
    CodeBucket {
        scheme: location.scheme.clone(),
        bucket: location.bucket.clone(),
        prefix: location.prefix.clone(),
        endpoint: location.endpoint.clone(),
        region: location.region.clone(),
    }
}

/// The bucket large packages go to: the stack's `provider.code_bucket`, else the bucket of
/// the state's location when that is S3/OBS (`fallback`), else none.
pub fn code_bucket(configured: Option<&CodeBucket>, fallback: Option<&S3Location>) -> Option<CodeBucket> {
    configured.cloned().or_else(|| fallback.map(from_location))
}

/// `(access key, secret key, session token)` from the environment, AWS's names first.
fn credentials() -> Option<(String, String, Option<String>)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(ak), Some(sk)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        return Some((ak, sk, var("AWS_SESSION_TOKEN")));
    }
    match (var("HUAWEICLOUD_SDK_AK"), var("HUAWEICLOUD_SDK_SK")) {
        (Some(ak), Some(sk)) => Some((ak, sk, None)),
        _ => None,
    }
}

impl CodeStore {
    /// A client of `bucket` (no request is made yet).
    pub fn connect(bucket: &CodeBucket) -> Result<CodeStore, CodeStoreError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket.bucket)
            .with_region(&bucket.region)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    // Part of the client options: set after them, `with_allow_http` is lost.
                    .with_allow_http(bucket.endpoint.as_deref().is_some_and(|e| e.starts_with("http://")))
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(300)),
            );
        if let Some(endpoint) = &bucket.endpoint {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        builder = match credentials() {
            Some((ak, sk, token)) => {
                let builder = builder.with_access_key_id(ak).with_secret_access_key(sk);
                match token {
                    Some(token) => builder.with_token(token),
                    None => builder,
                }
            }
            None => builder.with_skip_signature(true),
        };
        let store = builder.build().map_err(|source| CodeStoreError::Connect {
            bucket: bucket.to_string(),
            source,
        })?;
        Ok(CodeStore {
            bucket: bucket.clone(),
            store: Arc::new(store),
        })
    }

    pub fn bucket(&self) -> &CodeBucket {
        &self.bucket
    }

    /// Puts `bytes` at their content-addressed key unless an object of that size is there
    /// already (HEAD first); a concurrent create of the same key counts as done.
    pub async fn upload(&self, bytes: bytes::Bytes) -> Result<(ObjectRef, Uploaded), CodeStoreError> {
        let object = object_for(&self.bucket, &bytes);
        let path = ObjectPath::from(object.key.as_str());
        let failed = |source| CodeStoreError::Upload {
            bucket: self.bucket.to_string(),
            key: object.key.clone(),
            source,
        };
        // An object of another size at a content key is a broken upload: replaced.
        let mode = match self.store.head(&path).await {
            Ok(meta) if meta.size == bytes.len() as u64 => return Ok((object, Uploaded::Present)),
            Ok(meta) => PutMode::Update(object_store::UpdateVersion {
                e_tag: meta.e_tag,
                version: meta.version,
            }),
            Err(object_store::Error::NotFound { .. }) => PutMode::Create,
            Err(source) => return Err(failed(source)),
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let uploaded = match self.store.put_opts(&path, PutPayload::from(bytes), options).await {
            Ok(_) => Uploaded::Sent,
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Uploaded::Raced
            }
            Err(source) => return Err(failed(source)),
        };
        tracing::debug!(key = %object.key, ?uploaded, "code bucket upload");
        Ok((object, uploaded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn keys_name_the_content_under_the_prefix() {
        let bucket = parse_bucket("s3://b/ci/stack?endpoint=http://127.0.0.1:9000", None, &env()).unwrap();
        let object = object_for(&bucket, b"abc");
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(object.key, format!("ci/stack/code/{sha}.zip"));
        assert_eq!(object.url, format!("http://127.0.0.1:9000/b/ci/stack/code/{sha}.zip"));
        assert_eq!(object_for(&bucket, b"abc"), object, "same bytes, same object");
        assert_ne!(object_for(&bucket, b"abd").key, object.key);
        let bare = parse_bucket("s3://b?endpoint=http://h:1/", None, &env()).unwrap();
        assert_eq!(object_for(&bare, b"abc").key, format!("code/{sha}.zip"));
        assert_eq!(object_for(&bare, b"abc").url, format!("http://h:1/b/code/{sha}.zip"));
    }

    #[test]
    fn obs_buckets_get_the_virtual_hosted_url_functiongraph_fetches() {
        let bucket = parse_bucket("obs://deploy/fgform", Some("cn-north-4"), &env()).unwrap();
        assert_eq!(
            bucket.endpoint.as_deref(),
            Some("https://obs.cn-north-4.myhuaweicloud.com")
        );
        let object = object_for(&bucket, b"abc");
        assert!(
            object
                .url
                .starts_with("https://deploy.obs.cn-north-4.myhuaweicloud.com/fgform/code/ba7816bf"),
            "{}",
            object.url
        );
        assert_eq!(bucket.to_string(), "obs://deploy/fgform");
    }

    #[test]
    fn only_bucket_locations_are_accepted() {
        for bad in ["state/x.json", "postgres://u@h/db", "gs://b/p", "s3://b/p?bogus=1"] {
            assert!(parse_bucket(bad, Some("r"), &env()).is_err(), "{bad}");
        }
        let err = parse_bucket("postgres://u:s3cr3t-value@h/db", None, &env()).unwrap_err();
        assert!(
            err.contains("is not a bucket location") && !err.contains("s3cr3t-value"),
            "{err}"
        );
        let err = parse_bucket("s3://AKID:s3cr3t-value@b/p", None, &env()).unwrap_err();
        assert!(!err.contains("s3cr3t-value"), "{err}");
    }

    #[test]
    fn the_manifest_bucket_wins_over_the_states() {
        let context = Context {
            stack: "s",
            stage: None,
            region: Some("r"),
            base: std::path::Path::new("."),
            env: Some(&BTreeMap::new()),
        };
        let Location::S3(state) = Location::parse("obs://state-bucket/p", &context).unwrap() else {
            panic!("an S3 location");
        };
        let own = parse_bucket("obs://code/q", Some("r"), &env()).unwrap();
        assert_eq!(code_bucket(Some(&own), Some(&state)), Some(own.clone()));
        assert_eq!(code_bucket(None, Some(&state)).unwrap().bucket, "state-bucket");
        assert_eq!(code_bucket(None, None), None);
    }
}
