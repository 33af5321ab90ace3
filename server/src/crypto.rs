//! Sealing secrets the database keeps for us: a clinic's own WhatsApp access token is stored
//! encrypted (`whatsapp_senders.access_token_enc`), so a database dump, a replica or a
//! backup alone does not hand out the right to message patients in the clinic's name.
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) with the key `QLINK_SECRET_KEY`.
//! The 24-byte nonce is random per seal: with XChaCha's nonce size a random nonce never
//! repeats in practice, so no counter has to be kept anywhere. Sealed layout:
//! `version (1 byte) || nonce (24) || ciphertext || tag (16)`. The version byte lets a later
//! release change the scheme and still open what this one sealed.
//!
//! The associated data is the sender's phone number id: a token sealed for one sender and
//! copied into another sender's row does not open there.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// The first byte of everything sealed by this version.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// The installation's secret key (`QLINK_SECRET_KEY`). Debug never prints it.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Why a sealed value did not open. Deliberately coarse: which of key, associated data or
/// bytes was wrong is not knowable (that is the point of the tag) and not worth guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the sealed value is too short")]
    Truncated,
    #[error("the sealed value has an unknown format version {0}")]
    UnknownVersion(u8),
    #[error("the sealed value does not open with this key (wrong key, wrong sender, or altered)")]
    Invalid,
}

impl SecretKey {
    /// 32 bytes, written as 64 hex digits or in standard base64 (with or without padding).
    /// The error never repeats the input.
    pub fn parse(s: &str) -> anyhow::Result<SecretKey> {
        use base64::Engine as _;
        let s = s.trim();
        let bytes = if s.len() == 2 * KEY_LEN && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(s).ok()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
                .ok()
        };
        match bytes {
            Some(b) if b.len() == KEY_LEN => Ok(SecretKey::from_bytes(&b.try_into().expect("checked length"))),
            Some(b) => {
                anyhow::bail!("QLINK_SECRET_KEY must be 32 bytes (64 hex digits or base64); it is {} bytes", b.len())
            }
            None => anyhow::bail!("QLINK_SECRET_KEY must be 32 bytes written as 64 hex digits or in base64"),
        }
    }

    pub fn from_bytes(key: &[u8; KEY_LEN]) -> SecretKey {
        SecretKey { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// A fresh random key (tests, and `openssl rand -hex 32` for people).
    pub fn generate() -> SecretKey {
        let mut key = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        SecretKey::from_bytes(&key)
    }

    pub fn seal(&self, associated_data: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: associated_data })
            // Only fails for inputs beyond 256 GiB.
            .expect("XChaCha20-Poly1305 encryption");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, associated_data: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (&version, rest) = sealed.split_first().ok_or(OpenError::Truncated)?;
        if version != VERSION {
            return Err(OpenError::UnknownVersion(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Truncated);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: associated_data })
            .map_err(|_| OpenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AD: &[u8] = b"106540352242922";

    #[test]
    fn round_trip() {
        let key = SecretKey::generate();
        let sealed = key.seal(AD, b"EAAG-token");
        assert_eq!(sealed[0], VERSION);
        assert_eq!(sealed.len(), 1 + NONCE_LEN + b"EAAG-token".len() + TAG_LEN);
        assert_eq!(key.open(AD, &sealed).unwrap(), b"EAAG-token");
        // A random nonce each time: the same token never seals to the same bytes.
        assert_ne!(key.seal(AD, b"EAAG-token"), sealed);
        assert_eq!(key.open(AD, &key.seal(AD, b"")).unwrap(), b"");
    }

    #[test]
    fn wrong_key_does_not_open() {
        let sealed = SecretKey::generate().seal(AD, b"EAAG-token");
        assert_eq!(SecretKey::generate().open(AD, &sealed), Err(OpenError::Invalid));
    }

    #[test]
    fn another_senders_ciphertext_does_not_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(AD, b"EAAG-token");
        assert_eq!(key.open(b"106540352242923", &sealed), Err(OpenError::Invalid));
        assert_eq!(key.open(b"", &sealed), Err(OpenError::Invalid));
    }

    #[test]
    fn truncated_does_not_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(AD, b"EAAG-token");
        assert_eq!(key.open(AD, &[]), Err(OpenError::Truncated));
        assert_eq!(key.open(AD, &sealed[..1 + NONCE_LEN + TAG_LEN - 1]), Err(OpenError::Truncated));
        assert_eq!(key.open(AD, &sealed[..sealed.len() - 1]), Err(OpenError::Invalid));
    }

    #[test]
    fn tampered_does_not_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(AD, b"EAAG-token");
        for i in 1..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(key.open(AD, &t), Err(OpenError::Invalid), "byte {i}");
        }
        let mut t = sealed.clone();
        t[0] = 2;
        assert_eq!(key.open(AD, &t), Err(OpenError::UnknownVersion(2)));
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_are_never_printed() {
        let bytes: Vec<u8> = (0u8..32).collect();
        let hex_key = SecretKey::parse(&hex::encode(&bytes)).unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let b64_key = SecretKey::parse(&format!(" {b64}\n")).unwrap();
        let unpadded = SecretKey::parse(b64.trim_end_matches('=')).unwrap();
        let sealed = hex_key.seal(AD, b"t");
        assert_eq!(b64_key.open(AD, &sealed).unwrap(), b"t");
        assert_eq!(unpadded.open(AD, &sealed).unwrap(), b"t");
        assert!(SecretKey::parse(&hex::encode(&bytes[..31])).is_err());
        assert!(SecretKey::parse("not a key!").is_err());
        let e = SecretKey::parse("c2VjcmV0").unwrap_err().to_string();
        assert!(!e.contains("c2VjcmV0"), "{e}");
        assert_eq!(format!("{hex_key:?}"), "SecretKey([redacted])");
    }
}
