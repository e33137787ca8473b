//! Root filesystems for test containers, made from what is on this machine.
//!
//! No registry is reachable from the machines orc is tested on, so test
//! containers run a root filesystem built here: the static busybox from
//! Debian's busybox-static, plus one symlink per applet, the way busybox is
//! installed in small images.

use std::path::Path;

use crate::root::require_command;

/// The applets linked in every busybox rootfs: enough for the tests' and the
/// labs' shell scripts.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "hostname", "id", "ls", "mount", "sleep", "true", "false", "touch",
    "mkdir", "tail", "grep", "pwd", "seq", "ps", "head", "wc", "readlink", "env", "sort",
];

/// Makes `dir` a busybox root filesystem: `/bin/busybox`, its applets as
/// symlinks, and the empty directories a runtime mounts on (`/proc`, `/sys`,
/// `/dev`, `/tmp`) or that programs expect (`/etc`, `/root`).
///
/// Fails the test when `/bin/busybox` is missing or is not the static build
/// (a dynamic busybox cannot run in a rootfs without libc).
#[track_caller]
pub fn busybox_rootfs(dir: &Path) {
    let busybox = require_command("busybox");
    let file = std::fs::read(&busybox).unwrap_or_else(|e| panic!("reading {busybox:?}: {e}"));
    assert!(
        !has_interpreter(&file),
        "{busybox:?} is dynamically linked: install busybox-static (sudo ./scripts/setup.sh)"
    );
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("bin/busybox"), &file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
}

/// Whether a 64-bit ELF file names a dynamic loader (a `PT_INTERP` program
/// header), which is what makes a binary need libc at run time.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
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
        busybox_rootfs(dir.path());
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
        assert!(!has_interpreter(&std::fs::read("/bin/busybox").unwrap()));
    }
}
