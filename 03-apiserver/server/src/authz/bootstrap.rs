//! Kubernetes' default roles and bindings, created when the server starts.
//!
//! An RBAC cluster with no roles refuses everyone but `system:masters`.
//! kube-apiserver therefore ensures its *bootstrap policy* in a post-start
//! hook: `cluster-admin` bound to `system:masters`; the user-facing
//! `admin`, `edit` and `view`, which are empty shells filled by
//! aggregation from `system:aggregate-to-*`; `system:discovery`,
//! `system:basic-user` and `system:public-info-viewer`, which let anyone
//! read discovery and ask `can-i`; and one role per system component.
//! The policy is data (`bootstrap-policy.yaml`, Kubernetes v1.32's rules),
//! and [`ensure_bootstrap_policy`] creates what is missing, leaving alone
//! what exists: an administrator's edits survive a restart.

use serde::Deserialize;
use serde_json::{Value, json};

use super::policy::PolicyRule;
use crate::storage::{self, StorageError, Store};
use orc_client::resources::{RBAC_GROUP, lookup};

/// The policy file, compiled in.
const POLICY: &str = include_str!("bootstrap-policy.yaml");

/// The label prefix ClusterRoles aggregate by.
pub const AGGREGATE_TO: &str = "rbac.authorization.k8s.io/aggregate-to-";

/// The file's shape.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BootstrapPolicy {
    cluster_roles: Vec<DefaultRole>,
    cluster_role_bindings: Vec<DefaultBinding>,
}

/// One default ClusterRole.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefaultRole {
    name: String,
    #[serde(default)]
    rules: Vec<PolicyRule>,
    /// Which aggregated roles take this one's rules (`admin`, `edit`, `view`).
    #[serde(default)]
    aggregate_to: Vec<String>,
    /// Set for an aggregated role: the label it gathers roles by.
    aggregation_rule: Option<String>,
}

/// One default ClusterRoleBinding, of the ClusterRole of the same name
/// unless `role` names another.
#[derive(Deserialize)]
struct DefaultBinding {
    name: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    /// `namespace/name` of each ServiceAccount it names.
    #[serde(default, rename = "serviceAccounts")]
    service_accounts: Vec<String>,
}

/// Labels and annotations every default object carries, as in Kubernetes:
/// `autoupdate` says the API server may restore it.
fn default_meta(name: &str, extra_labels: &[String]) -> Value {
    let mut labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    for to in extra_labels {
        labels[format!("{AGGREGATE_TO}{to}")] = json!("true");
    }
    json!({
        "name": name,
        "uid": crate::meta::new_uid(),
        "creationTimestamp": orc_client::time::format(jiff::Timestamp::now()),
        "labels": labels,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

/// The default ClusterRole objects and ClusterRoleBinding objects.
pub fn default_objects() -> (Vec<Value>, Vec<Value>) {
    let policy: BootstrapPolicy =
        serde_yaml::from_str(POLICY).expect("bootstrap-policy.yaml is valid (unit-tested)");
    let api_version = format!("{RBAC_GROUP}/v1");
    let roles = policy
        .cluster_roles
        .iter()
        .map(|role| {
            let mut obj = json!({
                "apiVersion": api_version,
                "kind": "ClusterRole",
                "metadata": default_meta(&role.name, &role.aggregate_to),
                "rules": role.rules,
            });
            if let Some(to) = &role.aggregation_rule {
                obj["aggregationRule"] = json!({"clusterRoleSelectors": [
                    {"matchLabels": {format!("{AGGREGATE_TO}{to}"): "true"}}
                ]});
            }
            obj
        })
        .collect();
    let bindings = policy
        .cluster_role_bindings
        .iter()
        .map(|b| {
            let subject = |kind: &str, name: &String| json!({"kind": kind, "apiGroup": RBAC_GROUP, "name": name});
            // A ServiceAccount subject has a namespace and no API group.
            let account = |sa: &String| {
                let (namespace, name) = sa.split_once('/').unwrap_or(("default", sa));
                json!({"kind": "ServiceAccount", "namespace": namespace, "name": name})
            };
            let subjects: Vec<Value> = (b.service_accounts.iter().map(account))
                .chain(b.users.iter().map(|u| subject("User", u)))
                .chain(b.groups.iter().map(|g| subject("Group", g)))
                .collect();
            json!({
                "apiVersion": api_version,
                "kind": "ClusterRoleBinding",
                "metadata": default_meta(&b.name, &[]),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole",
                    "name": b.role.as_ref().unwrap_or(&b.name)},
                "subjects": subjects,
            })
        })
        .collect();
    (roles, bindings)
}

/// The rules of the `system:node` ClusterRole: what the Node authorizer
/// grants every node for the resources it does not narrow to the node's
/// own objects (Kubernetes' `NodeRules()`, compiled into the authorizer
/// the same way rather than read from the editable role).
pub fn node_rules() -> Vec<PolicyRule> {
    let policy: BootstrapPolicy =
        serde_yaml::from_str(POLICY).expect("bootstrap-policy.yaml is valid (unit-tested)");
    policy
        .cluster_roles
        .into_iter()
        .find(|role| role.name == "system:node")
        .map(|role| role.rules)
        .unwrap_or_default()
}

/// Creates the default ClusterRoles and ClusterRoleBindings that do not
/// exist; existing ones are left as they are.
pub async fn ensure_bootstrap_policy(store: &Store) -> Result<(), StorageError> {
    let (roles, bindings) = default_objects();
    let cluster_roles = lookup(RBAC_GROUP, "v1", "clusterroles").expect("served");
    let cluster_role_bindings = lookup(RBAC_GROUP, "v1", "clusterrolebindings").expect("served");
    let all = roles
        .into_iter()
        .map(|r| (cluster_roles, r))
        .chain(bindings.into_iter().map(|b| (cluster_role_bindings, b)));
    for (resource, obj) in all {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match store
            .create(
                &storage::key(resource, None, &name),
                obj,
                None,
                storage::Expiry::Never,
            )
            .await
        {
            Ok(_) | Err(StorageError::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_parses_and_every_binding_names_a_role() {
        let (roles, bindings) = default_objects();
        let names: Vec<&str> = roles
            .iter()
            .map(|r| r["metadata"]["name"].as_str().unwrap())
            .collect();
        for wanted in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:discovery",
            "system:node",
        ] {
            assert!(names.contains(&wanted), "{wanted}");
        }
        assert!(!node_rules().is_empty());
        // Bound to nobody, as since Kubernetes 1.8: the Node authorizer
        // grants nodes its rules, each for its own objects.
        let node = bindings
            .iter()
            .find(|b| b["metadata"]["name"] == "system:node")
            .unwrap();
        assert_eq!(node["subjects"], json!([]));
        // The API server's certificate on the agents' ports: RBAC-allowed
        // everything there, as kubeadm binds it.
        let hop = bindings
            .iter()
            .find(|b| b["metadata"]["name"] == "kubeadm:kubelet-api-admin")
            .unwrap();
        assert_eq!(hop["roleRef"]["name"], "system:kubelet-api-admin");
        assert_eq!(hop["subjects"][0]["name"], "kube-apiserver-kubelet-client");
        for b in &bindings {
            assert!(
                names.contains(&b["roleRef"]["name"].as_str().unwrap()),
                "{b}"
            );
        }
        let view = roles
            .iter()
            .find(|r| r["metadata"]["name"] == "view")
            .unwrap();
        assert_eq!(
            view["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["rbac.authorization.k8s.io/aggregate-to-view"],
            "true"
        );
        assert_eq!(
            view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
            "true"
        );
        let masters = bindings
            .iter()
            .find(|b| b["metadata"]["name"] == "cluster-admin")
            .unwrap();
        assert_eq!(
            masters["subjects"][0],
            json!({"kind": "Group", "apiGroup": RBAC_GROUP, "name": "system:masters"})
        );
        // A controller's role: its ServiceAccount, as in Kubernetes, and
        // orc's controller manager, which runs every loop as itself.
        let replicasets = bindings
            .iter()
            .find(|b| b["metadata"]["name"] == "system:controller:replicaset-controller")
            .unwrap();
        assert_eq!(
            replicasets["subjects"],
            json!([
                {"kind": "ServiceAccount", "namespace": "kube-system", "name": "replicaset-controller"},
                {"kind": "User", "apiGroup": RBAC_GROUP, "name": "system:kube-controller-manager"},
            ])
        );
    }
}
