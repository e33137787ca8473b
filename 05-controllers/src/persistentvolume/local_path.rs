//! The local-path provisioner, built in: a directory on the node where a
//! claim's first pod was placed, in the manner of Rancher's
//! local-path-provisioner.
//!
//! A local directory is only usable on its own node, so the class binds
//! `WaitForFirstConsumer`: the claim waits until the scheduler has placed
//! a pod that uses it and written the node into the claim
//! (`volume.kubernetes.io/selected-node`). Then this makes a `local`
//! PersistentVolume for `<state>/local-path/<volume>_<namespace>_<claim>`
//! on that node, with node affinity to it, reserved for the claim. The
//! node agent creates the directory when it first mounts it, and removes
//! it when the volume is deleted (the finalizer below keeps the object
//! until it has), since only the node can touch the node's disk.

use orc_client::Client;
pub use orc_client::local_path::{
    CLASS, CLEANUP_FINALIZER, PROVISIONED_BY, PROVISIONER, STATE_DIR_ANNOTATION, VOLUMES_DIR,
};
use serde_json::{Value, json};

use super::decide::{self, HOSTNAME_LABEL, text};

/// The `local-path` StorageClass: the default, deleting its volumes with
/// their claims, binding when the first pod is placed.
pub fn default_class() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    })
}

/// Creates the default class unless a class of that name exists (one a
/// person made or edited is left as it is).
pub async fn ensure_class(client: &Client) {
    match client
        .create(super::classes(), None, &default_class())
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == Some(409) => {}
        Err(e) => tracing::warn!(error = %e, "creating the local-path StorageClass"),
    }
}

// ANCHOR: volume_for
/// The volume for `claim` of `class` on `node` (its Node object, when
/// known). The error is the claim's `ProvisioningFailed` event message.
pub fn volume_for(
    claim: &Value,
    class: Option<&Value>,
    node: Option<&str>,
    node_object: Option<&Value>,
) -> Result<Value, String> {
    let Some(node) = node else {
        // With Immediate binding there is no pod, so no node to choose.
        return Err(format!(
            "configuration error, no node was specified: the {PROVISIONER} provisioner needs \
             volumeBindingMode WaitForFirstConsumer in its StorageClass"
        ));
    };
    let state = node_object
        .map(|n| {
            text(
                n,
                &format!(
                    "/metadata/annotations/{}",
                    STATE_DIR_ANNOTATION.replace('/', "~1")
                ),
            )
        })
        .unwrap_or("");
    if state.is_empty() {
        return Err(format!(
            "node {node:?} does not say where its state directory is (annotation {STATE_DIR_ANNOTATION}); \
             is it an orc agent?"
        ));
    }
    let (ns, claim_name) = (
        text(claim, "/metadata/namespace"),
        text(claim, "/metadata/name"),
    );
    let name = format!("pvc-{}", text(claim, "/metadata/uid"));
    let path = format!("{state}/{VOLUMES_DIR}/{name}_{ns}_{claim_name}");
    let reclaim = class
        .map(|c| text(c, "/reclaimPolicy"))
        .filter(|p| !p.is_empty())
        .unwrap_or("Delete");
    Ok(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "annotations": {PROVISIONED_BY: PROVISIONER},
            "finalizers": [CLEANUP_FINALIZER],
        },
        "spec": {
            "capacity": {"storage": claim.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("0"))},
            "accessModes": claim.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
            "persistentVolumeReclaimPolicy": reclaim,
            "storageClassName": decide::class_of(claim),
            "volumeMode": "Filesystem",
            "claimRef": decide::claim_ref(claim),
            "local": {"path": path},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}
            ]}]}},
        },
    }))
}
// ANCHOR_END: volume_for

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_under_the_nodes_state_directory_reserved_for_the_claim() {
        let claim = json!({"metadata": {"name": "data", "namespace": "shop", "uid": "u1"},
            "spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}});
        let node = json!({"metadata": {"name": "n2", "annotations": {STATE_DIR_ANNOTATION: "/var/lib/orc"}}});
        let pv = volume_for(&claim, Some(&default_class()), Some("n2"), Some(&node)).unwrap();
        assert_eq!(pv["metadata"]["name"], "pvc-u1");
        assert_eq!(
            pv["spec"]["local"]["path"],
            "/var/lib/orc/local-path/pvc-u1_shop_data"
        );
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert!(decide::reserved_for(&pv, &claim));
        assert!(decide::usable_on(&pv, "n2") && !decide::usable_on(&pv, "n1"));
        assert!(decide::fits(&claim, &pv));
    }

    #[test]
    fn no_node_or_no_state_directory_is_said() {
        let claim = json!({"metadata": {"name": "data", "namespace": "shop", "uid": "u1"}});
        let immediate = volume_for(&claim, None, None, None).unwrap_err();
        assert!(immediate.contains("WaitForFirstConsumer"), "{immediate}");
        let foreign = volume_for(&claim, None, Some("n1"), None).unwrap_err();
        assert!(foreign.contains(STATE_DIR_ANNOTATION), "{foreign}");
    }
}
