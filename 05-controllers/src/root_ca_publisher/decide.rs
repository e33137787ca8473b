//! What the `kube-root-ca.crt` ConfigMap of a namespace should become (pure).

use serde_json::{Value, json};

/// The ConfigMap's name, the same in every namespace: the API server's
/// `ServiceAccount` admission step names it in every pod's token volume.
pub const NAME: &str = "kube-root-ca.crt";

/// The key the CA bundle is under, and so the file name in the pod.
pub const KEY: &str = "ca.crt";

/// The annotation that says what the ConfigMap is for.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";

/// Its value, as Kubernetes' publisher writes it (users read it with
/// `kubectl describe`; tools compare it).
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the \
kube-apiserver when using internal endpoints such as the internal service IP or \
kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes \
clusters.";

/// What to do about one namespace's ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It is missing: create this.
    Create(Value),
    /// Its data or annotation drifted: replace it with this (the object
    /// as read, so the update carries its resourceVersion).
    Update(Value),
    /// It says what it should.
    InSync,
}

// ANCHOR: decide
/// The verdict for a namespace whose ConfigMap is `current` (`None`:
/// missing), when the cluster's CA bundle is `ca`. Level-triggered: only
/// the ConfigMap as it is now matters, never what changed. Its `data` must
/// be exactly `{ca.crt: <ca>}` (a key someone added is removed, as
/// Kubernetes' publisher does) and the description annotation present;
/// the rest of the object (labels, other annotations, `binaryData`) is
/// left alone.
pub fn decide(current: Option<&Value>, ca: &str) -> Verdict {
    let data = json!({ KEY: ca });
    let Some(current) = current else {
        return Verdict::Create(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": NAME,
                "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
            },
            "data": data,
        }));
    };
    let described = current
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|d| !d.is_empty());
    if current.get("data") == Some(&data) && described {
        return Verdict::InSync;
    }
    let mut next = current.clone();
    next["data"] = data;
    let metadata = &mut next["metadata"];
    if !metadata["annotations"].is_object() {
        metadata["annotations"] = json!({});
    }
    metadata["annotations"][DESCRIPTION_ANNOTATION] = json!(DESCRIPTION);
    Verdict::Update(next)
}
// ANCHOR_END: decide

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_missing_config_map_is_created_with_the_ca() {
        let Verdict::Create(cm) = decide(None, CA) else {
            panic!("expected a create");
        };
        assert_eq!(cm["metadata"]["name"], NAME);
        assert_eq!(cm["data"]["ca.crt"], CA);
        assert_eq!(
            cm["metadata"]["annotations"]["kubernetes.io/description"],
            DESCRIPTION
        );
    }

    #[test]
    fn a_config_map_with_the_ca_and_description_is_left_alone() {
        let Verdict::Create(cm) = decide(None, CA) else {
            panic!("expected a create");
        };
        assert_eq!(decide(Some(&cm), CA), Verdict::InSync);
    }

    #[test]
    fn edited_data_is_put_back_and_the_rest_kept() {
        let current = json!({
            "metadata": {"name": NAME, "resourceVersion": "7", "labels": {"team": "a"}},
            "data": {"ca.crt": "stale", "extra": "x"},
            "binaryData": {"b": "AA=="},
        });
        let Verdict::Update(next) = decide(Some(&current), CA) else {
            panic!("expected an update");
        };
        assert_eq!(next["data"], json!({"ca.crt": CA}));
        assert_eq!(next["metadata"]["resourceVersion"], "7");
        assert_eq!(next["metadata"]["labels"]["team"], "a");
        assert_eq!(next["binaryData"]["b"], "AA==");
        assert_eq!(
            next["metadata"]["annotations"][DESCRIPTION_ANNOTATION],
            DESCRIPTION
        );
        // Right data, annotation removed: put back too.
        let undescribed = json!({"metadata": {"name": NAME}, "data": {"ca.crt": CA}});
        assert!(matches!(decide(Some(&undescribed), CA), Verdict::Update(_)));
    }
}
