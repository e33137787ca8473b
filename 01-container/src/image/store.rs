//! The content-addressed store on disk.
//!
//! ```text
//! /var/lib/orc/images/
//!   blobs/sha256/<hex>   every manifest, config and layer, named by digest
//!   images.json          tags: {"docker.io/library/busybox:latest": "sha256:..."}
//!   layers/<hex>/        a layer blob unpacked once, shared by every container
//!   tmp/                 downloads and unpacks in progress
//! ```
//!
//! Three rules keep it consistent without a database:
//!
//! 1. A file appears under `blobs/` or `layers/` only by `rename(2)` from
//!    `tmp/` (same filesystem, so atomic), after its digest was checked.
//!    A crash leaves garbage in `tmp/`, never a wrong blob.
//! 2. `images.json` is rewritten whole and renamed into place, under an
//!    exclusive `flock` so two commands cannot lose each other's tags.
//! 3. Only tags keep things alive. Removing a tag runs a garbage collection
//!    that deletes every blob and layer no remaining tag reaches, except
//!    layers a mounted container root still uses.

use super::digest::{Digest, HashingReader};
use super::manifest::{ImageConfig, Manifest};
use super::reference::Reference;
use super::{ImageError, io, parse_json};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where images live unless told otherwise (`--images`).
pub const DEFAULT_STORE: &str = "/var/lib/orc/images";

/// A handle on a store directory. Cheap: it holds only the path.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An image found in the store, with its documents parsed.
#[derive(Debug, Clone)]
pub struct Image {
    /// The canonical reference it is tagged as.
    pub name: String,
    /// The manifest's digest: the image's true identity.
    pub digest: Digest,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

impl Image {
    /// Bytes of the config and all layers (compressed, as stored).
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// What a garbage collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: usize,
    pub layers: usize,
}

impl Store {
    /// Open (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, ImageError> {
        let store = Store { root: root.into() };
        for dir in ["blobs/sha256", "layers", "tmp"] {
            let path = store.root.join(dir);
            std::fs::create_dir_all(&path).map_err(io("creating", &path))?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(digest);
        std::fs::read(&path).map_err(io("reading blob", &path))
    }

    /// A fresh path under `tmp/` for work in progress.
    pub(crate) fn temp_path(&self, what: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{what}-{}-{n}", std::process::id()))
    }

    /// Extract `tarball` into a fresh directory under `tmp/`, run `f` on it,
    /// and delete the directory whatever `f` returned. Imports read archives
    /// this way: members can then be opened by path, in any order.
    pub(crate) fn with_extracted<T>(
        &self,
        tarball: &Path,
        f: impl FnOnce(&Path) -> Result<T, ImageError>,
    ) -> Result<T, ImageError> {
        let tmp = self.temp_path("extract");
        let result = std::fs::File::open(tarball)
            .map_err(io("opening", tarball))
            .and_then(|file| {
                tar::Archive::new(file)
                    .unpack(&tmp)
                    .map_err(io("extracting", tarball))
            })
            .and_then(|()| f(&tmp));
        let _ = std::fs::remove_dir_all(&tmp);
        result
    }

    /// Stream `content` into the store, hashing as it goes. With `expected`,
    /// a different digest is refused and nothing is stored; either way the
    /// digest actually received is returned.
    // ANCHOR: put_blob
    pub fn put_blob<R: Read>(
        &self,
        content: R,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<Digest, ImageError> {
        let tmp = self.temp_path("blob");
        let result = (|| {
            let mut file = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
            let mut reader = HashingReader::new(content);
            std::io::copy(&mut reader, &mut file).map_err(io("writing", &tmp))?;
            file.sync_all().map_err(io("syncing", &tmp))?;
            let got = reader.digest();
            if let Some(expected) = expected {
                expected.verify(&got, what)?;
            }
            let path = self.blob_path(&got);
            std::fs::rename(&tmp, &path).map_err(io("storing", &path))?;
            Ok(got)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
    // ANCHOR_END: put_blob

    /// Store a small document (manifest, config) held in memory.
    pub fn put_bytes(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<Digest, ImageError> {
        self.put_blob(bytes, expected, what)
    }

    /// Record that `reference` names the manifest `digest`, after checking
    /// that the manifest and everything it points to are in the store.
    pub fn tag(&self, reference: &Reference, digest: &Digest) -> Result<(), ImageError> {
        let manifest: Manifest =
            parse_json(&format!("manifest {digest}"), &self.read_blob(digest)?)?;
        for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !self.has_blob(&d.digest) {
                return Err(ImageError::InvalidImage(format!(
                    "manifest {digest} needs blob {} which is not in the store",
                    d.digest
                )));
            }
        }
        self.edit_tags(|tags| {
            tags.insert(reference.to_string(), digest.clone());
        })
    }

    fn tags_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    /// The tag index (empty if there is none yet).
    pub fn tags(&self) -> Result<BTreeMap<String, Digest>, ImageError> {
        let path = self.tags_path();
        match std::fs::read(&path) {
            Ok(bytes) => parse_json(&path.display().to_string(), &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io("reading", &path)(e)),
        }
    }

    /// Read-modify-write the tag index under an exclusive lock, replacing
    /// the file atomically.
    // ANCHOR: edit_tags
    fn edit_tags<T>(
        &self,
        edit: impl FnOnce(&mut BTreeMap<String, Digest>) -> T,
    ) -> Result<T, ImageError> {
        let _lock = self.lock()?;
        let mut tags = self.tags()?;
        let out = edit(&mut tags);
        self.write_tags(&tags)?;
        Ok(out)
    }

    /// Replace `images.json` atomically: a reader sees the old file or the
    /// new one, never half of one.
    fn write_tags(&self, tags: &BTreeMap<String, Digest>) -> Result<(), ImageError> {
        let tmp = self.temp_path("images.json");
        let json = serde_json::to_vec_pretty(tags).expect("tags serialize");
        let mut file = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        file.write_all(&json).map_err(io("writing", &tmp))?;
        file.sync_all().map_err(io("syncing", &tmp))?;
        let path = self.tags_path();
        std::fs::rename(&tmp, &path).map_err(io("replacing", &path))
    }
    // ANCHOR_END: edit_tags

    /// Find an image by reference (`busybox`, `app@sha256:...`), or by the
    /// manifest digest alone.
    pub fn image(&self, reference: &str) -> Result<Image, ImageError> {
        let tags = self.tags()?;
        let unknown = || ImageError::UnknownImage {
            reference: reference.to_string(),
            store: self.root.clone(),
        };
        let (name, digest) = if let Ok(d) = Digest::parse(reference) {
            let name = tags
                .iter()
                .find(|(_, v)| **v == d)
                .map(|(k, _)| k.clone())
                .ok_or_else(unknown)?;
            (name, d)
        } else {
            let r = Reference::parse(reference)?;
            match tags.get(&r.to_string()) {
                Some(d) => (r.to_string(), d.clone()),
                // `name@digest` also finds the image under another tag.
                None => match &r.digest {
                    Some(d) if tags.values().any(|v| v == d) => (r.to_string(), d.clone()),
                    _ => return Err(unknown()),
                },
            }
        };
        self.load(name, digest)
    }

    fn load(&self, name: String, digest: Digest) -> Result<Image, ImageError> {
        let manifest: Manifest =
            parse_json(&format!("manifest {digest}"), &self.read_blob(&digest)?)?;
        let config: ImageConfig = parse_json(
            &format!("config {}", manifest.config.digest),
            &self.read_blob(&manifest.config.digest)?,
        )?;
        Ok(Image {
            name,
            digest,
            manifest,
            config,
        })
    }

    /// Every tagged image, sorted by name.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        self.tags()?
            .into_iter()
            .map(|(name, digest)| self.load(name, digest))
            .collect()
    }

    /// Untag an image, then collect what nothing else uses.
    pub fn remove(&self, reference: &str) -> Result<GcReport, ImageError> {
        let _lock = self.lock()?;
        let image = self.image(reference)?;
        let mut tags = self.tags()?;
        tags.remove(&image.name);
        self.write_tags(&tags)?;
        self.gc_locked()
    }

    /// Hold the store's exclusive lock until the returned guard drops.
    /// `flock(2)` locks belong to the open file, so the lock is released
    /// even if the process dies.
    fn lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>, ImageError> {
        let path = self.root.join("lock");
        let file = std::fs::File::create(&path).map_err(io("creating", &path))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, source)| {
            ImageError::Sys {
                action: "locking",
                path,
                source,
            }
        })
    }

    /// Delete blobs and unpacked layers that no tag reaches. Layers that
    /// a mounted overlayfs still uses as a lower directory are kept: deleting
    /// files under a running container would corrupt it.
    pub fn gc(&self) -> Result<GcReport, ImageError> {
        let _lock = self.lock()?;
        self.gc_locked()
    }

    /// [`Store::gc`] with the lock already held, so no tag can appear
    /// while we decide what is garbage. (A pull still writes its blobs
    /// before taking the lock to tag them; a collection running exactly
    /// then can delete them, and the pull's `tag` fails, saying which blob
    /// is missing. Pulling again fixes it.)
    // ANCHOR: gc
    fn gc_locked(&self) -> Result<GcReport, ImageError> {
        let mut live: HashSet<Digest> = HashSet::new();
        for image in self.list()? {
            live.insert(image.digest.clone());
            live.insert(image.manifest.config.digest.clone());
            live.extend(image.manifest.layers.iter().map(|l| l.digest.clone()));
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut report = GcReport::default();
        for (dir, is_layer) in [("blobs/sha256", false), ("layers", true)] {
            let dir = self.root.join(dir);
            for entry in std::fs::read_dir(&dir)
                .map_err(io("listing", &dir))?
                .flatten()
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(digest) = Digest::parse(&format!("sha256:{name}")) else {
                    continue;
                };
                if live.contains(&digest)
                    || (is_layer && mounts.contains(&*entry.path().to_string_lossy()))
                {
                    continue;
                }
                let path = entry.path();
                if is_layer {
                    std::fs::remove_dir_all(&path).map_err(io("removing", &path))?;
                    report.layers += 1;
                } else {
                    std::fs::remove_file(&path).map_err(io("removing", &path))?;
                    report.blobs += 1;
                }
            }
        }
        Ok(report)
    }
    // ANCHOR_END: gc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::manifest::{Descriptor, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST};

    /// Store a one-layer image whose layer is `layer` and tag it.
    fn add(store: &Store, name: &str, layer: &[u8]) -> Digest {
        let layer_digest = store.put_bytes(layer, None, "layer").unwrap();
        let config = serde_json::to_vec(&ImageConfig::default()).unwrap();
        let config_digest = store.put_bytes(&config, None, "config").unwrap();
        let desc = |media_type: &str, digest: Digest, size: usize| Descriptor {
            media_type: media_type.into(),
            digest,
            size: size as u64,
            platform: None,
            annotations: Default::default(),
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: desc(OCI_CONFIG, config_digest, config.len()),
            layers: vec![desc(OCI_LAYER, layer_digest, layer.len())],
        };
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = store.put_bytes(&bytes, None, "manifest").unwrap();
        store
            .tag(&Reference::parse(name).unwrap(), &digest)
            .unwrap();
        digest
    }

    #[test]
    fn blobs_are_verified_and_named_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.put_bytes(b"hello", None, "greeting").unwrap();
        assert_eq!(std::fs::read(store.blob_path(&d)).unwrap(), b"hello");
        let wrong = Digest::of(b"bye");
        let e = store
            .put_bytes(b"hello", Some(&wrong), "greeting")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("expected {wrong}, got {d}")), "{e}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn tags_list_remove_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = add(&store, "app:1", b"shared");
        add(&store, "app:2", b"shared");
        add(&store, "other", b"own layer");
        let names: Vec<_> = store.list().unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            [
                "docker.io/library/app:1",
                "docker.io/library/app:2",
                "docker.io/library/other:latest"
            ]
        );
        assert_eq!(store.image("app:1").unwrap().digest, a);
        assert_eq!(
            store.image(a.as_str()).unwrap().name,
            "docker.io/library/app:1"
        );

        // app:1 and app:2 are the same image: removing one keeps the blobs.
        assert_eq!(store.remove("app:1").unwrap(), GcReport::default());
        // `other` has its own layer and manifest; the config is shared.
        assert_eq!(store.remove("other").unwrap().blobs, 2);
        let e = store.image("other").unwrap_err().to_string();
        assert!(e.contains("is not in the store"), "{e}");
        assert_eq!(store.remove("app:2").unwrap().blobs, 3);
        assert!(store.list().unwrap().is_empty());
    }
}
