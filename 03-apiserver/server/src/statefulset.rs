//! StatefulSets' and ControllerRevisions' admission: defaulted and
//! validated as Kubernetes' `pkg/apis/apps` does (chapter 05, "Stable
//! identity").
//!
//! A StatefulSet's spec is mostly fixed at creation: only the fields that
//! say *how many* and *which version* (`replicas`, `template`,
//! `updateStrategy`, ...) may change, because the rest (the selector, the
//! governing Service's name, the pod management policy) are what its pods'
//! identities were made from.
//!
//! `volumeClaimTemplates` are checked here as the claims the controller
//! will make from them (Kubernetes checks them since v1.34; before, a bad
//! template showed only as the controller's `FailedCreate` events, one
//! per retry): what orc's binder or node could not honour is refused now,
//! naming the template's field.

use serde_json::{Value, json};

use crate::batch::set_default;
use crate::status::FieldCause;
use orc_client::names::check_dns1123_subdomain;

/// The spec fields an update may change, in Kubernetes' own message order.
const MUTABLE_SPEC: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

// ANCHOR: defaults
/// Kubernetes' `SetDefaults_StatefulSet` (the pod template's own defaults
/// are the caller's): one replica, ordered pod management, a rolling
/// update from partition 0, ten revisions kept, claims retained.
pub fn default_statefulset(sts: &mut Value) {
    let Some(spec) = sts.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "updateStrategy", json!({}));
    let strategy = &mut spec["updateStrategy"];
    set_default(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        set_default(strategy, "rollingUpdate", json!({}));
        set_default(&mut strategy["rollingUpdate"], "partition", json!(0));
    }
    set_default(spec, "persistentVolumeClaimRetentionPolicy", json!({}));
    let retention = &mut spec["persistentVolumeClaimRetentionPolicy"];
    set_default(retention, "whenDeleted", json!("Retain"));
    set_default(retention, "whenScaled", json!("Retain"));
}
// ANCHOR_END: defaults

/// A non-negative integer at `spec.<field>`, if present.
fn non_negative(spec: &Value, path: &str, at: &str, causes: &mut Vec<FieldCause>) {
    if let Some(value) = spec.pointer(path).filter(|v| !v.is_null()) {
        if value.as_i64().is_none_or(|n| n < 0) {
            causes.push(FieldCause::invalid(
                at,
                value,
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// One of a fixed set of strings at `spec<path>`; `Required value` when empty.
fn one_of(spec: &Value, path: &str, at: &str, allowed: &[&str], causes: &mut Vec<FieldCause>) {
    match spec.pointer(path).and_then(Value::as_str) {
        None | Some("") => causes.push(FieldCause::required(at)),
        Some(value) if !allowed.contains(&value) => {
            causes.push(FieldCause::not_supported(at, value, allowed))
        }
        Some(_) => {}
    }
}

// ANCHOR: validate
/// Kubernetes' `ValidateStatefulSetSpec`, beyond the selector and template
/// rules every workload shares, with its claim templates checked.
pub fn validate_statefulset(sts: &Value, causes: &mut Vec<FieldCause>) {
    let spec = sts.get("spec").unwrap_or(&Value::Null);
    one_of(
        spec,
        "/podManagementPolicy",
        "spec.podManagementPolicy",
        &["OrderedReady", "Parallel"],
        causes,
    );
    one_of(
        spec,
        "/updateStrategy/type",
        "spec.updateStrategy.type",
        &["RollingUpdate", "OnDelete"],
        causes,
    );
    let rolling = spec.pointer("/updateStrategy/rollingUpdate");
    if spec.pointer("/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete")
        && rolling.is_some_and(|r| !r.is_null())
    {
        causes.push(FieldCause::invalid(
            "spec.updateStrategy.rollingUpdate",
            rolling.unwrap_or(&Value::Null),
            "only allowed for updateStrategy 'RollingUpdate'",
        ));
    }
    if rolling.and_then(|r| r.get("maxUnavailable")).is_some() {
        // The MaxUnavailableStatefulSet feature is alpha (off) in 1.32:
        // Kubernetes drops the field; orc says so rather than ignore it.
        causes.push(FieldCause::forbidden(
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            "the MaxUnavailableStatefulSet feature is not enabled: a rolling update replaces one pod at a time; remove the field",
        ));
    }
    for (path, at) in [
        (
            "/updateStrategy/rollingUpdate/partition",
            "spec.updateStrategy.rollingUpdate.partition",
        ),
        ("/ordinals/start", "spec.ordinals.start"),
        ("/minReadySeconds", "spec.minReadySeconds"),
        ("/revisionHistoryLimit", "spec.revisionHistoryLimit"),
    ] {
        non_negative(spec, path, at, causes);
    }
    for when in ["whenDeleted", "whenScaled"] {
        let path = format!("/persistentVolumeClaimRetentionPolicy/{when}");
        let at = format!("spec.persistentVolumeClaimRetentionPolicy.{when}");
        one_of(spec, &path, &at, &["Retain", "Delete"], causes);
    }
    let template_spec = spec.pointer("/template/spec").unwrap_or(&Value::Null);
    match template_spec.get("restartPolicy").and_then(Value::as_str) {
        Some("Always") | None => {}
        Some(other) => causes.push(FieldCause::not_supported(
            "spec.template.spec.restartPolicy",
            other,
            &["Always"],
        )),
    }
    if template_spec
        .get("activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        causes.push(FieldCause::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    validate_claim_templates(sts, causes);
}
// ANCHOR_END: validate

// ANCHOR: claim_templates
/// Each claim template is validated as the claims made from it will be
/// (Kubernetes' `ValidateVolumeClaimTemplates`), its causes named under
/// `spec.volumeClaimTemplates[i]`; and it needs a name, which with the
/// set's name and an ordinal makes a valid claim name.
fn validate_claim_templates(sts: &Value, causes: &mut Vec<FieldCause>) {
    let set = sts
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let templates = sts.pointer("/spec/volumeClaimTemplates");
    for (i, template) in templates
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("spec.volumeClaimTemplates[{i}]");
        match template.pointer("/metadata/name").and_then(Value::as_str) {
            None | Some("") => causes.push(FieldCause::required(format!("{at}.metadata.name"))),
            Some(name) => {
                // The longest claim name is the first pod's at most a few
                // digits longer: checking ordinal 0 finds bad characters.
                if let Err(why) = check_dns1123_subdomain(&format!("{name}-{set}-0")) {
                    causes.push(FieldCause::invalid(
                        format!("{at}.metadata.name"),
                        &Value::from(name),
                        format!(
                            "the claims made from it (\"{name}-{set}-0\") would be invalid: {why}"
                        ),
                    ));
                }
            }
        }
        let mut own = Vec::new();
        crate::volumes::validate_claim(template, &mut own);
        causes.extend(own.into_iter().map(|mut c| {
            c.field = format!("{at}.{}", c.field);
            c
        }));
    }
}
// ANCHOR_END: claim_templates

/// Kubernetes' `ValidateStatefulSetUpdate`: only the fields of
/// [`MUTABLE_SPEC`] may change.
pub fn validate_statefulset_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    let fixed = |obj: &Value| -> Value {
        let mut spec = obj.get("spec").cloned().unwrap_or(json!({}));
        if let Some(map) = spec.as_object_mut() {
            map.retain(|k, _| !MUTABLE_SPEC.contains(&k.as_str()));
        }
        spec
    };
    if fixed(old) != fixed(new) {
        causes.push(FieldCause::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', \
             'template', 'updateStrategy', 'revisionHistoryLimit', \
             'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}

/// Kubernetes' `ValidateControllerRevision`: some `data`, and a
/// non-negative `revision`.
pub fn validate_controller_revision(revision: &Value, causes: &mut Vec<FieldCause>) {
    if revision.get("data").is_none_or(Value::is_null) {
        causes.push(FieldCause::required("data"));
    }
    non_negative(revision, "/revision", "revision", causes);
}

/// A ControllerRevision's `data` is what it records: it never changes.
pub fn validate_controller_revision_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    if old.get("data") != new.get("data") {
        causes.push(FieldCause::invalid(
            "data",
            new.get("data").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(sts: &Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate_statefulset(sts, &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn defaults_are_kubernetes_ones() {
        let mut sts = json!({"spec": {"updateStrategy": {}}});
        default_statefulset(&mut sts);
        assert_eq!(
            sts["spec"],
            json!({"replicas": 1, "podManagementPolicy": "OrderedReady",
                "revisionHistoryLimit": 10,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}})
        );
        let mut on_delete = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        default_statefulset(&mut on_delete);
        assert!(on_delete["spec"]["updateStrategy"]["rollingUpdate"].is_null());
    }

    #[test]
    fn bad_policies_partitions_and_claims_are_named() {
        let mut sts = json!({"metadata": {"name": "web"}, "spec": {"podManagementPolicy": "Random",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
            "template": {"spec": {"restartPolicy": "Never"}}}});
        default_statefulset(&mut sts);
        let out = messages(&sts);
        assert_eq!(out.len(), 5, "{out:?}");
        assert!(out[0].starts_with("spec.podManagementPolicy: Unsupported value: \"Random\""));
        assert_eq!(
            out[1],
            "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"
        );
        assert!(out[2].starts_with("spec.template.spec.restartPolicy: Unsupported value"));
        // The template is checked as the claims made from it will be.
        assert_eq!(
            out[3],
            "spec.volumeClaimTemplates[0].spec.accessModes: Required value: at least 1 access mode is required"
        );
        assert_eq!(
            out[4],
            "spec.volumeClaimTemplates[0].spec.resources[storage]: Required value"
        );
        let mut fine = json!({"spec": {"volumeClaimTemplates": []}});
        default_statefulset(&mut fine);
        assert!(messages(&fine).is_empty(), "{:?}", messages(&fine));
    }

    #[test]
    fn claim_templates_need_a_name_that_makes_valid_claim_names() {
        let spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        let mut sts = json!({"metadata": {"name": "web"}, "spec": {"volumeClaimTemplates": [
            {"metadata": {"name": "data"}, "spec": spec},
            {"metadata": {}, "spec": spec},
            {"metadata": {"name": "Data_1"}, "spec": spec},
            {"metadata": {"name": "picked"}, "spec": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}, "selector": {"matchLabels": {"a": "b"}}}},
        ]}});
        default_statefulset(&mut sts);
        let out = messages(&sts);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(
            out[0],
            "spec.volumeClaimTemplates[1].metadata.name: Required value"
        );
        assert!(
            out[1].starts_with("spec.volumeClaimTemplates[2].metadata.name: Invalid value: \"Data_1\": the claims made from it (\"Data_1-web-0\") would be invalid"),
            "{}",
            out[1]
        );
        assert!(
            out[2].starts_with(
                "spec.volumeClaimTemplates[3].spec.selector: Forbidden: not supported by orc"
            ),
            "{}",
            out[2]
        );
    }

    #[test]
    fn only_some_spec_fields_change() {
        let old = json!({"spec": {"replicas": 1, "serviceName": "web", "template": {"a": 1}}});
        let scaled = json!({"spec": {"replicas": 5, "serviceName": "web", "template": {"a": 2}}});
        let renamed =
            json!({"spec": {"replicas": 1, "serviceName": "other", "template": {"a": 1}}});
        let mut causes = Vec::new();
        validate_statefulset_update(&old, &scaled, &mut causes);
        assert!(causes.is_empty());
        validate_statefulset_update(&old, &renamed, &mut causes);
        assert_eq!(causes.len(), 1);
        assert!(causes[0].message.contains("'replicas', 'ordinals'"));
    }
}
