//! The `NodeRestriction` admission step: what a node writes is its own.
//!
//! The Node authorizer (`authz/node.rs`) decides from the request alone:
//! it lets a node create a Node, update a pod's status or delete a pod
//! without knowing *which* Node or whose pod, because the body (or the
//! stored object) says so. This step, which runs with the objects in
//! hand, finishes the job as Kubernetes' NodeRestriction admission plugin
//! (plugin/pkg/admission/noderestriction) does. For a request by node `n`:
//!
//! - a Node may be created or changed only if it is `n`; on create it may
//!   not set labels under `node-restriction.kubernetes.io/` or
//!   `kubernetes.io` / `k8s.io` labels the kubelet does not own; on update
//!   it may not change those labels nor its taints (a node that could
//!   would steer workloads, or sensitive ones, to itself);
//! - a pod's status may be updated, and a pod deleted, only if it is bound
//!   to `n`;
//! - a pod may be created only as a *mirror pod* (the API's copy of a
//!   static pod, annotated `kubernetes.io/config.mirror`) bound to `n`
//!   and naming no Secret, ConfigMap, claim or ServiceAccount;
//! - a ServiceAccount token must be bound to a pod, by name and uid, that
//!   is bound to `n`;
//! - a PersistentVolume (one of its local-path volumes: the authorizer
//!   allows no other) may only lose finalizers: its spec, labels and
//!   annotations stay as they are (orc's own; the kubelet writes no
//!   volume).
//!
//! Other users pass untouched.

use serde_json::Value;

use crate::authn::UserInfo;
use crate::authz::node::node_name;
use crate::status::ApiError;
use orc_client::resources::Resource;

/// The annotation that marks a mirror pod.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The label namespace only administrators may set on a Node.
const RESTRICTED_NAMESPACE: &str = "node-restriction.kubernetes.io";

/// Well-known labels the kubelet sets on its own Node (Kubernetes'
/// `kubeletLabels`).
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
];

/// Label namespaces the kubelet owns whole (and their subdomains).
const KUBELET_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// `pods "web" is forbidden: <why>`, as Kubernetes' `NewForbidden` words
/// an admission refusal.
fn forbidden(resource: &Resource, name: &str, why: String) -> ApiError {
    let qualified = match resource.group {
        "" => resource.plural.to_string(),
        group => format!("{}.{group}", resource.plural),
    };
    ApiError::Forbidden(format!("{qualified} {name:?} is forbidden: {why}"))
}

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `a.b/c` → `a.b`; a label without a prefix has none.
fn label_namespace(label: &str) -> &str {
    label.rsplit_once('/').map(|(ns, _)| ns).unwrap_or("")
}

/// Whether `namespace` is `domain` or a subdomain of it.
fn within(namespace: &str, domain: &str) -> bool {
    namespace == domain || namespace.ends_with(&format!(".{domain}"))
}

// ANCHOR: forbidden_labels
/// Which of `labels` a node may not set on itself.
fn forbidden_labels<'a>(labels: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let kubelets = |label: &str| {
        KUBELET_LABELS.contains(&label)
            || KUBELET_NAMESPACES
                .iter()
                .any(|d| within(label_namespace(label), d))
    };
    let mut refused: Vec<&str> = labels
        .map(String::as_str)
        .filter(|label| {
            let ns = label_namespace(label);
            let restricted = within(ns, RESTRICTED_NAMESPACE);
            let kubernetes = within(ns, "kubernetes.io") || within(ns, "k8s.io");
            restricted || (kubernetes && !kubelets(label))
        })
        .collect();
    refused.sort_unstable();
    refused
}
// ANCHOR_END: forbidden_labels

/// The labels that differ between `new` and `old` (added, changed or removed).
fn changed_labels<'a>(new: &'a Value, old: Option<&'a Value>) -> Vec<&'a String> {
    let labels = |obj: Option<&'a Value>| {
        obj.and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
    };
    let (new_labels, old_labels) = (labels(Some(new)), labels(old));
    let mut keys: Vec<&String> = Vec::new();
    for (key, value) in new_labels.into_iter().flatten() {
        if old_labels.and_then(|o| o.get(key)) != Some(value) {
            keys.push(key);
        }
    }
    for key in old_labels.into_iter().flatten().map(|(k, _)| k) {
        if new_labels.is_none_or(|n| !n.contains_key(key)) {
            keys.push(key);
        }
    }
    keys
}

/// A create of `obj` (a `resource`) by `user`.
pub fn admit_create(user: &UserInfo, resource: &Resource, obj: &Value) -> Result<(), ApiError> {
    let Some(node) = node_name(user) else {
        return Ok(());
    };
    let name = text(obj, "/metadata/name");
    match (resource.group, resource.kind) {
        ("", "Node") => {
            if name != node {
                let why = format!("node {node:?} is not allowed to modify node {name:?}");
                return Err(forbidden(resource, name, why));
            }
            let refused = forbidden_labels(changed_labels(obj, None).into_iter());
            if !refused.is_empty() {
                let why = format!(
                    "node {node:?} is not allowed to set the following labels: {}",
                    refused.join(", ")
                );
                return Err(forbidden(resource, name, why));
            }
            Ok(())
        }
        ("", "Pod") => admit_mirror_pod(node, resource, name, obj),
        _ => Ok(()),
    }
}

/// A node creates pods only as mirrors of its own static pods.
fn admit_mirror_pod(
    node: &str,
    resource: &Resource,
    name: &str,
    pod: &Value,
) -> Result<(), ApiError> {
    let refuse = |why: String| Err(forbidden(resource, name, why));
    let mirror = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        .is_some();
    if !mirror {
        return refuse(format!(
            "pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"
        ));
    }
    if text(pod, "/spec/nodeName") != node {
        return refuse(format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        ));
    }
    let refs = orc_client::pod_references::references(pod);
    let named = [
        (!refs.service_account.is_empty(), "service accounts"),
        (!refs.secrets.is_empty(), "secrets"),
        (!refs.config_maps.is_empty(), "configmaps"),
        (!refs.claims.is_empty(), "persistentvolumeclaims"),
    ];
    match named.iter().find(|(names, _)| *names) {
        Some((_, what)) => refuse(format!(
            "node {node:?} can not create pods that reference {what}"
        )),
        None => Ok(()),
    }
}

// ANCHOR: admit_update
/// An update by `user` of `current` into `next`, through the object
/// itself (`status == false`) or its `status` subresource.
pub fn admit_update(
    user: &UserInfo,
    resource: &Resource,
    status: bool,
    current: &Value,
    next: &Value,
) -> Result<(), ApiError> {
    let Some(node) = node_name(user) else {
        return Ok(());
    };
    let name = text(current, "/metadata/name");
    match (resource.group, resource.kind) {
        ("", "Pod") if status && text(current, "/spec/nodeName") != node => Err(forbidden(
            resource,
            name,
            format!(
                "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
            ),
        )),
        ("", "Node") if name != node => Err(forbidden(
            resource,
            name,
            format!("node {node:?} is not allowed to modify node {name:?}"),
        )),
        ("", "Node") if current.pointer("/spec/taints") != next.pointer("/spec/taints") => {
            Err(forbidden(
                resource,
                name,
                format!("node {node:?} is not allowed to modify taints"),
            ))
        }
        ("", "PersistentVolume") => {
            let kept = |v: &Value| {
                ["/spec", "/metadata/labels", "/metadata/annotations"]
                    .map(|p| v.pointer(p).cloned())
            };
            let finalizers = |v: &Value| -> Vec<Value> {
                v.pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let old = finalizers(current);
            let only_removed = finalizers(next).iter().all(|f| old.contains(f));
            match only_removed && kept(current) == kept(next) {
                true => Ok(()),
                false => Err(forbidden(
                    resource,
                    name,
                    format!("node {node:?} may only remove finalizers from a persistentvolume"),
                )),
            }
        }
        ("", "Node") => {
            let refused = forbidden_labels(changed_labels(next, Some(current)).into_iter());
            match refused.is_empty() {
                true => Ok(()),
                false => Err(forbidden(
                    resource,
                    name,
                    format!(
                        "node {node:?} is not allowed to modify labels: {}",
                        refused.join(", ")
                    ),
                )),
            }
        }
        _ => Ok(()),
    }
}
// ANCHOR_END: admit_update

/// A delete by `user` of `current`: a node deletes only its own pods.
pub fn admit_delete(user: &UserInfo, resource: &Resource, current: &Value) -> Result<(), ApiError> {
    let Some(node) = node_name(user) else {
        return Ok(());
    };
    if (resource.group, resource.kind) != ("", "Pod") || text(current, "/spec/nodeName") == node {
        return Ok(());
    }
    Err(forbidden(
        resource,
        text(current, "/metadata/name"),
        format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
    ))
}

/// A TokenRequest by `user` for ServiceAccount `account`, bound to `pod`
/// (`None`: bound to nothing; the uid the request named beside it).
pub fn admit_token(
    user: &UserInfo,
    accounts: &Resource,
    account: &str,
    bound: Option<(&Value, Option<&str>)>,
) -> Result<(), ApiError> {
    let Some(node) = node_name(user) else {
        return Ok(());
    };
    let refuse = |why: &str| Err(forbidden(accounts, account, why.to_string()));
    let Some((pod, uid)) = bound else {
        return refuse("node requested token not bound to a pod");
    };
    if uid.is_none_or(str::is_empty) {
        return refuse("node requested token with a pod binding without a uid");
    }
    if text(pod, "/spec/nodeName") != node {
        return refuse("node requested token bound to a pod scheduled on a different node");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::node::{NODE_USER_PREFIX, NODES_GROUP};
    use orc_client::resources::lookup;
    use serde_json::json;

    fn node(name: &str) -> UserInfo {
        UserInfo::authenticated(&format!("{NODE_USER_PREFIX}{name}"), "", &[NODES_GROUP])
    }

    fn resource(plural: &str) -> &'static Resource {
        lookup("", "v1", plural).unwrap()
    }

    #[test]
    fn a_node_writes_only_its_own_node_and_not_its_taints_or_restricted_labels() {
        let nodes = resource("nodes");
        let own = json!({"metadata": {"name": "a", "labels": {"kubernetes.io/hostname": "a",
            "node.kubernetes.io/exclude-from-external-load-balancers": "true", "team": "x"}}});
        assert!(admit_create(&node("a"), nodes, &own).is_ok());
        let message = |e: ApiError| match e {
            ApiError::Forbidden(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message(admit_create(&node("b"), nodes, &own).unwrap_err()),
            "nodes \"a\" is forbidden: node \"b\" is not allowed to modify node \"a\""
        );
        let mut labelled = own.clone();
        labelled["metadata"]["labels"]["node-restriction.kubernetes.io/secure"] = json!("yes");
        labelled["metadata"]["labels"]["node-role.kubernetes.io/master"] = json!("");
        assert_eq!(
            message(admit_create(&node("a"), nodes, &labelled).unwrap_err()),
            "nodes \"a\" is forbidden: node \"a\" is not allowed to set the following labels: \
             node-restriction.kubernetes.io/secure, node-role.kubernetes.io/master"
        );
        let mut untainted = own.clone();
        untainted["spec"] = json!({"taints": []});
        let mut tainted = own.clone();
        tainted["spec"] = json!({"taints": [{"key": "k", "effect": "NoSchedule"}]});
        assert!(admit_update(&node("a"), nodes, false, &tainted, &untainted).is_err());
        assert!(admit_update(&node("a"), nodes, false, &own, &own).is_ok());
        assert!(admit_update(&node("b"), nodes, true, &own, &own).is_err());
        assert!(admit_update(&node("a"), nodes, false, &labelled, &own).is_err());
        // Anyone else passes.
        let admin = UserInfo::authenticated("admin", "", &["system:masters"]);
        assert!(admit_update(&admin, nodes, false, &tainted, &untainted).is_ok());
    }

    #[test]
    fn a_node_only_removes_finalizers_from_a_volume() {
        let volumes = resource("persistentvolumes");
        let current = json!({"metadata": {"name": "pvc-1",
                "finalizers": ["orc.dev/local-path-cleanup", "kubernetes.io/pv-protection"]},
            "spec": {"local": {"path": "/var/lib/orc/local-path/pvc-1_shop_data"}}});
        let mut released = current.clone();
        released["metadata"]["finalizers"] = json!(["kubernetes.io/pv-protection"]);
        assert!(admit_update(&node("a"), volumes, false, &current, &released).is_ok());
        let mut moved = released.clone();
        moved["spec"]["local"]["path"] = json!("/etc");
        let ApiError::Forbidden(refused) =
            admit_update(&node("a"), volumes, false, &current, &moved).unwrap_err()
        else {
            panic!("a 403");
        };
        assert_eq!(
            refused,
            "persistentvolumes \"pvc-1\" is forbidden: node \"a\" may only remove finalizers from a persistentvolume"
        );
        let mut held = current.clone();
        held["metadata"]["finalizers"] = json!(["example.com/mine"]);
        assert!(admit_update(&node("a"), volumes, false, &current, &held).is_err());
        // Anyone else: untouched.
        let admin = UserInfo::authenticated("admin", "", &["system:masters"]);
        assert!(admit_update(&admin, volumes, false, &current, &moved).is_ok());
    }

    #[test]
    fn a_node_touches_only_pods_bound_to_it_and_creates_only_mirror_pods() {
        let pods = resource("pods");
        let on_a =
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"nodeName": "a"}});
        assert!(admit_update(&node("a"), pods, true, &on_a, &on_a).is_ok());
        assert!(admit_update(&node("b"), pods, true, &on_a, &on_a).is_err());
        assert!(admit_delete(&node("a"), pods, &on_a).is_ok());
        assert!(admit_delete(&node("b"), pods, &on_a).is_err());
        assert!(
            admit_create(&node("a"), pods, &on_a).is_err(),
            "not a mirror"
        );
        let mut mirror = on_a.clone();
        mirror["metadata"]["annotations"] = json!({MIRROR_ANNOTATION: "hash"});
        assert!(admit_create(&node("a"), pods, &mirror).is_ok());
        assert!(admit_create(&node("b"), pods, &mirror).is_err());
        mirror["spec"]["serviceAccountName"] = json!("default");
        assert!(admit_create(&node("a"), pods, &mirror).is_err());
        let accounts = resource("serviceaccounts");
        assert!(admit_token(&node("a"), accounts, "default", Some((&on_a, Some("u1")))).is_ok());
        assert!(admit_token(&node("b"), accounts, "default", Some((&on_a, Some("u1")))).is_err());
        assert!(admit_token(&node("a"), accounts, "default", Some((&on_a, None))).is_err());
        assert!(admit_token(&node("a"), accounts, "default", None).is_err());
    }
}
