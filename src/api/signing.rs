//! AK/SK request signing, `SDK-HMAC-SHA256`, exactly as `shared/reference/signing.md`
//! describes it. Pure functions: the client signs with [`sign`], the emulator checks with
//! [`verify`]; both build the same [`canonical_request`].

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The only algorithm the FunctionGraph gateway needs.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// SHA-256 of the empty string: the payload hash of every body-less request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The header that carries the signing time.
pub const DATE_HEADER: &str = "X-Sdk-Date";
/// `YYYYMMDDTHHMMSSZ`, the format of [`DATE_HEADER`].
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Everything but `A-Z a-z 0-9 - _ . ~` is escaped, with upper-case hex.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes `s` (as UTF-8) leaving only the unreserved characters.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, ESCAPED).to_string()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Canonical URI of a raw (still percent-encoded) request path: decode, split on `/`,
/// re-encode each segment, and always end with `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded = decode(raw_path);
    let mut out = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Canonical query from decoded `(key, value)` pairs: sorted by key then value
/// (code-point order), each side re-encoded, joined with `&`.
pub fn canonical_query_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes a raw query string into pairs (percent-decoding, `+` stays `+`).
pub fn parse_query(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Canonical query of a raw query string as it arrived on the wire.
pub fn canonical_query(raw_query: &str) -> String {
    canonical_query_pairs(&parse_query(raw_query))
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The payload hash: empty body first, then an explicit `X-Sdk-Content-Sha256`, then the
/// SHA-256 of the body bytes.
pub fn payload_hash(body: &[u8], content_sha256_header: Option<&str>) -> String {
    if body.is_empty() {
        EMPTY_SHA256.to_string()
    } else if let Some(marker) = content_sha256_header {
        marker.to_string()
    } else {
        sha256_hex(body)
    }
}

/// Builds the canonical request. `headers` are the signed headers, lower-case names in
/// sorted order with their values (trimmed here).
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(&method.to_ascii_uppercase());
    out.push('\n');
    out.push_str(canonical_uri);
    out.push('\n');
    out.push_str(canonical_query);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers(headers));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

fn signed_headers(headers: &[(String, String)]) -> String {
    headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";")
}

/// `SDK-HMAC-SHA256\n<date>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(date: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{date}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// Hex HMAC-SHA256 of the string to sign, keyed with the raw secret key.
pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    /// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
    pub fn parse(value: &str) -> Result<Self, SignError> {
        let (algorithm, rest) = value.trim().split_once(' ').ok_or(SignError::MalformedAuthorization)?;
        if algorithm != ALGORITHM {
            return Err(SignError::UnsupportedAlgorithm(algorithm.to_string()));
        }
        let (mut access, mut signed, mut sig) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=').ok_or(SignError::MalformedAuthorization)?;
            match k {
                "Access" => access = Some(v.to_string()),
                "SignedHeaders" => signed = Some(v.split(';').map(str::to_string).collect()),
                "Signature" => sig = Some(v.to_string()),
                _ => {}
            }
        }
        match (access, signed, sig) {
            (Some(access_key), Some(signed_headers), Some(signature)) if !access_key.is_empty() => Ok(Authorization {
                access_key,
                signed_headers,
                signature,
            }),
            _ => Err(SignError::MalformedAuthorization),
        }
    }

    /// Formats the header value.
    pub fn to_header_value(&self) -> String {
        format!(
            "{ALGORITHM} Access={}, SignedHeaders={}, Signature={}",
            self.access_key,
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

/// Why a signature could not be checked or did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the Authorization header is malformed")]
    MalformedAuthorization,
    #[error("unsupported signing algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    #[error("header `{0}` is signed but missing")]
    MissingSignedHeader(String),
    #[error("the X-Sdk-Date header is missing or malformed")]
    BadDate,
    #[error("verify aksk signature fail")]
    Mismatch,
}

/// A request as the server saw it: raw path and query exactly as on the wire.
pub struct WireRequest<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    /// Header lookup by lower-case name (UTF-8 values).
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
}

/// Verifies `auth` against the request with `secret_key`, in constant time.
/// Returns the `X-Sdk-Date` value on success (the caller checks the clock skew).
pub fn verify(request: &WireRequest<'_>, auth: &Authorization, secret_key: &str) -> Result<String, SignError> {
    let date = (request.header)("x-sdk-date").ok_or(SignError::BadDate)?;
    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let value = (request.header)(name).ok_or_else(|| SignError::MissingSignedHeader(name.clone()))?;
        headers.push((name.clone(), value));
    }
    let content_sha = (request.header)("x-sdk-content-sha256");
    let creq = canonical_request(
        request.method,
        &canonical_uri(request.raw_path),
        &canonical_query(request.raw_query),
        &headers,
        &payload_hash(request.body, content_sha.as_deref()),
    );
    let expected = signature(secret_key, &string_to_sign(date.trim(), &creq));
    use subtle::ConstantTimeEq;
    if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
        Ok(date)
    } else {
        Err(SignError::Mismatch)
    }
}

/// What a client sends: sign `headers` (name, value) in place for the given request and
/// return them with `X-Sdk-Date`, `Host` (if absent), the content marker and
/// `Authorization` added. `query` holds decoded pairs in any order; the caller must put
/// [`canonical_query_pairs`] of them on the wire.
#[allow(clippy::too_many_arguments)] // every input of the signature, by name
pub fn sign(
    method: &str,
    raw_path: &str,
    query: &[(String, String)],
    mut headers: Vec<(String, String)>,
    body: &[u8],
    host: &str,
    access_key: &str,
    secret_key: &str,
    date: &str,
) -> Vec<(String, String)> {
    let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    if let Some(ct) = content_type {
        if !ct.starts_with("application/json") && !ct.starts_with("application/bson") {
            headers.push(("X-Sdk-Content-Sha256".into(), "UNSIGNED-PAYLOAD".into()));
        }
    }
    if !has(&headers, "x-sdk-date") {
        headers.push((DATE_HEADER.into(), date.into()));
    }
    if !has(&headers, "host") {
        headers.push(("Host".into(), host.into()));
    }
    for (_, v) in headers.iter_mut() {
        *v = v.trim().to_string();
    }
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !n.contains('_'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    signed.sort();
    let date_value = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-sdk-date"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let marker = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-sdk-content-sha256"))
        .map(|(_, v)| v.as_str());
    let creq = canonical_request(
        method,
        &canonical_uri(raw_path),
        &canonical_query_pairs(query),
        &signed,
        &payload_hash(body, marker),
    );
    let auth = Authorization {
        access_key: access_key.to_string(),
        signed_headers: signed.iter().map(|(n, _)| n.clone()).collect(),
        signature: signature(secret_key, &string_to_sign(&date_value, &creq)),
    };
    headers.push(("Authorization".into(), auth.to_header_value()));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uri_always_ends_with_slash_and_reencodes() {
        assert_eq!(canonical_uri("/v2/p/fgs/functions"), "/v2/p/fgs/functions/");
        assert_eq!(canonical_uri("/a/b/"), "/a/b/");
        assert_eq!(canonical_uri("/x/urn:fss:a"), "/x/urn%3Afss%3Aa/");
        assert_eq!(canonical_uri("/d/dep%20name~x%2Fy/v"), "/d/dep%20name~x/y/v/");
    }

    #[test]
    fn query_sorts_on_decoded_strings() {
        assert_eq!(canonical_query("b=2&a=1&Upper=x&a=0"), "Upper=x&a=0&a=1&b=2");
        assert_eq!(canonical_query("name=a%2Bb%2Fc&e="), "e=&name=a%2Bb%2Fc");
    }

    #[test]
    fn authorization_round_trips() {
        let a = Authorization::parse("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=ab").unwrap();
        assert_eq!(a.access_key, "AK");
        assert_eq!(a.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(
            a.to_header_value(),
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=ab"
        );
        assert!(Authorization::parse("AWS4 Access=AK").is_err());
        assert!(Authorization::parse("SDK-HMAC-SHA256 Access=AK").is_err());
    }
}
