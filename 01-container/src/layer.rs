//! Unpacking an image layer, with OCI whiteouts.
//!
//! An image is a stack of layers, each a tar archive of the files that
//! changed. Adding or changing a file is just a tar entry; *deleting* one
//! cannot be said in tar, so the OCI image spec (after AUFS) uses marker
//! files called whiteouts:
//!
//! - `dir/.wh.NAME`: `dir/NAME` from lower layers is deleted;
//! - `dir/.wh..wh..opq` (opaque whiteout): everything lower layers put in
//!   `dir` is hidden; only this layer's entries in `dir` remain.
//!
//! The `tar` crate knows nothing of this, so
//! [`unpack_layer`] applies the markers itself while extracting layers one
//! after the other into the same directory. The markers themselves never
//! appear in the result. This flattens layers into one directory (what a
//! student does by hand, and what `docker export` shows); the image store
//! ([`crate::image`]) instead keeps each layer in its own directory and
//! stacks them with overlayfs, turning whiteouts into overlayfs's own
//! markers.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The prefix of a whiteout file name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The name of an opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("reading the layer archive: {0}")]
    Read(#[source] std::io::Error),
    #[error("layer entry `{0}` escapes the destination (absolute path or `..`)")]
    Escape(String),
    #[error("unpacking `{path}`: {source}")]
    Unpack {
        path: String,
        source: std::io::Error,
    },
}

/// What unpacking did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// Entries written (files, directories, links...).
    pub unpacked: usize,
    /// Paths deleted by `.wh.NAME` markers.
    pub whited_out: usize,
    /// Directories made opaque by `.wh..wh..opq`.
    pub opaque_dirs: usize,
}

/// Check that an entry path is relative and never climbs (`..`), and
/// return it in normal form.
fn clean_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `dest/parent` can be reached without following a symlink.
///
/// A layer can hold a symlink `escape -> /etc` and then a whiteout
/// `escape/.wh.passwd`: following the link, the whiteout would delete the
/// *host's* `/etc/passwd`. Entries that are unpacked are guarded by
/// `unpack_in`; whiteouts and opaque markers, which delete, are guarded by
/// this check on every directory between `dest` and their target.
fn reachable_without_symlinks(dest: &Path, parent: &Path) -> bool {
    let mut dir = dest.to_path_buf();
    parent.components().all(|component| {
        dir.push(component);
        !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink())
    })
}

/// Remove whatever is at `path` (file, symlink or whole directory); absent is fine.
fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
}

/// Unpack one layer (an uncompressed tar stream) on top of `dest`, which
/// holds the layers below it, applying whiteouts.
///
/// An opaque marker hides what *lower* layers put in the directory, never
/// what this layer itself adds there, whichever order the archive lists them
/// in: we remember this layer's own paths and spare them.
// ANCHOR: unpack_layer
pub fn unpack_layer<R: Read>(layer: R, dest: &Path) -> Result<LayerSummary, LayerError> {
    let mut archive = tar::Archive::new(layer);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    let mut summary = LayerSummary::default();
    let mut ours: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(LayerError::Read)? {
        let mut entry = entry.map_err(LayerError::Read)?;
        let raw = entry.path().map_err(LayerError::Read)?.into_owned();
        let shown = raw.display().to_string();
        let rel = clean_relative(&raw).ok_or_else(|| LayerError::Escape(shown.clone()))?;
        let unpack_err = |source| LayerError::Unpack {
            path: shown.clone(),
            source,
        };
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let deletes = name == OPAQUE_MARKER || name.starts_with(WHITEOUT_PREFIX);
        if deletes && !reachable_without_symlinks(dest, &parent) {
            return Err(LayerError::Escape(shown));
        }

        if name == OPAQUE_MARKER {
            clear_lower_entries(dest, &parent, &ours).map_err(unpack_err)?;
            summary.opaque_dirs += 1;
        } else if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            remove_any(&dest.join(&parent).join(hidden)).map_err(unpack_err)?;
            summary.whited_out += 1;
        } else {
            unpack_entry(&mut entry, dest, &rel).map_err(unpack_err)?;
            ours.insert(rel);
            summary.unpacked += 1;
        }
    }
    Ok(summary)
}
// ANCHOR_END: unpack_layer

// ANCHOR: unpack_steps
/// An opaque marker in `parent`: clear the directory of everything that
/// is not from this layer (`ours`), that is, of what lower layers put there.
fn clear_lower_entries(dest: &Path, parent: &Path, ours: &HashSet<PathBuf>) -> std::io::Result<()> {
    let dir = dest.join(parent);
    if let Ok(children) = std::fs::read_dir(&dir) {
        for child in children.flatten() {
            if !ours.contains(&parent.join(child.file_name())) {
                remove_any(&child.path())?;
            }
        }
    }
    Ok(())
}

/// An ordinary entry, unpacked at `rel` under `dest`.
fn unpack_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    dest: &Path,
    rel: &Path,
) -> std::io::Result<()> {
    // A file replacing a directory (or the reverse) from a lower
    // layer: tar would refuse to overwrite it, so remove it first.
    let target = dest.join(rel);
    if let Ok(meta) = std::fs::symlink_metadata(&target) {
        if meta.is_dir() != entry.header().entry_type().is_dir() {
            remove_any(&target)?;
        }
    }
    // unpack_in refuses entries (and hard-link targets) that would
    // land outside `dest`, including through symlinks.
    entry.unpack_in(dest)?;
    Ok(())
}
// ANCHOR_END: unpack_steps

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar layer from (path, Some(content) for a file / None for a dir).
    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            match content {
                Some(text) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(text.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, text.as_bytes()).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, std::io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn tree(dir: &Path) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if p.is_dir() {
                    walk(base, &p, out);
                }
            }
        }
        let mut out = vec![];
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    #[test]
    fn whiteouts_delete_and_opaque_dirs_hide_lower_layers() {
        let dest = tempfile::tempdir().unwrap();
        let base = layer(&[
            ("etc", None),
            ("etc/keep", Some("k")),
            ("etc/gone", Some("g")),
            ("var", None),
            ("var/old", Some("o")),
            ("var/sub", None),
            ("var/sub/deep", Some("d")),
        ]);
        let s = unpack_layer(base.as_slice(), dest.path()).unwrap();
        assert_eq!(s.unpacked, 7);

        // The opaque marker comes *after* this layer's own var/new on
        // purpose: it must not delete it.
        let top = layer(&[
            ("etc/.wh.gone", Some("")),
            ("var/new", Some("n")),
            ("var/.wh..wh..opq", Some("")),
            ("etc/keep", Some("changed")),
        ]);
        let s = unpack_layer(top.as_slice(), dest.path()).unwrap();
        assert_eq!((s.unpacked, s.whited_out, s.opaque_dirs), (2, 1, 1));
        assert_eq!(tree(dest.path()), ["etc", "etc/keep", "var", "var/new"]);
        assert_eq!(
            std::fs::read_to_string(dest.path().join("etc/keep")).unwrap(),
            "changed"
        );
    }

    #[test]
    fn a_file_can_replace_a_directory() {
        let dest = tempfile::tempdir().unwrap();
        unpack_layer(
            layer(&[("x", None), ("x/y", Some("1"))]).as_slice(),
            dest.path(),
        )
        .unwrap();
        unpack_layer(layer(&[("x", Some("now a file"))]).as_slice(), dest.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.path().join("x")).unwrap(),
            "now a file"
        );
    }

    #[test]
    fn whiteouts_never_follow_a_layers_symlink_out_of_the_root() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("victim"), "precious").unwrap();
        let mut links = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        links.append_link(&mut h, "escape", host.path()).unwrap();
        let links = links.into_inner().unwrap();
        for marker in ["escape/.wh.victim", "escape/.wh..wh..opq"] {
            let root = tempfile::tempdir().unwrap();
            unpack_layer(&links[..], root.path()).unwrap();
            let upper = layer(&[(marker, Some(""))]);
            assert!(
                matches!(unpack_layer(&upper[..], root.path()), Err(LayerError::Escape(p)) if p == marker),
                "{marker} through a symlink must be refused"
            );
            assert_eq!(
                std::fs::read_to_string(host.path().join("victim")).unwrap(),
                "precious"
            );
        }
    }

    #[test]
    fn entries_cannot_escape_the_destination() {
        assert_eq!(
            clean_relative(Path::new("./a/b")),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(clean_relative(Path::new("a/../../etc/passwd")), None);
        assert_eq!(clean_relative(Path::new("/etc/passwd")), None);
    }
}
