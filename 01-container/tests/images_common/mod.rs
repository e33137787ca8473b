//! Shared fixtures of the image tests: a temp dir with a store, and the
//! real `orc-container` binary to run bundles.

#![allow(dead_code)]

use orc_container::image::Store;
use orc_container::image::bundle::Overrides;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A temp dir holding a store, layouts, bundles and a state root.
pub struct World {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl World {
    pub fn new() -> World {
        orc_testkit::require_root();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        World { dir, store }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Run the bundle with the real binary: (exit code, stdout + stderr).
    pub fn run(&self, bundle: &Path) -> (i32, String) {
        let id = orc_testkit::unique_name("img");
        let out = Command::new(env!("CARGO_BIN_EXE_orc-container"))
            .arg("--root")
            .arg(self.path("state"))
            .args(["run", &id, "--bundle"])
            .arg(bundle)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }
}

impl Drop for World {
    /// A failed test may leave a bundle's overlayfs mounted; unmount it so
    /// the temp dir can go and the host is left as it was found.
    fn drop(&mut self) {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.dir.path().display().to_string();
        for line in mounts.lines() {
            if let Some(point) = line.split(' ').nth(4).filter(|p| p.starts_with(&prefix)) {
                let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

pub fn sh(script: &str) -> Overrides {
    Overrides {
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        ..Overrides::default()
    }
}

pub fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mounts.contains(&format!(" {} ", path.display()))
}
