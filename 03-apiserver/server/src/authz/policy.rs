//! RBAC's four kinds as the authorizer reads them, and one snapshot of
//! them all: the [`Policy`].
//!
//! A Role (in a namespace) or ClusterRole (everywhere) is a list of
//! [`PolicyRule`]s: what may be done. A RoleBinding or ClusterRoleBinding
//! gives a role's rules to [`Subject`]s: who may do it. Nothing else is
//! involved: there are no deny rules, so a request is allowed when *some*
//! rule reachable from *some* binding of the user allows it, and refused
//! otherwise.
//!
//! The types keep only what authorizing needs; the objects themselves are
//! stored whole, as any other, and served as written.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One rule of a role, read aloud: "may `verbs` the `resources` in
/// `apiGroups` (only those named `resourceNames`, if any)", or "may
/// `verbs` the paths `nonResourceURLs`".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// `get`, `list`, ... or `*` for every verb.
    pub verbs: Vec<String>,
    /// `""` is the core group; `*` every group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// `pods`, `pods/log`, `*/scale`, or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Empty: every object; else only these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// `/healthz`, or a prefix ending in `*` (`/apis/*`).
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// Who a binding names: a `User`, a `Group` or a `ServiceAccount`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups, `""` for service
    /// accounts.
    #[serde(default)]
    pub api_group: String,
    /// The user's, group's or service account's name.
    pub name: String,
    /// A service account's namespace; in a RoleBinding it defaults to the
    /// binding's own.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The role a binding grants: a `Role` in the binding's namespace or a
/// `ClusterRole`. Immutable once the binding exists: changing what a
/// binding grants means deleting it and making another, so nobody's
/// rights change under a name already reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// Always `rbac.authorization.k8s.io`.
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// A RoleBinding or ClusterRoleBinding, as the authorizer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Binding {
    /// The binding's name, for the reason an allowed request gives.
    pub name: String,
    /// Empty for a ClusterRoleBinding.
    pub namespace: String,
    /// What it grants.
    pub role_ref: RoleRef,
    /// To whom.
    pub subjects: Vec<Subject>,
}

/// Every Role, ClusterRole and binding at one moment: what the authorizer
/// decides from. Built whole and swapped whole (see `cache.rs`), so a
/// decision never sees half of a change.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// ClusterRoles' rules by name.
    pub cluster_roles: HashMap<String, Vec<PolicyRule>>,
    /// Roles' rules by (namespace, name).
    pub roles: HashMap<(String, String), Vec<PolicyRule>>,
    /// Every ClusterRoleBinding.
    pub cluster_role_bindings: Vec<Binding>,
    /// RoleBindings by namespace: only the request's namespace is read.
    pub role_bindings: HashMap<String, Vec<Binding>>,
}

/// The parts of an RBAC object the authorizer reads; a field that does not
/// parse reads as empty (validation refuses such objects on write).
fn field<T: serde::de::DeserializeOwned + Default>(obj: &Value, name: &str) -> T {
    obj.get(name)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn meta(obj: &Value, name: &str) -> String {
    obj.pointer(&format!("/metadata/{name}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Policy {
    /// Adds one stored object of kind `kind`; other kinds are ignored.
    pub fn insert(&mut self, kind: &str, obj: &Value) {
        let (name, namespace) = (meta(obj, "name"), meta(obj, "namespace"));
        match kind {
            "ClusterRole" => {
                self.cluster_roles.insert(name, field(obj, "rules"));
            }
            "Role" => {
                self.roles.insert((namespace, name), field(obj, "rules"));
            }
            "ClusterRoleBinding" | "RoleBinding" => {
                let binding = Binding {
                    name,
                    namespace: namespace.clone(),
                    role_ref: field(obj, "roleRef"),
                    subjects: field(obj, "subjects"),
                };
                if kind == "ClusterRoleBinding" {
                    self.cluster_role_bindings.push(binding);
                } else {
                    self.role_bindings
                        .entry(namespace)
                        .or_default()
                        .push(binding);
                }
            }
            _ => {}
        }
    }

    /// The rules a binding grants, or `None` when its role does not exist
    /// (a binding may be made before its role, as in Kubernetes).
    pub fn rules_of(&self, binding: &Binding) -> Option<&[PolicyRule]> {
        let rules = match binding.role_ref.kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&binding.role_ref.name),
            "Role" => self
                .roles
                .get(&(binding.namespace.clone(), binding.role_ref.name.clone())),
            _ => None,
        };
        rules.map(Vec::as_slice)
    }
}
