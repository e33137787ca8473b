//! A root filesystem made from the host's static busybox.
//!
//! A container needs a root filesystem, and images come only with the image
//! store. This is the smallest useful one: Debian's busybox-static, which
//! needs no libc, plus one symlink per applet (`/bin/sh -> busybox`), the
//! way small images install busybox. Tests, labs and `orc demo` run their
//! containers on it, so nothing needs a registry.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where busybox-static installs the binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// The applets linked in every busybox rootfs: enough for the tests', the
/// labs' and the demo's shell scripts.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "hostname", "id", "ls", "mount", "sleep", "true", "false", "touch",
    "mkdir", "tail", "grep", "pwd", "seq", "ps", "head", "wc", "readlink", "env", "sort", "tr",
    // `kubectl cp` runs tar in the container.
    "tar",
];

/// Makes `dir` a busybox root filesystem: `/bin/busybox`, its applets as
/// symlinks, and the empty directories a runtime mounts on (`/proc`, `/sys`,
/// `/dev`, `/tmp`) or that programs expect (`/etc`, `/root`).
///
/// Fails when [`BUSYBOX`] is missing or is not a static build: a dynamic
/// busybox cannot run in a root filesystem without libc.
pub fn rootfs(dir: &Path) -> io::Result<()> {
    let binary = std::fs::read(BUSYBOX).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("reading {BUSYBOX}: {e}; install busybox-static (sudo ./scripts/setup.sh)"),
        )
    })?;
    if has_interpreter(&binary) {
        return Err(io::Error::other(format!(
            "{BUSYBOX} is dynamically linked; install busybox-static (sudo ./scripts/setup.sh)"
        )));
    }
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let target = dir.join("bin/busybox");
    std::fs::write(&target, &binary)?;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet))?;
    }
    Ok(())
}

/// Whether a 64-bit ELF file names a dynamic loader (a `PT_INTERP` program
/// header), which is what makes a binary need libc at run time.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let bytes = |at: usize, n: usize| elf.get(at..at + n);
    let u16_at = |at| bytes(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at| bytes(at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |at| {
        bytes(at, 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..usize::from(count))
        .any(|i| u32_at(phoff as usize + i * usize::from(size)) == Some(PT_INTERP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busybox_rootfs_runs_its_applets() {
        let dir = tempfile::tempdir().unwrap();
        rootfs(dir.path()).unwrap();
        let output = std::process::Command::new(dir.path().join("bin/echo"))
            .arg("hello")
            .output()
            .unwrap();
        assert_eq!(output.stdout, b"hello\n");
        assert!(dir.path().join("proc").is_dir());
    }

    #[test]
    fn tells_dynamic_from_static_binaries() {
        assert!(has_interpreter(&std::fs::read("/bin/sh").unwrap()));
        assert!(!has_interpreter(&std::fs::read(BUSYBOX).unwrap()));
    }
}
