//! The 16 signing vectors produced by the official SDK's own signer
//! (copied from `shared/reference/signing-vectors.json` into
//! `tests/fixtures/signing/`, so the tests run on a clone of the repository alone; `.ci/run`
//! checks the copy still equals the original), checked from both sides: the client
//! signer must produce the same Authorization header, and the server verifier must accept
//! what went over the wire (and reject it with any byte changed).

use std::path::PathBuf;

use fgform::api::signing::{self, Authorization, WireRequest};
use serde_json::Value;

/// The vectors, from the repository's own copy.
pub(crate) fn vectors() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/signing/signing-vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn query_pairs(inputs: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for pair in inputs["query_params"].as_array().unwrap() {
        let key = pair[0].as_str().unwrap().to_string();
        match &pair[1] {
            Value::Array(items) => {
                let mut items: Vec<String> = items.iter().map(scalar).collect();
                items.sort();
                pairs.extend(items.into_iter().map(|i| (key.clone(), i)));
            }
            other => pairs.push((key, scalar(other))),
        }
    }
    pairs
}

fn body(inputs: &Value) -> Vec<u8> {
    inputs["body"]
        .as_str()
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default()
}

fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.split_once("://").unwrap().1;
    let path_and_query = &after_scheme[after_scheme.find('/').unwrap()..];
    match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (path_and_query.to_string(), String::new()),
    }
}

fn verify_sent(v: &Value, sk: &str, tamper_body: bool) -> Result<String, signing::SignError> {
    let (inputs, outputs) = (&v["inputs"], &v["outputs"]);
    let (path, query) = split_url(outputs["url_sent"].as_str().unwrap());
    let headers = outputs["headers_sent"].as_object().unwrap().clone();
    let lookup = move |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str().unwrap().to_string())
    };
    let auth = Authorization::parse(&lookup("authorization").unwrap())?;
    let mut body = body(inputs);
    if tamper_body {
        body.push(b' ');
    }
    let request = WireRequest {
        method: inputs["method"].as_str().unwrap(),
        raw_path: &path,
        raw_query: &query,
        header: &lookup,
        body: &body,
    };
    signing::verify(&request, &auth, sk)
}

#[test]
fn server_verifies_all_sixteen_vectors_from_the_wire() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 16);
    for v in &vectors {
        let sk = v["inputs"]["sk"].as_str().unwrap();
        let date = verify_sent(v, sk, false).unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        assert_eq!(date, v["inputs"]["date"].as_str().unwrap());
    }
}

#[test]
fn server_rejects_wrong_secret_and_tampered_body() {
    for v in vectors() {
        let sk = v["inputs"]["sk"].as_str().unwrap();
        assert_eq!(
            verify_sent(&v, "not-the-secret", false),
            Err(signing::SignError::Mismatch),
            "{}",
            v["name"]
        );
        let has_body = !body(&v["inputs"]).is_empty();
        let marker = v["outputs"]["headers_sent"].get("X-Sdk-Content-Sha256").is_some();
        if !marker {
            // An empty body hashes as empty; appending a byte changes the payload hash.
            assert!(verify_sent(&v, sk, true).is_err(), "{} (body {has_body})", v["name"]);
        }
    }
}

#[test]
fn client_signer_reproduces_canonical_request_and_authorization() {
    for v in vectors() {
        let (inputs, outputs) = (&v["inputs"], &v["outputs"]);
        let name = v["name"].as_str().unwrap();
        let pairs = query_pairs(inputs);
        let headers: Vec<(String, String)> = inputs["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let body = body(inputs);
        let signed = signing::sign(
            signing::OutgoingRequest {
                method: inputs["method"].as_str().unwrap(),
                raw_path: inputs["resource_path"].as_str().unwrap(),
                query: &pairs,
                headers,
                body: &body,
                host: inputs["host"].as_str().unwrap(),
            },
            inputs["ak"].as_str().unwrap(),
            inputs["sk"].as_str().unwrap(),
            inputs["date"].as_str().unwrap(),
        );
        let auth = signed.iter().find(|(n, _)| n == "Authorization").unwrap();
        assert_eq!(auth.1, outputs["authorization"].as_str().unwrap(), "{name}");
        let (_, query) = split_url(outputs["url_sent"].as_str().unwrap());
        assert_eq!(
            signing::canonical_query_pairs(&pairs),
            query,
            "{name}: query on the wire"
        );
        // The canonical request itself, from the server's view of the wire.
        let sent = outputs["headers_sent"].as_object().unwrap();
        let mut canon: Vec<(String, String)> = outputs["signed_headers"]
            .as_str()
            .unwrap()
            .split(';')
            .map(|h| {
                let value = sent.iter().find(|(k, _)| k.eq_ignore_ascii_case(h)).unwrap().1;
                (h.to_string(), value.as_str().unwrap().to_string())
            })
            .collect();
        canon.sort();
        let (path, raw_query) = split_url(outputs["url_sent"].as_str().unwrap());
        let creq = signing::canonical_request(
            inputs["method"].as_str().unwrap(),
            &signing::canonical_uri(&path),
            &signing::canonical_query(&raw_query),
            &canon,
            &signing::payload_hash(&body, sent.get("X-Sdk-Content-Sha256").and_then(Value::as_str)),
        );
        assert_eq!(creq, outputs["canonical_request"].as_str().unwrap(), "{name}");
        assert_eq!(
            signing::string_to_sign(inputs["date"].as_str().unwrap(), &creq),
            outputs["string_to_sign"].as_str().unwrap(),
            "{name}"
        );
    }
}
