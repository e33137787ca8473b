//! The `StorageObjectInUseProtection` admission step (chapter 05).
//!
//! Deleting a claim that a running pod mounts would pull the storage out
//! from under it; deleting a volume that is still bound to a claim would
//! leave the claim pointing at nothing. Kubernetes guards both with a
//! finalizer the API server adds to every new claim and volume:
//!
//! - `kubernetes.io/pvc-protection` on a PersistentVolumeClaim,
//! - `kubernetes.io/pv-protection` on a PersistentVolume.
//!
//! A DELETE then only marks the object (`deletionTimestamp`, shown as
//! `Terminating` by `kubectl get`); chapter 05's pvc-protection and
//! pv-protection controllers remove the finalizer once no pod uses the
//! claim, or once the volume is no longer `Bound`, and the object goes.
//!
//! Kubernetes runs the step on creates only (a finalizer a user removes
//! later stays removed), and leaves an object that already carries the
//! finalizer alone; so does orc.

use serde_json::{Value, json};

/// The finalizer that keeps a claim while a pod uses it.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The finalizer that keeps a volume while it is bound.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

// ANCHOR: admit
/// Adds the protection finalizer of its kind to a claim or volume being
/// created, unless it is there already. Other kinds are left alone.
pub fn admit_create(kind: &str, obj: &mut Value) {
    let finalizer = match kind {
        "PersistentVolumeClaim" => PVC_PROTECTION,
        "PersistentVolume" => PV_PROTECTION,
        _ => return,
    };
    let meta = &mut obj["metadata"];
    match meta.get_mut("finalizers") {
        Some(Value::Array(list)) => {
            if !list.iter().any(|f| f == finalizer) {
                list.push(json!(finalizer));
            }
        }
        // Absent or null: the finalizer is the only one.
        None | Some(Value::Null) => meta["finalizers"] = json!([finalizer]),
        // Not a list: validation refuses the object; nothing to add to.
        Some(_) => {}
    }
}
// ANCHOR_END: admit

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_and_volumes_get_their_finalizer_once() {
        let mut claim = json!({"metadata": {"name": "data"}});
        admit_create("PersistentVolumeClaim", &mut claim);
        assert_eq!(claim["metadata"]["finalizers"], json!([PVC_PROTECTION]));
        admit_create("PersistentVolumeClaim", &mut claim);
        assert_eq!(claim["metadata"]["finalizers"], json!([PVC_PROTECTION]));

        let mut volume = json!({"metadata": {"name": "pv1", "finalizers": ["example.com/keep"]}});
        admit_create("PersistentVolume", &mut volume);
        assert_eq!(
            volume["metadata"]["finalizers"],
            json!(["example.com/keep", PV_PROTECTION])
        );
    }

    #[test]
    fn other_kinds_and_malformed_lists_are_left_alone() {
        let mut pod = json!({"metadata": {"name": "p"}});
        admit_create("Pod", &mut pod);
        assert!(pod["metadata"].get("finalizers").is_none());
        let mut odd = json!({"metadata": {"name": "c", "finalizers": "x"}});
        admit_create("PersistentVolumeClaim", &mut odd);
        assert_eq!(odd["metadata"]["finalizers"], "x");
    }
}
