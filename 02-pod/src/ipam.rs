//! IP address management: which pod on this node has which address.
//!
//! Every pod gets its own IP from the node's pod CIDR. Kubernetes leaves this
//! to the network plugin; the common `host-local` CNI plugin keeps one file
//! per address on disk. orc keeps one small JSON file per node:
//!
//! ```json
//! {
//!   "cidr": "10.244.1.0/24",
//!   "allocations": { "pod-a": "10.244.1.2", "pod-b": "10.244.1.3" }
//! }
//! ```
//!
//! Two promises make this safe:
//!
//! - **An address is never handed out twice.** Each allocation is written to
//!   disk before it is returned, so a node agent that crashes and restarts
//!   reads back every address still in use.
//! - **Allocation is idempotent.** Allocations are keyed by pod id: asking
//!   again for the same pod returns the address it already has. An agent that
//!   retries a half-finished pod set-up gets the same address, not a second one.
//!
//! The choice of *which* free address to hand out is the pure function
//! [`next_free`]; [`Ipam`] wraps it with the state file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cidr::Ipv4Cidr;

/// The allocator for one node's pod CIDR, backed by a state file.
///
/// Methods that change allocations take `&mut self`: a node agent that sets
/// up pods concurrently shares one `Ipam` behind a mutex, so two pods can
/// never pick the same free address.
#[derive(Debug)]
pub struct Ipam {
    /// Where the state lives; every change is written here before it counts.
    path: PathBuf,
    /// The state as last written to `path`.
    state: State,
}

/// The state file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The block the addresses come from. Stored so that a node whose pod CIDR
    /// changed notices, instead of handing out addresses from two blocks.
    cidr: Ipv4Cidr,
    /// Pod id to address. A `BTreeMap` keeps the file sorted, so it reads
    /// well and diffs cleanly.
    allocations: BTreeMap<String, Ipv4Addr>,
}

/// Why an address could not be allocated or released.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error(
        "pod CIDR {cidr} is exhausted: all {capacity} pod addresses are in use \
         (see {path}); delete pods on this node or give it a larger pod CIDR"
    )]
    Exhausted {
        cidr: Ipv4Cidr,
        capacity: u64,
        path: PathBuf,
    },
    #[error(
        "IPAM state file {path} is corrupt: {reason}. It maps pod ids to their \
         addresses: repair it by hand, or, if no pods run on this node, delete it"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "IPAM state file {path} holds addresses from pod CIDR {stored}, but this \
         node's pod CIDR is now {wanted}: remove the node's pods and delete the \
         file, or give the node back its pod CIDR {stored}"
    )]
    CidrChanged {
        path: PathBuf,
        stored: Ipv4Cidr,
        wanted: Ipv4Cidr,
    },
    #[error(
        "pod CIDR {0} has no room for pods: besides the network, gateway and \
         broadcast addresses it needs at least one more (use /30 or shorter)"
    )]
    TooSmall(Ipv4Cidr),
    #[error("IPAM state file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

// ANCHOR: next_free
/// The lowest address of `cidr` that a new pod may get, or `None` when every
/// one is `used`.
///
/// Three addresses are never handed out: the network address (host bits all
/// zero), the gateway (the first address after it, which the node's bridge
/// holds) and the broadcast address (host bits all one).
///
/// Taking the lowest free address reuses a released address at once. The
/// `host-local` CNI plugin instead continues after the last address it gave
/// out, so that a stale connection to a deleted pod is less likely to reach
/// its successor; orc keeps the simpler rule.
pub fn next_free(cidr: Ipv4Cidr, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let first = u32::from(cidr.gateway()).checked_add(1)?;
    let last = u32::from(cidr.broadcast()).checked_sub(1)?;
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|address| !used.contains(address))
}
// ANCHOR_END: next_free

/// How many pods a block can hold: all its addresses but network, gateway and
/// broadcast.
pub fn capacity(cidr: Ipv4Cidr) -> u64 {
    cidr.size().saturating_sub(3)
}

impl Ipam {
    // ANCHOR: open
    /// Opens the allocator whose state is in `path`, creating an empty state
    /// file for `cidr` if there is none yet.
    ///
    /// Fails when the file cannot be parsed, holds addresses a pod cannot have,
    /// or was written for a different pod CIDR: handing out addresses from a
    /// state that cannot be trusted is how two pods end up with one IP.
    pub fn open(path: impl Into<PathBuf>, cidr: Ipv4Cidr) -> Result<Ipam, IpamError> {
        let path = path.into();
        if capacity(cidr) == 0 {
            return Err(IpamError::TooSmall(cidr));
        }
        let state = match fs::read(&path) {
            Ok(bytes) => parse_state(&path, &bytes, cidr)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let state = State {
                    cidr,
                    allocations: BTreeMap::new(),
                };
                // Written now so that a directory we cannot write to fails at
                // start-up, not at the first pod.
                write_atomically(&path, &state)?;
                state
            }
            Err(source) => return Err(IpamError::Io { path, source }),
        };
        Ok(Ipam { path, state })
    }
    // ANCHOR_END: open

    // ANCHOR: allocate
    /// The address of pod `id`: the one it already has, or the next free one,
    /// recorded on disk before it is returned.
    pub fn allocate(&mut self, id: &str) -> Result<Ipv4Addr, IpamError> {
        if let Some(address) = self.state.allocations.get(id) {
            return Ok(*address);
        }
        let used: BTreeSet<Ipv4Addr> = self.state.allocations.values().copied().collect();
        let cidr = self.state.cidr;
        let address = next_free(cidr, &used).ok_or_else(|| IpamError::Exhausted {
            cidr,
            capacity: capacity(cidr),
            path: self.path.clone(),
        })?;
        let mut next = self.state.clone();
        next.allocations.insert(id.to_string(), address);
        // Only a state that reached the disk becomes the state in memory: if
        // the write fails, the address is not given out.
        write_atomically(&self.path, &next)?;
        self.state = next;
        Ok(address)
    }
    // ANCHOR_END: allocate

    /// Returns pod `id`'s address to the pool and says which it was; releasing
    /// a pod that has none is not an error, so tear-down can be retried.
    pub fn release(&mut self, id: &str) -> Result<Option<Ipv4Addr>, IpamError> {
        if !self.state.allocations.contains_key(id) {
            return Ok(None);
        }
        let mut next = self.state.clone();
        let address = next.allocations.remove(id);
        write_atomically(&self.path, &next)?;
        self.state = next;
        Ok(address)
    }

    /// The address pod `id` holds, if any.
    pub fn get(&self, id: &str) -> Option<Ipv4Addr> {
        self.state.allocations.get(id).copied()
    }

    /// Every allocation, by pod id.
    pub fn allocations(&self) -> &BTreeMap<String, Ipv4Addr> {
        &self.state.allocations
    }

    /// The block addresses come from.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.state.cidr
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parses and checks a state file: every address must be one a pod may have,
/// and no address may belong to two pods.
fn parse_state(path: &Path, bytes: &[u8], wanted: Ipv4Cidr) -> Result<State, IpamError> {
    let corrupt = |reason: String| IpamError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    // serde_json's message carries the line and column of the problem.
    let state: State = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if state.cidr != wanted {
        return Err(IpamError::CidrChanged {
            path: path.to_path_buf(),
            stored: state.cidr,
            wanted,
        });
    }
    let mut owners: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
    for (id, address) in &state.allocations {
        let reserved = [wanted.network(), wanted.gateway(), wanted.broadcast()];
        if !wanted.contains(*address) || reserved.contains(address) {
            return Err(corrupt(format!(
                "pod {id:?} has address {address}, which no pod in {wanted} may have"
            )));
        }
        if let Some(other) = owners.insert(*address, id) {
            return Err(corrupt(format!(
                "pods {other:?} and {id:?} both have address {address}"
            )));
        }
    }
    Ok(state)
}

// ANCHOR: write_atomically
/// Replaces the state file so that a crash at any moment leaves either the old
/// or the new contents, never a mix.
///
/// The new state goes to a temporary file in the same directory, is flushed
/// to disk (`fsync`), and then renamed over the old file: `rename(2)` within
/// one file system is atomic. Syncing the directory makes the rename itself
/// durable.
fn write_atomically(path: &Path, state: &State) -> Result<(), IpamError> {
    let io_error = |source| IpamError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut json = serde_json::to_vec_pretty(state).expect("IPAM state always serialises");
    json.push(b'\n');
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp.{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary).map_err(io_error)?;
    file.write_all(&json).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    fs::rename(&temporary, path).map_err(io_error)?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(io_error)?;
    Ok(())
}
// ANCHOR_END: write_atomically

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Ipv4Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn next_free_skips_network_gateway_and_broadcast() {
        let block = cidr("10.244.1.0/24");
        assert_eq!(next_free(block, &BTreeSet::new()), Some(ip("10.244.1.2")));
        let used = BTreeSet::from([ip("10.244.1.2"), ip("10.244.1.3"), ip("10.244.1.5")]);
        assert_eq!(next_free(block, &used), Some(ip("10.244.1.4")));
        let all: BTreeSet<_> = (2..=254).map(|n| ip(&format!("10.244.1.{n}"))).collect();
        assert_eq!(
            next_free(block, &all),
            None,
            "the broadcast address is never free"
        );
    }

    #[test]
    fn next_free_handles_tiny_and_edge_blocks() {
        // A /30 has network, gateway, one pod and broadcast.
        assert_eq!(
            next_free(cidr("10.0.0.0/30"), &BTreeSet::new()),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(next_free(cidr("10.0.0.0/31"), &BTreeSet::new()), None);
        assert_eq!(next_free(cidr("10.0.0.0/32"), &BTreeSet::new()), None);
        assert_eq!(
            next_free(cidr("255.255.255.252/30"), &BTreeSet::new()),
            Some(ip("255.255.255.254"))
        );
        assert_eq!(capacity(cidr("10.244.1.0/24")), 253);
    }

    #[test]
    fn allocation_is_idempotent_and_release_frees() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::open(dir.path().join("ipam.json"), cidr("10.244.1.0/24")).unwrap();
        let a = ipam.allocate("pod-a").unwrap();
        let b = ipam.allocate("pod-b").unwrap();
        assert_eq!((a, b), (ip("10.244.1.2"), ip("10.244.1.3")));
        assert_eq!(ipam.allocate("pod-a").unwrap(), a, "same id, same address");
        assert_eq!(ipam.release("pod-a").unwrap(), Some(a));
        assert_eq!(
            ipam.release("pod-a").unwrap(),
            None,
            "releasing twice is fine"
        );
        assert_eq!(
            ipam.allocate("pod-c").unwrap(),
            a,
            "a released address is reused"
        );
    }

    #[test]
    fn a_restart_never_hands_out_an_address_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let block = cidr("10.244.1.0/24");
        let mut first = Ipam::open(&path, block).unwrap();
        let a = first.allocate("pod-a").unwrap();
        let b = first.allocate("pod-b").unwrap();
        drop(first);

        let mut again = Ipam::open(&path, block).unwrap();
        assert_eq!(again.get("pod-a"), Some(a));
        assert_eq!(again.allocate("pod-b").unwrap(), b);
        let c = again.allocate("pod-c").unwrap();
        assert!(c != a && c != b, "{c} was already given out");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""pod-c": "10.244.1.4""#), "{text}");
    }

    #[test]
    fn exhaustion_names_the_cidr_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::open(dir.path().join("ipam.json"), cidr("10.0.0.0/29")).unwrap();
        for n in 0..5 {
            ipam.allocate(&format!("pod-{n}")).unwrap();
        }
        let error = ipam.allocate("one-too-many").unwrap_err().to_string();
        assert!(error.contains("10.0.0.0/29 is exhausted"), "{error}");
        assert!(error.contains("all 5 pod addresses"), "{error}");
        assert!(error.contains("larger pod CIDR"), "{error}");
        assert!(ipam.get("one-too-many").is_none());
    }

    #[test]
    fn a_corrupt_file_is_named_with_position_and_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        fs::write(
            &path,
            "{\n  \"cidr\": \"10.244.1.0/24\",\n  \"allocations\": {\n",
        )
        .unwrap();
        let error = Ipam::open(&path, cidr("10.244.1.0/24"))
            .unwrap_err()
            .to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains("line 4"), "{error}");
        assert!(error.contains("delete it"), "{error}");
    }

    #[test]
    fn duplicate_or_foreign_addresses_are_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let block = cidr("10.244.1.0/24");
        fs::write(
            &path,
            r#"{"cidr":"10.244.1.0/24","allocations":{"a":"10.244.1.2","b":"10.244.1.2"}}"#,
        )
        .unwrap();
        let error = Ipam::open(&path, block).unwrap_err().to_string();
        assert!(
            error.contains(r#"pods "a" and "b" both have address 10.244.1.2"#),
            "{error}"
        );

        fs::write(
            &path,
            r#"{"cidr":"10.244.1.0/24","allocations":{"a":"10.244.1.1"}}"#,
        )
        .unwrap();
        let error = Ipam::open(&path, block).unwrap_err().to_string();
        assert!(error.contains("10.244.1.1, which no pod"), "{error}");
    }

    #[test]
    fn a_changed_pod_cidr_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        Ipam::open(&path, cidr("10.244.1.0/24")).unwrap();
        let error = Ipam::open(&path, cidr("10.244.2.0/24"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("from pod CIDR 10.244.1.0/24"), "{error}");
        assert!(error.contains("is now 10.244.2.0/24"), "{error}");
    }

    #[test]
    fn a_block_without_room_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = Ipam::open(dir.path().join("ipam.json"), cidr("10.0.0.0/31")).unwrap_err();
        assert!(matches!(error, IpamError::TooSmall(_)), "{error}");
    }

    #[test]
    fn the_write_leaves_no_temporary_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::open(dir.path().join("ipam.json"), cidr("10.244.1.0/24")).unwrap();
        ipam.allocate("pod-a").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["ipam.json"]);
    }
}
