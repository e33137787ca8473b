//! Your code for lab 01. Replace each `todo!()`; `cargo lab 01` tells you
//! which tasks pass. The doc comments say what orc's version does; chapter 01
//! explains why.

// The parameters are unused until you write the bodies.
#![allow(unused_variables)]

use std::io::Read;
use std::path::Path;

use crate::{CloneFlags, IdMapping, LayerError, LayerSummary, Linux, MsFlags, Resources};

/// Task 1. The text written to `/proc/PID/uid_map` (or `gid_map`) for a user
/// namespace: one line per mapping, `CONTAINER_ID HOST_ID SIZE`, each ending
/// in a newline.
pub fn id_map_text(mappings: &[IdMapping]) -> String {
    todo!()
}

/// Task 2. The flags for `clone(2)`: `CLONE_NEWPID`, `CLONE_NEWNET`,
/// `CLONE_NEWNS` (mount), `CLONE_NEWIPC`, `CLONE_NEWUTS`, `CLONE_NEWUSER`
/// for every namespace in `linux.namespaces` that has no `path` (a path
/// means *join* that namespace later with `setns(2)`, not create one).
///
/// The cgroup namespace is the exception: it is never created at clone
/// time, because the init must first move into its cgroup, and a cgroup
/// namespace captures the cgroup its creator is in.
pub fn clone_flags(linux: &Linux) -> CloneFlags {
    todo!()
}

/// Task 3. Split fstab-style mount options into `(flags, propagation, data)`,
/// as `mount -o` does:
///
/// - flag options set a bit (`ro` → `MS_RDONLY`, `nosuid`, `nodev`,
///   `noexec`, `sync` → `MS_SYNCHRONOUS`, `dirsync`, `noatime`,
///   `nodiratime`, `relatime`, `strictatime`, `bind` → `MS_BIND`,
///   `rbind` → `MS_BIND | MS_REC`) and their opposites clear it again
///   (`rw`, `suid`, `dev`, `exec`, `async`, `atime`, `diratime`,
///   `norelatime`, `nostrictatime`); later options win;
/// - propagation options (`private`, `shared`, `slave`, `unbindable`, and
///   their recursive `r...` forms, which add `MS_REC`) go in the second
///   field; the last one wins;
/// - `defaults` and `tmpcopyup` mean nothing here;
/// - everything else is filesystem data, joined with commas in order
///   (`mode=755,size=65536k`).
pub fn parse_options(options: &[String]) -> (MsFlags, Option<MsFlags>, String) {
    todo!()
}

/// Task 4. The cgroup v1 files that express `r`, in the order to write
/// them, as `(controller, file, value)`:
///
/// - memory: `memory.limit_in_bytes` (limit), then
///   `memory.memsw.limit_in_bytes` (swap);
/// - cpu: `cpu.shares`, then `cpu.cfs_period_us`, then `cpu.cfs_quota_us`
///   (the period first: the kernel checks a quota against the current
///   period);
/// - pids: `pids.max`, the limit, or `max` for a limit of zero or less.
///
/// Only limits that are set produce a file.
pub fn limit_files(r: &Resources) -> Vec<(&'static str, &'static str, String)> {
    todo!()
}

/// Task 5. cgroup v1 `cpu.shares` (2..=262144, default 1024) as a v2
/// `cpu.weight` (1..=10000, default 100), on the curve runc and crun use
/// since 2025: with `l = log2(shares)`, the weight is
/// `10^((l² + 125·l) / 612 − 7/34)` rounded up, which sends 2 to 1, 1024
/// to 100 and 262144 to 10000. Shares below 2 weigh 1, above 262144 weigh
/// 10000. Zero means "not set" and stays zero.
pub fn shares_to_weight(shares: u64) -> u64 {
    todo!()
}

/// Task 6. Unpack one image layer (an uncompressed tar stream) on top of
/// `dest`, which already holds the layers below it:
///
/// - an entry `DIR/.wh.NAME` deletes `DIR/NAME` (file or whole directory);
/// - an entry `DIR/.wh..wh..opq` empties `DIR` of what the *lower* layers
///   put there, but never of what this layer itself adds to it, whatever
///   the order of entries in the archive;
/// - every other entry is unpacked (`tar::Entry::unpack_in` refuses paths
///   that would land outside `dest`); a file replacing a directory, or the
///   reverse, replaces it;
/// - an entry path that is absolute or contains `..` is
///   `LayerError::Escape(path)`, and so is a whiteout or opaque marker whose
///   directory is reached through a symlink (the layers' own `escape -> /etc`
///   plus `escape/.wh.passwd` must not delete the host's `/etc/passwd`).
///
/// The summary counts unpacked entries, whiteouts and opaque markers.
pub fn unpack_layer<R: Read>(layer: R, dest: &Path) -> Result<LayerSummary, LayerError> {
    todo!()
}
