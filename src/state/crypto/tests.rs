use std::sync::LazyLock;

use serde_json::{json, Value};

use super::*;

const PASSPHRASE: &str = "correct horse battery staple";
const VARIABLE: &str = "FGFORM_STATE_PASSPHRASE";
const LINEAGE: &str = "6f1c2a44-0000-4000-8000-00000000beef";
/// Stands for the body: must never be readable in an encrypted document.
const BODY_MARKER: &str = "urn:fss:secret-body-marker";

/// One codec for the tests that do not count derivations (each derivation is slow on purpose).
static SHARED: LazyLock<Codec> = LazyLock::new(|| Codec::with_passphrase(PASSPHRASE, VARIABLE));

fn state_json(serial: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format_version": 1, "lineage": LINEAGE, "serial": serial, "stack": "shop", "stage": "prod",
        "resources": { "function.thumbnail": { "kind": "function", "id": BODY_MARKER } }
    }))
    .unwrap()
}

fn entry_json(base_serial: u64, n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "lineage": LINEAGE, "base_serial": base_serial,
        "set": { format!("function.f{n}"): { "kind": "function", "id": BODY_MARKER } }
    }))
    .unwrap()
}

fn written() -> Written {
    Written {
        who: "ci@runner-7".into(),
        operation: "apply".into(),
        at: "2026-12-02T01:00:00Z".into(),
    }
}

fn encode(codec: &Codec, serial: u64) -> Vec<u8> {
    let written = written();
    let meta = Meta {
        serial,
        lineage: LINEAGE,
        stack: "shop",
        stage: Some("prod"),
        written: Some(&written),
    };
    codec.encode_state(state_json(serial), &meta).unwrap()
}

/// A change to an envelope.
type Edit = Box<dyn Fn(&mut Value)>;

/// `bytes` parsed, changed by `edit`, and serialized again.
fn edited(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(bytes).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

/// Flips one bit of the base64 field `field` of an envelope.
fn flip(value: &mut Value, field: &str) {
    let mut raw = B64.decode(value[field].as_str().unwrap()).unwrap();
    raw[0] ^= 1;
    value[field] = Value::String(B64.encode(raw));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_state_round_trips_with_its_identity_readable() {
    let bytes = encode(&SHARED, 7);
    assert!(Codec::is_encrypted(&bytes));
    assert!(!bytes.contains(&b'\n'), "one line, so a file journal can hold it");
    let envelope: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(envelope["serial"], 7);
    assert_eq!(envelope["lineage"], LINEAGE);
    assert_eq!(envelope["stack"], "shop");
    assert_eq!(envelope["stage"], "prod");
    assert_eq!(envelope["written"]["operation"], "apply");
    assert_eq!(envelope["encryption"]["method"], "aes-256-gcm");
    assert_eq!(envelope["encryption"]["kdf"], "pbkdf2-sha512");
    assert!(envelope["encryption"]["iterations"].as_u64().unwrap() >= 600_000);
    assert!(
        B64.decode(envelope["encryption"]["salt"].as_str().unwrap())
            .unwrap()
            .len()
            >= 16
    );
    assert_eq!(SHARED.decode_state(&bytes, false).unwrap(), state_json(7));
}

#[test]
fn an_entry_round_trips_and_is_not_a_state() {
    let bytes = SHARED.encode_entry(&entry_json(3, 1), LINEAGE, 3).unwrap();
    let envelope: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(envelope["base_serial"], 3);
    assert_eq!(envelope["lineage"], LINEAGE);
    assert_eq!(SHARED.decode_entry(&bytes, false).unwrap(), entry_json(3, 1));
    let err = SHARED.decode_state(&bytes, false).unwrap_err();
    assert!(matches!(err, CryptoError::Malformed { .. }), "{err:?}");
    let err = SHARED.decode_entry(&encode(&SHARED, 3), false).unwrap_err();
    assert!(matches!(err, CryptoError::Malformed { .. }), "{err:?}");
}

#[test]
fn another_codec_with_the_passphrase_reads_it_and_keeps_its_salt() {
    let bytes = encode(&SHARED, 4);
    let other = Codec::with_passphrase(PASSPHRASE, VARIABLE);
    assert_eq!(other.decode_state(&bytes, false).unwrap(), state_json(4));
    let next = encode(&other, 5);
    let salt = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap()["encryption"]["salt"].clone();
    assert_eq!(salt(&next), salt(&bytes), "one state keeps one salt");
    assert_eq!(other.derivations(), 1, "reading and writing the state derived one key");
}

#[test]
fn a_wrong_passphrase_is_refused_without_naming_it() {
    let bytes = encode(&SHARED, 7);
    let wrong = Codec::with_passphrase("not the passphrase", "MY_STATE_KEY");
    let err = wrong.decode_state(&bytes, false).unwrap_err();
    assert!(matches!(err, CryptoError::WrongKeyOrDamaged { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("MY_STATE_KEY") && message.contains("damaged"),
        "{message}"
    );
    assert!(!message.contains("not the passphrase") && !format!("{err:?}").contains("not the passphrase"));
}

#[test]
fn tampering_with_any_part_fails_to_decrypt() {
    let bytes = encode(&SHARED, 7);
    let tampered: Vec<(&str, Edit)> = vec![
        ("ciphertext", Box::new(|v| flip(v, "ciphertext"))),
        ("nonce", Box::new(|v| flip(v, "nonce"))),
        ("serial", Box::new(|v| v["serial"] = json!(8))),
        ("lineage", Box::new(|v| v["lineage"] = json!("0000-other"))),
        ("stack", Box::new(|v| v["stack"] = json!("other"))),
        ("stage", Box::new(|v| v["stage"] = Value::Null)),
        ("written", Box::new(|v| v["written"]["who"] = json!("mallory@x"))),
    ];
    for (part, edit) in tampered {
        let err = SHARED.decode_state(&edited(&bytes, edit), false).unwrap_err();
        assert!(matches!(err, CryptoError::WrongKeyOrDamaged { .. }), "{part}: {err:?}");
    }
    let entry = SHARED.encode_entry(&entry_json(3, 1), LINEAGE, 3).unwrap();
    let err = SHARED
        .decode_entry(&edited(&entry, |v| v["base_serial"] = json!(4)), false)
        .unwrap_err();
    assert!(matches!(err, CryptoError::WrongKeyOrDamaged { .. }), "{err:?}");
}

#[test]
fn the_identity_outside_must_equal_the_one_inside() {
    let keyed = SHARED.keyed.as_ref().unwrap();
    // A writer that sealed a header disagreeing with the document (authentic, yet wrong).
    let forged = keyed
        .seal(
            &state_json(7),
            Envelope {
                content: "state".into(),
                serial: Some(8),
                ..keyed.blank(LINEAGE)
            },
        )
        .unwrap();
    let err = SHARED.decode_state(&forged, false).unwrap_err();
    assert!(
        matches!(err, CryptoError::MetaMismatch { field: "serial", .. }),
        "{err:?}"
    );
    let meta = Meta {
        serial: 7,
        lineage: "another-lineage",
        stack: "shop",
        stage: None,
        written: None,
    };
    let err = SHARED.encode_state(state_json(7), &meta).unwrap_err();
    assert!(
        matches!(err, CryptoError::MetaMismatch { field: "lineage", .. }),
        "{err:?}"
    );
    let err = SHARED.encode_entry(&entry_json(3, 1), LINEAGE, 2).unwrap_err();
    assert!(
        matches!(err, CryptoError::MetaMismatch { field: "serial", .. }),
        "{err:?}"
    );
}

#[test]
fn plaintext_is_refused_while_encrypting_unless_migrating() {
    let plain = state_json(2);
    let err = SHARED.decode_state(&plain, false).unwrap_err();
    assert!(matches!(err, CryptoError::PlaintextRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("fgform state migrate") && err.to_string().contains(VARIABLE));
    assert_eq!(SHARED.decode_state(&plain, true).unwrap(), plain);
    let err = SHARED.decode_entry(&entry_json(2, 0), false).unwrap_err();
    assert!(matches!(err, CryptoError::PlaintextRefused { .. }), "{err:?}");
    let err = SHARED.decode_state(b"{\"serial\": 3, \"lin", true).unwrap_err();
    assert!(matches!(err, CryptoError::Malformed { .. }), "{err:?}");
}

#[test]
fn an_encrypted_state_is_never_read_without_the_key() {
    let plain = Codec::plaintext();
    assert!(!plain.encrypts() && SHARED.encrypts());
    assert_eq!(plain.decode_state(&state_json(2), false).unwrap(), state_json(2));
    let meta = Meta {
        serial: 2,
        lineage: LINEAGE,
        stack: "shop",
        stage: None,
        written: None,
    };
    assert_eq!(plain.encode_state(state_json(2), &meta).unwrap(), state_json(2));
    for allow_plaintext in [false, true] {
        let err = plain.decode_state(&encode(&SHARED, 7), allow_plaintext).unwrap_err();
        assert!(matches!(err, CryptoError::NoKey { .. }), "{err:?}");
        assert!(err.to_string().contains("set FGFORM_STATE_PASSPHRASE"), "{err}");
    }
    let entry = SHARED.encode_entry(&entry_json(3, 1), LINEAGE, 3).unwrap();
    assert!(matches!(
        plain.decode_entry(&entry, true),
        Err(CryptoError::NoKey { .. })
    ));
}

#[test]
fn no_secret_or_body_is_readable() {
    let bytes = encode(&SHARED, 7);
    let entry = SHARED.encode_entry(&entry_json(3, 1), LINEAGE, 3).unwrap();
    for encoded in [&bytes, &entry] {
        assert!(!contains(encoded, BODY_MARKER) && !contains(encoded, PASSPHRASE));
    }
    let debug = format!("{:?}", *SHARED);
    assert_eq!(debug, "Codec(aes-256-gcm, key from $FGFORM_STATE_PASSPHRASE)");
    assert_eq!(format!("{:?}", Codec::plaintext()), "Codec(plaintext)");
}

#[test]
fn each_encode_uses_a_fresh_nonce() {
    let (a, b) = (encode(&SHARED, 7), encode(&SHARED, 7));
    assert_ne!(a, b);
    let field = |b: &[u8], f: &str| serde_json::from_slice::<Value>(b).unwrap()[f].clone();
    assert_ne!(field(&a, "nonce"), field(&b, "nonce"));
    assert_ne!(field(&a, "ciphertext"), field(&b, "ciphertext"));
}

#[test]
fn many_entries_derive_the_key_once() {
    let codec = Codec::with_passphrase(PASSPHRASE, VARIABLE);
    let clone = codec.clone();
    let entries: Vec<Vec<u8>> = (0..300)
        .map(|n| clone.encode_entry(&entry_json(9, n), LINEAGE, 9).unwrap())
        .collect();
    for (n, entry) in entries.iter().enumerate() {
        assert_eq!(codec.decode_entry(entry, false).unwrap(), entry_json(9, n));
    }
    encode(&codec, 10);
    assert_eq!(codec.derivations(), 1);
}

#[test]
fn weak_or_unknown_parameters_are_refused_before_deriving() {
    let codec = Codec::with_passphrase(PASSPHRASE, VARIABLE);
    let bytes = encode(&SHARED, 7);
    let unsupported: Vec<(&str, Edit)> = vec![
        (
            "iterations",
            Box::new(|v| v["encryption"]["iterations"] = json!(599_999)),
        ),
        (
            "iterations",
            Box::new(|v| v["encryption"]["iterations"] = json!(1_000_000_000)),
        ),
        ("method", Box::new(|v| v["encryption"]["method"] = json!("aes-128-cbc"))),
        ("kdf", Box::new(|v| v["encryption"]["kdf"] = json!("pbkdf2-sha1"))),
        ("format", Box::new(|v| v["format_version"] = json!(2))),
    ];
    for (part, edit) in unsupported {
        let err = codec.decode_state(&edited(&bytes, edit), false).unwrap_err();
        assert!(matches!(err, CryptoError::Unsupported { .. }), "{part}: {err:?}");
    }
    let malformed: Vec<(&str, Edit)> = vec![
        ("extra field", Box::new(|v| v["note"] = json!("unauthenticated"))),
        (
            "short salt",
            Box::new(|v| v["encryption"]["salt"] = json!(B64.encode([1u8; 8]))),
        ),
        ("short nonce", Box::new(|v| v["nonce"] = json!(B64.encode([1u8; 8])))),
        ("not base64", Box::new(|v| v["ciphertext"] = json!("%%%"))),
        (
            "no serial",
            Box::new(|v| v.as_object_mut().unwrap().remove("serial").map(drop).unwrap()),
        ),
    ];
    for (part, edit) in malformed {
        let err = codec.decode_state(&edited(&bytes, edit), false).unwrap_err();
        assert!(matches!(err, CryptoError::Malformed { .. }), "{part}: {err:?}");
    }
    assert_eq!(codec.derivations(), 0);
}

#[test]
fn envelopes_are_told_from_plaintext() {
    assert!(Codec::is_encrypted(&encode(&SHARED, 1)));
    assert!(!Codec::is_encrypted(&state_json(1)));
    assert!(!Codec::is_encrypted(b"not json"));
}
