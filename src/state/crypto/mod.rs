//! Encryption at rest for state documents and journal entries (optional): with a passphrase
//! configured (`FGFORM_STATE_PASSPHRASE`, or the variable a `state:` setting names), the
//! store passes every document through a [`Codec`] between the state JSON and the backend's
//! bytes. See `docs/state-encryption.md` for the format.
//!
//! - **Cipher.** AES-256-GCM with a fresh random 96-bit nonce per document, under a key
//!   derived from the passphrase with PBKDF2-HMAC-SHA512 ([`ITERATIONS`] rounds) and a random
//!   16-byte salt.
//! - **Readable envelope.** The result is a one-line JSON envelope that keeps the lineage,
//!   serial, stack, stage and `written` (for journal entries: lineage and base serial)
//!   readable, so backends, compare-and-swap writes, lineage checks and `state history` work
//!   without the key. Everything readable is authenticated: the canonical bytes of the
//!   envelope's header (all of it but nonce and ciphertext) are the AES-GCM associated data,
//!   so editing a readable serial makes decryption fail; and after decrypting, the serial and
//!   lineage inside must equal the ones outside ([`CryptoError::MetaMismatch`]).
//! - **One slow derivation per run.** Deriving a key takes ~0.3–1 s on purpose, and a run
//!   writes hundreds of journal entries, so a codec caches derived keys per salt and keeps
//!   one salt for everything it encodes: the salt of the first encrypted document it decoded
//!   (so a state keeps its salt and a run derives once), else a random one picked at the
//!   first encode. Clones share the cache.
//! - **Downgrade protection.** Unknown methods, KDFs or format versions are refused, and so
//!   are fewer than [`ITERATIONS`] rounds, on read as on write; a plaintext document is
//!   refused while a passphrase is configured unless the caller is migrating.
//!
//! The passphrase and keys appear in no message and no `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::backend::Written;

/// The environment variable a passphrase comes from unless a `state:` setting names another.
pub const DEFAULT_VARIABLE: &str = "FGFORM_STATE_PASSPHRASE";
/// PBKDF2 rounds used for new documents, and the fewest accepted on read.
pub const ITERATIONS: u32 = 600_000;
/// The most rounds a document may ask for (a bound on the work a forged envelope can cause).
pub const MAX_ITERATIONS: u32 = 20_000_000;
/// The envelope format this build reads and writes.
pub const ENVELOPE_VERSION: u32 = 1;
const METHOD: &str = "aes-256-gcm";
const KDF: &str = "pbkdf2-sha512";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;

/// How a state's documents are encoded: as plaintext JSON, or encrypted under a key derived
/// from a passphrase. Cheap to clone; clones share the derived keys.
#[derive(Clone)]
pub struct Codec {
    keyed: Option<Arc<Keyed>>,
}

/// The passphrase, where it came from, and what was derived from it.
struct Keyed {
    passphrase: String,
    variable: String,
    /// The salt new documents are encrypted with, once chosen.
    salt: Mutex<Option<Vec<u8>>>,
    /// Derived keys by (salt, iterations).
    keys: Mutex<HashMap<KeyId, [u8; 32]>>,
    /// How many keys were derived (to check that a run derives once).
    derivations: AtomicUsize,
}

/// What a derived key is derived from besides the passphrase: salt and rounds.
type KeyId = (Vec<u8>, u32);

/// What is written outside the ciphertext of a state document.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// The serial of the state inside (checked after decrypting).
    pub serial: u64,
    /// The lineage of the state inside (checked after decrypting).
    pub lineage: &'a str,
    pub stack: &'a str,
    pub stage: Option<&'a str>,
    /// Who wrote this version, for `state history` without the key.
    pub written: Option<&'a Written>,
}

/// Failures encoding or decoding a document. `what` is `state` or `journal entry`;
/// `variable` names where the passphrase comes from (never the passphrase).
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the {what} is encrypted and no passphrase is configured: set {variable} to the passphrase it was encrypted with")]
    NoKey { what: &'static str, variable: String },
    #[error("cannot decrypt the {what}: either {variable} holds another passphrase than the one it was encrypted with, or the document was changed or damaged (its readable serial, lineage, stack and stage are checked too); set the right passphrase, or restore an intact version (`fgform state history`, `fgform state show --serial N`)")]
    WrongKeyOrDamaged { what: &'static str, variable: String },
    #[error("the {what} is not encrypted but {variable} is set: run `fgform state migrate` to encrypt it, or unset {variable} to keep it in plaintext")]
    PlaintextRefused { what: &'static str, variable: String },
    #[error("the {what}'s readable {field} ({outside}) differs from the {field} inside ({inside}): the document was assembled from two states or tampered with; restore an intact version")]
    MetaMismatch {
        what: &'static str,
        field: &'static str,
        outside: String,
        inside: String,
    },
    #[error("the {what} is not a valid encrypted document: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("the {what} is encrypted in a way this fgform does not accept: {reason}; upgrade fgform, or re-encrypt it with `fgform state migrate`")]
    Unsupported { what: &'static str, reason: String },
}

const STATE: &str = "state";
const ENTRY: &str = "journal entry";

/// The encryption parameters, readable in the envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Encryption {
    method: String,
    kdf: String,
    iterations: u32,
    salt: String,
}

/// An encrypted document as stored. Everything but `nonce` and `ciphertext` is the header,
/// bound to the ciphertext as associated data.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format_version: u32,
    /// `state` or `journal-entry`, so one cannot stand in for the other.
    content: String,
    lineage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serial: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_serial: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    written: Option<Written>,
    encryption: Encryption,
    nonce: String,
    ciphertext: String,
}

/// The authenticated part of an [`Envelope`], serialized in a fixed field order.
#[derive(Serialize)]
struct Header<'a> {
    format_version: u32,
    content: &'a str,
    lineage: &'a str,
    serial: Option<u64>,
    base_serial: Option<u64>,
    stack: Option<&'a str>,
    stage: Option<&'a str>,
    written: Option<&'a Written>,
    encryption: &'a Encryption,
}

impl Envelope {
    fn associated_data(&self) -> Vec<u8> {
        serde_json::to_vec(&Header {
            format_version: self.format_version,
            content: &self.content,
            lineage: &self.lineage,
            serial: self.serial,
            base_serial: self.base_serial,
            stack: self.stack.as_deref(),
            stage: self.stage.as_deref(),
            written: self.written.as_ref(),
            encryption: &self.encryption,
        })
        .expect("an envelope header serializes")
    }
}

/// Only to tell an envelope from a plaintext document without decoding either.
#[derive(Deserialize)]
struct Probe {
    encryption: Option<IgnoredAny>,
}

/// The identity a document carries inside: a state's serial, an entry's base serial.
#[derive(Deserialize)]
struct Identity {
    lineage: String,
    serial: Option<u64>,
    base_serial: Option<u64>,
}

impl Codec {
    /// Documents stay plaintext JSON; an encrypted one is refused with [`CryptoError::NoKey`].
    pub fn plaintext() -> Codec {
        Codec { keyed: None }
    }

    /// Encrypts under a key derived from `passphrase`, which came from the environment
    /// variable `variable` (named in messages; e.g. [`DEFAULT_VARIABLE`]).
    pub fn with_passphrase(passphrase: &str, variable: &str) -> Codec {
        Codec {
            keyed: Some(Arc::new(Keyed {
                passphrase: passphrase.to_string(),
                variable: variable.to_string(),
                salt: Mutex::new(None),
                keys: Mutex::new(HashMap::new()),
                derivations: AtomicUsize::new(0),
            })),
        }
    }

    /// Whether documents are encrypted.
    pub fn encrypts(&self) -> bool {
        self.keyed.is_some()
    }

    /// Whether `bytes` are an encrypted envelope (checked without decrypting).
    pub fn is_encrypted(bytes: &[u8]) -> bool {
        matches!(
            serde_json::from_slice::<Probe>(bytes),
            Ok(Probe { encryption: Some(_) })
        )
    }

    /// Encodes a whole state document: `json` is the state's JSON, whose serial and lineage
    /// must equal `meta`'s. Plaintext codecs return `json` unchanged.
    pub fn encode_state(&self, json: Vec<u8>, meta: &Meta<'_>) -> Result<Vec<u8>, CryptoError> {
        let Some(keyed) = &self.keyed else {
            return Ok(json); // plaintext: the document itself, not a copy of ~10 MB
        };
        check_identity(STATE, &json, meta.lineage, meta.serial)?;
        keyed.seal(
            &json,
            Envelope {
                content: "state".into(),
                serial: Some(meta.serial),
                stack: Some(meta.stack.to_string()),
                stage: meta.stage.map(str::to_string),
                written: meta.written.cloned(),
                ..keyed.blank(meta.lineage)
            },
        )
    }

    /// Decodes what [`Codec::encode_state`] made, or a plaintext state. `allow_plaintext`:
    /// whether a plaintext document is acceptable while this codec encrypts (only while
    /// migrating to encryption).
    pub fn decode_state(&self, bytes: &[u8], allow_plaintext: bool) -> Result<Vec<u8>, CryptoError> {
        self.open(STATE, bytes, allow_plaintext)
    }

    /// Encodes one journal entry (a batch), whose `lineage` and `base_serial` stay readable
    /// and must equal those inside `json`.
    pub fn encode_entry(&self, json: &[u8], lineage: &str, base_serial: u64) -> Result<Vec<u8>, CryptoError> {
        let Some(keyed) = &self.keyed else {
            return Ok(json.to_vec());
        };
        check_identity(ENTRY, json, lineage, base_serial)?;
        keyed.seal(
            json,
            Envelope {
                content: "journal-entry".into(),
                base_serial: Some(base_serial),
                ..keyed.blank(lineage)
            },
        )
    }

    /// Decodes what [`Codec::encode_entry`] made, or a plaintext entry (see
    /// [`Codec::decode_state`] for `allow_plaintext`).
    pub fn decode_entry(&self, bytes: &[u8], allow_plaintext: bool) -> Result<Vec<u8>, CryptoError> {
        self.open(ENTRY, bytes, allow_plaintext)
    }

    fn open(&self, what: &'static str, bytes: &[u8], allow_plaintext: bool) -> Result<Vec<u8>, CryptoError> {
        let encrypted = match serde_json::from_slice::<Probe>(bytes) {
            Ok(probe) => probe.encryption.is_some(),
            // Not JSON at all: plaintext readers report it as a damaged document.
            Err(e) if self.keyed.is_some() => {
                return Err(CryptoError::Malformed {
                    what,
                    reason: format!("not JSON ({e})"),
                })
            }
            Err(_) => false,
        };
        match (&self.keyed, encrypted) {
            (None, false) => Ok(bytes.to_vec()),
            (None, true) => Err(CryptoError::NoKey {
                what,
                variable: DEFAULT_VARIABLE.to_string(),
            }),
            (Some(_), false) if allow_plaintext => Ok(bytes.to_vec()),
            (Some(keyed), false) => Err(CryptoError::PlaintextRefused {
                what,
                variable: keyed.variable.clone(),
            }),
            (Some(keyed), true) => keyed.unseal(what, bytes),
        }
    }

    /// How many keys this codec (and its clones) derived.
    #[cfg(test)]
    fn derivations(&self) -> usize {
        self.keyed.as_ref().map_or(0, |k| k.derivations.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.keyed {
            None => f.write_str("Codec(plaintext)"),
            Some(k) => write!(f, "Codec({METHOD}, key from ${})", k.variable),
        }
    }
}

impl Keyed {
    /// An envelope with this codec's encryption parameters and nothing else filled in.
    fn blank(&self, lineage: &str) -> Envelope {
        let salt = self
            .salt
            .lock()
            .expect("salt lock")
            .get_or_insert_with(|| {
                let mut salt = vec![0; SALT_LEN];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                salt
            })
            .clone();
        Envelope {
            format_version: ENVELOPE_VERSION,
            content: String::new(),
            lineage: lineage.to_string(),
            serial: None,
            base_serial: None,
            stack: None,
            stage: None,
            written: None,
            encryption: Encryption {
                method: METHOD.into(),
                kdf: KDF.into(),
                iterations: ITERATIONS,
                salt: B64.encode(salt),
            },
            nonce: String::new(),
            ciphertext: String::new(),
        }
    }

    /// Encrypts `json` into `envelope` (whose header is complete) and serializes it.
    fn seal(&self, json: &[u8], mut envelope: Envelope) -> Result<Vec<u8>, CryptoError> {
        let salt = B64.decode(&envelope.encryption.salt).expect("our own salt decodes");
        let cipher = self.cipher(&salt, ITERATIONS);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = envelope.associated_data();
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: json, aad: &aad })
            .expect("AES-GCM encrypts any document under 64 GiB");
        envelope.nonce = B64.encode(nonce);
        envelope.ciphertext = B64.encode(sealed);
        Ok(serde_json::to_vec(&envelope).expect("an envelope serializes"))
    }

    /// Checks, decrypts and verifies an envelope.
    fn unseal(&self, what: &'static str, bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let malformed = |reason: String| CryptoError::Malformed { what, reason };
        let unsupported = |reason: String| CryptoError::Unsupported { what, reason };
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        if envelope.format_version != ENVELOPE_VERSION {
            return Err(unsupported(format!(
                "envelope format version {}",
                envelope.format_version
            )));
        }
        let content = if what == STATE { "state" } else { "journal-entry" };
        if envelope.content != content {
            return Err(malformed(format!("it holds a {}, not a {content}", envelope.content)));
        }
        let expected = if what == STATE {
            envelope.serial
        } else {
            envelope.base_serial
        };
        let Some(serial) = expected else {
            return Err(malformed("its readable serial is missing".into()));
        };
        let params = &envelope.encryption;
        if params.method != METHOD {
            return Err(unsupported(format!(
                "method `{}` (this fgform uses {METHOD})",
                params.method
            )));
        }
        if params.kdf != KDF {
            return Err(unsupported(format!(
                "key derivation `{}` (this fgform uses {KDF})",
                params.kdf
            )));
        }
        if !(ITERATIONS..=MAX_ITERATIONS).contains(&params.iterations) {
            return Err(unsupported(format!(
                "{} key derivation rounds (accepted: {ITERATIONS} to {MAX_ITERATIONS})",
                params.iterations
            )));
        }
        let decode = |field: &str, text: &str| B64.decode(text).map_err(|e| malformed(format!("{field}: {e}")));
        let salt = decode("salt", &params.salt)?;
        if !(SALT_LEN..=64).contains(&salt.len()) {
            return Err(malformed(format!("a salt of {} bytes", salt.len())));
        }
        let nonce = decode("nonce", &envelope.nonce)?;
        if nonce.len() != NONCE_LEN {
            return Err(malformed(format!("a nonce of {} bytes", nonce.len())));
        }
        let sealed = decode("ciphertext", &envelope.ciphertext)?;
        let aad = envelope.associated_data();
        let json = self
            .cipher(&salt, params.iterations)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::WrongKeyOrDamaged {
                what,
                variable: self.variable.clone(),
            })?;
        check_identity(what, &json, &envelope.lineage, serial)?;
        if params.iterations == ITERATIONS {
            // Keep this state's salt for what this codec writes next: no second derivation.
            self.salt.lock().expect("salt lock").get_or_insert(salt);
        }
        Ok(json)
    }

    /// The cipher for a salt and round count, derived once and then cached.
    fn cipher(&self, salt: &[u8], iterations: u32) -> Aes256Gcm {
        let mut keys = self.keys.lock().expect("key cache lock");
        // Derived under the lock: concurrent callers wait for one derivation.
        let key = keys.entry((salt.to_vec(), iterations)).or_insert_with(|| {
            self.derivations.fetch_add(1, Ordering::SeqCst);
            pbkdf2::pbkdf2_hmac_array::<sha2::Sha512, 32>(self.passphrase.as_bytes(), salt, iterations)
        });
        Aes256Gcm::new_from_slice(key.as_slice()).expect("a 32-byte key")
    }
}

/// Checks that the document `json` carries this lineage and serial (base serial for entries).
fn check_identity(what: &'static str, json: &[u8], lineage: &str, serial: u64) -> Result<(), CryptoError> {
    let malformed = |reason: String| CryptoError::Malformed {
        what,
        reason: format!("the document inside has no lineage and serial ({reason})"),
    };
    let inside: Identity = serde_json::from_slice(json).map_err(|e| malformed(e.to_string()))?;
    let inside_serial = if what == STATE {
        inside.serial
    } else {
        inside.base_serial
    };
    let inside_serial = inside_serial.ok_or_else(|| malformed("no serial".into()))?;
    let mismatch = |field, outside: String, inside: String| CryptoError::MetaMismatch {
        what,
        field,
        outside,
        inside,
    };
    if inside.lineage != lineage {
        return Err(mismatch("lineage", lineage.to_string(), inside.lineage));
    }
    if inside_serial != serial {
        return Err(mismatch("serial", serial.to_string(), inside_serial.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
