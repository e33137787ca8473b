//! What the benches that start a whole cluster share: `orc` run in a
//! network namespace of the bench's own, and a cluster `orc up --detach`
//! started there that `orc down --purge` takes away when dropped.
//!
//! A module, not a bench: each bench that uses it says `mod cluster;`
//! (Cargo builds `benches/*.rs` only, not this directory, as a target).
//! Each uses a part of it, so what one leaves unused is no warning.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use orc_testkit::NetnsHost;

/// `orc SUBCOMMAND --data-dir DIR` in `host`'s network namespace.
pub fn orc(host: &NetnsHost, dir: &Path, subcommand: &str) -> Command {
    let mut command = Command::new("nsenter");
    command
        .arg(format!("--net={}", host.path()))
        .arg(env!("CARGO_BIN_EXE_orc"))
        .arg(subcommand)
        .arg(format!("--data-dir={}", dir.display()));
    command
}

/// A cluster `orc up --detach` started in `host`; `orc down --purge` when
/// dropped, so a failed run leaves nothing behind either.
pub struct Cluster<'a> {
    host: &'a NetnsHost,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl<'a> Cluster<'a> {
    /// `orc up --detach --nodes NODES FLAGS...` on `dir`, its context in
    /// a kubeconfig of its own beside `dir`; returns once it is Ready.
    pub fn up(host: &'a NetnsHost, dir: &Path, nodes: u8, flags: &[String]) -> Cluster<'a> {
        let kubeconfig = dir.with_extension("kubeconfig");
        let out = orc(host, dir, "up")
            .args(["--detach", "--nodes", &nodes.to_string(), "--kubeconfig"])
            .arg(&kubeconfig)
            .args(flags)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "orc up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster {
            host,
            dir: dir.to_path_buf(),
            kubeconfig,
        }
    }

    /// The data directory: every process of the cluster names it on its
    /// command line.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kubeconfig holding the cluster's (current) context, the admin's.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// What `orc up` wrote down about the cluster (`<data-dir>/up.json`:
    /// `server_pid`, `agent_pids`, ...), as JSON: the bench reads a few
    /// fields and does not depend on the binary's types.
    pub fn record(&self) -> serde_json::Value {
        let path = self.dir.join("up.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// kubectl with `args`, in the cluster's network namespace.
    pub fn kubectl(&self, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", self.host.path()))
            .arg("kubectl")
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args);
        command
    }
}

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        // No panic here: this may run while a failure unwinds.
        match orc(self.host, &self.dir, "down").arg("--purge").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("orc down: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => eprintln!("orc down: {e}"),
        }
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}
