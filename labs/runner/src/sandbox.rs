//! Grading inside a container: one clean sandbox per student.
//!
//! An instructor grading thirty checkouts wants each one built and tested
//! from scratch, unable to see the others or the instructor's files, and
//! unable to leave anything behind. `cargo lab NN --in-container --checkout
//! DIR` does that with a Docker container (started through testcontainers):
//!
//! - the image is built here, not pulled: an empty root file system with the
//!   Debian layout's symlinks, `docker import`ed once as `orc-lab-sandbox`;
//! - the host's `/usr` and `/etc`, the Rust toolchain and the crate registry
//!   are mounted read-only, so the container builds offline with exactly the
//!   host's tools;
//! - a *copy* of the student's checkout (without `target/` and `.git/`) and a
//!   fresh target dir are mounted read-write; both are deleted afterwards;
//! - no network.
//!
//! The labs run containers of their own (namespaces, mounts, cgroups), so the
//! sandbox gets every capability the host itself has, no seccomp filter, all
//! devices, and the host's cgroup tree writable. That is Docker's
//! `--privileged` in all but name: `--privileged` asks for *every*
//! capability, and fails outright on a host (like a container-based CI
//! machine) whose own bounding set lacks one, so we ask for what exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use testcontainers::core::{CgroupnsMode, ExecCommand, Mount};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

use crate::outcome::{Executor, Printed};

/// The locally built image every sandbox starts from.
const IMAGE: &str = "orc-lab-sandbox";
/// Bump when the image's layout changes, so old images are not reused.
const TAG: &str = "2";

/// The label every sandbox container carries, to find leftovers by. Its
/// value is the checkout graded, so one grading's sandbox can be told
/// from another's (and from a leftover of an earlier, killed run).
pub const LABEL: &str = "org.orc.lab-sandbox";

/// Where things appear inside the sandbox.
const CHECKOUT: &str = "/work/orc";
const TARGET: &str = "/work/target";
const CARGO_HOME: &str = "/cargo";
const RUSTUP_HOME: &str = "/rustup";

/// A running sandbox holding a copy of one checkout.
pub struct Sandbox {
    container: Container<GenericImage>,
    /// The copy of the checkout and the target dir; removed on drop, after the
    /// container (fields drop in order).
    _scratch: tempfile::TempDir,
}

impl Sandbox {
    /// Copies `checkout` and starts a sandbox around the copy.
    pub fn start(checkout: &Path) -> Result<Sandbox> {
        ensure_image()?;
        let scratch = tempfile::Builder::new()
            .prefix("orc-lab-grade-")
            .tempdir()
            .context("creating a scratch dir")?;
        let copy = scratch.path().join("checkout");
        copy_tree(checkout, &copy)
            .with_context(|| format!("copying {} into the sandbox", checkout.display()))?;
        for dir in ["target", "cargo-home"] {
            std::fs::create_dir(scratch.path().join(dir))?;
        }
        let host_cargo = home_dir("CARGO_HOME", ".cargo")?;
        let host_rustup = home_dir("RUSTUP_HOME", ".rustup")?;
        let path = |p: &Path| p.display().to_string();

        let mut request = GenericImage::new(IMAGE, TAG)
            .with_cmd(["/usr/bin/sleep", "infinity"])
            .with_label(LABEL, path(checkout))
            .with_network("none")
            .with_mount(Mount::bind_mount("/usr", "/usr").with_access_mode(read_only()))
            .with_mount(Mount::bind_mount("/etc", "/etc").with_access_mode(read_only()))
            .with_mount(
                Mount::bind_mount(path(&host_rustup), RUSTUP_HOME).with_access_mode(read_only()),
            )
            .with_mount(Mount::bind_mount(
                path(&scratch.path().join("cargo-home")),
                CARGO_HOME,
            ))
            .with_mount(
                Mount::bind_mount(path(&host_cargo.join("bin")), format!("{CARGO_HOME}/bin"))
                    .with_access_mode(read_only()),
            )
            .with_mount(
                Mount::bind_mount(
                    path(&host_cargo.join("registry")),
                    format!("{CARGO_HOME}/registry"),
                )
                .with_access_mode(read_only()),
            )
            .with_mount(Mount::bind_mount(path(&copy), CHECKOUT))
            .with_mount(Mount::bind_mount(
                path(&scratch.path().join("target")),
                TARGET,
            ))
            .with_mount(Mount::bind_mount("/sys/fs/cgroup", "/sys/fs/cgroup"))
            .with_mount(Mount::tmpfs_mount("/tmp"))
            .with_mount(Mount::tmpfs_mount("/run"))
            .with_cgroupns_mode(CgroupnsMode::Host)
            .with_security_opt("seccomp=unconfined")
            .with_security_opt("apparmor=unconfined")
            .with_host_config_modifier(|config| {
                config.device_cgroup_rules = Some(vec!["a *:* rwm".to_string()]);
                // `docker run --security-opt systempaths=unconfined`: leave
                // /proc and /sys unmasked, so the labs can mount them anew.
                config.masked_paths = Some(Vec::new());
                config.readonly_paths = Some(Vec::new());
            })
            .with_cap_add("ALL");
        for missing in capabilities_missing_here()? {
            request = request.with_cap_drop(missing);
        }
        let container = request
            .start()
            .context("starting the sandbox container (is the Docker engine running?)")?;
        Ok(Sandbox {
            container,
            _scratch: scratch,
        })
    }
}

impl Executor for Sandbox {
    fn cargo(&self, args: &[String]) -> Result<Printed> {
        // `cd` first: docker exec starts in the image's working dir.
        let mut script = format!("cd {CHECKOUT} && exec cargo --offline");
        for arg in args {
            script.push(' ');
            script.push_str(arg);
        }
        let command = ExecCommand::new(["/usr/bin/sh", "-c", &script]).with_env_vars([
            ("PATH", format!("{CARGO_HOME}/bin:/usr/bin:/usr/sbin")),
            ("CARGO_HOME", CARGO_HOME.to_string()),
            ("RUSTUP_HOME", RUSTUP_HOME.to_string()),
            ("CARGO_TARGET_DIR", TARGET.to_string()),
            ("INSTA_UPDATE", "no".to_string()),
            ("CI", "true".to_string()),
            ("HOME", "/root".to_string()),
        ]);
        let mut result = self
            .container
            .exec(command)
            .context("running cargo in the sandbox")?;
        let stdout = String::from_utf8_lossy(&result.stdout_to_vec()?).into_owned();
        let stderr = String::from_utf8_lossy(&result.stderr_to_vec()?).into_owned();
        let success = result.exit_code()? == Some(0);
        Ok(Printed {
            success,
            stdout,
            stderr,
        })
    }
}

fn read_only() -> testcontainers::core::AccessMode {
    testcontainers::core::AccessMode::ReadOnly
}

/// Builds the sandbox image unless it exists: an empty root with the mount
/// points and merged-`/usr` symlinks, imported with `docker import`.
fn ensure_image() -> Result<()> {
    let reference = format!("{IMAGE}:{TAG}");
    let exists = Command::new("docker")
        .args(["image", "inspect", &reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running `docker` (install Docker Engine to grade in containers)")?;
    if exists.success() {
        return Ok(());
    }
    let root = tempfile::tempdir()?;
    for dir in [
        "proc", "sys", "dev", "tmp", "usr", "etc", "root", "work", "cargo", "rustup",
    ] {
        std::fs::create_dir(root.path().join(dir))?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, root.path().join(link))?;
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import --change 'CMD [\"/usr/bin/sleep\",\"infinity\"]' - {reference} >/dev/null",
            root.path().display()
        ))
        .status()?;
    if !status.success() {
        bail!("could not build the sandbox image {reference} with docker import");
    }
    Ok(())
}

/// Linux capability names by number, as Docker spells them (without `CAP_`).
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capabilities this process's bounding set lacks: a container cannot be
/// given what its creator does not have, so these are dropped from "ALL".
fn capabilities_missing_here() -> Result<Vec<&'static str>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let bounding = status
        .lines()
        .find_map(|line| line.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .context("no CapBnd line in /proc/self/status")?;
    Ok(missing_from(bounding))
}

fn missing_from(bounding: u64) -> Vec<&'static str> {
    CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1 << bit) == 0)
        .map(|(_, name)| *name)
        .collect()
}

/// `$VAR`, or `~/default`: where rustup and cargo keep their files.
fn home_dir(var: &str, default: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(Path::new(&home).join(default))
}

/// Copies a checkout's working tree, leaving out build output and history.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let kind = entry.file_type()?;
        let destination = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &destination)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, destination)?;
        } else {
            std::fs::copy(entry.path(), destination)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_exactly_the_capabilities_the_host_lacks() {
        let all_but_sys_resource = 0x1ff_feff_ffff_u64;
        assert_eq!(missing_from(all_but_sys_resource), vec!["SYS_RESOURCE"]);
        assert!(missing_from(u64::MAX).is_empty());
    }

    #[test]
    fn copies_a_checkout_without_target_and_git() {
        let from = tempfile::tempdir().unwrap();
        for dir in ["src", "target/debug", ".git"] {
            std::fs::create_dir_all(from.path().join(dir)).unwrap();
        }
        std::fs::write(from.path().join("src/lib.rs"), "fn f() {}").unwrap();
        std::fs::write(from.path().join("target/debug/big"), "x").unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_tree(from.path(), to.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.path().join("src/lib.rs")).unwrap(),
            "fn f() {}"
        );
        assert!(!to.path().join("target").exists());
        assert!(!to.path().join(".git").exists());
    }
}
