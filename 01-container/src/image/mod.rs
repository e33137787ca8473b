//! The image store: images → bundles → containers.
//!
//! The runtime above runs a *bundle*: a `config.json` and a root
//! filesystem. Nobody ships bundles; people ship *images*: a stack of layer
//! tarballs plus a config saying how to run them, named by digests and
//! moved around by registries. This module turns one into the other.
//!
//! ## Layout
//!
//! - [`digest`]: `sha256:` names, and hashing bytes as they stream past.
//! - [`reference`](mod@reference): parsing `busybox:1.36` the way Docker does.
//! - [`manifest`]: the JSON documents (index, manifest, config).
//! - [`store`]: the content-addressed store on disk: blobs, tags, garbage
//!   collection.
//! - [`unpack`]: a layer blob unpacked into its own directory, with OCI
//!   whiteouts turned into overlayfs ones.
//! - [`copy`]: walking an image tree from any source into the store.
//! - [`oci_layout`] and [`docker_archive`]: importing images from files.
//! - [`registry`]: pulling over the Registry HTTP API v2; [`auth`]: answering
//!   its Basic and Bearer challenges.
//! - [`bundle`]: an image as a bundle on an overlayfs root, ready for
//!   [`crate::Runtime`].
//! - [`build`]: writing small images here (busybox, or one host binary and
//!   its libraries) as OCI layouts, for tests and the book.
//!
//! ## Deliberately left out
//!
//! Pushing, building from Dockerfiles, zstd layers, platforms other than
//! linux/amd64, image signatures, and sharing the store between hosts.

pub mod auth;
pub mod build;
pub mod bundle;
pub mod copy;
pub mod digest;
pub mod docker_archive;
pub mod manifest;
pub mod oci_layout;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use reference::Reference;
pub use store::{DEFAULT_STORE, Image, Store};

use std::path::PathBuf;

/// Everything the image code can fail with. Each message names the image,
/// file or URL involved and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image reference `{reference}`: {problem}")]
    BadReference { reference: String, problem: String },
    #[error("invalid digest `{digest}`: {problem}")]
    BadDigest { digest: String, problem: String },
    #[error(
        "image `{reference}` is not in the store at {store}; import or pull it first (`image list` shows what is there)"
    )]
    UnknownImage { reference: String, store: PathBuf },
    #[error(
        "digest mismatch for {what}: expected {expected}, got {got}; the content is corrupt or not what was asked for"
    )]
    DigestMismatch {
        what: String,
        expected: Digest,
        got: Digest,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} is not valid JSON: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("unpacking layer {digest}: {source}")]
    Layer {
        digest: Digest,
        source: crate::layer::LayerError,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    InvalidImage(String),
    #[error("registry request {url} failed: {problem}")]
    Registry { url: String, problem: String },
    #[error("{action} {path}: {source}")]
    Sys {
        action: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("building image `{image}` from orc's recipe: {problem}")]
    Recipe { image: String, problem: String },
    #[error("user `{user}` of the image: {problem}")]
    User { user: String, problem: String },
}

/// Shorthand for the `Io` variant: `io("reading", &path)(err)`.
pub(crate) fn io(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_path_buf();
    move |source| ImageError::Io {
        action,
        path,
        source,
    }
}

/// Parse a JSON document, naming it in the error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|source| ImageError::Json {
        what: what.to_string(),
        source,
    })
}

/// `root/rel`, if no part of it below `root` is a symlink.
///
/// Image content is untrusted. A layer may hold `etc -> /etc`; following
/// that while writing a whiteout or reading `/etc/passwd` would touch the
/// *host's* files. Paths that climb (`..`) or are absolute are refused too.
pub(crate) fn path_inside(root: &std::path::Path, rel: &std::path::Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut path = root.to_path_buf();
    for part in rel.components() {
        match part {
            Component::Normal(p) => path.push(p),
            Component::CurDir => continue,
            _ => return None,
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return None;
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_through_symlinks_are_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("dir")).unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("etc")).unwrap();
        let inside = |rel: &str| path_inside(root.path(), std::path::Path::new(rel));
        assert_eq!(inside("dir/new"), Some(root.path().join("dir/new")));
        assert_eq!(inside("etc/passwd"), None);
        assert_eq!(inside("etc"), None);
        assert_eq!(inside("dir/../../x"), None);
    }
}
