//! Building small images here, where no registry is reachable.
//!
//! An image is only tarballs and two JSON documents, so "building" one
//! needs no daemon: write a layer tar, a config, a manifest, and an OCI
//! layout around them. Two recipes give tests and the book real images:
//!
//! - [`busybox_image`]: `/bin/busybox` (static) and a symlink per applet,
//!   like the official `busybox` image;
//! - [`binary_image`]: one host binary plus the shared libraries `ldd`
//!   says it loads, and the dynamic loader itself: the smallest image that
//!   runs a dynamically linked program.
//!
//! Every tar header has uid 0 and mtime 0, so the same inputs give the
//! same digests on every run.

use super::ImageError;
use super::digest::Digest;
use super::io;
use super::manifest::{
    ImageConfig, Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, RootFs, RunConfig,
};
use super::oci_layout::LayoutWriter;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `PATH` images get unless they say otherwise.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One layer being written, as an uncompressed tar in memory.
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
    /// Directories already written, so parents are added exactly once.
    dirs: BTreeSet<PathBuf>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder {
            tar: tar::Builder::new(Vec::new()),
            dirs: BTreeSet::new(),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    /// Add a directory and any missing parents.
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        let path = PathBuf::from(path.trim_start_matches('/'));
        let mut so_far = PathBuf::new();
        for part in path.components() {
            so_far.push(part);
            if self.dirs.insert(so_far.clone()) {
                let mut h = Self::header(
                    tar::EntryType::Directory,
                    if so_far == path { mode } else { 0o755 },
                    0,
                );
                self.tar
                    .append_data(&mut h, &so_far, std::io::empty())
                    .expect("tar in memory");
            }
        }
        self
    }

    fn parent(&mut self, path: &str) -> PathBuf {
        let rel = PathBuf::from(path.trim_start_matches('/'));
        if let Some(p) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.dir(&p.display().to_string(), 0o755);
        }
        rel
    }

    pub fn file(&mut self, path: &str, content: &[u8], mode: u32) -> &mut Self {
        let rel = self.parent(path);
        let mut h = Self::header(tar::EntryType::Regular, mode, content.len() as u64);
        self.tar
            .append_data(&mut h, rel, content)
            .expect("tar in memory");
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let rel = self.parent(path);
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.tar
            .append_link(&mut h, rel, target)
            .expect("tar in memory");
        self
    }

    /// An OCI whiteout: this layer deletes `path` from the layers below.
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let rel = Path::new(path.trim_start_matches('/'));
        let name = format!(
            "{}{}",
            crate::layer::WHITEOUT_PREFIX,
            rel.file_name().unwrap().to_string_lossy()
        );
        let marker = rel.with_file_name(name);
        self.file(&marker.display().to_string(), b"", 0o644)
    }

    /// The finished, uncompressed tar.
    pub fn finish(self) -> Vec<u8> {
        self.tar.into_inner().expect("tar in memory")
    }
}

/// The directories the runtime mounts over, and a minimal user database.
pub fn base_layer(layer: &mut LayerBuilder) {
    for d in ["bin", "dev", "proc", "sys", "root", "etc", "var"] {
        layer.dir(d, 0o755);
    }
    layer.dir("tmp", 0o1777);
    layer.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    );
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644);
}

/// Write an image (layers given uncompressed, bottom first) into the OCI
/// layout at `dir` under `name`. Layers are gzipped, as registries serve
/// them. Returns the manifest digest.
// ANCHOR: write_image
pub fn write_image(
    dir: &Path,
    name: &str,
    layers: &[Vec<u8>],
    run: RunConfig,
) -> Result<Digest, ImageError> {
    let layout = LayoutWriter::create(dir)?;
    let mut config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        config: run,
        rootfs: RootFs::default(),
    };
    let mut descriptors = vec![];
    for tar in layers {
        // The config lists the digests of the uncompressed tars (diff_ids);
        // the manifest those of the compressed blobs.
        config.rootfs.diff_ids.push(Digest::of(tar));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(tar)
            .and_then(|_| gz.flush())
            .expect("gzip in memory");
        descriptors.push(layout.blob(OCI_LAYER_GZIP, &gz.finish().expect("gzip in memory"))?);
    }
    let config = layout.blob(
        OCI_CONFIG,
        &serde_json::to_vec(&config).expect("config serializes"),
    )?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config,
        layers: descriptors,
    };
    let manifest = layout.blob(
        OCI_MANIFEST,
        &serde_json::to_vec(&manifest).expect("manifest serializes"),
    )?;
    let digest = manifest.digest.clone();
    layout.add_to_index(manifest, name)?;
    Ok(digest)
}
// ANCHOR_END: write_image

/// A busybox image from the host's static busybox, with `sh` as command.
pub fn busybox_image(dir: &Path, name: &str) -> Result<Digest, ImageError> {
    busybox_image_from(Path::new("/bin/busybox"), dir, name)
}

/// [`busybox_image`] from a given busybox binary.
pub fn busybox_image_from(busybox: &Path, dir: &Path, name: &str) -> Result<Digest, ImageError> {
    let run = RunConfig {
        env: vec![DEFAULT_PATH.into()],
        cmd: vec!["sh".into()],
        ..RunConfig::default()
    };
    write_image(dir, name, &[busybox_layer(busybox)?], run)
}

/// A layer with the base directories, `/etc/passwd`, `busybox` and a
/// symlink per applet: a base other layers can be stacked on.
pub fn busybox_layer(busybox: &Path) -> Result<Vec<u8>, ImageError> {
    let binary = std::fs::read(busybox).map_err(io("reading", busybox))?;
    let list = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(io("running", busybox))?;
    let mut layer = LayerBuilder::new();
    base_layer(&mut layer);
    layer.file("bin/busybox", &binary, 0o755);
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if !applet.is_empty() && applet != "busybox" {
            layer.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    Ok(layer.finish())
}

/// The files `ldd` says `binary` loads: libraries and the dynamic loader.
/// A static binary loads none.
// ANCHOR: ldd
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(io("running ldd on", binary))?;
    let mut libs = vec![];
    // Lines look like `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`,
    // `/lib64/ld-linux-x86-64.so.2 (0x...)` or `linux-vdso.so.1 (0x...)`
    // (the vDSO is provided by the kernel: no file to copy).
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}
// ANCHOR_END: ldd

/// An image holding `binary` at its host path, its libraries, and an
/// entrypoint running it. `args` become the image's `Cmd`.
pub fn binary_image(
    binary: &Path,
    args: &[&str],
    dir: &Path,
    name: &str,
) -> Result<Digest, ImageError> {
    let binary = std::fs::canonicalize(binary).map_err(io("finding", binary))?;
    let mut layer = LayerBuilder::new();
    base_layer(&mut layer);
    for path in std::iter::once(binary.clone()).chain(shared_libraries(&binary)?) {
        // Read through symlinks: the image gets the file at the path the
        // loader asks for.
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        layer.file(&path.display().to_string(), &bytes, 0o755);
    }
    let run = RunConfig {
        env: vec![DEFAULT_PATH.into()],
        entrypoint: vec![binary.display().to_string()],
        cmd: args.iter().map(|a| a.to_string()).collect(),
        ..RunConfig::default()
    };
    write_image(dir, name, &[layer.finish()], run)
}
