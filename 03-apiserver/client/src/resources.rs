//! The resource table: every kind of object orc serves, in one place.
//!
//! Kubernetes builds this table from Go types and their registration; orc
//! writes it out by hand so a student can read, in twenty lines, everything
//! the API server knows about its resources. The URL router, the storage
//! keys, discovery (what `kubectl api-resources` prints) and validation all
//! look things up here: add a row and the resource is served everywhere.

/// The group of RBAC's four kinds: Role, ClusterRole and their bindings.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The group of the access reviews: questions put to the authorizer,
/// answered at once and never stored.
pub const REVIEW_GROUP: &str = "authorization.k8s.io";
/// The group of TokenReview: "who is this token?", put to the
/// authenticators, answered at once and never stored either.
pub const AUTHN_GROUP: &str = "authentication.k8s.io";

/// Verbs every plain resource supports, in the order discovery lists them:
/// `deletecollection` is a DELETE on the collection (with a selector, it
/// deletes what a LIST with that selector returns).
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Namespaces' verbs: no `deletecollection`, as in Kubernetes, where one
/// request must not be able to start emptying every namespace at once.
pub const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// One served resource: how it is named in URLs, in bodies and in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the core group (`/api/v1`).
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// The `kind` field of an object (`Pod`).
    pub kind: &'static str,
    /// The URL segment (`pods`), and the etcd key segment but for the few
    /// resources Kubernetes stores under older names (the API server's
    /// `storage::SPECIAL_PREFIXES`: nodes are `/registry/minions/`).
    pub plural: &'static str,
    /// What `kubectl get pod` accepts besides the plural.
    pub singular: &'static str,
    /// Abbreviations kubectl accepts (`po`), served through discovery.
    pub short_names: &'static [&'static str],
    /// Whether objects live inside a namespace.
    pub namespaced: bool,
    /// Whether `.status` is its own subresource: if so, normal updates leave
    /// it alone and only `PUT .../status` changes it (Kubernetes splits them
    /// so that users own spec and controllers own status).
    pub has_status: bool,
    /// Whether the object has a `/scale` subresource (autoscaling/v1 Scale).
    pub has_scale: bool,
    /// `Some(api_version)` when this row is served by converting to and
    /// from the row of that `apiVersion` and the same kind, which is what
    /// etcd holds (Kubernetes' storage version; the API server's
    /// `conversion` module does the converting). HorizontalPodAutoscalers
    /// are stored as `autoscaling/v2` and also served as `autoscaling/v1`,
    /// for `kubectl autoscale`; Events are stored as core `v1` and also
    /// served as `events.k8s.io/v1`, which the newer event recorders
    /// write. `None` for every row etcd holds itself.
    pub converts_to: Option<&'static str>,
}

impl Resource {
    /// `v1` or `apps/v1`: the `apiVersion` field of an object.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind of list responses: `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The verbs this resource supports. Events, like in Kubernetes, are
    /// plain objects; every row supports every verb but the access
    /// reviews, which are only ever created (a question, not an object),
    /// and namespaces, which cannot be deleted as a collection.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.is_review() {
            &["create"]
        } else if self.kind == "Namespace" {
            NAMESPACE_VERBS
        } else {
            ALL_VERBS
        }
    }

    /// Whether a DELETE on this resource's collection is served.
    pub fn deletes_collections(&self) -> bool {
        self.verbs().contains(&"deletecollection")
    }

    /// Whether this is a review (`authorization.k8s.io`'s access reviews,
    /// `authentication.k8s.io`'s TokenReview): created to ask the
    /// authorizer or the authenticators, answered in the reply, never
    /// stored, listed or watched.
    pub fn is_review(&self) -> bool {
        self.group == REVIEW_GROUP || self.group == AUTHN_GROUP
    }

    /// Whether etcd holds objects in this row's version: every row but
    /// the older versions served through conversion. Whoever walks every
    /// resource (the garbage collector, the namespace controller) walks
    /// only these, so each object is seen once.
    pub fn is_stored(&self) -> bool {
        self.converts_to.is_none()
    }
}

// ANCHOR: table
/// A table row; `#[allow]`: the positional form keeps the table one line per resource.
#[allow(clippy::too_many_arguments)]
const fn row(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    has_status: bool,
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        singular,
        short_names,
        namespaced,
        has_status,
        has_scale: false,
        converts_to: None,
    }
}

/// Every resource orc serves. One row per line, so the table reads as a table.
#[rustfmt::skip]
pub static RESOURCES: &[Resource] = &[
    row("", "v1", "Namespace", "namespaces", "namespace", &["ns"], false, true),
    row("", "v1", "Node", "nodes", "node", &["no"], false, true),
    row("", "v1", "Pod", "pods", "pod", &["po"], true, true),
    row("", "v1", "Service", "services", "service", &["svc"], true, true),
    row("", "v1", "Endpoints", "endpoints", "endpoints", &["ep"], true, false),
    row("", "v1", "ConfigMap", "configmaps", "configmap", &["cm"], true, false),
    row("", "v1", "Secret", "secrets", "secret", &[], true, false),
    row("", "v1", "Event", "events", "event", &["ev"], true, false),
    row("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", &["sa"], true, false),
    row("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", &["pv"], false, true),
    row("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", &["pvc"], true, true),
    row("coordination.k8s.io", "v1", "Lease", "leases", "lease", &[], true, false),
    row("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", &["pc"], false, false),
    Resource { has_scale: true, ..row("apps", "v1", "Deployment", "deployments", "deployment", &["deploy"], true, true) },
    Resource { has_scale: true, ..row("apps", "v1", "ReplicaSet", "replicasets", "replicaset", &["rs"], true, true) },
    row("apps", "v1", "DaemonSet", "daemonsets", "daemonset", &["ds"], true, true),
    Resource { has_scale: true, ..row("apps", "v1", "StatefulSet", "statefulsets", "statefulset", &["sts"], true, true) },
    row("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", &[], true, false),
    row("batch", "v1", "Job", "jobs", "job", &[], true, true),
    row("batch", "v1", "CronJob", "cronjobs", "cronjob", &["cj"], true, true),
    row("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", &["hpa"], true, true),
    Resource { converts_to: Some("autoscaling/v2"), ..row("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", &["hpa"], true, true) },
    row("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", &["pdb"], true, true),
    row("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", &["ing"], true, true),
    row("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", &[], false, false),
    row("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", &[], true, false),
    Resource { converts_to: Some("v1"), ..row("events.k8s.io", "v1", "Event", "events", "event", &[], true, false) },
    row("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", &["sc"], false, false),
    row(RBAC_GROUP, "v1", "ClusterRole", "clusterroles", "clusterrole", &[], false, false),
    row(RBAC_GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", &[], false, false),
    row(RBAC_GROUP, "v1", "Role", "roles", "role", &[], true, false),
    row(RBAC_GROUP, "v1", "RoleBinding", "rolebindings", "rolebinding", &[], true, false),
    row(AUTHN_GROUP, "v1", "TokenReview", "tokenreviews", "tokenreview", &[], false, false),
    row(REVIEW_GROUP, "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", "selfsubjectaccessreview", &[], false, false),
    row(REVIEW_GROUP, "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", "selfsubjectrulesreview", &[], false, false),
    row(REVIEW_GROUP, "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", &[], false, false),
];
// ANCHOR_END: table

/// The resource served at `/api[s]/<group>/<version>/<plural>`, if any.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource for an object's `apiVersion` and `kind`, if any.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// The API groups besides core, in table order, without duplicates:
/// what `/apis` lists.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut seen: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !seen.contains(&(r.group, r.version)) {
            seen.push((r.group, r.version));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_unique_within_a_group_version() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.plural == b.plural),
                    "{} twice",
                    a.plural
                );
            }
        }
    }

    #[test]
    fn converted_rows_name_a_stored_row() {
        for r in RESOURCES.iter() {
            if let Some(api_version) = r.converts_to {
                let stored = by_kind(api_version, r.kind).unwrap();
                // The same etcd directory: one object, two URLs.
                assert!(stored.is_stored() && stored.plural == r.plural);
            }
        }
        assert!(
            !by_kind("autoscaling/v1", "HorizontalPodAutoscaler")
                .unwrap()
                .is_stored()
        );
        assert!(!by_kind("events.k8s.io/v1", "Event").unwrap().is_stored());
    }

    #[test]
    fn lookups_find_rows() {
        assert_eq!(
            lookup("apps", "v1", "deployments").unwrap().kind,
            "Deployment"
        );
        assert_eq!(by_kind("v1", "Pod").unwrap().plural, "pods");
        assert!(lookup("", "v1", "deployments").is_none());
        assert_eq!(groups()[0], ("coordination.k8s.io", "v1"));
    }
}
