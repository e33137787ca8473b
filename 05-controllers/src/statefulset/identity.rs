//! A StatefulSet pod's identity: its name, its ordinal, its labels, its
//! host name; and a new pod made from a revision's template.
//!
//! Unlike a ReplicaSet's interchangeable pods (`web-7d4b9c-x2k8q`), the
//! pods of a StatefulSet named `web` are `web-0`, `web-1`, ...: the same
//! name comes back when a pod is replaced, and with it the same DNS name
//! (`web-0.web.<ns>.svc.cluster.local`, through the governing headless
//! Service named in `spec.serviceName`) and the same storage: the claims
//! of `volumeClaimTemplates` are named after the ordinal too
//! ([`super::storage`]). Chapter 05, "Stable identity".

use serde_json::{Value, json};

use super::object::StatefulSet;
use crate::claims::controller_reference;
use crate::object::{Workload, namespace_and_name};

/// The label with the pod's own name, so a Service can select one pod.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with the pod's ordinal (Kubernetes ≥ 1.28, `PodIndexLabel`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label naming the ControllerRevision the pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The name of the pod with `ordinal` in the StatefulSet `set`.
pub fn pod_name(set: &str, ordinal: i64) -> String {
    format!("{set}-{ordinal}")
}

/// The ordinal of `pod` if its name is `<set>-<n>` (Kubernetes'
/// `getParentNameAndOrdinal`): a pod of another name is no member,
/// whatever its labels.
pub fn ordinal_of(set: &str, pod: &Value) -> Option<i64> {
    let (_, name) = namespace_and_name(pod);
    let digits = name.strip_prefix(set)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The revision `pod` was made from (its `controller-revision-hash`).
pub fn revision_of(pod: &Value) -> &str {
    pod.pointer("/metadata/labels")
        .and_then(|l| l.get(REVISION_LABEL))
        .and_then(Value::as_str)
        .unwrap_or("")
}

// ANCHOR: new_pod
/// The pod with `ordinal` for `sts`, from `template` (the template of the
/// revision named `revision`): its fixed name, the identity labels, host
/// name and subdomain, its own claims as the volumes named like the claim
/// templates, and the StatefulSet as controller.
pub fn new_pod(sts: &Value, template: &Value, revision: &str, ordinal: i64) -> Value {
    let (ns, set) = namespace_and_name(sts);
    let name = pod_name(set, ordinal);
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    labels[POD_NAME_LABEL] = json!(name);
    labels[POD_INDEX_LABEL] = json!(ordinal.to_string());
    labels[REVISION_LABEL] = json!(revision);
    let mut metadata = json!({
        "name": name,
        "namespace": ns,
        "labels": labels,
        "ownerReferences": [controller_reference(sts, "StatefulSet", "apps/v1")],
    });
    if let Some(annotations) = template.pointer("/metadata/annotations") {
        metadata["annotations"] = annotations.clone();
    }
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    // The pod's host name is its own name, and with the Service's name as
    // subdomain the cluster DNS answers `web-0.web.<ns>.svc.cluster.local`.
    spec["hostname"] = json!(name);
    let service = StatefulSet(sts).service_name();
    if !service.is_empty() {
        spec["subdomain"] = json!(service);
    }
    // The volumes named like claim templates mount this pod's own claims.
    super::storage::attach(sts, &mut spec, ordinal);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}
// ANCHOR_END: new_pod

/// The template `sts` would make pods from now (what the next revision
/// records).
pub fn template_of(sts: &Value) -> &Value {
    StatefulSet(sts).template()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_come_only_from_member_names() {
        let named = |n: &str| json!({"metadata": {"name": n}});
        assert_eq!(ordinal_of("web", &named("web-0")), Some(0));
        assert_eq!(ordinal_of("web", &named("web-12")), Some(12));
        for other in ["web", "web-", "web-x", "web-1a", "webs-1", "web-+1", "db-0"] {
            assert_eq!(ordinal_of("web", &named(other)), None, "{other}");
        }
        // A set whose name ends like another's ordinal: only its own pods.
        assert_eq!(ordinal_of("web-1", &named("web-1-0")), Some(0));
        assert_eq!(ordinal_of("web", &named("web-1-0")), None);
    }

    #[test]
    fn a_new_pod_has_its_identity() {
        let sts = json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {"serviceName": "nginx"}});
        let template = json!({"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let pod = new_pod(&sts, &template, "web-5d8f", 2);
        assert_eq!(pod["metadata"]["name"], "web-2");
        assert_eq!(pod["metadata"]["namespace"], "shop");
        assert_eq!(
            pod["metadata"]["labels"],
            json!({"app": "web", POD_NAME_LABEL: "web-2", POD_INDEX_LABEL: "2",
                REVISION_LABEL: "web-5d8f"})
        );
        assert_eq!(pod["metadata"]["annotations"]["a"], "b");
        assert_eq!(
            (
                pod["spec"]["hostname"].as_str(),
                pod["spec"]["subdomain"].as_str()
            ),
            (Some("web-2"), Some("nginx"))
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        assert_eq!(revision_of(&pod), "web-5d8f");
        let headless = json!({"metadata": {"name": "web"}});
        assert!(new_pod(&headless, &template, "r", 0)["spec"]["subdomain"].is_null());
    }
}
