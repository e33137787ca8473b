//! Where the agent keeps things: the layout of its state directory.
//!
//! ```text
//! <state>/
//!     runtime/                       orc-container's --root
//!     ipam.json                      the node's address allocations
//!     manifest-errors.json           manifests that could not be used
//!     pods/<uid>/
//!         pod.json                   the pod as last desired
//!         status.json                its status, rewritten at every sync
//!         volumes/<name>/            emptyDir volumes
//!         sandbox/                   the pause's bundle: config.json, root/
//!         containers/<name>/<n>/     run n's bundle: config.json, started, exit.json
//!             root/rootfs/           overlayfs on the image's layers (root/upper/
//!                                    and root/work/: this run's writes), removed
//!                                    with the run; its records stay for lastState
//!         logs/<name>/<n>.log        run n's stdout and stderr
//! ```
//!
//! Images are not here: they live in chapter 01's image store
//! (`orc-agent run --images`, `/var/lib/orc/images` by default), shared with
//! the `orc-container image` commands.
//!
//! Everything the agent needs after a restart is on disk here or in the
//! runtime's state: nothing important lives only in memory.

use std::path::{Path, PathBuf};

/// Paths inside the agent's state directory.
#[derive(Debug, Clone)]
pub struct StateLayout {
    pub root: PathBuf,
}

impl StateLayout {
    pub fn new(root: impl Into<PathBuf>) -> StateLayout {
        StateLayout { root: root.into() }
    }
    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }
    pub fn ipam(&self) -> PathBuf {
        self.root.join("ipam.json")
    }
    pub fn manifest_errors(&self) -> PathBuf {
        self.root.join("manifest-errors.json")
    }
    pub fn pods(&self) -> PathBuf {
        self.root.join("pods")
    }
    pub fn pod(&self, uid: &str) -> PathBuf {
        self.pods().join(uid)
    }
    pub fn pod_spec(&self, uid: &str) -> PathBuf {
        self.pod(uid).join("pod.json")
    }
    pub fn pod_status(&self, uid: &str) -> PathBuf {
        self.pod(uid).join("status.json")
    }
    pub fn volume(&self, uid: &str, name: &str) -> PathBuf {
        self.pod(uid).join("volumes").join(name)
    }
    pub fn bundle(&self, uid: &str, container: &str, attempt: u32) -> PathBuf {
        self.pod(uid)
            .join("containers")
            .join(container)
            .join(attempt.to_string())
    }
    pub fn log_dir(&self, uid: &str, container: &str) -> PathBuf {
        self.pod(uid).join("logs").join(container)
    }
    pub fn log(&self, uid: &str, container: &str, attempt: u32) -> PathBuf {
        self.log_dir(uid, container).join(format!("{attempt}.log"))
    }
}

/// Writes `bytes` to `path` atomically (temp file, then rename), so a
/// reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
