//! PersistentVolumes, PersistentVolumeClaims and StorageClasses at the API
//! (chapter 05): their defaults, their checks, and the `DefaultStorageClass`
//! admission step.
//!
//! A claim asks for storage ("1Gi, ReadWriteOnce, of class local-path"); a
//! volume is storage that exists; a class says how to make more. The API
//! server only keeps the three honest: the binder and the provisioner
//! (chapter 05's controllers) pair claims with volumes.
//!
//! - Defaults are Kubernetes': a volume is `Retain`ed unless it says
//!   otherwise, a class `Delete`s and binds `Immediate`ly, both kinds have
//!   `volumeMode: Filesystem`, and a new volume or claim starts `Pending`.
//! - `DefaultStorageClass`: a claim written without `storageClassName` gets
//!   the class annotated `storageclass.kubernetes.io/is-default-class:
//!   "true"` (the newest, when several are), so "give me storage" works
//!   without knowing the cluster's classes. A claim with
//!   `storageClassName: ""` asks for a volume of no class and is left alone.
//! - What orc's node agent cannot mount is refused here, with the reason:
//!   volume sources other than `hostPath` and `local`, block volumes, and
//!   claims that pick volumes by label selector or clone a data source.

use serde_json::{Value, json};

use crate::status::{ApiError, FieldCause};
use crate::storage::{self, Store};
use orc_client::resources::lookup;

/// The annotation that makes a StorageClass the default.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// The access modes Kubernetes knows.
const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// The volume sources a PersistentVolume may have in Kubernetes v1.32; orc
/// honours the first two.
const PV_SOURCES: &[&str] = &[
    "hostPath",
    "local",
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "iscsi",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

/// Sets `obj[key]` to `value` when absent or null.
fn default(obj: &mut Value, key: &str, value: &str) {
    if let Value::Object(map) = obj {
        let slot = map.entry(key.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = json!(value);
        }
    }
}

/// The defaults of the three kinds (`defaults.rs` calls this).
pub fn apply_defaults(kind: &str, obj: &mut Value) {
    match kind {
        "PersistentVolume" => {
            if let Some(spec) = obj.get_mut("spec") {
                default(spec, "persistentVolumeReclaimPolicy", "Retain");
                default(spec, "volumeMode", "Filesystem");
            }
        }
        "PersistentVolumeClaim" => {
            if let Some(spec) = obj.get_mut("spec") {
                default(spec, "volumeMode", "Filesystem");
            }
        }
        "StorageClass" => {
            default(obj, "reclaimPolicy", "Delete");
            default(obj, "volumeBindingMode", "Immediate");
        }
        _ => {}
    }
}

/// What a new volume or claim starts as: `Pending`, whatever the client
/// sent (Kubernetes' strategies clear the status on create). A volume also
/// records when it entered the phase.
pub fn prepare_create(kind: &str, obj: &mut Value, now: &str) {
    match kind {
        "PersistentVolume" => {
            obj["status"] = json!({"phase": "Pending", "lastPhaseTransitionTime": now});
        }
        "PersistentVolumeClaim" => obj["status"] = json!({"phase": "Pending"}),
        _ => {}
    }
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// Access modes: at least one, each a known one.
fn check_access_modes(spec: &Value, causes: &mut Vec<FieldCause>) {
    let modes = spec.get("accessModes").and_then(Value::as_array);
    match modes {
        Some(modes) if !modes.is_empty() => {
            for (i, mode) in modes.iter().enumerate() {
                let mode = mode.as_str().unwrap_or_default();
                if !ACCESS_MODES.contains(&mode) {
                    causes.push(FieldCause::not_supported(
                        format!("spec.accessModes[{i}]"),
                        mode,
                        ACCESS_MODES,
                    ));
                }
            }
        }
        _ => causes.push(FieldCause::required_because(
            "spec.accessModes",
            "at least 1 access mode is required",
        )),
    }
}

/// `Block` volumes need a raw device in the container: not built.
fn check_volume_mode(spec: &Value, causes: &mut Vec<FieldCause>) {
    match str_at(spec, "/volumeMode") {
        None | Some("Filesystem") => {}
        Some("Block") => causes.push(FieldCause::invalid(
            "spec.volumeMode",
            &json!("Block"),
            "not supported by orc: block volumes are not built; use Filesystem",
        )),
        Some(other) => causes.push(FieldCause::not_supported(
            "spec.volumeMode",
            other,
            &["Block", "Filesystem"],
        )),
    }
}

/// A quantity at `spec.<pointer>` that must be there.
fn check_storage(spec: &Value, pointer: &str, field: &str, causes: &mut Vec<FieldCause>) {
    match spec.pointer(pointer) {
        // The binder reads the amount; here only its form is checked.
        Some(Value::String(q)) if q.starts_with(|c: char| c.is_ascii_digit()) => {}
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        None | Some(Value::Null) => causes.push(FieldCause::required(field)),
        Some(other) => causes.push(FieldCause::invalid(
            field,
            other,
            "must be a quantity such as 1Gi or 500Mi",
        )),
    }
}

/// Validates a PersistentVolume.
pub fn validate_volume(pv: &Value, causes: &mut Vec<FieldCause>) {
    let spec = pv.get("spec").unwrap_or(&Value::Null);
    check_storage(spec, "/capacity/storage", "spec.capacity[storage]", causes);
    check_access_modes(spec, causes);
    check_volume_mode(spec, causes);
    match str_at(spec, "/persistentVolumeReclaimPolicy") {
        None | Some("Retain") | Some("Delete") => {}
        Some("Recycle") => causes.push(FieldCause::invalid(
            "spec.persistentVolumeReclaimPolicy",
            &json!("Recycle"),
            "not supported by orc: Recycle is deprecated in Kubernetes and not built; use Delete or Retain",
        )),
        Some(other) => causes.push(FieldCause::not_supported(
            "spec.persistentVolumeReclaimPolicy",
            other,
            &["Delete", "Recycle", "Retain"],
        )),
    }
    let sources: Vec<&str> = PV_SOURCES
        .iter()
        .copied()
        .filter(|s| spec.get(*s).is_some_and(|v| !v.is_null()))
        .collect();
    match sources.as_slice() {
        [] => causes.push(FieldCause::required_because(
            "spec",
            "must specify a volume type",
        )),
        ["hostPath"] | ["local"] => {}
        [one] => causes.push(FieldCause::forbidden(
            format!("spec.{one}"),
            "not supported by orc: only hostPath and local volumes are built",
        )),
        [_, second, ..] => causes.push(FieldCause::forbidden(
            format!("spec.{second}"),
            "may not specify more than 1 volume type",
        )),
    }
    for source in ["hostPath", "local"] {
        if spec.get(source).is_some_and(|s| !s.is_null())
            && !str_at(spec, &format!("/{source}/path")).is_some_and(|p| p.starts_with('/'))
        {
            causes.push(FieldCause::required(format!("spec.{source}.path")));
        }
    }
    if spec.get("local").is_some_and(|s| !s.is_null())
        && spec.pointer("/nodeAffinity/required").is_none()
    {
        causes.push(FieldCause::required_because(
            "spec.nodeAffinity",
            "Local volumes require node affinity",
        ));
    }
}

/// Validates a PersistentVolumeClaim.
pub fn validate_claim(pvc: &Value, causes: &mut Vec<FieldCause>) {
    let spec = pvc.get("spec").unwrap_or(&Value::Null);
    check_access_modes(spec, causes);
    check_volume_mode(spec, causes);
    check_storage(
        spec,
        "/resources/requests/storage",
        "spec.resources[storage]",
        causes,
    );
    for (field, why) in [
        (
            "selector",
            "claims chosen by label selector are not bound by orc's binder; name the volume in spec.volumeName or leave the selector out",
        ),
        (
            "dataSource",
            "populating a claim from a snapshot or another claim is not built",
        ),
        (
            "dataSourceRef",
            "populating a claim from a snapshot or another claim is not built",
        ),
    ] {
        if spec.get(field).is_some_and(|v| !v.is_null()) {
            causes.push(FieldCause::forbidden(
                format!("spec.{field}"),
                format!("not supported by orc: {why}"),
            ));
        }
    }
}

/// Validates a StorageClass.
pub fn validate_class(sc: &Value, causes: &mut Vec<FieldCause>) {
    if str_at(sc, "/provisioner").is_none_or(str::is_empty) {
        causes.push(FieldCause::required("provisioner"));
    }
    if let Some(policy) = str_at(sc, "/reclaimPolicy")
        && !matches!(policy, "Delete" | "Retain")
    {
        causes.push(FieldCause::not_supported(
            "reclaimPolicy",
            policy,
            &["Delete", "Retain"],
        ));
    }
    if let Some(mode) = str_at(sc, "/volumeBindingMode")
        && !matches!(mode, "Immediate" | "WaitForFirstConsumer")
    {
        causes.push(FieldCause::not_supported(
            "volumeBindingMode",
            mode,
            &["Immediate", "WaitForFirstConsumer"],
        ));
    }
}

/// A StorageClass's provisioner, parameters, reclaim policy and binding
/// mode are fixed once it exists: volumes were made by them.
pub fn validate_class_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    for field in ["parameters", "provisioner", "reclaimPolicy"] {
        if old.get(field) != new.get(field) {
            causes.push(FieldCause::forbidden(
                field,
                format!("updates to {field} are forbidden."),
            ));
        }
    }
    if old.get("volumeBindingMode") != new.get("volumeBindingMode") {
        causes.push(FieldCause::invalid(
            "volumeBindingMode",
            new.get("volumeBindingMode").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
}

/// A claim's spec is fixed once written, except what binding fills in
/// (`volumeName` while empty, `storageClassName` while unset) and the
/// requested size.
pub fn validate_claim_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    let comparable = |spec: &Value, other: &Value| {
        let mut spec = spec.clone();
        if let Value::Object(map) = &mut spec {
            map.remove("resources");
            if str_at(other, "/volumeName").is_none_or(str::is_empty) {
                map.remove("volumeName");
            }
            if other.get("storageClassName").is_none_or(Value::is_null) {
                map.remove("storageClassName");
            }
        }
        spec
    };
    let old_spec = old.get("spec").unwrap_or(&Value::Null);
    let new_spec = new.get("spec").unwrap_or(&Value::Null);
    if comparable(old_spec, old_spec) != comparable(new_spec, old_spec) {
        causes.push(FieldCause::forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
}

// ANCHOR: default_storage_class
/// Kubernetes' `DefaultStorageClass` admission: a new claim without
/// `storageClassName` gets the default class, the newest when several
/// carry the annotation (as Kubernetes chooses since v1.28).
pub async fn admit_claim(store: &Store, claim: &mut Value) -> Result<(), ApiError> {
    let unset = claim
        .pointer("/spec/storageClassName")
        .is_none_or(Value::is_null);
    if !unset
        || claim
            .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
            .is_some()
    {
        return Ok(());
    }
    let classes = lookup("storage.k8s.io", "v1", "storageclasses")
        .expect("the resource table serves storageclasses");
    let page = store
        .list(&storage::prefix(classes, None), "", 0, 0)
        .await
        .map_err(|e| ApiError::Internal(format!("reading StorageClasses: {e}")))?;
    let default = page
        .items
        .into_iter()
        .map(|(_, class)| class)
        .filter(crate::tables::storage::is_default_class)
        .max_by(|a, b| {
            let created = |c: &Value| {
                str_at(c, "/metadata/creationTimestamp")
                    .unwrap_or("")
                    .to_string()
            };
            let name = |c: &Value| str_at(c, "/metadata/name").unwrap_or("").to_string();
            (created(a), name(a)).cmp(&(created(b), name(b)))
        });
    if let Some(class) = default
        && let Some(spec) = claim.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("storageClassName".into(), class["metadata"]["name"].clone());
    }
    Ok(())
}
// ANCHOR_END: default_storage_class

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(check: fn(&Value, &mut Vec<FieldCause>), obj: Value) -> Vec<String> {
        let mut out = Vec::new();
        check(&obj, &mut out);
        out.into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn volumes_need_size_modes_and_one_source_orc_can_mount() {
        assert_eq!(
            causes(
                validate_volume,
                json!({"spec": {"nfs": {"server": "x", "path": "/"}}})
            ),
            [
                "spec.capacity[storage]: Required value",
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.nfs: Forbidden: not supported by orc: only hostPath and local volumes are built",
            ]
        );
        assert_eq!(
            causes(
                validate_volume,
                json!({"spec": {"capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"], "local": {"path": "/data"}}})
            ),
            ["spec.nodeAffinity: Required value: Local volumes require node affinity"]
        );
        assert!(
            causes(
                validate_volume,
                json!({"spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}})
            )
            .is_empty()
        );
    }

    #[test]
    fn claims_refuse_what_the_binder_cannot_honour() {
        assert_eq!(
            causes(
                validate_claim,
                json!({"spec": {"accessModes": ["ReadWriteSometimes"],
                "volumeMode": "Block", "selector": {"matchLabels": {"a": "b"}}}})
            ),
            [
                "spec.accessModes[0]: Unsupported value: \"ReadWriteSometimes\": supported values: \"ReadWriteOnce\", \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOncePod\"",
                "spec.volumeMode: Invalid value: \"Block\": not supported by orc: block volumes are not built; use Filesystem",
                "spec.resources[storage]: Required value",
                "spec.selector: Forbidden: not supported by orc: claims chosen by label selector are not bound by orc's binder; name the volume in spec.volumeName or leave the selector out",
            ]
        );
    }

    #[test]
    fn binding_may_fill_a_claim_in_but_not_change_it() {
        let old = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let mut bound = old.clone();
        bound["spec"]["volumeName"] = json!("pv1");
        bound["spec"]["storageClassName"] = json!("local-path");
        let mut out = Vec::new();
        validate_claim_update(&old, &bound, &mut out);
        assert!(out.is_empty());
        let mut moved = bound.clone();
        moved["spec"]["volumeName"] = json!("pv2");
        validate_claim_update(&bound, &moved, &mut out);
        assert_eq!(out.len(), 1, "a bound claim keeps its volume");
    }

    #[test]
    fn class_policies_are_checked_and_fixed() {
        assert_eq!(
            causes(validate_class, json!({"reclaimPolicy": "Recycle"})),
            [
                "provisioner: Required value",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\""
            ]
        );
        let mut out = Vec::new();
        validate_class_update(
            &json!({"provisioner": "a", "volumeBindingMode": "Immediate"}),
            &json!({"provisioner": "b", "volumeBindingMode": "WaitForFirstConsumer"}),
            &mut out,
        );
        assert_eq!(out.len(), 2);
    }
}
