//! Importing what `docker save` writes.
//!
//! A docker-archive is a tarball with a `manifest.json` of its own (not an
//! OCI manifest):
//!
//! ```json
//! [{"Config": "<id>.json", "RepoTags": ["app:1"], "Layers": ["<id>/layer.tar", ...]}]
//! ```
//!
//! Paths instead of digests, and no media types. Docker 25 and later also
//! put an OCI layout in the same tarball, with `blobs/sha256/...` paths in
//! `manifest.json`; reading `manifest.json` handles both. We store each file
//! as a blob under the digest we compute, and write the OCI manifest Docker
//! left out. The config is already an OCI-compatible image config.

use super::digest::Digest;
use super::manifest::{
    Descriptor, Manifest, OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST, null_is_empty,
};
use super::reference::Reference;
use super::store::Store;
use super::{ImageError, io, parse_json};
use serde::Deserialize;
use std::io::Read;
use std::path::Path;

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default, deserialize_with = "null_is_empty")]
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// Import every image in the docker-archive `tarball`, tagged with its
/// `RepoTags` (or `name`, for an archive of one image).
// ANCHOR: import_docker_archive
pub fn import(
    store: &Store,
    tarball: &Path,
    name: Option<&str>,
) -> Result<Vec<(Reference, Digest)>, ImageError> {
    store.with_extracted(tarball, |tmp| {
        let manifest_path = tmp.join("manifest.json");
        let bytes = std::fs::read(&manifest_path).map_err(|_| {
            ImageError::InvalidImage(format!(
                "{} is not a docker-archive: it has no manifest.json (an OCI layout tarball has oci-layout and index.json instead)",
                tarball.display()
            ))
        })?;
        let entries: Vec<ArchiveEntry> =
            parse_json(&format!("manifest.json in {}", tarball.display()), &bytes)?;
        if name.is_some() && entries.len() != 1 {
            return Err(ImageError::InvalidImage(format!(
                "{} holds {} images; a name can only be given to one",
                tarball.display(),
                entries.len()
            )));
        }
        let mut imported = vec![];
        for entry in &entries {
            let digest = import_entry(store, tmp, entry)?;
            let names: Vec<String> = match name {
                Some(n) => vec![n.to_string()],
                None => entry.repo_tags.clone(),
            };
            if names.is_empty() {
                return Err(ImageError::InvalidImage(format!(
                    "image {digest} in {} has no RepoTags; give it a name (e.g. `--name app:1.0`)",
                    tarball.display()
                )));
            }
            for n in names {
                let reference = Reference::parse(&n)?;
                store.tag(&reference, &digest)?;
                imported.push((reference, digest.clone()));
            }
        }
        Ok(imported)
    })
}
// ANCHOR_END: import_docker_archive

/// Store one image's config and layers, and write its OCI manifest.
fn import_entry(store: &Store, root: &Path, entry: &ArchiveEntry) -> Result<Digest, ImageError> {
    let config_bytes = std::fs::read(member(root, &entry.config)?)
        .map_err(io("reading", &root.join(&entry.config)))?;
    let config = descriptor(
        OCI_CONFIG,
        store.put_bytes(&config_bytes, None, "config")?,
        config_bytes.len() as u64,
    );
    let mut layers = vec![];
    for rel in &entry.layers {
        let path = member(root, rel)?;
        let mut file = std::fs::File::open(&path).map_err(io("opening", &path))?;
        let mut magic = [0u8; 2];
        let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        let file = std::fs::File::open(&path).map_err(io("opening", &path))?;
        let size = file.metadata().map_err(io("reading", &path))?.len();
        let digest = store.put_blob(file, None, rel)?;
        layers.push(descriptor(
            if gzip { OCI_LAYER_GZIP } else { OCI_LAYER },
            digest,
            size,
        ));
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config,
        layers,
    };
    store.put_bytes(
        &serde_json::to_vec(&manifest).expect("manifest serializes"),
        None,
        "manifest",
    )
}

/// A path named in `manifest.json`, refused if it leads out of the archive
/// (through `..` or a symlink: `docker save` links duplicate layers).
fn member(root: &Path, rel: &str) -> Result<std::path::PathBuf, ImageError> {
    let path = root.join(rel);
    let real = std::fs::canonicalize(&path).map_err(io("finding archive member", &path))?;
    let real_root = std::fs::canonicalize(root).map_err(io("finding", root))?;
    if !real.starts_with(&real_root) {
        return Err(ImageError::InvalidImage(format!(
            "archive member `{rel}` points outside the archive"
        )));
    }
    Ok(real)
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        platform: None,
        annotations: Default::default(),
    }
}
