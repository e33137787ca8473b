//! The node's side of PersistentVolumes: which directory a claim mounts,
//! and removing the directories of deleted local-path volumes.
//!
//! The kubelet's volume manager finds a `persistentVolumeClaim` volume's
//! PersistentVolume through the claim (`spec.volumeName`) and mounts it.
//! orc's agent mounts `hostPath` and `local` volumes: both are a directory
//! of the node. A claim not yet bound keeps the pod waiting; the agent's
//! next sync looks again.
//!
//! Rancher's local-path-provisioner removes a deleted volume's directory
//! with a helper pod on the node. In orc the agent does it itself: the
//! provisioner put a finalizer on each volume it made, and when such a
//! volume of this node is being deleted, the agent removes the directory
//! and then the finalizer, which lets the API server delete the object.

use std::path::{Path, PathBuf};

use orc_client::informer::{Notification, everything};
use orc_client::local_path::{CLEANUP_FINALIZER, PROVISIONED_BY, PROVISIONER, VOLUMES_DIR};
use orc_client::resources::lookup;
use orc_client::{Client, ClientError};
use orc_pod::env::ClaimedVolume;
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Whether orc's local-path provisioner made `volume`.
fn provisioned_here(volume: &Value) -> bool {
    volume
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PROVISIONED_BY))
        .and_then(Value::as_str)
        == Some(PROVISIONER)
}

// ANCHOR: claimed_volume
/// The directory behind `claim`, looking its volume up with `volume`. The
/// error is the `FailedMount` message the pod's event shows.
pub fn claimed_volume(
    claim: &Value,
    volume: impl Fn(&str) -> Option<Value>,
) -> Result<ClaimedVolume, String> {
    let (ns, name) = (
        text(claim, "/metadata/namespace"),
        text(claim, "/metadata/name"),
    );
    let volume_name = text(claim, "/spec/volumeName");
    let phase = text(claim, "/status/phase");
    if phase != "Bound" || volume_name.is_empty() {
        return Err(format!(
            "PVC {ns}/{name} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName ({volume_name:?})"
        ));
    }
    let Some(pv) = volume(volume_name) else {
        return Err(format!("persistentvolume \"{volume_name}\" not found"));
    };
    let path = ["/spec/local/path", "/spec/hostPath/path"]
        .iter()
        .map(|p| text(&pv, p))
        .find(|p| !p.is_empty())
        .ok_or_else(|| {
            format!("persistentvolume \"{volume_name}\" is neither a local nor a hostPath volume, the kinds orc mounts")
        })?;
    Ok(ClaimedVolume {
        path: PathBuf::from(path),
        create: provisioned_here(&pv),
    })
}
// ANCHOR_END: claimed_volume

/// Whether `volume` is one of this node's local-path volumes being
/// deleted, still held by the cleanup finalizer; then its directory,
/// which must lie in the node's volume directory (a volume naming any
/// other path is not removed: the agent deletes only what it made).
fn to_clean_up(volume: &Value, volumes_dir: &Path) -> Option<PathBuf> {
    let deleting = volume
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let held = volume
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|f| f == CLEANUP_FINALIZER));
    if !(deleting && held && provisioned_here(volume)) {
        return None;
    }
    let path = PathBuf::from(text(volume, "/spec/local/path"));
    let inside = path.parent() == Some(volumes_dir)
        && path.file_name().is_some_and(|n| n != "." && n != "..");
    inside.then_some(path)
}

/// Removes the directories of this node's deleted local-path volumes, then
/// their finalizers, until dropped. `state_dir` is the agent's state
/// directory, under which the volumes live.
pub async fn clean_up(client: Client, state_dir: PathBuf) {
    let resource =
        lookup("", "v1", "persistentvolumes").expect("the resource table serves PersistentVolumes");
    let volumes_dir = state_dir.join(VOLUMES_DIR);
    let (tx, mut rx) = mpsc::channel(64);
    let informer = tokio::spawn(everything(&client, resource).run(tx));
    while let Some(notification) = rx.recv().await {
        let (Notification::Added(v) | Notification::Updated { new: v, .. }) = notification else {
            continue;
        };
        let Some(path) = to_clean_up(&v, &volumes_dir) else {
            continue;
        };
        if let Err(e) = remove(&client, resource, &v, &path).await {
            tracing::warn!(volume = text(&v, "/metadata/name"), error = %e, "removing a local-path volume");
        }
    }
    informer.abort();
}

/// Removes `path`, then the finalizer from `volume`.
async fn remove(
    client: &Client,
    resource: &'static orc_client::resources::Resource,
    volume: &Value,
    path: &Path,
) -> Result<(), ClientError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => tracing::info!(path = %path.display(), "removed a deleted volume's directory"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // The finalizer stays: the volume waits, and says why in the log.
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "removing a deleted volume's directory");
            return Ok(());
        }
    }
    let mut released = volume.clone();
    let finalizers: Vec<Value> = volume["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| *f != CLEANUP_FINALIZER)
        .cloned()
        .collect();
    released["metadata"]["finalizers"] = json!(finalizers);
    match client.update(resource, None, &released).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(path: &str) -> Value {
        json!({"metadata": {"name": "pvc-1", "annotations": {PROVISIONED_BY: PROVISIONER},
                "finalizers": [CLEANUP_FINALIZER], "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"local": {"path": path}}})
    }

    #[test]
    fn a_bound_claim_mounts_its_volumes_directory() {
        let claim = json!({"metadata": {"namespace": "shop", "name": "data"},
            "spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}});
        let found = claimed_volume(&claim, |_| Some(local("/var/lib/orc/local-path/x"))).unwrap();
        assert_eq!(found.path, PathBuf::from("/var/lib/orc/local-path/x"));
        assert!(
            found.create,
            "the node makes a provisioned volume's directory"
        );
        let pending = json!({"metadata": {"namespace": "shop", "name": "data"}, "status": {"phase": "Pending"}});
        assert_eq!(
            claimed_volume(&pending, |_| None).unwrap_err(),
            "PVC shop/data has non-bound phase (\"Pending\") or empty pvc.Spec.VolumeName (\"\")"
        );
    }

    #[test]
    fn only_this_nodes_volume_directory_is_ever_removed() {
        let dir = Path::new("/var/lib/orc/local-path");
        assert_eq!(
            to_clean_up(&local("/var/lib/orc/local-path/pvc-1_shop_data"), dir),
            Some(PathBuf::from("/var/lib/orc/local-path/pvc-1_shop_data"))
        );
        assert_eq!(to_clean_up(&local("/etc"), dir), None);
        assert_eq!(to_clean_up(&local("/var/lib/orc/local-path/.."), dir), None);
        let mut alive = local("/var/lib/orc/local-path/pvc-1_shop_data");
        alive["metadata"]["deletionTimestamp"] = Value::Null;
        assert_eq!(to_clean_up(&alive, dir), None);
    }
}
