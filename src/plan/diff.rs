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

/// HMAC-SHA256 of a secret keyed by the state lineage: the fingerprint older fgform
/// versions kept in state. Its key is stored next to it, so it only slows nobody down: it
/// is compared (see [`secret_matches`]) but never written any more.
pub fn secret_hmac(key: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Argon2id memory cost of a secret fingerprint, in KiB (32 MiB): with
/// [`SECRET_KDF_T_COST`], about 80 ms per guess on a 2-core build machine, so a state
/// file or a saved plan cannot be tested against a word list at HMAC speed.
pub const SECRET_KDF_M_COST_KIB: u32 = 32 * 1024;
/// Argon2id passes over that memory.
pub const SECRET_KDF_T_COST: u32 = 2;
/// Argon2id lanes.
pub const SECRET_KDF_P_COST: u32 = 1;
/// Fingerprints naming more than this much memory (KiB) or passes are refused rather than
/// computed: a state file must not be able to make a plan allocate gigabytes.
const SECRET_KDF_MAX_M_COST_KIB: u32 = 1024 * 1024;
const SECRET_KDF_MAX_T_COST: u32 = 64;

fn secret_kdf() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(SECRET_KDF_M_COST_KIB, SECRET_KDF_T_COST, SECRET_KDF_P_COST, Some(32))
        .expect("valid Argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// What state keeps instead of a secret: an Argon2id PHC string
/// (`$argon2id$v=19$m=32768,t=2,p=1$<salt>$<hash>`) with a random salt of its own, so the
/// parameters can grow later and every guess costs a full KDF run.
pub fn secret_fingerprint(secret: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    secret_kdf()
        .hash_password(secret.as_bytes(), &salt)
        .expect("Argon2 hashes any secret")
        .to_string()
}

/// Whether `recorded` is a fingerprint of `secret`: a PHC string is verified with the
/// parameters it names; a 64-hex-digit fingerprint of older versions is the HMAC keyed by
/// `legacy_key` (the state's lineage, [`super::hmac_key`]) and compares as before, so an
/// existing state plans no change until the function is next written, which upgrades it.
pub fn secret_matches(recorded: &str, secret: &str, legacy_key: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    use subtle::ConstantTimeEq;
    if let Ok(hash) = PasswordHash::new(recorded) {
        let Ok(params) = argon2::Params::try_from(&hash) else {
            return false;
        };
        if hash.algorithm != argon2::Algorithm::Argon2id.ident()
            || params.m_cost() > SECRET_KDF_MAX_M_COST_KIB
            || params.t_cost() > SECRET_KDF_MAX_T_COST
        {
            return false;
        }
        return secret_kdf().verify_password(secret.as_bytes(), &hash).is_ok();
    }
    recorded.len() == 64 && bool::from(secret_hmac(legacy_key, secret).as_bytes().ct_eq(recorded.as_bytes()))
}

/// Whether the secret fingerprint state records (`recorded`) still matches the secret the
/// manifest sets (`secret`); both absent is unchanged.
pub fn secret_unchanged(recorded: Option<&str>, secret: Option<&str>, legacy_key: &str) -> bool {
    match (recorded, secret) {
        (None, None) => true,
        (Some(r), Some(s)) => secret_matches(r, s, legacy_key),
        _ => false,
    }
}

/// The fingerprint to record for `secret`: the recorded one when it already is a
/// current-strength fingerprint of this secret (the state does not churn), else a new one
/// (which also upgrades a legacy HMAC). `verified`: the caller already knows `recorded`
/// matches `secret` (the plan compared them), so no second KDF run checks it.
pub fn secret_record(recorded: Option<&str>, secret: &str, legacy_key: &str, verified: bool) -> String {
    match recorded {
        Some(r) if secret_is_current(r) && (verified || secret_matches(r, secret, legacy_key)) => r.to_string(),
        _ => secret_fingerprint(secret),
    }
}

/// Whether `recorded` is an Argon2id fingerprint at least as strong as this build makes.
fn secret_is_current(recorded: &str) -> bool {
    let Ok(hash) = argon2::password_hash::PasswordHash::new(recorded) else {
        return false;
    };
    hash.algorithm == argon2::Algorithm::Argon2id.ident()
        && argon2::Params::try_from(&hash).is_ok_and(|p| {
            p.m_cost() >= SECRET_KDF_M_COST_KIB && p.t_cost() >= SECRET_KDF_T_COST && p.p_cost() >= SECRET_KDF_P_COST
        })
}

/// A deterministic Argon2id digest of `secret` under `salt` (any string; it is hashed to
/// the salt bytes), hex: what a saved plan's inputs hash holds instead of a secret, keyed
/// by the plan file's random salt. Same parameters as [`secret_fingerprint`].
pub fn secret_digest(salt: &str, secret: &str) -> String {
    use sha2::Digest as _;
    let salt = Sha256::digest(salt.as_bytes());
    let mut out = [0u8; 32];
    secret_kdf()
        .hash_password_into(secret.as_bytes(), &salt, &mut out)
        .expect("Argon2 hashes any secret");
    hex::encode(out)
}

/// `obj[key]` as an option.
pub fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sha2::Digest as _;

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

    /// One guess at a fingerprint costs a full Argon2id run at these parameters (measured:
    /// ~80 ms in a release build on the 2-core build machine); the test pins the
    /// parameters, not the clock.
    #[test]
    fn secret_fingerprints_are_salted_argon2id_and_the_lineage_no_longer_opens_them() {
        use argon2::password_hash::PasswordHash;
        let lineage = "6f1c7a52-94a0-4c4e-8b55-0d0f1f3f5e1a";
        let secret = r#"{"DB_PASSWORD":"hunter2"}"#;
        let fingerprint = secret_fingerprint(secret);
        let phc = PasswordHash::new(&fingerprint).unwrap();
        assert_eq!(phc.algorithm.as_str(), "argon2id");
        let params = argon2::Params::try_from(&phc).unwrap();
        assert!(params.m_cost() >= 32 * 1024, "memory cost {} KiB", params.m_cost());
        assert!(params.t_cost() >= 2, "time cost {}", params.t_cost());
        assert_eq!(phc.salt.map(|s| s.len()), Some(22), "16 random bytes, base64");
        assert_ne!(secret_fingerprint(secret), fingerprint, "a fresh salt every time");

        assert!(secret_matches(&fingerprint, secret, lineage));
        assert!(!secret_matches(&fingerprint, "hunter3", lineage));
        assert_ne!(fingerprint, secret_hmac(lineage, secret));
        assert!(!fingerprint.contains(lineage));

        // Older states' lineage HMACs still compare (no spurious diff) and get upgraded.
        let legacy = secret_hmac(lineage, secret);
        assert!(secret_matches(&legacy, secret, lineage));
        assert!(!secret_matches(&legacy, "hunter3", lineage));
        assert!(!secret_matches(&legacy, secret, "another-lineage"));
        assert!(secret_record(Some(&legacy), secret, lineage, true).starts_with("$argon2id$"));
        // A current fingerprint of the same secret is kept as it is; another secret's is not.
        assert_eq!(secret_record(Some(&fingerprint), secret, lineage, false), fingerprint);
        assert_ne!(
            secret_record(Some(&fingerprint), "hunter3", lineage, false),
            fingerprint
        );
        // What the plan verified is kept without checking again.
        assert_eq!(secret_record(Some(&fingerprint), secret, lineage, true), fingerprint);

        assert!(secret_unchanged(None, None, lineage));
        assert!(!secret_unchanged(Some(&fingerprint), None, lineage));
        assert!(!secret_unchanged(None, Some(secret), lineage));
        assert!(!secret_matches("garbage", secret, lineage));
    }

    #[test]
    fn weaker_or_absurd_fingerprint_parameters_are_upgraded_or_refused() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, Some(32)).unwrap(),
        )
        .hash_password(b"s", &salt)
        .unwrap()
        .to_string();
        assert!(secret_matches(&weak, "s", "l"), "still compares");
        assert_ne!(
            secret_record(Some(&weak), "s", "l", true),
            weak,
            "rewritten at full strength"
        );
        let huge = weak.replace("m=8192", "m=4194304");
        assert!(!secret_matches(&huge, "s", "l"), "not computed");
    }

    #[test]
    fn saved_plan_secret_digests_are_argon2id_at_the_same_cost() {
        let digest = secret_digest("plan-salt", "hunter2");
        assert_eq!(digest, secret_digest("plan-salt", "hunter2"), "deterministic per salt");
        assert_ne!(digest, secret_digest("other-salt", "hunter2"));
        assert_ne!(digest, secret_hmac("plan-salt", "hunter2"));
        let mut expected = [0u8; 32];
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(32 * 1024, 2, 1, Some(32)).unwrap(),
        )
        .hash_password_into(b"hunter2", &Sha256::digest(b"plan-salt"), &mut expected)
        .unwrap();
        assert_eq!(digest, hex::encode(expected));
    }

    #[test]
    fn hmacs_depend_on_the_key() {
        assert_ne!(secret_hmac("a", "s"), secret_hmac("b", "s"));
        assert_eq!(secret_hmac("a", "s").len(), 64);
    }
}
