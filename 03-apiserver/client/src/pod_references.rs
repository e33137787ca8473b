//! The objects a pod names: what its node must be able to read to run it.
//!
//! A pod's spec points at other objects by name, all in the pod's own
//! namespace: Secrets and ConfigMaps (volumes, projected volumes,
//! `env[].valueFrom`, `envFrom`, `imagePullSecrets`),
//! PersistentVolumeClaims (volumes) and its ServiceAccount. Two sides need
//! that list:
//!
//! - the API server's Node authorizer lets node `n` read an object only
//!   when a pod bound to `n` names it (Kubernetes' node graph,
//!   plugin/pkg/auth/authorizer/node/graph_populator.go, adds the same
//!   edges);
//! - the node agent follows exactly those objects, one watch each, as the
//!   kubelet's Secret and ConfigMap managers do.
//!
//! Both read the pod as JSON, so this walk lives here, written once.

use std::collections::BTreeSet;

use serde_json::Value;

/// The names a pod refers to, by kind; all in the pod's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodReferences {
    pub secrets: BTreeSet<String>,
    pub config_maps: BTreeSet<String>,
    pub claims: BTreeSet<String>,
    /// `spec.serviceAccountName`, empty when the pod names none.
    pub service_account: String,
}

/// The string at `pointer` under `value`, or `""`.
fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The array at `pointer` under `value` (none: empty).
fn items<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Adds `name` unless it is empty (an optional reference left out).
fn add(set: &mut BTreeSet<String>, name: &str) {
    if !name.is_empty() {
        set.insert(name.to_string());
    }
}

// ANCHOR: references
/// Every object `pod` names.
pub fn references(pod: &Value) -> PodReferences {
    let mut found = PodReferences {
        service_account: text(pod, "/spec/serviceAccountName").to_string(),
        ..PodReferences::default()
    };
    for secret in items(pod, "/spec/imagePullSecrets") {
        add(&mut found.secrets, text(secret, "/name"));
    }
    for volume in items(pod, "/spec/volumes") {
        add(&mut found.secrets, text(volume, "/secret/secretName"));
        add(&mut found.config_maps, text(volume, "/configMap/name"));
        add(
            &mut found.claims,
            text(volume, "/persistentVolumeClaim/claimName"),
        );
        for source in items(volume, "/projected/sources") {
            add(&mut found.secrets, text(source, "/secret/name"));
            add(&mut found.config_maps, text(source, "/configMap/name"));
        }
    }
    // Every kind of container may read variables from them.
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in items(pod, &format!("/spec/{list}")) {
            for from in items(container, "/envFrom") {
                add(&mut found.secrets, text(from, "/secretRef/name"));
                add(&mut found.config_maps, text(from, "/configMapRef/name"));
            }
            for var in items(container, "/env") {
                add(
                    &mut found.secrets,
                    text(var, "/valueFrom/secretKeyRef/name"),
                );
                add(
                    &mut found.config_maps,
                    text(var, "/valueFrom/configMapKeyRef/name"),
                );
            }
        }
    }
    found
}
// ANCHOR_END: references

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_place_a_pod_names_an_object_is_found() {
        let pod = json!({"spec": {
            "serviceAccountName": "builder",
            "imagePullSecrets": [{"name": "registry"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "tls"}},
                {"name": "b", "configMap": {"name": "site"}},
                {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "d", "projected": {"sources": [
                    {"secret": {"name": "projected-secret"}},
                    {"configMap": {"name": "kube-root-ca.crt"}},
                    {"serviceAccountToken": {"path": "token"}}]}},
                {"name": "e", "emptyDir": {}}],
            "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [{"name": "app",
                "envFrom": [{"configMapRef": {"name": "app-env"}}],
                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}},
                        {"name": "Q", "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "q"}}},
                        {"name": "R", "value": "plain"}]}]
        }});
        let found = references(&pod);
        let names = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&found.secrets),
            ["db", "init-env", "projected-secret", "registry", "tls"]
        );
        assert_eq!(
            names(&found.config_maps),
            ["app-env", "flags", "kube-root-ca.crt", "site"]
        );
        assert_eq!(names(&found.claims), ["data"]);
        assert_eq!(found.service_account, "builder");
        assert_eq!(references(&json!({})), PodReferences::default());
    }
}
