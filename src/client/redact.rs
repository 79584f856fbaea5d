//! What `--debug` may print: request and response headers and bodies with every secret
//! replaced. Signatures, tokens, passwords and `encrypted_user_data` become `***`; code
//! payloads (`func_code.file`, `depend_file`) become their size.

use serde_json::Value;

/// Header names whose values are secrets (compared case-insensitively).
const SECRET_HEADERS: &[&str] = &["authorization", "x-auth-token", "x-security-token", "x-subject-token"];
/// Body keys whose values are secrets.
/// `download_link`: a dependency package's pre-signed URL (its query signs for anyone holding it).
const SECRET_KEYS: &[&str] = &["encrypted_user_data", "password", "download_link"];
/// Body keys holding base64 code packages.
const PAYLOAD_KEYS: &[&str] = &["file", "depend_file"];
/// Longest body text a debug line carries.
const MAX_BODY_CHARS: usize = 2048;

/// Redacts header values. `Authorization` keeps its algorithm name only.
pub fn headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let shown = if lower == "authorization" {
                match value.split_once(' ') {
                    Some((alg, _)) => format!("{alg} ***"),
                    None => "***".into(),
                }
            } else if SECRET_HEADERS.contains(&lower.as_str()) {
                "***".into()
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&k.as_str()) || k.contains("password") || k.contains("secret") || k.ends_with("token")
}

fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) && !v.is_null() {
                    *v = Value::String("***".into());
                } else if PAYLOAD_KEYS.contains(&key.as_str()) {
                    if let Value::String(s) = v {
                        if !s.is_empty() {
                            *v = Value::String(format!("<{} bytes base64>", s.len()));
                        }
                    }
                } else {
                    scrub(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// Redacts a body for logging: JSON is scrubbed and re-serialised, anything else is shown
/// as its length only.
pub fn body(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            scrub(&mut v);
            let mut text = v.to_string();
            if text.len() > MAX_BODY_CHARS {
                let mut cut = MAX_BODY_CHARS;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            text
        }
        Err(_) => format!("<{} bytes>", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_hide_signatures_and_tokens() {
        let h = headers(&[
            (
                "Authorization".into(),
                "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=abcdef".into(),
            ),
            ("X-Auth-Token".into(), "MIItoken".into()),
            ("X-Security-Token".into(), "sts".into()),
            ("X-Project-Id".into(), "p".into()),
        ]);
        let text = format!("{h:?}");
        assert!(!text.contains("abcdef") && !text.contains("MIItoken") && !text.contains("sts\""));
        assert!(text.contains("SDK-HMAC-SHA256 ***") && text.contains("\"p\""));
    }

    #[test]
    fn bodies_hide_secrets_and_code() {
        let b = body(
            br#"{"func_name":"f","encrypted_user_data":"{\"pw\":\"s3cr3t\"}","func_code":{"file":"UEsDBAAAAA=="},
               "auth":{"identity":{"password":{"user":{"name":"u","password":"hunter2"}}}},
               "event_data":{"kafka_password":"kp","db_password":"dp"},
               "download_link":"https://b.obs.r.myhuaweicloud.com/p.zip?Signature=presigned"}"#,
        );
        for secret in ["s3cr3t", "UEsDB", "hunter2", "kp\"", "dp\"", "presigned"] {
            assert!(!b.contains(secret), "{secret} in {b}");
        }
        assert!(
            b.contains("<12 bytes base64>") && b.contains("\"func_name\":\"f\""),
            "{b}"
        );
        assert_eq!(body(b"\x00\x01binary"), "<8 bytes>");
    }
}
