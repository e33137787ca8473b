//! Where container root filesystems come from: the [`ImageSource`] trait.
//!
//! In Kubernetes the kubelet asks the container runtime to pull an image
//! and gets back a root filesystem and the image's config (entrypoint,
//! default arguments, environment). orc's image store is built separately;
//! until the agent uses it, [`BuiltinImages`] serves one image, `busybox`,
//! made on the spot from the node's `/bin/busybox`. Any other image name
//! fails the way a missing image does in Kubernetes: the container waits
//! with reason `ErrImagePull`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

/// A root filesystem plus the parts of an image config the agent needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The root filesystem, shared read-only by every container of this
    /// image (there is no copy-on-write layer yet).
    pub rootfs: PathBuf,
    /// Docker's `ENTRYPOINT`, replaced by a container's `command`.
    pub entrypoint: Vec<String>,
    /// Docker's `CMD`, replaced by a container's `args`.
    pub cmd: Vec<String>,
    /// `KEY=value` defaults, overridden by the container's `env`.
    pub env: Vec<String>,
}

/// Why an image could not be provided. The agent shows it as the
/// container's `ErrImagePull` message.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error(
        "image {0:?} is not available on this node (orc's built-in image source serves only \"busybox\")"
    )]
    NotFound(String),
    #[error("preparing image {image} in {path}: {source}")]
    Io {
        image: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Resolves image names to root filesystems. Swappable: chapter 01's image
/// store will implement it too.
pub trait ImageSource: Send + Sync {
    /// Makes `image` available and describes it.
    fn image(&self, image: &str) -> Result<Image, ImageError>;
}

/// The busybox image, built from the node's static busybox binary.
pub struct BuiltinImages {
    /// Where the root filesystem is made, e.g. `<state>/images/busybox`.
    dir: PathBuf,
    /// Where the busybox binary is copied from.
    busybox: PathBuf,
    /// A std `Mutex` so that two pods starting at once do not both build
    /// the root filesystem; held only while files are written.
    built: Mutex<bool>,
}

impl BuiltinImages {
    /// Images kept under `dir`, from `/bin/busybox`.
    pub fn new(dir: impl Into<PathBuf>) -> BuiltinImages {
        BuiltinImages {
            dir: dir.into(),
            busybox: PathBuf::from("/bin/busybox"),
            built: Mutex::new(false),
        }
    }

    /// `busybox`, `busybox:1.36`, `docker.io/library/busybox:latest`...
    fn is_busybox(image: &str) -> bool {
        let name = image.split('@').next().unwrap_or(image);
        let last = name.rsplit('/').next().unwrap_or(name);
        let repo = last.split(':').next().unwrap_or(last);
        repo == "busybox"
    }

    fn build(&self, rootfs: &Path) -> std::io::Result<()> {
        let tmp = self.dir.join("rootfs.tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        for d in [
            "bin", "proc", "sys", "dev", "tmp", "etc", "root", "var", "www",
        ] {
            std::fs::create_dir_all(tmp.join(d))?;
        }
        std::fs::copy(&self.busybox, tmp.join("bin/busybox"))?;
        // `busybox --list` names every applet this build has.
        let list = std::process::Command::new(&self.busybox)
            .arg("--list")
            .output()?;
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" {
                symlink("busybox", tmp.join("bin").join(applet))?;
            }
        }
        std::fs::write(tmp.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
        std::fs::write(tmp.join("etc/group"), "root:x:0:\n")?;
        std::fs::rename(&tmp, rootfs)
    }
}

impl ImageSource for BuiltinImages {
    fn image(&self, image: &str) -> Result<Image, ImageError> {
        if !Self::is_busybox(image) {
            return Err(ImageError::NotFound(image.into()));
        }
        let rootfs = self.dir.join("rootfs");
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if !*built && !rootfs.join("bin/busybox").exists() {
            self.build(&rootfs).map_err(|source| ImageError::Io {
                image: image.into(),
                path: rootfs.clone(),
                source,
            })?;
        }
        *built = true;
        Ok(Image {
            rootfs,
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        })
    }
}

// ANCHOR: argv
/// The process a container runs, by Kubernetes' rules: `command` replaces
/// the image's entrypoint, `args` replaces its default arguments, and a
/// `command` without `args` drops the image's defaults too.
pub fn container_argv(image: &Image, command: &[String], args: &[String]) -> Vec<String> {
    match (command.is_empty(), args.is_empty()) {
        (false, _) => command.iter().chain(args).cloned().collect(),
        (true, false) => image.entrypoint.iter().chain(args).cloned().collect(),
        (true, true) => image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
    }
}
// ANCHOR_END: argv

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        Image {
            rootfs: PathBuf::new(),
            entrypoint: vec!["/entry".into()],
            cmd: vec!["default".into()],
            env: vec![],
        }
    }
    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_and_args_follow_kubernetes() {
        assert_eq!(
            container_argv(&image(), &[], &[]),
            v(&["/entry", "default"])
        );
        assert_eq!(
            container_argv(&image(), &[], &v(&["x"])),
            v(&["/entry", "x"])
        );
        assert_eq!(container_argv(&image(), &v(&["sh"]), &[]), v(&["sh"]));
        assert_eq!(
            container_argv(&image(), &v(&["sh"]), &v(&["-c"])),
            v(&["sh", "-c"])
        );
    }

    #[test]
    fn busybox_names() {
        assert!(BuiltinImages::is_busybox("busybox"));
        assert!(BuiltinImages::is_busybox("docker.io/library/busybox:1.36"));
        assert!(!BuiltinImages::is_busybox("nginx"));
    }
}
