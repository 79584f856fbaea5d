//! Value comparison with the server's defaults normalized away, so a clean apply is
//! always followed by "No changes".

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// Whether a value means "nothing" (`null`, `""`, `[]`, `{}`, absent).
pub fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// `desired` matches `live` when every key `desired` sets is equal in `live` (recursively
/// for objects; arrays element by element, same length); keys only the server adds are
/// defaults and ignored; empty values equal absent ones. Numbers compare by value.
pub fn matches(desired: Option<&Value>, live: Option<&Value>) -> bool {
    if is_empty(desired) {
        return is_empty(live);
    }
    let (Some(d), Some(l)) = (desired, live) else {
        return false;
    };
    match (d, l) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, v)| is_empty(Some(v)) || matches(Some(v), l.get(k))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| matches(Some(a), Some(b)))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        // Some API versions send numbers and booleans as strings.
        (Value::Number(a), Value::String(b)) => a.to_string() == *b,
        (Value::Bool(a), Value::String(b)) => a.to_string() == *b,
        _ => d == l,
    }
}

/// A JSON-object string (`user_data`, destination `param`) parsed for structural
/// comparison; a string that is not JSON stays a string; empty is `null`.
pub fn parse_json_string(s: &str) -> Value {
    if s.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// HMAC-SHA256 of a secret keyed by the state lineage: what state keeps instead of it.
pub fn secret_hmac(key: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `obj[key]` as an option.
pub fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_defaults_and_empties_are_not_differences() {
        assert!(matches(Some(&json!({"a": 1})), Some(&json!({"a": 1.0, "b": 2}))));
        assert!(matches(Some(&json!("")), None));
        assert!(matches(None, Some(&json!({}))));
        assert!(!matches(Some(&json!({"a": 1})), Some(&json!({"a": 2}))));
        assert!(!matches(Some(&json!([1, 2])), Some(&json!([1]))));
        assert!(!matches(None, Some(&json!("x"))));
        assert!(matches(Some(&json!(5)), Some(&json!("5"))));
    }

    #[test]
    fn hmacs_depend_on_the_key() {
        assert_ne!(secret_hmac("a", "s"), secret_hmac("b", "s"));
        assert_eq!(secret_hmac("a", "s").len(), 64);
    }
}
