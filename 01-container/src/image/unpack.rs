//! One layer, unpacked into its own directory for overlayfs.
//!
//! [`crate::layer::unpack_layer`] applies whiteouts by *deleting* files
//! from the layers below, which works when every layer is extracted into the
//! same directory. An overlayfs root instead stacks each layer's directory
//! as a separate `lowerdir`, unpacked once and shared by every container; a
//! layer alone has nothing below it to delete. The deletion must be
//! *recorded* instead, in the dialect the kernel's overlayfs understands
//! (Documentation/filesystems/overlayfs.rst):
//!
//! - OCI `dir/.wh.NAME`  →  a character device `dir/NAME` with number 0/0;
//! - OCI `dir/.wh..wh..opq`  →  the xattr `trusted.overlay.opaque=y` on `dir`.
//!
//! So we read the layer twice: once to note its whiteouts, once through
//! `unpack_layer` into an empty directory (where its deletions are no-ops
//! and its markers vanish), then write the overlayfs markers.

use super::digest::{Digest, HashingReader};
use super::store::Store;
use super::{ImageError, io};
use crate::layer::{OPAQUE_MARKER, WHITEOUT_PREFIX, unpack_layer};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Open a layer blob as an uncompressed tar stream. Compression is detected
/// from the bytes (gzip starts with 1f 8b), not the media type: `docker
/// save` writes plain tars under names that promise nothing.
pub fn open_layer(store: &Store, digest: &Digest) -> Result<Box<dyn Read>, ImageError> {
    let path = store.blob_path(digest);
    let file = std::fs::File::open(&path).map_err(io("opening layer", &path))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(io("reading layer", &path))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::GzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(ImageError::Unsupported(format!(
            "layer {digest} is zstd-compressed, which orc does not support; re-export it with gzip"
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// The directory holding layer `digest` unpacked, unpacking it first if
/// needed. `diff_id`, the digest of the uncompressed tar from the image
/// config, is checked when given.
// ANCHOR: unpacked_layer
pub fn unpacked_layer(
    store: &Store,
    digest: &Digest,
    diff_id: Option<&Digest>,
) -> Result<PathBuf, ImageError> {
    let dest = store.root().join("layers").join(digest.hex());
    if dest.is_dir() {
        return Ok(dest);
    }
    let tmp = store.temp_path("layer");
    std::fs::create_dir(&tmp).map_err(io("creating", &tmp))?;
    let result = (|| {
        let whiteouts = scan_whiteouts(store, digest)?;
        let mut tar = HashingReader::new(open_layer(store, digest)?);
        unpack_layer(&mut tar, &tmp).map_err(|source| ImageError::Layer {
            digest: digest.clone(),
            source,
        })?;
        // tar stops at its end marker; hash the padding after it too.
        std::io::copy(&mut tar, &mut std::io::sink())
            .map_err(io("reading layer", &store.blob_path(digest)))?;
        if let Some(diff_id) = diff_id {
            diff_id.verify(&tar.digest(), &format!("uncompressed layer {digest}"))?;
        }
        for w in &whiteouts {
            mark_whiteout(&tmp, w)?;
        }
        // Another process may have won the race; its copy is as good.
        match std::fs::rename(&tmp, &dest) {
            Ok(()) => Ok(()),
            Err(_) if dest.is_dir() => std::fs::remove_dir_all(&tmp).map_err(io("removing", &tmp)),
            Err(e) => Err(io("storing", &dest)(e)),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|()| dest)
}
// ANCHOR_END: unpacked_layer

/// A whiteout found in a layer.
#[derive(Debug, PartialEq)]
enum Whiteout {
    /// `path` was deleted.
    File(PathBuf),
    /// The directory `path` hides everything below it.
    Opaque(PathBuf),
}

fn scan_whiteouts(store: &Store, digest: &Digest) -> Result<Vec<Whiteout>, ImageError> {
    let read_err = |e| io("reading layer", &store.blob_path(digest))(e);
    let mut archive = tar::Archive::new(open_layer(store, digest)?);
    let mut found = vec![];
    let mut symlinks = HashSet::new();
    for entry in archive.entries().map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let path = entry.path().map_err(read_err)?.into_owned();
        if entry.header().entry_type().is_symlink() {
            symlinks.insert(path.components().collect::<PathBuf>());
        }
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        match path.file_name().and_then(|n| n.to_str()) {
            Some(OPAQUE_MARKER) => found.push(Whiteout::Opaque(parent)),
            Some(name) if name.starts_with(WHITEOUT_PREFIX) => {
                found.push(Whiteout::File(parent.join(&name[WHITEOUT_PREFIX.len()..])))
            }
            _ => {}
        }
    }
    // `unpack_layer` deletes what a whiteout names, following symlinks on
    // the way. A layer that makes `dir -> /etc` and then whites out
    // `dir/passwd` (or marks `dir` opaque) would delete host files, so a
    // whiteout under one of the layer's own symlinks is refused up front.
    for w in &found {
        let (Whiteout::File(p) | Whiteout::Opaque(p)) = w;
        let mut under = match w {
            Whiteout::File(p) => p.parent(),
            Whiteout::Opaque(p) => Some(p.as_path()),
        };
        while let Some(dir) = under.filter(|d| !d.as_os_str().is_empty()) {
            if symlinks.contains(&dir.components().collect::<PathBuf>()) {
                return Err(ImageError::InvalidImage(format!(
                    "layer {digest}: whiteout for `{}` leads outside the layer through the symlink `{}`",
                    p.display(),
                    dir.display()
                )));
            }
            under = dir.parent();
        }
    }
    Ok(found)
}

/// Write one whiteout in overlayfs form under `root`. The paths come from
/// the archive, so they are checked like `unpack_layer` checks entries.
// ANCHOR: overlay_whiteout
fn mark_whiteout(root: &Path, whiteout: &Whiteout) -> Result<(), ImageError> {
    let (Whiteout::File(rel) | Whiteout::Opaque(rel)) = whiteout;
    // Through a symlink the layer itself made, a whiteout would land on
    // the host; refuse it.
    let path = super::path_inside(root, rel).ok_or_else(|| {
        ImageError::InvalidImage(format!(
            "whiteout for `{}` leads outside the layer (through `..` or a symlink)",
            rel.display()
        ))
    })?;
    match whiteout {
        // The layer deleted `path` and then added it again: its own entry
        // is what overlayfs must show, so no marker.
        Whiteout::File(_) if std::fs::symlink_metadata(&path).is_ok() => Ok(()),
        Whiteout::File(_) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
            }
            use nix::sys::stat::{Mode, SFlag, makedev, mknod};
            mknod(&path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|source| {
                ImageError::Sys {
                    action: "creating whiteout",
                    path: path.clone(),
                    source,
                }
            })
        }
        Whiteout::Opaque(_) => {
            std::fs::create_dir_all(&path).map_err(io("creating", &path))?;
            set_xattr(&path, "trusted.overlay.opaque", b"y")
        }
    }
}
// ANCHOR_END: overlay_whiteout

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), ImageError> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in paths");
    let c_name = std::ffi::CString::new(name).expect("no NUL in names");
    // SAFETY: both strings are NUL-terminated and live across the call;
    // `value` is a valid buffer of `value.len()` bytes.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(ImageError::Sys {
            action: "setting trusted.overlay.opaque on",
            path: path.to_path_buf(),
            source: nix::Error::last(),
        })
    }
}
