//! Content digests: the names of everything in an image.
//!
//! An OCI image is a Merkle tree. A tag points to a manifest *by digest*,
//! the manifest points to a config and to layers by digest, and a digest is
//! the SHA-256 of the exact bytes (`sha256:` + 64 hex digits). So one
//! trusted digest vouches for the whole image, and a store that files blobs
//! under their digests gets deduplication for free: two images sharing a
//! base layer share the file.
//!
//! The rule that makes this safe: **never trust a digest you did not
//! compute**. [`HashingReader`] hashes bytes as they stream past, so a
//! download or an import is checked without being read twice.

use super::ImageError;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::Read;

/// A validated `sha256:<64 lowercase hex>` digest.
///
/// Only sha256 is accepted: it is what every registry and `docker save`
/// use, and refusing the rest keeps "which hash?" out of every caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parse and validate a digest string.
    pub fn parse(s: &str) -> Result<Digest, ImageError> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| ImageError::BadDigest {
                digest: s.to_string(),
                problem: "only `sha256:` digests are supported".into(),
            })?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ImageError::BadDigest {
                digest: s.to_string(),
                problem: "expected 64 lowercase hex digits after `sha256:`".into(),
            });
        }
        Ok(Digest(s.to_string()))
    }

    /// The digest of a byte slice (manifests and configs are small).
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex(&Sha256::digest(bytes))))
    }

    /// The 64 hex digits: the file name under `blobs/sha256/`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The first 12 hex digits, as `docker images` shows ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Fail with both digests named unless `got` is `self`.
    pub fn verify(&self, got: &Digest, what: &str) -> Result<(), ImageError> {
        if self == got {
            Ok(())
        } else {
            Err(ImageError::DigestMismatch {
                what: what.to_string(),
                expected: self.clone(),
                got: got.clone(),
            })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader that hashes and counts everything read through it.
///
/// Wrap a download or an archive member in it, copy it to a file, then ask
/// [`HashingReader::digest`] what was actually received.
// ANCHOR: hashing_reader
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    /// Bytes read so far: for progress bars and size checks.
    pub count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest of everything read so far.
    pub fn digest(&self) -> Digest {
        Digest(format!("sha256:{}", hex(&self.hasher.clone().finalize())))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
// ANCHOR_END: hashing_reader

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_known_bytes() {
        // `printf hello | sha256sum`
        assert_eq!(
            Digest::of(b"hello").as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let mut r = HashingReader::new(&b"hello"[..]);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert_eq!(r.digest(), Digest::of(b"hello"));
        assert_eq!(r.count, 5);
    }

    #[test]
    fn bad_digests_say_why() {
        let e = Digest::parse("md5:abc").unwrap_err().to_string();
        assert!(e.contains("only `sha256:`"), "{e}");
        let e = Digest::parse("sha256:ABC").unwrap_err().to_string();
        assert!(e.contains("64 lowercase hex"), "{e}");
    }
}
