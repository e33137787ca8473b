//! The RBAC decision: may this user do this request under this policy?
//!
//! Pure functions over a [`Policy`] snapshot, the way Kubernetes'
//! `RBACAuthorizer` works (plugin/pkg/auth/authorizer/rbac):
//!
//! 1. Walk the user's bindings: every ClusterRoleBinding, then the
//!    RoleBindings of the request's namespace, keeping those with a
//!    subject that is the user (by name, by one of its groups, or as a
//!    service account `system:serviceaccount:<ns>:<name>`).
//! 2. For each, read its role's rules; the first rule that allows the
//!    request allows it, and names the binding as the reason.
//! 3. Nothing allowed it: refused. There are no deny rules to look for.

use super::policy::{Binding, Policy, PolicyRule, Subject};
use super::request_info::RequestInfo;
use crate::authn::UserInfo;

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the reason names the binding and role that allowed it
    /// (`SubjectAccessReview` shows it).
    Allow(String),
    /// No rule allows it. The reason is empty unless something was broken
    /// on the way (a binding naming a role that does not exist), as in
    /// Kubernetes.
    Deny(String),
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

// ANCHOR: rule_allows
/// Whether one rule allows the request (Kubernetes' `RuleAllows`).
pub fn rule_allows(rule: &PolicyRule, request: &RequestInfo) -> bool {
    let verb = has(&rule.verbs, &request.verb);
    if !request.is_resource_request {
        return verb && path_matches(&rule.non_resource_urls, &request.path);
    }
    let mut combined = request.resource.clone();
    if !request.subresource.is_empty() {
        combined = format!("{combined}/{}", request.subresource);
    }
    verb && has(&rule.api_groups, &request.api_group)
        && resource_matches(&rule.resources, &combined, &request.subresource)
        && (rule.resource_names.is_empty() || rule.resource_names.contains(&request.name))
}
// ANCHOR_END: rule_allows

/// `*` or the value itself.
fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

/// `*`, `pods/log` for `pods/log`, or `*/log` for any resource's `log`.
fn resource_matches(rule_resources: &[String], combined: &str, subresource: &str) -> bool {
    rule_resources.iter().any(|r| {
        r == "*"
            || r == combined
            || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
    })
}

/// `*`, the path itself, or a prefix ending in `*` (`/apis/*`).
fn path_matches(urls: &[String], path: &str) -> bool {
    urls.iter().any(|u| {
        u == "*"
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// Whether `subject` is `user`. `namespace` is the binding's: a service
/// account named without a namespace in a RoleBinding is one of its own.
pub fn applies_to(subject: &Subject, user: &UserInfo, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        _ => false,
    }
}

/// The bindings that apply to `user` for a request in `namespace` (empty:
/// cluster scope), each with the subject that matched.
fn bindings_for<'p>(
    policy: &'p Policy,
    user: &UserInfo,
    namespace: &str,
) -> impl Iterator<Item = (&'p Binding, &'p Subject)> {
    let local = match namespace {
        "" => None,
        ns => policy.role_bindings.get(ns),
    };
    policy
        .cluster_role_bindings
        .iter()
        .chain(local.into_iter().flatten())
        .filter_map(move |b| {
            let subject = b
                .subjects
                .iter()
                .find(|s| applies_to(s, user, &b.namespace))?;
            Some((b, subject))
        })
}

/// `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`, Kubernetes'
/// words for where an allowing rule came from.
fn describe(binding: &Binding, subject: &Subject) -> String {
    let who = match subject.kind.as_str() {
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                &binding.namespace
            } else {
                &subject.namespace
            };
            format!("{} {:?}", subject.kind, format!("{}/{ns}", subject.name))
        }
        _ => format!("{} {:?}", subject.kind, subject.name),
    };
    let role = format!("{} {:?}", binding.role_ref.kind, binding.role_ref.name);
    match binding.namespace.as_str() {
        "" => format!("ClusterRoleBinding {:?} of {role} to {who}", binding.name),
        ns => format!(
            "RoleBinding {:?} of {role} to {who}",
            format!("{}/{ns}", binding.name)
        ),
    }
}

/// `clusterrole.rbac.authorization.k8s.io "x" not found`.
fn missing_role(binding: &Binding) -> String {
    let kind = binding.role_ref.kind.to_lowercase();
    format!(
        "{kind}.rbac.authorization.k8s.io {:?} not found",
        binding.role_ref.name
    )
}

// ANCHOR: decide
/// May `user` do `request` under `policy`? (Kubernetes' `Authorize`.)
pub fn decide(policy: &Policy, user: &UserInfo, request: &RequestInfo) -> Decision {
    let mut errors = Vec::new();
    for (binding, subject) in bindings_for(policy, user, &request.namespace) {
        let Some(rules) = policy.rules_of(binding) else {
            errors.push(missing_role(binding));
            continue;
        };
        if rules.iter().any(|rule| rule_allows(rule, request)) {
            return Decision::Allow(format!("RBAC: allowed by {}", describe(binding, subject)));
        }
    }
    match errors.is_empty() {
        true => Decision::Deny(String::new()),
        false => Decision::Deny(format!("RBAC: [{}]", errors.join(", "))),
    }
}
// ANCHOR_END: decide

/// Every rule `user` has in `namespace` (cluster-wide rules included),
/// with the errors met: what `SelfSubjectRulesReview` answers.
pub fn rules_for(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
) -> (Vec<PolicyRule>, Vec<String>) {
    let mut rules: Vec<PolicyRule> = Vec::new();
    let mut errors = Vec::new();
    for (binding, _) in bindings_for(policy, user, namespace) {
        match policy.rules_of(binding) {
            Some(found) => rules.extend(found.iter().cloned()),
            None => errors.push(missing_role(binding)),
        }
    }
    (rules, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::request_info::request_info;
    use serde_json::json;

    fn rule(value: serde_json::Value) -> PolicyRule {
        serde_json::from_value(value).unwrap()
    }

    fn req(method: &str, path: &str) -> RequestInfo {
        request_info(method, path, &[])
    }

    #[test]
    fn verbs_groups_resources_and_stars() {
        let r = rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}));
        assert!(rule_allows(&r, &req("GET", "/api/v1/namespaces/a/pods")));
        assert!(rule_allows(
            &r,
            &req("GET", "/api/v1/namespaces/a/pods/web")
        ));
        assert!(!rule_allows(
            &r,
            &req("DELETE", "/api/v1/namespaces/a/pods/web")
        ));
        assert!(!rule_allows(
            &r,
            &req("GET", "/apis/apps/v1/namespaces/a/pods")
        ));
        // A subresource is its own resource: `pods` does not grant `pods/log`.
        assert!(!rule_allows(
            &r,
            &req("GET", "/api/v1/namespaces/a/pods/web/log")
        ));
        let all = rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        assert!(rule_allows(
            &all,
            &req("DELETE", "/apis/apps/v1/namespaces/a/deployments")
        ));
        assert!(rule_allows(
            &all,
            &req("GET", "/api/v1/namespaces/a/pods/web/log")
        ));
        assert!(
            !rule_allows(&all, &req("GET", "/healthz")),
            "resource rules never match paths"
        );
    }

    #[test]
    fn subresources_and_resource_names() {
        let log = rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}));
        assert!(rule_allows(
            &log,
            &req("GET", "/api/v1/namespaces/a/pods/web/log")
        ));
        assert!(!rule_allows(
            &log,
            &req("GET", "/api/v1/namespaces/a/pods/web")
        ));
        let any_status =
            rule(json!({"verbs": ["update"], "apiGroups": ["*"], "resources": ["*/status"]}));
        assert!(rule_allows(
            &any_status,
            &req("PUT", "/api/v1/namespaces/a/pods/p/status")
        ));
        assert!(!rule_allows(
            &any_status,
            &req("PUT", "/api/v1/namespaces/a/pods/p")
        ));
        let named = rule(
            json!({"verbs": ["get", "update"], "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"], "resourceNames": ["kube-scheduler"]}),
        );
        let lease = |name: &str| {
            req(
                "GET",
                &format!("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"),
            )
        };
        assert!(rule_allows(&named, &lease("kube-scheduler")));
        assert!(!rule_allows(&named, &lease("other")));
        // A list has no name, so a rule limited to names never allows it.
        assert!(!rule_allows(
            &named,
            &req("GET", "/apis/coordination.k8s.io/v1/leases")
        ));
    }

    #[test]
    fn non_resource_urls_with_trailing_stars() {
        let r = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}));
        assert!(rule_allows(&r, &req("GET", "/healthz")));
        assert!(rule_allows(&r, &req("GET", "/apis/apps/v1")));
        assert!(!rule_allows(&r, &req("GET", "/healthz/etcd")));
        assert!(!rule_allows(&r, &req("POST", "/healthz")));
        assert!(
            !rule_allows(&r, &req("GET", "/apis")),
            "/apis/* needs the slash"
        );
    }

    fn policy() -> Policy {
        let mut p = Policy::default();
        p.insert(
            "ClusterRole",
            &json!({"metadata": {"name": "view"},
            "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}),
        );
        p.insert(
            "Role",
            &json!({"metadata": {"name": "secrets", "namespace": "a"},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]}),
        );
        p.insert("RoleBinding", &json!({"metadata": {"name": "alice-view", "namespace": "a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]}));
        p.insert(
            "RoleBinding",
            &json!({"metadata": {"name": "sa", "namespace": "a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secrets"},
            "subjects": [{"kind": "ServiceAccount", "name": "builder"}]}),
        );
        p.insert("ClusterRoleBinding", &json!({"metadata": {"name": "ops"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}]}));
        p.insert("ClusterRoleBinding", &json!({"metadata": {"name": "dangling"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gone"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]}));
        p
    }

    #[test]
    fn a_role_binding_grants_in_its_namespace_only() {
        let alice = UserInfo::authenticated("alice", "", &[]);
        let p = policy();
        let allowed = decide(&p, &alice, &req("GET", "/api/v1/namespaces/a/pods"));
        assert_eq!(
            allowed,
            Decision::Allow(
                "RBAC: allowed by RoleBinding \"alice-view/a\" of ClusterRole \"view\" to User \"alice\"".into()
            )
        );
        assert!(!decide(&p, &alice, &req("GET", "/api/v1/namespaces/b/pods")).allowed());
        assert!(!decide(&p, &alice, &req("GET", "/api/v1/pods")).allowed());
    }

    #[test]
    fn groups_service_accounts_and_missing_roles() {
        let p = policy();
        let ops = UserInfo::authenticated("carol", "", &["ops"]);
        assert!(decide(&p, &ops, &req("GET", "/api/v1/pods")).allowed());
        let sa = UserInfo::authenticated("system:serviceaccount:a:builder", "", &[]);
        assert!(decide(&p, &sa, &req("GET", "/api/v1/namespaces/a/secrets/s")).allowed());
        let other_ns = UserInfo::authenticated("system:serviceaccount:b:builder", "", &[]);
        assert!(!decide(&p, &other_ns, &req("GET", "/api/v1/namespaces/a/secrets/s")).allowed());
        let bob = UserInfo::authenticated("bob", "", &[]);
        assert_eq!(
            decide(&p, &bob, &req("GET", "/api/v1/pods")),
            Decision::Deny(
                "RBAC: [clusterrole.rbac.authorization.k8s.io \"gone\" not found]".into()
            )
        );
        let (rules, errors) = rules_for(&p, &ops, "a");
        assert_eq!(rules.len(), 1);
        assert!(errors.is_empty());
    }
}
