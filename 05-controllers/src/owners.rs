//! `metadata.ownerReferences`: who owns an object, and where that owner
//! lives.
//!
//! An owner reference names its owner by apiVersion, kind and name, and
//! pins one incarnation of it by uid: an owner deleted and created again
//! under the same name is a *different* owner, and the dependent's
//! reference to the old one dangles. There is no namespace in a
//! reference: a namespaced owner lives in its dependent's namespace, a
//! cluster-scoped one in no namespace (Kubernetes forbids owners across
//! namespaces).

use orc_client::resources::{self, Resource};
use serde_json::Value;

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    /// The owner's `apiVersion` (`apps/v1`).
    pub api_version: String,
    /// The owner's `kind` (`ReplicaSet`).
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's uid: which incarnation of that name owns the object.
    pub uid: String,
    /// Whether the owner is the object's *controller*: the one owner that
    /// manages it (a ReplicaSet for its pods). At most one per object.
    pub controller: bool,
    /// Whether this dependent holds a foreground deletion of its owner
    /// until it is gone itself.
    pub block_owner_deletion: bool,
}

/// The owner references of `obj`; entries without a uid (which the API
/// server's validation refuses) are skipped.
pub fn owner_refs(obj: &Value) -> Vec<OwnerRef> {
    let Some(refs) = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    refs.iter()
        .filter_map(|r| {
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let uid = text("uid");
            (!uid.is_empty()).then(|| OwnerRef {
                api_version: text("apiVersion"),
                kind: text("kind"),
                name: text("name"),
                uid,
                controller: r
                    .get("controller")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                block_owner_deletion: r
                    .get("blockOwnerDeletion")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
}

/// The object's controller: its owner reference marked `controller: true`.
pub fn controller_of(obj: &Value) -> Option<OwnerRef> {
    owner_refs(obj).into_iter().find(|r| r.controller)
}

/// Where the owner named by `owner` lives, for a dependent in namespace
/// `dependent_ns` (`None`: cluster-scoped): its resource and namespace.
/// `None` when orc does not serve that kind, or when a cluster-scoped
/// dependent names a namespaced owner, which cannot be resolved.
pub fn locate(
    owner: &OwnerRef,
    dependent_ns: Option<&str>,
) -> Option<(&'static Resource, Option<String>)> {
    let resource = resources::by_kind(&owner.api_version, &owner.kind)?;
    match (resource.namespaced, dependent_ns) {
        (false, _) => Some((resource, None)),
        (true, Some(ns)) => Some((resource, Some(ns.to_string()))),
        (true, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_read_with_their_uid_and_blocking_flag() {
        let obj = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1",
             "controller": true, "blockOwnerDeletion": true},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "no-uid"},
        ]}});
        let refs = owner_refs(&obj);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].uid, "u1");
        assert!(refs[0].block_owner_deletion && refs[0].controller);
        assert!(owner_refs(&json!({"metadata": {}})).is_empty());
    }

    #[test]
    fn owners_live_in_their_dependents_namespace_or_in_none() {
        let rs = OwnerRef {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: "u".into(),
            controller: true,
            block_owner_deletion: false,
        };
        let (resource, ns) = locate(&rs, Some("shop")).unwrap();
        assert_eq!(
            (resource.plural, ns.as_deref()),
            ("replicasets", Some("shop"))
        );
        assert!(locate(&rs, None).is_none(), "cluster-scoped dependent");
        let node = OwnerRef {
            api_version: "v1".into(),
            kind: "Node".into(),
            ..rs.clone()
        };
        assert_eq!(locate(&node, Some("shop")).unwrap().1, None);
        let unknown = OwnerRef {
            api_version: "storage.k8s.io/v1".into(),
            kind: "CSIDriver".into(),
            ..rs
        };
        assert!(locate(&unknown, Some("shop")).is_none());
    }
}
