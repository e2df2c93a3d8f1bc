//! Keys, tokens and secrets at rest.
//!
//! - Credentials of sources are encrypted with ChaCha20-Poly1305 under a
//!   random 256-bit key kept in `<data-dir>/secret.key` (mode 0600), local to
//!   the node: a copy of the database alone does not reveal them.
//! - Authentication keys and tokens are random 32-byte values; the database
//!   keeps their SHA-256, which is what a presented key is checked against.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::ServiceError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `n` bytes from the operating system's random source.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    buf
}

/// A random token: `<prefix>@<43 characters of base64url>` (32 random bytes).
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}@{}", B64.encode(random_bytes(32)))
}

/// SHA-256 of a key or token, in hex: what the database stores.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes a new file readable by its owner only; fails if it exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The node-local key that encrypts secrets at rest.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key>)")
    }
}

impl SecretBox {
    /// Opens `path`, creating it (0600, 32 random bytes) on first use.
    pub fn open_or_create(path: &Path) -> Result<Self, ServiceError> {
        let io = |e: std::io::Error| ServiceError::Io { path: path.display().to_string(), source: e };
        if !path.exists() {
            write_private(path, &random_bytes(32)).map_err(io)?;
        }
        let key = std::fs::read(path).map_err(io)?;
        if key.len() != 32 {
            return Err(ServiceError::Invalid(format!("{} must hold exactly 32 bytes", path.display())));
        }
        Ok(SecretBox::from_key(&key))
    }

    pub fn from_key(key: &[u8]) -> Self {
        SecretBox { cipher: ChaCha20Poly1305::new_from_slice(key).expect("a 32-byte key") }
    }

    /// `v1:` + base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let nonce_bytes: [u8; 12] = random_bytes(12).try_into().expect("12 bytes");
        let nonce = Nonce::from(nonce_bytes);
        let mut out = nonce_bytes.to_vec();
        out.extend(self.cipher.encrypt(&nonce, plaintext).expect("encryption does not fail"));
        format!("v1:{}", B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, ServiceError> {
        let bad = || ServiceError::Invalid("a stored secret cannot be decrypted with this node's key".into());
        let bytes = sealed.strip_prefix("v1:").and_then(|b| B64.decode(b).ok()).ok_or_else(bad)?;
        if bytes.len() < 12 {
            return Err(bad());
        }
        let nonce_bytes: [u8; 12] = bytes[..12].try_into().expect("12 bytes");
        self.cipher.decrypt(&Nonce::from(nonce_bytes), &bytes[12..]).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_do_not_contain_the_plaintext() {
        let b = SecretBox::from_key(&[7u8; 32]);
        let sealed = b.seal(b"hunter2-account-key");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(b.open(&sealed).unwrap(), b"hunter2-account-key");
        assert_ne!(b.seal(b"x"), b.seal(b"x"), "a fresh nonce each time");
        assert!(SecretBox::from_key(&[8u8; 32]).open(&sealed).is_err(), "another node's key cannot open it");
    }

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (new_token("IR@x@1"), new_token("IR@x@1"));
        assert_ne!(a, b);
        assert!(a.starts_with("IR@x@1@") && a.len() > 40);
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_eq!(hash_key(&a).len(), 64);
        assert!(constant_time_eq(&a, &a) && !constant_time_eq(&a, &b));
    }
}
