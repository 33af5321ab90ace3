//! Passwords and login secrets. Passwords are hashed with argon2id (the argon2 crate's
//! defaults: m=19 MiB, t=2, p=1) and checked by the extension (`qlink.login`); login
//! sessions are random 256-bit secrets of which the database only ever sees a SHA-256
//! digest.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const MIN_PASSWORD_LEN: usize = 8;

pub fn check_password_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!("The password must be at least {MIN_PASSWORD_LEN} characters."));
    }
    if password.len() > 1024 {
        return Err("The password is too long.".into());
    }
    Ok(())
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// A fresh login secret for the browser (base64url, 43 characters).
pub fn new_session_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for a login secret.
pub fn session_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A readable random password for `qlink demo`.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 14];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_phc_strings_with_a_fresh_salt() {
        // The extension verifies (qlink.login); it reads exactly this PHC form.
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_ne!(h, hash_password("correct horse").unwrap(), "a fresh salt each time");
    }

    #[test]
    fn secrets_are_random_and_digested() {
        let a = new_session_secret();
        assert_ne!(a, new_session_secret());
        assert_eq!(session_digest(&a).len(), 32);
        assert!(check_password_strength("short").is_err());
        assert!(check_password_strength("long enough").is_ok());
    }
}
