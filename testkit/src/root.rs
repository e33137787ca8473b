//! Privilege and tool checks.
//!
//! A test that needs root or a host tool must *fail* without it, with a message
//! that says how to fix the machine. Skipping would turn a CI run on a
//! misconfigured machine green while testing nothing.

use std::path::PathBuf;

/// Fails the calling test unless it runs as root (effective uid 0).
///
/// Namespaces, mounts, cgroups, netlink and iptables all need it.
#[track_caller]
pub fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        panic!(
            "this test needs root (namespaces, mounts, cgroups, netlink): \
             run the suite with `sudo ./test.sh`"
        );
    }
}

/// Fails the calling test unless `name` is an executable on `PATH`, and
/// returns its full path.
///
/// `./test.sh` installs every tool the suite uses; a missing one means set-up
/// did not run, so the message says to run it.
#[track_caller]
pub fn require_command(name: &str) -> PathBuf {
    match find_on_path(name) {
        Some(path) => path,
        None => panic!(
            "this test needs `{name}` on PATH: run `sudo ./scripts/setup.sh` \
             (or `sudo ./test.sh`, which runs it) to install it"
        ),
    }
}

/// The first executable called `name` in `PATH`, as a shell would find it.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_tool_every_machine_has() {
        let sh = require_command("sh");
        assert!(sh.is_absolute(), "{sh:?} should be an absolute path");
    }

    #[test]
    #[should_panic(expected = "run `sudo ./scripts/setup.sh`")]
    fn a_missing_tool_fails_with_the_fix() {
        require_command("orc-no-such-tool-anywhere");
    }
}
