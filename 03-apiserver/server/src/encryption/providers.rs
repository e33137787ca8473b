//! One key of one provider: how it seals a value and opens it again.
//!
//! Each key writes a prefix naming its scheme and its name before the
//! ciphertext, `k8s:enc:<scheme>:v1:<key name>:`, byte for byte what
//! kube-apiserver writes, so a reader can tell which key opens a value
//! without trying them all. The schemes:
//!
//! - `aesgcm`: AES-GCM, a fresh random 12-byte nonce per write, and the
//!   etcd key as *authenticated data*: the value only opens under the key it
//!   was written at, so a ciphertext copied from one Secret's key to
//!   another's is refused rather than read as the other Secret.
//! - `aescbc`: AES-CBC with a random 16-byte IV and PKCS#7 padding.
//!   Kubernetes no longer recommends it (CBC is not authenticated, and
//!   padding-oracle attacks exist); orc reads and writes it so that a
//!   cluster's existing configuration works here too.
//! - `identity`: no encryption at all; written values are plain JSON.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{AesGcm, Nonce};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

/// Every encrypting provider's prefix starts with this; `identity` refuses
/// to read a value that does (it would hand out ciphertext as an object).
pub const ENCRYPTED: &[u8] = b"k8s:enc:";

/// Why a stored value could not be opened, worded as kube-apiserver's
/// transformers word it (the API server adds what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// No configured key's prefix starts the value.
    #[error("no matching prefix found")]
    NoMatchingPrefix,
    /// The key named in the prefix does not open the value.
    #[error("cipher: message authentication failed")]
    Authentication,
    /// The value is shorter than a nonce or IV, or its padding is wrong.
    #[error("the stored data was shorter than the required size, or is not padded")]
    Malformed,
    /// `identity` found a value that some key encrypted.
    #[error("identity transformer tried to read encrypted data")]
    IdentityReadEncrypted,
}

/// An AES key of one of the three sizes AES has.
#[derive(Clone)]
enum AesKey {
    Aes128([u8; 16]),
    Aes192([u8; 24]),
    Aes256([u8; 32]),
}

impl AesKey {
    /// A key from its bytes; `None` unless 16, 24 or 32 of them.
    fn new(bytes: &[u8]) -> Option<AesKey> {
        Some(match bytes.len() {
            16 => AesKey::Aes128(bytes.try_into().ok()?),
            24 => AesKey::Aes192(bytes.try_into().ok()?),
            32 => AesKey::Aes256(bytes.try_into().ok()?),
            _ => return None,
        })
    }
}

/// The key sizes `aesgcm` and `aescbc` accept, for error messages.
pub const AES_KEY_SIZES: [usize; 3] = [16, 24, 32];

/// Which scheme a key uses.
#[derive(Clone)]
enum Scheme {
    AesGcm(AesKey),
    AesCbc(AesKey),
    Identity,
}

/// One named key, ready to seal and open: an element of a provider's
/// `keys` list (or `identity`, which has none).
#[derive(Clone)]
pub struct ProviderKey {
    /// `k8s:enc:aesgcm:v1:key1:`; empty for identity.
    prefix: Vec<u8>,
    scheme: Scheme,
}

impl std::fmt::Debug for ProviderKey {
    /// Names the key, never prints its secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProviderKey({})", String::from_utf8_lossy(&self.prefix))
    }
}

impl ProviderKey {
    /// An `aesgcm` key; `None` unless `secret` is 16, 24 or 32 bytes.
    pub fn aes_gcm(name: &str, secret: &[u8]) -> Option<ProviderKey> {
        Some(ProviderKey {
            prefix: format!("k8s:enc:aesgcm:v1:{name}:").into_bytes(),
            scheme: Scheme::AesGcm(AesKey::new(secret)?),
        })
    }

    /// An `aescbc` key; `None` unless `secret` is 16, 24 or 32 bytes.
    pub fn aes_cbc(name: &str, secret: &[u8]) -> Option<ProviderKey> {
        Some(ProviderKey {
            prefix: format!("k8s:enc:aescbc:v1:{name}:").into_bytes(),
            scheme: Scheme::AesCbc(AesKey::new(secret)?),
        })
    }

    /// The `identity` provider: values are stored as they are.
    pub fn identity() -> ProviderKey {
        ProviderKey {
            prefix: Vec::new(),
            scheme: Scheme::Identity,
        }
    }

    /// The prefix this key writes, as text (`k8s:enc:aesgcm:v1:key1:`);
    /// empty for identity.
    pub fn prefix(&self) -> String {
        String::from_utf8_lossy(&self.prefix).into_owned()
    }

    /// Whether this key would be the one to open `stored`.
    pub fn matches(&self, stored: &[u8]) -> bool {
        match self.scheme {
            // Identity reads anything, and refuses encrypted values itself.
            Scheme::Identity => true,
            _ => stored.starts_with(&self.prefix),
        }
    }

    // ANCHOR: seal
    /// Encrypts `plain`, to be stored at etcd key `at`, behind the prefix.
    pub fn seal(&self, at: &str, plain: &[u8]) -> Vec<u8> {
        let mut out = self.prefix.clone();
        match &self.scheme {
            Scheme::Identity => out.extend_from_slice(plain),
            Scheme::AesGcm(key) => {
                // The etcd key as authenticated data: not secret, but the
                // tag covers it, so the value opens only where it was put.
                let payload = Payload {
                    msg: plain,
                    aad: at.as_bytes(),
                };
                let (nonce, sealed) = match key {
                    AesKey::Aes128(k) => gcm_seal::<aes::Aes128>(k, payload),
                    AesKey::Aes192(k) => gcm_seal::<aes::Aes192>(k, payload),
                    AesKey::Aes256(k) => gcm_seal::<aes::Aes256>(k, payload),
                };
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&sealed);
            }
            Scheme::AesCbc(key) => {
                // A fresh IV each time: the same Secret written twice
                // must not give the same bytes.
                let iv: [u8; 16] = rand_bytes();
                out.extend_from_slice(&iv);
                out.extend(match key {
                    AesKey::Aes128(k) => cbc_seal::<aes::Aes128>(k, &iv, plain),
                    AesKey::Aes192(k) => cbc_seal::<aes::Aes192>(k, &iv, plain),
                    AesKey::Aes256(k) => cbc_seal::<aes::Aes256>(k, &iv, plain),
                });
            }
        }
        out
    }
    // ANCHOR_END: seal

    /// Decrypts a value this key sealed at etcd key `at`.
    pub fn open(&self, at: &str, stored: &[u8]) -> Result<Vec<u8>, OpenError> {
        let Some(body) = stored.strip_prefix(self.prefix.as_slice()) else {
            return Err(OpenError::NoMatchingPrefix);
        };
        match &self.scheme {
            Scheme::Identity if body.starts_with(ENCRYPTED) => {
                Err(OpenError::IdentityReadEncrypted)
            }
            Scheme::Identity => Ok(body.to_vec()),
            Scheme::AesGcm(key) => {
                if body.len() < 12 {
                    return Err(OpenError::Malformed);
                }
                let (nonce, sealed) = body.split_at(12);
                let opened = |aad: &[u8]| match key {
                    AesKey::Aes128(k) => gcm_open::<aes::Aes128>(k, nonce, sealed, aad),
                    AesKey::Aes192(k) => gcm_open::<aes::Aes192>(k, nonce, sealed, aad),
                    AesKey::Aes256(k) => gcm_open::<aes::Aes256>(k, nonce, sealed, aad),
                };
                // orc before EncryptionConfiguration sealed without the
                // etcd key as authenticated data: still read those, so a
                // cluster made with `--encryption-key-file` keeps its
                // Secrets; they are sealed the new way when next written.
                opened(at.as_bytes())
                    .or_else(|| opened(b""))
                    .ok_or(OpenError::Authentication)
            }
            Scheme::AesCbc(key) => {
                if body.len() < 16 || (body.len() - 16) % 16 != 0 {
                    return Err(OpenError::Malformed);
                }
                let (iv, sealed) = body.split_at(16);
                match key {
                    AesKey::Aes128(k) => cbc_open::<aes::Aes128>(k, iv, sealed),
                    AesKey::Aes192(k) => cbc_open::<aes::Aes192>(k, iv, sealed),
                    AesKey::Aes256(k) => cbc_open::<aes::Aes256>(k, iv, sealed),
                }
                .ok_or(OpenError::Malformed)
            }
        }
    }
}

/// `N` random bytes from the operating system.
fn rand_bytes<const N: usize>() -> [u8; N] {
    use aes_gcm::aead::rand_core::RngCore;
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A key of `N` random bytes, base64-encoded, as the `secret` of a
/// configuration file (what `head -c 32 /dev/urandom | base64` prints).
pub fn random_secret<const N: usize>() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand_bytes::<N>())
}

/// AES-GCM with the block cipher `C`: the nonce and the sealed bytes.
fn gcm_seal<C>(key: &[u8], payload: Payload<'_, '_>) -> (Vec<u8>, Vec<u8>)
where
    C: aes_gcm::aes::cipher::BlockCipher
        + aes_gcm::aes::cipher::BlockSizeUser<BlockSize = aes_gcm::aead::consts::U16>
        + aes_gcm::aes::cipher::BlockEncrypt
        + KeyInit,
{
    // The key length was checked when the key was made.
    let aead = AesGcm::<C, U12>::new_from_slice(key).expect("checked key length");
    let nonce = AesGcm::<C, U12>::generate_nonce(&mut OsRng);
    // Encryption into a Vec fails only past GCM's 64 GiB limit.
    let sealed = aead.encrypt(&nonce, payload).unwrap_or_default();
    (nonce.to_vec(), sealed)
}

/// The opening half of [`gcm_seal`]; `None` when the tag does not match.
fn gcm_open<C>(key: &[u8], nonce: &[u8], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>>
where
    C: aes_gcm::aes::cipher::BlockCipher
        + aes_gcm::aes::cipher::BlockSizeUser<BlockSize = aes_gcm::aead::consts::U16>
        + aes_gcm::aes::cipher::BlockEncrypt
        + KeyInit,
{
    let aead = AesGcm::<C, U12>::new_from_slice(key).ok()?;
    let payload = Payload { msg: sealed, aad };
    aead.decrypt(Nonce::from_slice(nonce), payload).ok()
}

/// AES-CBC with PKCS#7 padding under block cipher `C`.
fn cbc_seal<C>(key: &[u8], iv: &[u8], plain: &[u8]) -> Vec<u8>
where
    C: aes_gcm::aes::cipher::BlockCipher
        + aes_gcm::aes::cipher::BlockSizeUser<BlockSize = aes_gcm::aead::consts::U16>
        + aes_gcm::aes::cipher::BlockEncryptMut
        + KeyInit,
{
    cbc::Encryptor::<C>::new_from_slices(key, iv)
        .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plain))
        .unwrap_or_default()
}

/// The opening half of [`cbc_seal`]; `None` when the padding is wrong.
fn cbc_open<C>(key: &[u8], iv: &[u8], sealed: &[u8]) -> Option<Vec<u8>>
where
    C: aes_gcm::aes::cipher::BlockCipher
        + aes_gcm::aes::cipher::BlockSizeUser<BlockSize = aes_gcm::aead::consts::U16>
        + aes_gcm::aes::cipher::BlockDecryptMut
        + KeyInit,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .ok()?
        .decrypt_padded_vec_mut::<Pkcs7>(sealed)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "/registry/secrets/default/db";

    #[test]
    fn every_scheme_and_size_round_trips_without_plaintext() {
        for size in AES_KEY_SIZES {
            let secret = vec![7u8; size];
            for key in [
                ProviderKey::aes_gcm("k1", &secret).unwrap(),
                ProviderKey::aes_cbc("k1", &secret).unwrap(),
            ] {
                let sealed = key.seal(AT, b"{\"data\":\"hunter2\"}");
                assert!(sealed.starts_with(&key.prefix), "{key:?}");
                assert!(!String::from_utf8_lossy(&sealed).contains("hunter2"));
                assert_eq!(key.open(AT, &sealed).unwrap(), b"{\"data\":\"hunter2\"}");
                assert_ne!(key.seal(AT, b"x"), key.seal(AT, b"x"), "fresh nonce or IV");
            }
        }
        assert!(ProviderKey::aes_gcm("k", &[0; 10]).is_none());
    }

    #[test]
    fn gcm_binds_the_value_to_its_etcd_key() {
        let key = ProviderKey::aes_gcm("k1", &[1; 32]).unwrap();
        let sealed = key.seal(AT, b"secret");
        assert_eq!(
            key.open("/registry/secrets/default/other", &sealed),
            Err(OpenError::Authentication),
            "moved to another key, it does not open"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(AT, &altered), Err(OpenError::Authentication));
    }

    #[test]
    fn identity_passes_plain_values_and_refuses_encrypted_ones() {
        let identity = ProviderKey::identity();
        assert_eq!(identity.seal(AT, b"{}"), b"{}");
        assert_eq!(identity.open(AT, b"{}").unwrap(), b"{}");
        let sealed = ProviderKey::aes_gcm("k1", &[1; 32])
            .unwrap()
            .seal(AT, b"{}");
        assert_eq!(
            identity.open(AT, &sealed),
            Err(OpenError::IdentityReadEncrypted)
        );
    }
}
