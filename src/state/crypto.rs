//! State encryption at rest (being built): for now every document is plaintext.

use crate::state::backend::Written;

/// How a state's documents are encoded.
#[derive(Debug, Default)]
pub struct Codec;

/// What stays readable beside an encrypted state.
pub struct Meta<'a> {
    pub serial: u64,
    pub lineage: &'a str,
    pub stack: &'a str,
    pub stage: Option<&'a str>,
    pub written: Option<&'a Written>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt the state")]
pub struct CryptoError;

impl Codec {
    pub fn plaintext() -> Codec {
        Codec
    }
    pub fn with_passphrase(_passphrase: &str, _variable: &str) -> Codec {
        Codec
    }
    pub fn encrypts(&self) -> bool {
        false
    }
    pub fn encode_state(&self, json: &[u8], _meta: &Meta<'_>) -> Result<Vec<u8>, CryptoError> {
        Ok(json.to_vec())
    }
    pub fn decode_state(&self, bytes: &[u8], _allow_plaintext: bool) -> Result<Vec<u8>, CryptoError> {
        Ok(bytes.to_vec())
    }
    pub fn encode_entry(&self, json: &[u8], _lineage: &str, _base_serial: u64) -> Result<Vec<u8>, CryptoError> {
        Ok(json.to_vec())
    }
    pub fn decode_entry(&self, bytes: &[u8], _allow_plaintext: bool) -> Result<Vec<u8>, CryptoError> {
        Ok(bytes.to_vec())
    }
}
