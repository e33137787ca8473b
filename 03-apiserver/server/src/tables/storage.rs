//! Rows of the storage kinds: persistent volumes, their claims and storage
//! classes, with the columns Kubernetes v1.32's printers give them.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Printer, age, col, items, name, text, wide};

/// `RWO,ROX,RWX,RWOP`: the access modes a volume or claim lists, short,
/// always in this order and each once (Kubernetes'
/// `GetAccessModesAsString`, which reads them as a set).
fn access_modes(obj: &Value, pointer: &str) -> String {
    let modes: Vec<&str> = items(obj, pointer).filter_map(Value::as_str).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The phase, or `Terminating` once a deletion has begun (the object then
/// waits for its protection finalizer).
fn phase(obj: &Value) -> String {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return "Terminating".into();
    }
    text(obj, "/status/phase", "")
}

/// The class: the old beta annotation first, then `storageClassName`
/// (Kubernetes' `GetPersistentVolumeClass` and `...ClaimClass`).
fn class(obj: &Value) -> String {
    let annotation = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
        .and_then(Value::as_str);
    match annotation {
        Some(class) => class.to_string(),
        None => text(obj, "/spec/storageClassName", ""),
    }
}

/// A field that is a pointer in Go: its value, or `<unset>`.
fn unset(obj: &Value, pointer: &str) -> Value {
    json!(text(obj, pointer, "<unset>"))
}

/// PersistentVolumes: where a volume is in its life and whose it is.
pub(super) const PERSISTENT_VOLUME: Printer = Printer {
    columns: &[
        NAME,
        col("Capacity", "string"),
        col("Access Modes", "string"),
        col("Reclaim Policy", "string"),
        col("Status", "string"),
        col("Claim", "string"),
        col("StorageClass", "string"),
        col("VolumeAttributesClass", "string"),
        col("Reason", "string"),
        AGE,
        wide("VolumeMode"),
    ] as &[Column],
    cells: |pv| {
        // CLAIM is `namespace/name` once a claim is reserved, empty before.
        let claim = match pv.pointer("/spec/claimRef") {
            Some(r) if r.is_object() => {
                format!("{}/{}", text(r, "/namespace", ""), text(r, "/name", ""))
            }
            _ => String::new(),
        };
        vec![
            name(pv),
            json!(text(pv, "/spec/capacity/storage", "0")),
            json!(access_modes(pv, "/spec/accessModes")),
            json!(text(pv, "/spec/persistentVolumeReclaimPolicy", "")),
            json!(phase(pv)),
            json!(claim),
            json!(class(pv)),
            unset(pv, "/spec/volumeAttributesClassName"),
            json!(text(pv, "/status/reason", "")),
            age(pv),
            unset(pv, "/spec/volumeMode"),
        ]
    },
};

/// PersistentVolumeClaims: VOLUME, CAPACITY and ACCESS MODES stay empty
/// until the claim is bound, and then show the volume's, from the status.
pub(super) const PERSISTENT_VOLUME_CLAIM: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string"),
        col("Volume", "string"),
        col("Capacity", "string"),
        col("Access Modes", "string"),
        col("StorageClass", "string"),
        col("VolumeAttributesClass", "string"),
        AGE,
        wide("VolumeMode"),
    ] as &[Column],
    cells: |pvc| {
        let volume = text(pvc, "/spec/volumeName", "");
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                text(pvc, "/status/capacity/storage", "0"),
                access_modes(pvc, "/status/accessModes"),
            )
        };
        vec![
            name(pvc),
            json!(phase(pvc)),
            json!(volume),
            json!(capacity),
            json!(modes),
            json!(class(pvc)),
            unset(pvc, "/spec/volumeAttributesClassName"),
            age(pvc),
            unset(pvc, "/spec/volumeMode"),
        ]
    },
};

/// StorageClasses: the default one has ` (default)` after its name; unset
/// policies print as the defaults the API would have filled in.
pub(super) const STORAGE_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Provisioner", "string"),
        col("ReclaimPolicy", "string"),
        col("VolumeBindingMode", "string"),
        col("AllowVolumeExpansion", "string"),
        AGE,
    ] as &[Column],
    cells: |sc| {
        let mut shown = text(sc, "/metadata/name", "");
        if is_default_class(sc) {
            shown.push_str(" (default)");
        }
        vec![
            json!(shown),
            json!(text(sc, "/provisioner", "")),
            json!(text(sc, "/reclaimPolicy", "Delete")),
            json!(text(sc, "/volumeBindingMode", "Immediate")),
            json!(
                sc.get("allowVolumeExpansion")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            age(sc),
        ]
    },
};

/// Whether a StorageClass carries the is-default-class annotation (or its
/// beta spelling) with the value `true`.
pub fn is_default_class(sc: &Value) -> bool {
    let annotations = sc.pointer("/metadata/annotations");
    [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|key| {
        annotations
            .and_then(|a| a.get(*key))
            .and_then(Value::as_str)
            == Some("true")
    })
}

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::*;

    #[test]
    fn volumes_show_claim_class_and_modes_in_kubernetes_order() {
        let pv = json!({"metadata": {"name": "pv1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "slow",
                "claimRef": {"namespace": "shop", "name": "data"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}});
        assert_eq!(
            cells("PersistentVolume", pv)[1..],
            [
                json!("1Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("shop/data"),
                json!("slow"),
                json!("<unset>"),
                json!(""),
                json!("<unknown>"),
                json!("Filesystem")
            ]
        );
    }

    #[test]
    fn claims_show_the_volume_only_once_bound() {
        let pending = json!({"metadata": {"name": "data", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}, "accessModes": ["ReadWriteOnce"]},
            "status": {"phase": "Pending", "capacity": {"storage": "5Gi"}}});
        assert_eq!(
            cells("PersistentVolumeClaim", pending)[1..5],
            [json!("Terminating"), json!(""), json!(""), json!("")]
        );
        let bound = json!({"metadata": {"name": "data"},
            "spec": {"volumeName": "pv1", "storageClassName": "local-path"},
            "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]}});
        assert_eq!(
            cells("PersistentVolumeClaim", bound)[1..6],
            [
                json!("Bound"),
                json!("pv1"),
                json!("5Gi"),
                json!("RWO"),
                json!("local-path")
            ]
        );
    }

    #[test]
    fn the_default_class_says_so_and_unset_policies_read_as_defaults() {
        let sc = json!({"metadata": {"name": "local-path",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path"});
        assert_eq!(
            cells("StorageClass", sc)[..5],
            [
                json!("local-path (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("Immediate"),
                json!(false)
            ]
        );
    }
}
