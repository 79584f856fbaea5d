//! `--obs-endpoint URL`: packages named by URL (`code_type: obs` + `code_url`,
//! `depend_type: obs` + `depend_link`) are fetched from an S3-compatible endpoint standing in
//! for OBS, as the service fetches them from OBS, so `digest`, `code_size` and `etag` are
//! those of the real bytes. Without it, the digest stays that of the URL's text.
//!
//! A URL maps onto the endpoint in either spelling: OBS's virtual-hosted
//! `https://BUCKET.obs.REGION.myhuaweicloud.com/KEY` (what FunctionGraph is given) or the
//! path-style `ENDPOINT/BUCKET/KEY`; `obs://BUCKET/KEY` too. Requests are signed with the
//! emulator process's `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (else
//! `HUAWEICLOUD_SDK_AK`/`_SK`) when set, unsigned otherwise.

use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use serde_json::Value;

use super::fail::Fail;
use super::Shared;
use crate::api::Operation;

/// The bucket and key a package URL names on `endpoint`, `None` when it names neither form.
pub(crate) fn locate(url: &str, endpoint: &str) -> Option<(String, String)> {
    let decode = |key: &str| {
        percent_encoding::percent_decode_str(key)
            .decode_utf8_lossy()
            .into_owned()
    };
    let split = |rest: &str| {
        let (bucket, key) = rest.split_once('/')?;
        let key = key.split(['?', '#']).next().unwrap_or_default();
        (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), decode(key)))
    };
    if let Some(rest) = url.strip_prefix("obs://") {
        return split(rest);
    }
    let endpoint = endpoint.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix(endpoint).and_then(|r| r.strip_prefix('/')) {
        return split(rest);
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let (bucket, _) = host.split_once(".obs.")?;
    split(&format!("{bucket}/{path}"))
}

/// The URL field of an operation that can name its package by URL, when the body names it
/// that way.
fn package_url(op: Operation, body: &serde_json::Map<String, Value>) -> Option<String> {
    let (kind, kind_value, field) = match op {
        Operation::CreateFunction | Operation::UpdateFunctionCode => ("code_type", "obs", "code_url"),
        Operation::CreateDependencyVersion | Operation::CreateDependency | Operation::UpdateDependency => {
            ("depend_type", "obs", "depend_link")
        }
        _ => return None,
    };
    if body.get(kind).and_then(Value::as_str) != Some(kind_value) {
        return None;
    }
    body.get(field)
        .and_then(Value::as_str)
        .filter(|url| !url.is_empty())
        .map(str::to_string)
}

/// With `--obs-endpoint`, the package an operation (`body`: its raw request body) names by URL, fetched (`None` for any
/// other request, or without the flag). A URL that does not map onto the endpoint, a missing
/// object or an endpoint that cannot be reached is the API's 400 `FSS.1010`, naming the URL.
pub(crate) async fn prefetch(
    shared: &Shared,
    op: Operation,
    body: Option<bytes::Bytes>,
) -> Result<Option<Vec<u8>>, Fail> {
    let (Some(endpoint), Some(raw)) = (&shared.config.obs_endpoint, body) else {
        return Ok(None);
    };
    // A body that is not a JSON object is the handler's to refuse.
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&raw) else {
        return Ok(None);
    };
    let Some(url) = package_url(op, &body) else {
        return Ok(None);
    };
    let bad = |why: String| Fail::bad("FSS.1010", format!("invalid OBS URL `{url}`: {why}"));
    let Some((bucket, key)) = locate(&url, endpoint) else {
        return Err(bad(format!(
            "it names no bucket and object at the OBS endpoint {endpoint}"
        )));
    };
    let store = store(endpoint, &bucket).map_err(|e| bad(format!("cannot reach bucket `{bucket}`: {e}")))?;
    match store.get(&ObjectPath::from(key.as_str())).await {
        Ok(got) => match got.bytes().await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(e) => Err(bad(format!("cannot read the object: {}", crate::api::error_chain(&e)))),
        },
        Err(object_store::Error::NotFound { .. }) => {
            Err(bad(format!("object `{key}` does not exist in bucket `{bucket}`")))
        }
        Err(e) => Err(bad(format!("cannot fetch the object: {}", crate::api::error_chain(&e)))),
    }
}

/// A client of `bucket` at `endpoint`: path-style, quick to give up (the caller is waiting
/// for an API answer).
fn store(endpoint: &str, bucket: &str) -> object_store::Result<object_store::aws::AmazonS3> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(ak), Some(sk)) => Some((ak, sk)),
        _ => var("HUAWEICLOUD_SDK_AK").zip(var("HUAWEICLOUD_SDK_SK")),
    };
    let builder = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_region(var("AWS_REGION").unwrap_or_else(|| "us-east-1".into()))
        .with_virtual_hosted_style_request(false)
        .with_retry(RetryConfig {
            max_retries: 1,
            retry_timeout: Duration::from_secs(5),
            ..RetryConfig::default()
        })
        .with_client_options(
            ClientOptions::new()
                .with_allow_http(endpoint.starts_with("http://"))
                .with_connect_timeout(Duration::from_secs(3))
                .with_timeout(Duration::from_secs(120)),
        );
    let builder = match credentials {
        Some((ak, sk)) => builder.with_access_key_id(ak).with_secret_access_key(sk),
        None => builder.with_skip_signature(true),
    };
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn urls_map_onto_the_endpoint_in_both_spellings() {
        let endpoint = "http://127.0.0.1:8333";
        let pair = |b: &str, k: &str| Some((b.to_string(), k.to_string()));
        assert_eq!(
            locate(
                "https://deploy.obs.cn-north-4.myhuaweicloud.com/ci/code/ab.zip",
                endpoint
            ),
            pair("deploy", "ci/code/ab.zip")
        );
        assert_eq!(
            locate("http://127.0.0.1:8333/deploy/ci/code/ab.zip", endpoint),
            pair("deploy", "ci/code/ab.zip")
        );
        assert_eq!(
            locate("http://127.0.0.1:8333/deploy/a%20b.zip", &format!("{endpoint}/")),
            pair("deploy", "a b.zip")
        );
        assert_eq!(locate("obs://deploy/x.zip", endpoint), pair("deploy", "x.zip"));
        assert_eq!(locate("https://example.com/deploy/x.zip", endpoint), None);
        assert_eq!(locate("http://127.0.0.1:8333/deploy", endpoint), None);
        assert_eq!(locate("https://deploy.obs.r.myhuaweicloud.com/", endpoint), None);
    }
}
