//! Copying one image from somewhere into the store.
//!
//! An OCI layout on disk, a registry, and (after some translation) a
//! `docker save` archive all hold the same tree: an optional index, a
//! manifest, a config, layers. They differ only in how a blob is opened,
//! so importers and the puller implement [`BlobSource`] and share
//! [`copy_image`], the one place that walks the tree and checks digests.

use super::digest::Digest;
use super::manifest::{Descriptor, Index, Manifest, is_index};
use super::store::Store;
use super::{ImageError, parse_json};
use std::io::Read;

/// Where blobs come from.
pub trait BlobSource {
    /// Open the manifest or blob `desc` points to. The store verifies the
    /// digest; a source need not.
    fn open(&mut self, desc: &Descriptor) -> Result<Box<dyn Read + '_>, ImageError>;
}

/// Manifests and indexes are read into memory; this caps what a hostile
/// source can make us allocate.
const MAX_MANIFEST: u64 = 4 << 20;

/// Read a manifest or index whole, checking its digest.
pub(crate) fn read_small(
    source: &mut dyn BlobSource,
    desc: &Descriptor,
) -> Result<Vec<u8>, ImageError> {
    let mut bytes = vec![];
    source
        .open(desc)?
        .take(MAX_MANIFEST)
        .read_to_end(&mut bytes)
        .map_err(|e| ImageError::InvalidImage(format!("reading manifest {}: {e}", desc.digest)))?;
    desc.digest.verify(&Digest::of(&bytes), "manifest")?;
    Ok(bytes)
}

/// Store the image whose top document (index or manifest) is `top`,
/// fetching only the blobs the store lacks. Returns the digest of the
/// linux/amd64 manifest, which is what a tag will point to.
// ANCHOR: copy_image
pub fn copy_image(
    store: &Store,
    source: &mut dyn BlobSource,
    top: &[u8],
    what: &str,
) -> Result<Digest, ImageError> {
    let mut bytes = top.to_vec();
    let probe: serde_json::Value = parse_json(what, &bytes)?;
    let media_type = probe["mediaType"].as_str().unwrap_or("");
    // An OCI index may omit its mediaType; having `manifests` gives it away.
    if is_index(media_type) || probe.get("manifests").is_some() {
        let index: Index = parse_json(what, &bytes)?;
        let chosen = match index.linux_amd64() {
            Some(d) => d.clone(),
            None if index.manifests.len() == 1 && index.manifests[0].platform.is_none() => {
                index.manifests[0].clone()
            }
            None => {
                return Err(ImageError::Unsupported(format!(
                    "{what} has no linux/amd64 image (orc runs only linux/amd64)"
                )));
            }
        };
        bytes = read_small(source, &chosen)?;
    }
    let manifest: Manifest = parse_json(what, &bytes)?;
    if manifest.schema_version != 2 {
        return Err(ImageError::Unsupported(format!(
            "{what}: manifest schema version {} (only 2 is supported)",
            manifest.schema_version
        )));
    }
    for desc in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if !store.has_blob(&desc.digest) {
            let blob = source.open(desc)?;
            store.put_blob(
                blob,
                Some(&desc.digest),
                &format!("blob {} of {what}", desc.digest),
            )?;
        }
    }
    // The manifest goes in last: a manifest in the store means its blobs are.
    store.put_bytes(&bytes, None, what)
}
// ANCHOR_END: copy_image
