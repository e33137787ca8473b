//! Secrets encrypted at rest: what `etcdctl get` shows is ciphertext.
//!
//! Anyone who can read etcd (or its backups, or its disk) can read every
//! object. For most objects that is acceptable; for Secrets it is not.
//! Kubernetes encrypts chosen resources before they reach etcd, with a key
//! the API server holds, and writes a prefix naming the scheme and the key:
//!
//! ```text
//! k8s:enc:aesgcm:v1:<key name>:<12-byte nonce><ciphertext and tag>
//! ```
//!
//! orc does the same for Secrets with AES-256-GCM. A fresh random nonce per
//! write is what makes GCM safe: reusing a nonce with one key would leak the
//! XOR of two plaintexts. Values without the prefix are read as plain JSON,
//! so turning encryption on does not break objects written before; they are
//! encrypted the next time they are written.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};

/// Why a key or a stored value could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// The key file is not 64 hex digits (32 bytes).
    #[error("the encryption key must be 64 hex digits (32 bytes), {0}")]
    BadKey(String),
    /// A value has our prefix but does not decrypt: wrong key or tampering.
    #[error("stored value does not decrypt with key {0:?} (wrong key, or the value was altered)")]
    Undecryptable(String),
}

/// An AES-256-GCM key with its name.
pub struct Cipher {
    name: String,
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Cipher {
    /// A cipher from 64 hex digits (whitespace around them is ignored).
    pub fn from_hex(name: &str, hex: &str) -> Result<Cipher, EncryptionError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(EncryptionError::BadKey(format!(
                "got {} characters",
                hex.len()
            )));
        }
        let bytes = (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| EncryptionError::BadKey(e.to_string()))?;
        let aead = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|e| EncryptionError::BadKey(e.to_string()))?;
        Ok(Cipher {
            name: name.to_string(),
            aead,
        })
    }

    fn prefix(&self) -> String {
        format!("k8s:enc:aesgcm:v1:{}:", self.name)
    }

    // ANCHOR: seal
    /// Encrypts `plaintext` under a fresh nonce, behind the prefix.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = self.prefix().into_bytes();
        out.extend_from_slice(&nonce);
        // Encryption into a Vec cannot fail for inputs below GCM's 64 GiB limit.
        out.extend(self.aead.encrypt(&nonce, plaintext).unwrap_or_default());
        out
    }
    // ANCHOR_END: seal

    /// Decrypts a value written by [`Cipher::seal`]; plain values pass through.
    pub fn open(&self, stored: &[u8]) -> Result<Vec<u8>, EncryptionError> {
        let prefix = self.prefix();
        let Some(rest) = stored.strip_prefix(prefix.as_bytes()) else {
            return Ok(stored.to_vec());
        };
        if rest.len() < 12 {
            return Err(EncryptionError::Undecryptable(self.name.clone()));
        }
        let (nonce, ciphertext) = rest.split_at(12);
        self.aead
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| EncryptionError::Undecryptable(self.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trip_without_plaintext() {
        let c = Cipher::from_hex("key1", KEY).unwrap();
        let sealed = c.seal(b"{\"data\":\"hunter2\"}");
        assert!(sealed.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
        assert!(!String::from_utf8_lossy(&sealed).contains("hunter2"));
        assert_eq!(c.open(&sealed).unwrap(), b"{\"data\":\"hunter2\"}");
        assert_ne!(c.seal(b"x"), c.seal(b"x"), "a fresh nonce every time");
    }

    #[test]
    fn plain_values_pass_and_tampering_fails() {
        let c = Cipher::from_hex("key1", KEY).unwrap();
        assert_eq!(c.open(b"{}").unwrap(), b"{}");
        let mut sealed = c.seal(b"secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(c.open(&sealed).is_err());
        assert!(Cipher::from_hex("k", "abc").is_err());
    }
}
