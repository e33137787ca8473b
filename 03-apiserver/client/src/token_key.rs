//! Bearer tokens as a cache keeps them: never the token itself.
//!
//! A component that remembers what the API server said about a token (the
//! agent's port, which asks TokenReviews) needs the token as a lookup
//! key. Keeping the token would leave every credential that was ever
//! presented readable in the process's memory for as long as the answer
//! is cached (a core dump, a debugger, a heap bug that leaks memory).
//! Kubernetes' cached token authenticator keys on an HMAC-SHA256 of the
//! token instead, under a key drawn at random when the cache is made; orc
//! does the same with one key per process.
//!
//! The HMAC, not a plain SHA-256: without the secret key, the digests a
//! cache holds cannot be checked against a list of guessed tokens.

use std::fmt;
use std::sync::OnceLock;

use ring::hmac;
use ring::rand::SystemRandom;

/// A token's HMAC-SHA256 under this process's random key: equal for equal
/// tokens in this process, and nothing else can be learnt from it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    /// The key `token` is cached under.
    pub fn of(token: &str) -> TokenKey {
        let tag = hmac::sign(process_key(), token.as_bytes());
        let mut digest = [0; 32];
        digest.copy_from_slice(tag.as_ref());
        TokenKey(digest)
    }
}

/// Not even the digest is printed: a log line is no place for it.
impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// The HMAC key: 32 random bytes from the kernel, drawn once per process
/// and never written anywhere.
fn process_key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| {
        // getrandom(2) fails only on a kernel without it (before 3.17)
        // or when seccomp forbids it: nothing a cache can work around.
        hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .expect("the kernel's random number generator (getrandom) is available")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_share_a_key_and_the_key_is_not_the_token() {
        let token = "eyJhbGciOiJFUzI1NiJ9.payload.signature";
        assert_eq!(TokenKey::of(token), TokenKey::of(token));
        assert_ne!(TokenKey::of(token), TokenKey::of("another"));
        let key = TokenKey::of(token);
        // Keyed: not the token's plain SHA-256, which anyone could compute.
        use sha2::{Digest, Sha256};
        assert_ne!(key.0.as_slice(), Sha256::digest(token).as_slice());
        assert_eq!(format!("{key:?}"), "TokenKey(..)");
    }
}
