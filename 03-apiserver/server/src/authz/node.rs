//! The Node authorizer: a node's credential touches only its own objects.
//!
//! Every node agent logs in as `system:node:<name>` in the group
//! `system:nodes`. Before Kubernetes 1.8 that group was bound to the
//! `system:node` role, so one stolen node credential read every Secret of
//! the cluster and rewrote every Node and pod status. The Node authorizer
//! (`--authorization-mode=Node,RBAC`, plugin/pkg/auth/authorizer/node in
//! Kubernetes) gives each node the same rules, narrowed to what is its own:
//!
//! - Secrets and ConfigMaps: read (get, or a list or watch of one name)
//!   only when a pod bound to the node names them;
//! - `serviceaccounts/token`: create only for an account one of its pods
//!   runs as (NodeRestriction then requires the token bound to such a pod);
//! - pods: get one bound to it, list and watch only with
//!   `fieldSelector=spec.nodeName=<itself>`; create and delete (mirror
//!   pods), update the status, evict (NodeRestriction limits each to its
//!   own pods);
//! - nodes: get, list or watch only its own; create, update, patch (its
//!   own, which NodeRestriction checks: a create has no name in the URL);
//! - leases: only its own, in `kube-node-lease`;
//! - PersistentVolumeClaims: get one a pod bound to it names (and update
//!   its status); PersistentVolumes: get one bound to such a claim. Never
//!   a list or a watch: the agent gets each claim its pods name, and its
//!   volume, by name;
//! - everything else: the `system:node` ClusterRole's rules, uniformly.
//!
//! It never refuses: it allows or has no opinion, with a reason, and RBAC
//! is asked next. Who "its pods" are comes from [`node_graph`]'s graph.
//!
//! orc's difference: a node may also get and `update` a PersistentVolume
//! that orc's local-path provisioner made on that node (the volume's
//! annotation names the provisioner, and its required node affinity that
//! one node). The kubelet never writes a volume; orc's agent does, once:
//! the provisioner holds each local-path volume with a finalizer until
//! the directory on the node is removed, which only the node can do, and
//! the agent then removes the finalizer. Such a volume is bound to no
//! claim of the node's pods by then (they are gone), so the claim path
//! does not reach it; the node's own local volumes are all it can write,
//! never another node's, and never a volume it does not hold the disk of.
//!
//! [`node_graph`]: super::node_graph

use super::node_graph::{Graph, Vertex};
use super::policy::PolicyRule;
use super::rbac::{Decision, rule_allows};
use super::request_info::RequestInfo;
use crate::authn::UserInfo;

/// The group every node's credential carries.
pub const NODES_GROUP: &str = "system:nodes";
/// A node's user name is this followed by the node's name.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The namespace of the nodes' heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node `user` is, if any (Kubernetes' `NodeIdentity`): a name
/// `system:node:<name>` *and* the group `system:nodes`. `Some("")` for a
/// user in the group with no node name.
pub fn node_name(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    user.groups.iter().any(|g| g == NODES_GROUP).then_some(name)
}

/// Kubernetes' reason for a read of an object no pod of the node names.
fn no_relationship(node: &str) -> Decision {
    Decision::Deny(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

/// No opinion, saying why.
fn deny(reason: &str) -> Decision {
    Decision::Deny(reason.to_string())
}

// ANCHOR: decide
/// The Node authorizer's answer for `request` by `user`, given `graph`
/// and the `system:node` role's `rules`.
pub fn decide(
    graph: &Graph,
    rules: &[PolicyRule],
    user: &UserInfo,
    request: &RequestInfo,
) -> Decision {
    let Some(node) = node_name(user) else {
        return Decision::Deny(String::new());
    };
    if node.is_empty() {
        return Decision::Deny(format!("unknown node for user {:?}", user.name));
    }
    if request.is_resource_request {
        let narrowed = match (request.api_group.as_str(), request.resource.as_str()) {
            ("", "secrets") => Some(read_object(graph, node, Vertex::Secret, request)),
            ("", "configmaps") => Some(read_object(graph, node, Vertex::ConfigMap, request)),
            ("", "serviceaccounts") => Some(create_token(graph, node, request)),
            ("", "pods") => Some(pods(graph, node, request)),
            ("", "nodes") => Some(nodes(node, request)),
            ("coordination.k8s.io", "leases") => Some(lease(node, request)),
            ("", "persistentvolumeclaims") => Some(claims(graph, node, request)),
            ("", "persistentvolumes") => Some(volumes(graph, node, request)),
            _ => None,
        };
        if let Some(decision) = narrowed {
            return decision;
        }
    }
    // Resources not narrowed to the node's own: the role's rules, for all.
    match rules.iter().any(|rule| rule_allows(rule, request)) {
        true => Decision::Allow(String::new()),
        false => Decision::Deny(String::new()),
    }
}
// ANCHOR_END: decide

/// Whether `vertex` `namespace/name` is related to `node`.
fn check_graph(graph: &Graph, node: &str, vertex: Vertex, request: &RequestInfo) -> Decision {
    if request.name.is_empty() {
        return deny("No Object name found");
    }
    match graph.related(node, vertex, &request.namespace, &request.name) {
        true => Decision::Allow(String::new()),
        false => no_relationship(node),
    }
}

/// A get of one Secret or ConfigMap, or a list or watch narrowed to one
/// name (`fieldSelector=metadata.name=x`, how the agent follows one).
fn read_object(graph: &Graph, node: &str, vertex: Vertex, request: &RequestInfo) -> Decision {
    if !matches!(request.verb.as_str(), "get" | "list" | "watch") {
        return deny("can only read resources of this type");
    }
    if !request.subresource.is_empty() {
        return deny("cannot read subresource");
    }
    if request.namespace.is_empty() {
        return deny("can only read namespaced object of this type");
    }
    check_graph(graph, node, vertex, request)
}

/// Kubernetes' `authorizeGet`: a get of one object the node is related to.
fn get_one(graph: &Graph, node: &str, vertex: Vertex, request: &RequestInfo) -> Decision {
    if request.verb != "get" {
        return deny("can only get individual resources of this type");
    }
    if !request.subresource.is_empty() {
        return deny("cannot get subresource");
    }
    check_graph(graph, node, vertex, request)
}

/// Claims: get one a pod of the node names; update its status (a resize
/// the node finished).
fn claims(graph: &Graph, node: &str, request: &RequestInfo) -> Decision {
    if request.subresource == "status" {
        if !matches!(request.verb.as_str(), "update" | "patch") {
            return deny("can only update or patch the status of this type");
        }
        return check_graph(graph, node, Vertex::PersistentVolumeClaim, request);
    }
    get_one(graph, node, Vertex::PersistentVolumeClaim, request)
}

/// Volumes: get one bound to a claim of the node's pods, or one of its
/// local-path volumes; update (the cleanup finalizer) only the latter.
fn volumes(graph: &Graph, node: &str, request: &RequestInfo) -> Decision {
    if request.verb != "update" {
        return get_one(graph, node, Vertex::PersistentVolume, request);
    }
    if !request.subresource.is_empty() || request.name.is_empty() {
        return deny("can only update individual local-path volumes of this node");
    }
    match graph.local_volume_of(node, &request.name) {
        true => Decision::Allow(String::new()),
        false => Decision::Deny(format!(
            "node '{node}' can only update the local-path volumes made on it"
        )),
    }
}

/// `POST serviceaccounts/<name>/token` for an account a pod of the node
/// runs as.
fn create_token(graph: &Graph, node: &str, request: &RequestInfo) -> Decision {
    if request.verb != "create" || request.name.is_empty() {
        return deny("can only create tokens for individual service accounts");
    }
    if request.subresource != "token" {
        return deny("can only create token subresource of serviceaccount");
    }
    check_graph(graph, node, Vertex::ServiceAccount, request)
}

/// Whether a field selector requires `field` to equal `value` (one of its
/// comma-separated terms is `field=value` or `field==value`).
fn selects(selector: &str, field: &str, value: &str) -> bool {
    selector.split(',').any(|term| {
        let term = term.trim();
        term.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')))
            == Some(value)
    })
}

/// Pods: the node's own to read; writes NodeRestriction narrows.
fn pods(graph: &Graph, node: &str, request: &RequestInfo) -> Decision {
    match (request.subresource.as_str(), request.verb.as_str()) {
        ("", "get") => check_graph(graph, node, Vertex::Pod, request),
        ("", "list" | "watch") => {
            if selects(&request.field_selector, "spec.nodeName", node) {
                return Decision::Allow(String::new());
            }
            if !request.name.is_empty() {
                return check_graph(graph, node, Vertex::Pod, request);
            }
            deny("can only list/watch pods with spec.nodeName field selector")
        }
        // Mirror pods; the NodeRestriction admission step checks whose.
        ("", "create" | "delete") => Decision::Allow(String::new()),
        ("status", "update" | "patch") => Decision::Allow(String::new()),
        ("eviction", "create") => Decision::Allow(String::new()),
        _ => Decision::Deny(String::new()),
    }
}

/// Nodes: read only its own; write (NodeRestriction checks it is its own).
fn nodes(node: &str, request: &RequestInfo) -> Decision {
    match (request.subresource.as_str(), request.verb.as_str()) {
        ("", "create" | "update" | "patch") => Decision::Allow(String::new()),
        ("", "get" | "list" | "watch") => match request.name.as_str() {
            name if name == node => Decision::Allow(String::new()),
            "" => Decision::Deny(format!(
                "node '{node}' cannot read all nodes, only its own Node object"
            )),
            other => Decision::Deny(format!(
                "node '{node}' cannot read '{other}', only its own Node object"
            )),
        },
        ("status", "update" | "patch") => Decision::Allow(String::new()),
        _ => Decision::Deny(String::new()),
    }
}

/// Its own Lease in `kube-node-lease` (a create has no name in the URL).
fn lease(node: &str, request: &RequestInfo) -> Decision {
    let verb = request.verb.as_str();
    if !matches!(verb, "get" | "create" | "update" | "patch" | "delete") {
        return deny("can only get, create, update, patch, or delete a node lease");
    }
    if request.namespace != NODE_LEASE_NAMESPACE {
        return Decision::Deny(format!(
            "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
        ));
    }
    if verb != "create" && request.name != node {
        return deny("can only access node lease with the same name as the requesting node");
    }
    Decision::Allow(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::request_info::request_info;
    use serde_json::json;

    fn node(name: &str) -> UserInfo {
        UserInfo::authenticated(&format!("{NODE_USER_PREFIX}{name}"), "", &[NODES_GROUP])
    }

    fn graph() -> Graph {
        let mut graph = Graph::default();
        let pod = json!({"metadata": {"namespace": "shop", "name": "web"},
            "spec": {"nodeName": "a", "serviceAccountName": "web",
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
                "containers": [{"name": "c", "env": [{"name": "P",
                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]}]}});
        graph.set_pod("/registry/pods/shop/web", Some(&pod));
        let other = json!({"metadata": {"namespace": "shop", "name": "api"},
            "spec": {"nodeName": "b",
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "logs"}}]}});
        graph.set_pod("/registry/pods/shop/api", Some(&other));
        let bound = |claim: &str| {
            json!({"metadata": {"name": format!("pv-{claim}")},
            "spec": {"claimRef": {"namespace": "shop", "name": claim}}})
        };
        graph.set_volume("/registry/persistentvolumes/pv-data", Some(&bound("data")));
        graph.set_volume("/registry/persistentvolumes/pv-logs", Some(&bound("logs")));
        // A local-path volume made on node a, released: no claim any more.
        let local = json!({"metadata": {"name": "pvc-gone",
                "annotations": {"pv.kubernetes.io/provisioned-by": "orc.dev/local-path"}},
            "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["a"]}]}]}}}});
        graph.set_volume("/registry/persistentvolumes/pvc-gone", Some(&local));
        graph
    }

    fn ask(user: &UserInfo, method: &str, target: &str) -> Decision {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let rules = crate::authz::bootstrap::node_rules();
        decide(&graph(), &rules, user, &request_info(method, path, &query))
    }

    #[test]
    fn a_node_reads_only_what_its_pods_name() {
        let a = node("a");
        assert!(ask(&a, "GET", "/api/v1/namespaces/shop/secrets/db").allowed());
        assert_eq!(
            ask(&node("b"), "GET", "/api/v1/namespaces/shop/secrets/db"),
            Decision::Deny("no relationship found between node 'b' and this object".into())
        );
        assert!(!ask(&a, "GET", "/api/v1/namespaces/shop/secrets/other").allowed());
        // One name, as a watch: allowed; every Secret: not.
        let one = "/api/v1/namespaces/shop/secrets?watch=1&fieldSelector=metadata.name%3Ddb";
        assert!(ask(&a, "GET", one).allowed());
        assert_eq!(
            ask(&a, "GET", "/api/v1/secrets"),
            Decision::Deny("can only read namespaced object of this type".into())
        );
        assert!(!ask(&a, "PUT", "/api/v1/namespaces/shop/secrets/db").allowed());
    }

    #[test]
    fn a_node_gets_its_pods_claims_and_their_volumes_only() {
        let a = node("a");
        let claims = "/api/v1/namespaces/shop/persistentvolumeclaims";
        assert!(ask(&a, "GET", &format!("{claims}/data")).allowed());
        assert!(ask(&a, "GET", "/api/v1/persistentvolumes/pv-data").allowed());
        // Node b's pod's claim and volume: no relationship.
        assert_eq!(
            ask(&a, "GET", &format!("{claims}/logs")),
            Decision::Deny("no relationship found between node 'a' and this object".into())
        );
        assert_eq!(
            ask(&a, "GET", "/api/v1/persistentvolumes/pv-logs"),
            Decision::Deny("no relationship found between node 'a' and this object".into())
        );
        assert!(ask(&node("b"), "GET", &format!("{claims}/logs")).allowed());
        // No list or watch, not even of one name.
        let refused = Decision::Deny("can only get individual resources of this type".into());
        assert_eq!(ask(&a, "GET", claims), refused);
        assert_eq!(
            ask(&a, "GET", "/api/v1/persistentvolumeclaims?watch=1"),
            refused
        );
        assert_eq!(
            ask(
                &a,
                "GET",
                &format!("{claims}?watch=1&fieldSelector=metadata.name%3Ddata")
            ),
            refused
        );
        assert_eq!(ask(&a, "GET", "/api/v1/persistentvolumes"), refused);
        assert_eq!(ask(&a, "GET", "/api/v1/persistentvolumes?watch=1"), refused);
        assert!(!ask(&a, "PUT", &format!("{claims}/data")).allowed());
        assert!(!ask(&a, "DELETE", &format!("{claims}/data")).allowed());
        assert!(ask(&a, "PATCH", &format!("{claims}/data/status")).allowed());
        assert!(!ask(&a, "PATCH", &format!("{claims}/logs/status")).allowed());
    }

    #[test]
    fn a_node_updates_only_its_own_local_path_volumes() {
        let a = node("a");
        let gone = "/api/v1/persistentvolumes/pvc-gone";
        assert!(ask(&a, "GET", gone).allowed());
        assert!(ask(&a, "PUT", gone).allowed());
        assert_eq!(
            ask(&node("b"), "PUT", gone),
            Decision::Deny("node 'b' can only update the local-path volumes made on it".into())
        );
        assert!(!ask(&node("b"), "GET", gone).allowed());
        // Bound to its pod's claim, but not a local-path volume of it.
        assert!(!ask(&a, "PUT", "/api/v1/persistentvolumes/pv-data").allowed());
        assert!(!ask(&a, "DELETE", gone).allowed());
        assert!(!ask(&a, "PATCH", gone).allowed());
    }

    #[test]
    fn pods_nodes_leases_and_tokens_are_the_nodes_own() {
        let a = node("a");
        assert!(ask(&a, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Da").allowed());
        assert!(!ask(&a, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Db").allowed());
        assert!(!ask(&a, "GET", "/api/v1/pods").allowed());
        assert!(ask(&a, "GET", "/api/v1/namespaces/shop/pods/web").allowed());
        assert!(ask(&a, "PUT", "/api/v1/namespaces/shop/pods/web/status").allowed());
        assert!(!ask(&a, "PUT", "/api/v1/namespaces/shop/pods/web").allowed());
        assert!(ask(&a, "GET", "/api/v1/nodes/a").allowed());
        assert_eq!(
            ask(&a, "GET", "/api/v1/nodes/b"),
            Decision::Deny("node 'a' cannot read 'b', only its own Node object".into())
        );
        let lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
        assert!(ask(&a, "PUT", &format!("{lease}/a")).allowed());
        assert!(!ask(&a, "PUT", &format!("{lease}/b")).allowed());
        let token = "/api/v1/namespaces/shop/serviceaccounts/web/token";
        assert!(ask(&a, "POST", token).allowed());
        assert!(!ask(&node("b"), "POST", token).allowed());
        // Static rules for the rest; and no opinion on anyone else.
        assert!(ask(&a, "POST", "/api/v1/namespaces/shop/events").allowed());
        assert!(ask(&a, "POST", "/apis/events.k8s.io/v1/namespaces/shop/events").allowed());
        assert!(!ask(&a, "GET", "/apis/apps/v1/deployments").allowed());
        let impostor = UserInfo::authenticated("system:node:a", "", &[]);
        assert_eq!(
            ask(&impostor, "GET", "/api/v1/nodes/a"),
            Decision::Deny(String::new())
        );
    }
}
