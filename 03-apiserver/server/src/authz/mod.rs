//! Authorization: may this user do this?
//!
//! Authentication (`authn/`) found who is asking; this module decides
//! whether they may, before any handler runs. kube-apiserver chains
//! *authorizers* named by `--authorization-mode` (`Node,RBAC`): each one
//! allows, or has no opinion and passes to the next; if none allows, the
//! answer is 403 with a message saying who could not do what:
//!
//! ```text
//! pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"
//! ```
//!
//! orc has the same modes: `AlwaysAllow` (the default, as kube-apiserver's
//! is, so a test server on loopback needs no policy), `AlwaysDeny`, `RBAC`
//! and `Node`, a node's credential limited to its own objects (`orc up`
//! and `orc server` run `Node,RBAC`, as Kubernetes recommends). Before
//! them, as in Kubernetes, members of `system:masters` are always allowed:
//! the group cannot lock itself out by editing RBAC.
//!
//! Layout:
//! - [`request_info`]: a request's verb, group, resource, subresource,
//!   namespace and name, or its non-resource path (pure).
//! - [`policy`]: RBAC's kinds as the authorizer reads them, and the
//!   [`policy::Policy`] snapshot.
//! - [`rbac`]: the RBAC decision and the rules a user has (pure).
//! - [`cache`]: the policy kept current from etcd through the watch hub
//!   (and [`cache::follow`], how every authorizer's cache follows it).
//! - [`node`]: the Node authorizer's decision (pure); [`node_graph`]: the
//!   pods' relationships it decides from, kept current the same way.
//! - [`bootstrap`]: Kubernetes' default roles and bindings, ensured at start.
//! - [`validation`]: RBAC objects' field rules.
//! - [`escalation`]: nobody writes a role or binding granting more than
//!   they hold (unless allowed to `escalate` or `bind`).
//! - [`reviews`]: SelfSubjectAccessReview, SubjectAccessReview and
//!   SelfSubjectRulesReview, the questions `kubectl auth can-i` asks.
//! - [`mode`]: `--authorization-mode`, parsed.
//! - [`middleware`]: the request-path shell: impersonation, then the decision.

pub mod bootstrap;
pub mod cache;
pub mod escalation;
pub mod middleware;
pub mod mode;
pub mod node;
pub mod node_graph;
pub mod policy;
pub mod rbac;
pub mod request_info;
pub mod reviews;
pub mod validation;

pub use mode::{Mode, Modes};

use crate::authn::{MASTERS, UserInfo};
use cache::PolicyCache;
use rbac::Decision;
use request_info::RequestInfo;

/// The authorizers of `--authorization-mode`, in order, and what they
/// decide from.
pub struct Authorizer {
    /// The modes, in the order they are asked.
    modes: Modes,
    /// The RBAC objects; `None` when no mode reads them.
    policy: Option<PolicyCache>,
    /// The Node authorizer's graph and the `system:node` rules; `None`
    /// without `Node`.
    nodes: Option<NodeAuthorizer>,
}

/// What the Node authorizer decides from.
pub struct NodeAuthorizer {
    /// Which objects each node's pods name.
    pub graph: node_graph::GraphCache,
    /// The `system:node` ClusterRole's rules, for the resources it does
    /// not narrow.
    pub rules: Vec<policy::PolicyRule>,
}

impl Authorizer {
    /// Authorizers for `modes`; `policy` must be given when a mode needs it.
    pub fn new(modes: Modes, policy: Option<PolicyCache>) -> Authorizer {
        Authorizer {
            modes,
            policy,
            nodes: None,
        }
    }

    /// The same, with the Node authorizer's graph (`Node` in `modes`).
    pub fn with_nodes(mut self, graph: node_graph::GraphCache) -> Authorizer {
        self.nodes = Some(NodeAuthorizer {
            graph,
            rules: bootstrap::node_rules(),
        });
        self
    }

    /// Whether requests are checked at all (`AlwaysAllow` alone: no).
    pub fn enabled(&self) -> bool {
        self.modes.0 != [Mode::AlwaysAllow]
    }

    /// Asks each authorizer in turn; the first that allows decides.
    pub fn authorize(&self, user: &UserInfo, request: &RequestInfo) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            return Decision::Allow(format!("allowed by group {MASTERS:?}"));
        }
        let mut reasons = Vec::new();
        for mode in &self.modes.0 {
            let decision = match mode {
                Mode::AlwaysAllow => return Decision::Allow(String::new()),
                Mode::AlwaysDeny => Decision::Deny(String::new()),
                Mode::Rbac => match &self.policy {
                    Some(cache) => rbac::decide(&cache.policy(), user, request),
                    None => Decision::Deny("RBAC: no policy loaded".into()),
                },
                Mode::Node => match &self.nodes {
                    Some(nodes) => nodes
                        .graph
                        .read(|graph| node::decide(graph, &nodes.rules, user, request)),
                    None => Decision::Deny("Node: no graph loaded".into()),
                },
            };
            match decision {
                Decision::Allow(reason) => return Decision::Allow(reason),
                Decision::Deny(reason) if !reason.is_empty() => reasons.push(reason),
                Decision::Deny(_) => {}
            }
        }
        Decision::Deny(reasons.join("\n"))
    }

    /// [`Authorizer::authorize`], but a node refused is asked again once
    /// the Node authorizer's graph has applied every pod event already
    /// delivered (see [`node_graph::GraphCache::caught_up`]): a request
    /// never loses a race with the graph it depends on.
    pub async fn authorize_request(&self, user: &UserInfo, request: &RequestInfo) -> Decision {
        let decision = self.authorize(user, request);
        match (&decision, &self.nodes) {
            (Decision::Deny(_), Some(nodes)) if node::node_name(user).is_some() => {
                nodes.graph.caught_up().await;
                self.authorize(user, request)
            }
            _ => decision,
        }
    }

    /// The RBAC rules `user` has in `namespace`, and errors met: what
    /// `SelfSubjectRulesReview` answers. Empty without RBAC.
    pub fn rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
    ) -> (Vec<policy::PolicyRule>, Vec<String>) {
        let (rules, mut errors) = match &self.policy {
            Some(cache) if self.modes.0.contains(&Mode::Rbac) => {
                rbac::rules_for(&cache.policy(), user, namespace)
            }
            _ => (Vec::new(), Vec::new()),
        };
        // A node's rules depend on its pods: Kubernetes' Node authorizer
        // says the list is incomplete rather than list them.
        if self.modes.uses_node() && node::node_name(user).is_some() {
            errors.push("node authorizer does not support user rule resolution".into());
        }
        (rules, errors)
    }
}

impl Authorizer {
    /// The rules of the role `role_ref` names, for a binding in
    /// `namespace`; the error says which role is missing.
    pub fn role_rules(
        &self,
        role_ref: &policy::RoleRef,
        namespace: &str,
    ) -> Result<Vec<policy::PolicyRule>, String> {
        let binding = policy::Binding {
            namespace: namespace.into(),
            role_ref: role_ref.clone(),
            ..policy::Binding::default()
        };
        let policy = self.policy.as_ref().map(|c| c.policy()).unwrap_or_default();
        match policy.rules_of(&binding) {
            Some(rules) => Ok(rules.to_vec()),
            None => Err(format!(
                "{}.{} {:?} not found",
                role_ref.kind.to_lowercase(),
                orc_client::resources::RBAC_GROUP,
                role_ref.name
            )),
        }
    }
}

// ANCHOR: forbidden
/// Kubernetes' 403 message for `user` refused `request`
/// (`forbiddenMessage` and `NewForbidden` in k8s.io/apiserver): the
/// resource (with its group) and name first, then who could not do what,
/// where; the authorizers' reason, if any, last.
pub fn forbidden_message(user: &str, request: &RequestInfo, reason: &str) -> String {
    let what = if !request.is_resource_request {
        format!(
            "User {user:?} cannot {} path {:?}",
            request.verb, request.path
        )
    } else {
        let mut resource = request.resource.clone();
        if !request.subresource.is_empty() {
            resource = format!("{resource}/{}", request.subresource);
        }
        let scope = match request.namespace.as_str() {
            "" => "at the cluster scope".to_string(),
            ns => format!("in the namespace {ns:?}"),
        };
        format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            request.verb, request.api_group
        )
    };
    let what = match reason {
        "" => what,
        reason => format!("{what}: {reason}"),
    };
    let qualified = match request.api_group.as_str() {
        "" => request.resource.clone(),
        group => format!("{}.{group}", request.resource),
    };
    match (request.is_resource_request, request.name.as_str()) {
        (false, _) => format!("forbidden: {what}"),
        (true, "") => format!("{qualified} is forbidden: {what}"),
        (true, name) => format!("{qualified} {name:?} is forbidden: {what}"),
    }
}
// ANCHOR_END: forbidden

#[cfg(test)]
mod tests {
    use super::*;
    use request_info::request_info;

    fn message(method: &str, path: &str) -> String {
        forbidden_message("alice", &request_info(method, path, &[]), "")
    }

    #[test]
    fn forbidden_messages_read_like_kubernetes() {
        assert_eq!(
            message("GET", "/api/v1/namespaces/default/pods"),
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        assert_eq!(
            message("GET", "/api/v1/namespaces/default/secrets/db"),
            "secrets \"db\" is forbidden: User \"alice\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
        );
        assert_eq!(
            message("DELETE", "/apis/apps/v1/namespaces/a/deployments"),
            "deployments.apps is forbidden: User \"alice\" cannot deletecollection resource \"deployments\" in API group \"apps\" in the namespace \"a\""
        );
        assert_eq!(
            message("GET", "/api/v1/nodes"),
            "nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        );
        assert_eq!(
            message("GET", "/api/v1/namespaces/a/pods/web/log"),
            "pods \"web\" is forbidden: User \"alice\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"a\""
        );
        assert_eq!(
            message("GET", "/metrics"),
            "forbidden: User \"alice\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn masters_always_pass_and_always_allow_allows() {
        let request = request_info("GET", "/api/v1/secrets", &[]);
        let deny = Authorizer::new(Modes(vec![Mode::AlwaysDeny]), None);
        let admin = UserInfo::authenticated("admin", "", &[MASTERS]);
        assert!(deny.authorize(&admin, &request).allowed());
        assert!(!deny.authorize(&UserInfo::anonymous(), &request).allowed());
        let allow = Authorizer::new(Modes(vec![Mode::AlwaysAllow]), None);
        assert!(allow.authorize(&UserInfo::anonymous(), &request).allowed());
        assert!(!allow.enabled());
    }
}
