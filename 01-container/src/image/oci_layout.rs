//! The OCI image layout: an image as plain files.
//!
//! ```text
//! oci-layout    {"imageLayoutVersion": "1.0.0"}
//! index.json    the entry points, named by the org.opencontainers.image.ref.name annotation
//! blobs/sha256/<hex>
//! ```
//!
//! It is what `skopeo copy ... oci:DIR:tag` writes and what orc's own
//! [`super::build`] writes, so images move between tools and machines
//! without a registry. A layout can also come as a tarball of those files.

use super::copy::{BlobSource, copy_image, read_small};
use super::digest::Digest;
use super::manifest::{Descriptor, Index, OCI_INDEX, REF_NAME};
use super::reference::Reference;
use super::store::Store;
use super::{ImageError, io, parse_json};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads blobs from a layout directory.
struct LayoutSource {
    dir: PathBuf,
}

impl BlobSource for LayoutSource {
    fn open(&mut self, desc: &Descriptor) -> Result<Box<dyn Read + '_>, ImageError> {
        let path = self.dir.join("blobs/sha256").join(desc.digest.hex());
        let file = std::fs::File::open(&path).map_err(io("opening blob", &path))?;
        Ok(Box::new(file))
    }
}

/// Import every image of the layout at `path` (a directory or a tarball).
///
/// Each `index.json` entry is tagged with its `ref.name` annotation, which
/// must then be a full reference (`busybox:1.36`); a bare tag (`1.36`, as
/// `skopeo` writes) needs `name`, which also renames a single image.
/// Returns the references stored and their manifest digests.
// ANCHOR: import_layout
pub fn import(
    store: &Store,
    path: &Path,
    name: Option<&str>,
) -> Result<Vec<(Reference, Digest)>, ImageError> {
    if path.is_file() {
        return store.with_extracted(path, |dir| import(store, dir, name));
    }
    let marker = path.join("oci-layout");
    if !marker.is_file() {
        return Err(ImageError::InvalidImage(format!(
            "{} is not an OCI image layout: it has no oci-layout file",
            path.display()
        )));
    }
    let index_path = path.join("index.json");
    let bytes = std::fs::read(&index_path).map_err(io("reading", &index_path))?;
    let index: Index = parse_json(&index_path.display().to_string(), &bytes)?;
    if name.is_some() && index.manifests.len() != 1 {
        return Err(ImageError::InvalidImage(format!(
            "{} holds {} images; a name can only be given to one",
            path.display(),
            index.manifests.len()
        )));
    }
    let mut source = LayoutSource {
        dir: path.to_path_buf(),
    };
    let mut imported = vec![];
    for desc in &index.manifests {
        let reference = match (name, desc.annotations.get(REF_NAME)) {
            (Some(n), _) => Reference::parse(n)?,
            (None, Some(r)) if r.contains(':') || r.contains('/') => Reference::parse(r)?,
            (None, other) => {
                return Err(ImageError::InvalidImage(format!(
                    "{}: image {} is named only `{}`; give it a name (e.g. `--name app:1.0`)",
                    path.display(),
                    desc.digest,
                    other.map_or("", |s| s.as_str())
                )));
            }
        };
        let top = read_small(&mut source, desc)?;
        let digest = copy_image(
            store,
            &mut source,
            &top,
            &format!("{reference} in {}", path.display()),
        )?;
        store.tag(&reference, &digest)?;
        imported.push((reference, digest));
    }
    Ok(imported)
}
// ANCHOR_END: import_layout

/// Writes an OCI layout, one blob at a time.
pub struct LayoutWriter {
    dir: PathBuf,
}

impl LayoutWriter {
    /// Create (or reopen) a layout directory.
    pub fn create(dir: &Path) -> Result<LayoutWriter, ImageError> {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(io("creating", &blobs))?;
        let marker = dir.join("oci-layout");
        std::fs::write(&marker, br#"{"imageLayoutVersion": "1.0.0"}"#)
            .map_err(io("writing", &marker))?;
        Ok(LayoutWriter {
            dir: dir.to_path_buf(),
        })
    }

    /// Write a blob; returns its descriptor.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, ImageError> {
        let digest = Digest::of(bytes);
        let path = self.dir.join("blobs/sha256").join(digest.hex());
        std::fs::write(&path, bytes).map_err(io("writing", &path))?;
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
            platform: None,
            annotations: Default::default(),
        })
    }

    /// Name a manifest in `index.json`, replacing an entry of the same name.
    pub fn add_to_index(&self, mut manifest: Descriptor, name: &str) -> Result<(), ImageError> {
        let path = self.dir.join("index.json");
        let mut index = match std::fs::read(&path) {
            Ok(bytes) => parse_json::<Index>(&path.display().to_string(), &bytes)?,
            Err(_) => Index {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                manifests: vec![],
            },
        };
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(name));
        manifest.annotations.insert(REF_NAME.into(), name.into());
        index.manifests.push(manifest);
        let json = serde_json::to_vec_pretty(&index).expect("index serializes");
        std::fs::write(&path, json).map_err(io("writing", &path))
    }
}
