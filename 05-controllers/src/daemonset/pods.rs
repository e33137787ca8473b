//! A new daemon pod for one node, made from the DaemonSet's template.

use serde_json::{Value, json};

use super::object::{DaemonSet, REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL};
use super::placement::{add_daemon_tolerations, pin_to_node};
use crate::claims::controller_reference;
use crate::object::{generation, namespace_and_name};

/// The template's pod spec with the DaemonSet tolerations added: what the
/// controller judges nodes against, and what every pod carries.
pub fn daemon_spec(ds: &Value) -> Value {
    let mut spec = DaemonSet(ds).template()["spec"].clone();
    if !spec.is_object() {
        spec = json!({});
    }
    add_daemon_tolerations(&mut spec);
    spec
}

// ANCHOR: new_pod
/// The pod of `ds` for `node`, of the revision with `hash`: the
/// template's labels plus `controller-revision-hash` and
/// `pod-template-generation`, a generated name starting with the
/// DaemonSet's, the DaemonSet as controller, the DaemonSet tolerations,
/// and a required node affinity naming `node`. No `nodeName`: the
/// scheduler binds it.
pub fn new_pod(ds: &Value, node: &str, hash: &str) -> Value {
    let template = DaemonSet(ds).template();
    let (ns, name) = namespace_and_name(ds);
    // Names are at most 63 characters, and the server adds 5 random ones.
    let prefix: String = format!("{name}-").chars().take(58).collect();
    let mut labels = template
        .pointer("/metadata/labels")
        .filter(|l| l.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels[REVISION_HASH_LABEL] = json!(hash);
    labels[TEMPLATE_GENERATION_LABEL] = json!(generation(ds).to_string());
    let mut metadata = json!({
        "generateName": prefix,
        "namespace": ns,
        "labels": labels,
        "ownerReferences": [controller_reference(ds, "DaemonSet", "apps/v1")],
    });
    if let Some(annotations) = template.pointer("/metadata/annotations") {
        metadata["annotations"] = annotations.clone();
    }
    let mut spec = daemon_spec(ds);
    pin_to_node(&mut spec, node);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}
// ANCHOR_END: new_pod

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::placement::target_node;

    #[test]
    fn a_daemon_pod_is_labelled_pinned_and_tolerant() {
        let ds = json!({"metadata": {"name": "logs", "namespace": "kube-system", "uid": "u1",
                "generation": 3},
            "spec": {"template": {"metadata": {"labels": {"app": "logs"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
        let pod = new_pod(&ds, "n2", "h1");
        assert_eq!(pod["metadata"]["generateName"], "logs-");
        assert_eq!(
            pod["metadata"]["labels"],
            json!({"app": "logs", "controller-revision-hash": "h1", "pod-template-generation": "3"})
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(target_node(&pod), Some("n2"));
        assert!(
            pod["spec"].get("nodeName").is_none(),
            "the scheduler binds it"
        );
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 6);
        assert_eq!(pod["spec"]["containers"][0]["image"], "busybox");
    }
}
