//! A pod's volumes, set up on the node: the kubelet's volume manager for
//! the volume kinds that need no storage system.
//!
//! Every volume is a directory under the pod's `volumes/<name>/` (or, for
//! `hostPath`, a directory of the node) that the containers bind-mount:
//!
//! - `emptyDir`: an empty directory, shared by the pod's containers and
//!   removed with the pod; `medium: Memory` makes it a tmpfs;
//! - `configMap`, `secret`, `downwardAPI`, `projected`: files computed from
//!   objects and the pod ([`projection::payload`]) and written atomically
//!   ([`atomic_writer::write`]). [`set_up`] runs before each container start
//!   *and* at every sync of a running pod, so an edit of a ConfigMap, a
//!   Secret or the pod's labels shows up in the mounted files within a sync
//!   period, as the kubelet's periodic remount does.
//!
//! A ConfigMap or Secret that is missing (and not `optional`) makes
//! [`set_up`] fail with the kubelet's `FailedMount` message; the agent keeps
//! the containers waiting and tries again at the next sync.
//!
//! ## Layout
//!
//! - [`source`]: the serde types of the file-holding sources.
//! - [`projection`]: what files a volume holds (pure).
//! - [`atomic_writer`]: the timestamped directory and the `..data` swap.
//! - [`subpath`]: `volumeMounts[].subPath`, checked to stay inside.
//! - [`tmpfs`]: the in-memory volumes.
//! - [`ownership`]: `fsGroup`, the group that owns the pod's volumes.

pub mod atomic_writer;
pub mod ownership;
pub mod projection;
pub mod source;
pub mod subpath;
pub mod tmpfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::env::{ObjectSource, PodFacts};
use crate::pod_spec::{Container, Pod, Volume};
use crate::quantity;

/// Why a volume could not be set up, as the kubelet says it in its
/// `FailedMount` event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {reason}")]
pub struct MountError {
    pub volume: String,
    pub reason: String,
}

// ANCHOR: set_up
/// Sets up every volume of `pod` (its directories under `volumes_dir`) and
/// returns the node path behind each, by volume name. Idempotent: what is
/// already in place is left as it is.
pub fn set_up(
    pod: &Pod,
    volumes_dir: &Path,
    objects: &dyn ObjectSource,
    facts: &PodFacts,
) -> Result<BTreeMap<String, PathBuf>, MountError> {
    let mut paths = BTreeMap::new();
    for volume in &pod.spec.volumes {
        let fail = |reason: String| MountError {
            volume: volume.name.clone(),
            reason,
        };
        if let Some(host) = &volume.host_path {
            paths.insert(volume.name.clone(), PathBuf::from(&host.path));
            continue;
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            let ns = pod.metadata.namespace.as_str();
            let path = claimed_path(objects, ns, &claim.claim_name).map_err(fail)?;
            paths.insert(volume.name.clone(), path);
            continue;
        }
        let dir = volumes_dir.join(&volume.name);
        let fresh = !dir.exists();
        if let Some(size) = in_memory(volume).map_err(fail)? {
            tmpfs::mount(&dir, size).map_err(fail)?;
        }
        let (changed, access) =
            match projection::payload(pod, volume, objects, facts).map_err(fail)? {
                Some(payload) => {
                    let changed = atomic_writer::write(&dir, &payload)
                        .map_err(|e| fail(format!("writing {}: {e}", dir.display())))?;
                    (changed, ownership::Access::ReadOnly)
                }
                None => {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
                    // Writable by any user, as the kubelet makes an emptyDir:
                    // a container running as uid 1000 can write it without an
                    // fsGroup.
                    if fresh {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                            .map_err(|e| fail(format!("making {} writable: {e}", dir.display())))?;
                    }
                    (false, ownership::Access::ReadWrite)
                }
            };
        // fsGroup at each (re)write, as the kubelet at each mount.
        let sc = pod.spec.security_context.as_ref();
        if let Some(gid) = sc.and_then(|sc| sc.fs_group).filter(|_| fresh || changed) {
            let policy = ownership::ChangePolicy::from_spec(
                sc.and_then(|sc| sc.fs_group_change_policy.as_deref()),
            );
            let gid =
                u32::try_from(gid).map_err(|_| fail(format!("fsGroup {gid} is not a group id")))?;
            ownership::set(&dir, gid, access, policy).map_err(|e| {
                fail(format!(
                    "setting the ownership of {} to fsGroup {gid}: {e}",
                    dir.display()
                ))
            })?;
        }
        paths.insert(volume.name.clone(), dir);
    }
    Ok(paths)
}
// ANCHOR_END: set_up

// ANCHOR: claimed_path
/// The node directory behind a `persistentVolumeClaim` volume: the claim's
/// bound volume, made first when it is the node's to make. A claim not yet
/// bound keeps the pod waiting (`FailedMount`), as the kubelet's volume
/// manager does, and the next sync looks again.
fn claimed_path(objects: &dyn ObjectSource, ns: &str, claim: &str) -> Result<PathBuf, String> {
    let volume = objects.claimed_volume(ns, claim)?;
    if volume.create {
        std::fs::create_dir_all(&volume.path)
            .map_err(|e| format!("creating {}: {e}", volume.path.display()))?;
    } else if !volume.path.is_dir() {
        return Err(format!(
            "path {:?} does not exist on the node: create the directory of the PersistentVolume bound to claim {claim:?}",
            volume.path.display().to_string()
        ));
    }
    Ok(volume.path)
}
// ANCHOR_END: claimed_path

/// Whether `volume` lives in memory, and then its size cap: `Some(None)`
/// for an unbounded tmpfs. Secret and projected volumes always do.
fn in_memory(volume: &Volume) -> Result<Option<Option<u64>>, String> {
    if volume.secret.is_some() || volume.projected.is_some() {
        return Ok(Some(None));
    }
    let Some(empty_dir) = &volume.empty_dir else {
        return Ok(None);
    };
    match empty_dir.medium.as_str() {
        "" => Ok(None),
        "Memory" => {
            let size = empty_dir
                .size_limit
                .as_ref()
                .map(|q| quantity::parse_bytes(&q.0).map_err(|e| e.to_string()))
                .transpose()?;
            Ok(Some(size))
        }
        other => Err(format!(
            "emptyDir medium {other:?} is not supported by orc: leave it out (the node's disk) or use Memory"
        )),
    }
}

/// The node path each of `container`'s `volumeMounts` binds, in order: the
/// volume's own path, or its `subPath` (or `subPathExpr`, expanded with the
/// container's `env`) inside it. The error is the kubelet's
/// `CreateContainerConfigError` message.
pub fn mount_sources(
    container: &Container,
    volumes: &BTreeMap<String, PathBuf>,
    env: &[(String, String)],
) -> Result<Vec<PathBuf>, String> {
    let mut sources = vec![];
    for (i, mount) in container.volume_mounts.iter().enumerate() {
        let volume = volumes.get(&mount.name).ok_or_else(|| {
            format!(
                "volumeMounts[{i}].name: no volume {:?} in spec.volumes",
                mount.name
            )
        })?;
        let sub_path = match (mount.sub_path.as_str(), mount.sub_path_expr.as_str()) {
            ("", "") => {
                sources.push(volume.clone());
                continue;
            }
            (path, "") => path.to_string(),
            ("", expr) => subpath::expand_expr(expr, env)?,
            _ => {
                return Err(format!(
                    "volumeMounts[{i}]: subPathExpr and subPath are mutually exclusive"
                ));
            }
        };
        let path = subpath::resolve(volume, &sub_path).map_err(|e| {
            tracing::warn!(container = %container.name, volume = %mount.name, "subPath: {e}");
            format!(
                "failed to prepare subPath for volumeMount {:?} of container {:?}: {e}",
                mount.name, container.name
            )
        })?;
        sources.push(path);
    }
    Ok(sources)
}
