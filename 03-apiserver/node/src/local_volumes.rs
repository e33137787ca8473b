//! The node's side of PersistentVolumes: which directory a claim mounts,
//! and removing the directories of deleted local-path volumes.
//!
//! The kubelet's volume manager finds a `persistentVolumeClaim` volume's
//! PersistentVolume through the claim (`spec.volumeName`) and mounts it.
//! orc's agent mounts `hostPath` and `local` volumes: both are a directory
//! of the node. Before a pod's container starts, the agent gets each
//! claim the pod names, and the volume of each bound one, by name
//! ([`ClaimedVolumes`]): the Node authorizer lets a node get only those,
//! and never list or watch claims or volumes. A claim not yet bound keeps
//! the pod waiting; the agent's next start attempt gets it again.
//!
//! Rancher's local-path-provisioner removes a deleted volume's directory
//! with a helper pod on the node. In orc the agent does it itself: the
//! provisioner put a finalizer on each volume it made, and when such a
//! volume of this node is being deleted, the agent removes the directory
//! and then the finalizer, which lets the API server delete the object.
//! The agent cannot watch volumes; it knows its own from the directories
//! in its volume directory (`<volume>_<namespace>_<claim>`), and gets
//! each of those volumes every [`CLEANUP_PERIOD`] (the Node authorizer
//! lets a node get and update the local-path volumes made on it).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use orc_client::local_path::{CLEANUP_FINALIZER, PROVISIONED_BY, PROVISIONER, VOLUMES_DIR};
use orc_client::resources::{Resource, lookup};
use orc_client::{Client, ClientError};
use orc_pod::env::ClaimedVolume;
use serde_json::{Value, json};

/// How often the agent gets its local-path volumes to see which are being
/// deleted.
pub const CLEANUP_PERIOD: Duration = Duration::from_secs(2);

fn claims_resource() -> &'static Resource {
    lookup("", "v1", "persistentvolumeclaims")
        .expect("the resource table serves PersistentVolumeClaims")
}

fn volumes_resource() -> &'static Resource {
    lookup("", "v1", "persistentvolumes").expect("the resource table serves PersistentVolumes")
}

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

// ANCHOR: claimed_volumes
/// The claims the node's pods name and their volumes, as last got (keys:
/// `namespace/name` for claims, the name for volumes).
pub struct ClaimedVolumes {
    client: Client,
    /// std's Mutex: held to look up or insert, never across an await.
    claims: Mutex<HashMap<String, Value>>,
    volumes: Mutex<HashMap<String, Value>>,
}

impl ClaimedVolumes {
    /// None got yet.
    pub fn new(client: Client) -> ClaimedVolumes {
        ClaimedVolumes {
            client,
            claims: Mutex::default(),
            volumes: Mutex::default(),
        }
    }

    /// Gets each claim of `names` in `namespace`, and the volume of each
    /// bound one. A claim or volume that is gone is forgotten; one that
    /// cannot be got now (the API server away) keeps its last copy.
    pub async fn fetch(&self, namespace: &str, names: &BTreeSet<String>) {
        for name in names {
            let key = format!("{namespace}/{name}");
            let claim = match self
                .client
                .get(claims_resource(), Some(namespace), name)
                .await
            {
                Ok(claim) => claim,
                Err(e) if e.is_not_found() => {
                    lock(&self.claims).remove(&key);
                    continue;
                }
                Err(error) => {
                    tracing::warn!(claim = key, %error, "getting a pod's PersistentVolumeClaim");
                    continue;
                }
            };
            let volume_name = text(&claim, "/spec/volumeName").to_string();
            lock(&self.claims).insert(key, claim);
            if volume_name.is_empty() {
                continue;
            }
            match self
                .client
                .get(volumes_resource(), None, &volume_name)
                .await
            {
                Ok(volume) => {
                    lock(&self.volumes).insert(volume_name, volume);
                }
                Err(e) if e.is_not_found() => {
                    lock(&self.volumes).remove(&volume_name);
                }
                Err(error) => {
                    tracing::warn!(volume = volume_name, %error, "getting a claim's PersistentVolume")
                }
            }
        }
    }

    /// The directory behind claim `namespace/name`, from the copies got.
    pub fn get(&self, namespace: &str, name: &str) -> Result<ClaimedVolume, String> {
        let claim = lock(&self.claims)
            .get(&format!("{namespace}/{name}"))
            .cloned();
        let Some(claim) = claim else {
            return Err(format!("persistentvolumeclaim \"{name}\" not found"));
        };
        claimed_volume(&claim, |pv| lock(&self.volumes).get(pv).cloned())
    }

    /// Forgets the claims not in `wanted` (keys `namespace/name`), and
    /// the volumes no claim kept is bound to: called at every change to
    /// the node's pods.
    pub fn keep_only(&self, wanted: &BTreeSet<String>) {
        let mut claims = lock(&self.claims);
        claims.retain(|key, _| wanted.contains(key));
        let bound: BTreeSet<&str> = claims
            .values()
            .map(|c| text(c, "/spec/volumeName"))
            .collect();
        lock(&self.volumes).retain(|name, _| bound.contains(name.as_str()));
    }

    /// The same, already holding `claims` and `volumes` (unit tests).
    #[cfg(test)]
    pub fn holding(self, claims: Vec<Value>, volumes: Vec<Value>) -> ClaimedVolumes {
        for claim in claims {
            let key = format!(
                "{}/{}",
                text(&claim, "/metadata/namespace"),
                text(&claim, "/metadata/name")
            );
            lock(&self.claims).insert(key, claim);
        }
        for volume in volumes {
            let name = text(&volume, "/metadata/name").to_string();
            lock(&self.volumes).insert(name, volume);
        }
        self
    }
}
// ANCHOR_END: claimed_volumes

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

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

/// The names of the volumes whose directories are in `volumes_dir`
/// (`<volume>_<namespace>_<claim>`: a volume's name is `pvc-<uid>`, and
/// namespaces and claims are DNS names, so the first `_` ends it).
pub fn local_volume_names(volumes_dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(volumes_dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (volume, _) = name.split_once('_')?;
            (!volume.is_empty()).then(|| volume.to_string())
        })
        .collect()
}

// ANCHOR: clean_up
/// Removes the directories of this node's deleted local-path volumes, then
/// their finalizers, until dropped: every [`CLEANUP_PERIOD`], gets the
/// volume of each directory in the node's volume directory. `state_dir`
/// is the agent's state directory, under which the volumes live.
pub async fn clean_up(client: Client, state_dir: PathBuf) {
    let volumes_dir = state_dir.join(VOLUMES_DIR);
    let mut tick = tokio::time::interval(CLEANUP_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for name in local_volume_names(&volumes_dir) {
            let volume = match client.get(volumes_resource(), None, &name).await {
                Ok(volume) => volume,
                // Gone (its finalizer removed by someone else): nothing
                // here says whether its data may go, so it stays.
                Err(e) if e.is_not_found() => continue,
                Err(error) => {
                    tracing::debug!(volume = name, %error, "getting a local-path volume");
                    continue;
                }
            };
            let Some(path) = to_clean_up(&volume, &volumes_dir) else {
                continue;
            };
            if let Err(e) = remove(&client, volumes_resource(), &volume, &path).await {
                tracing::warn!(volume = name, error = %e, "removing a local-path volume");
            }
        }
    }
}
// ANCHOR_END: clean_up

/// Removes `path`, then the finalizer from `volume`.
async fn remove(
    client: &Client,
    resource: &'static Resource,
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
    fn claims_and_volumes_come_from_the_copies_got_and_are_forgotten() {
        let claim = json!({"metadata": {"namespace": "shop", "name": "data"},
            "spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}});
        let mut volume = local("/var/lib/orc/local-path/pvc-1_shop_data");
        volume["metadata"]["deletionTimestamp"] = Value::Null;
        let claims = ClaimedVolumes::new(Client::new("http://127.0.0.1:1"))
            .holding(vec![claim], vec![volume]);
        let found = claims.get("shop", "data").unwrap();
        assert_eq!(
            found.path,
            PathBuf::from("/var/lib/orc/local-path/pvc-1_shop_data")
        );
        assert_eq!(
            claims.get("shop", "other").unwrap_err(),
            "persistentvolumeclaim \"other\" not found"
        );
        claims.keep_only(&BTreeSet::new());
        assert!(claims.get("shop", "data").is_err());
        assert!(lock(&claims.volumes).is_empty(), "no claim is bound to it");
    }

    #[test]
    fn local_volumes_are_named_by_their_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["pvc-1_shop_data", "pvc-2_default_logs"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("pvc-3_shop_file"), "not a directory").unwrap();
        std::fs::create_dir(dir.path().join("stray")).unwrap();
        let names: Vec<String> = local_volume_names(dir.path()).into_iter().collect();
        assert_eq!(names, ["pvc-1", "pvc-2"]);
        assert!(local_volume_names(&dir.path().join("missing")).is_empty());
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
