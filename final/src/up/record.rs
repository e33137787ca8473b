//! What `orc up` started, written down so that `orc down` and `orc status`
//! (other processes, later) can find it: `<data-dir>/up.json`.
//!
//! The record is the only link between the commands: `orc up --detach`
//! exits once the cluster is Ready, and its components run on as
//! processes of their own (as k3s' or kind's do), so `orc down` stops them
//! by the pids written here, after checking that each pid still runs orc
//! for this data directory (a pid is reused once its process is gone).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::network::Network;

/// One cluster that `orc up` started.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    /// Names this cluster's network namespaces, links and cgroups.
    pub id: String,
    /// The data directory, as an absolute path: every orc process of this
    /// cluster has it on its command line.
    pub data_dir: PathBuf,
    /// `http://ADDRESS:6443`.
    pub api_url: String,
    /// Where the scheduler serves /healthz, when it runs.
    pub scheduler_url: Option<String>,
    /// Where the controller manager serves /healthz, when it runs
    /// (absent in the records of clusters started before it was asked).
    #[serde(default)]
    pub controllers_url: Option<String>,
    pub network: Network,
    /// `orc server` (it stops its etcd child itself).
    pub server_pid: u32,
    /// One `orc agent` per node, in node order.
    pub agent_pids: Vec<u32>,
    /// Each agent's command line (program first), in node order: what
    /// `orc node start` runs again after `orc node stop`, with the same
    /// flags and credentials. Empty in the records of clusters started
    /// before `orc node` existed.
    #[serde(default)]
    pub agent_commands: Vec<Vec<String>>,
    /// The port of every node's ingress `/healthz`, when it runs (absent
    /// in the records of clusters started before it did).
    #[serde(default)]
    pub ingress_admin_port: Option<u16>,
    /// The kubeconfig `orc up` added its context to.
    pub kubeconfig: PathBuf,
    /// Whether `orc up` created that file (then `orc down` removes it).
    pub kubeconfig_created: bool,
}

impl Record {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("up.json")
    }

    /// The record of the cluster on `data_dir`, if one was started.
    pub fn read(data_dir: &Path) -> Result<Option<Record>> {
        let path = Record::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let record = serde_json::from_str(&text).with_context(|| {
            format!(
                "reading {} (remove it if no cluster runs on this data directory)",
                path.display()
            )
        })?;
        Ok(Some(record))
    }

    pub fn write(&self) -> Result<()> {
        let path = Record::path(&self.data_dir);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    pub fn remove(data_dir: &Path) -> Result<()> {
        let path = Record::path(data_dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// The cluster's id: `orc-` and six hex digits of a hash of its data
/// directory (FNV-1a, stable across builds, unlike std's hasher), so that
/// two data directories give two clusters side by side, and the names
/// stay short: a link name has at most 15 bytes.
pub fn cluster_id(data_dir: &Path) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in data_dir.as_os_str().as_encoded_bytes() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("orc-{:06x}", hash & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_short_stable_and_differs_between_directories() {
        let a = cluster_id(Path::new("/var/lib/orc"));
        assert_eq!(a, cluster_id(Path::new("/var/lib/orc")));
        assert_ne!(a, cluster_id(Path::new("/tmp/other")));
        assert_eq!(a.len(), 10, "{a}");
    }
}
