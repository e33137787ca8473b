//! Pod templates and their hash: how a Deployment tells its ReplicaSets
//! apart.
//!
//! Each version of a Deployment's pod template gets its own ReplicaSet,
//! named `<deployment>-<hash>`, whose pods carry the label
//! `pod-template-hash: <hash>`. The label keeps the ReplicaSets' selectors
//! apart (each selects only its own pods, though all match the
//! Deployment's selector); the hash makes the name stable, so a controller
//! that crashed after creating the ReplicaSet finds it again instead of
//! creating a second one.
//!
//! Kubernetes hashes the Go struct with FNV-32a and spells the number in
//! an alphabet without vowels (no accidental words in names). orc hashes
//! the template's canonical JSON (keys sorted) the same way, so hashes
//! differ from Kubernetes' but behave alike.

use orc_client::names::NAME_ALPHABET as ALPHABET;
use serde_json::{Map, Value, json};

use super::object::Deployment;
use crate::claims::controller_reference;
use crate::object::{ReplicaSet, Workload, namespace_and_name, uid};
use crate::owners::controller_of;

/// The label that ties pods to one ReplicaSet of a Deployment.
pub const HASH_LABEL: &str = "pod-template-hash";

// ANCHOR: hash
/// The hash of `template`; `collision_count` (the Deployment's
/// `status.collisionCount`) changes it when a name is already taken by a
/// ReplicaSet that is not this template's.
pub fn pod_template_hash(template: &Value, collision_count: i64) -> String {
    let mut text = String::new();
    canonical(template, &mut text);
    if collision_count > 0 {
        text.push_str(&collision_count.to_string());
    }
    // FNV-1a, 32 bits.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}
// ANCHOR_END: hash

/// `value` as JSON with every object's keys sorted, whatever order they
/// were stored in.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `template` without the hash label (and without a `labels` map left
/// empty by its removal).
pub fn without_hash(template: &Value) -> Value {
    let mut template = template.clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
        if labels.is_empty() {
            if let Some(meta) = template.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("labels");
            }
        }
    }
    template
}

/// Whether two pod templates are the same but for the hash label:
/// Kubernetes' `EqualIgnoreHash`, which finds a Deployment's current
/// ReplicaSet.
pub fn equal_ignoring_hash(a: &Value, b: &Value) -> bool {
    let empty_is_null = |v: Value| -> Value {
        match v.get("metadata") {
            Some(m) if m.as_object().is_some_and(|m| m.is_empty()) => {
                let mut v = v;
                if let Some(map) = v.as_object_mut() {
                    map.remove("metadata");
                }
                v
            }
            _ => v,
        }
    };
    empty_is_null(without_hash(a)) == empty_is_null(without_hash(b))
}

/// Whether `rs` is `d`'s ReplicaSet for its current template: `d` controls
/// it, and its template is `d`'s but for the hash label.
pub fn is_current(d: &Value, rs: &Value) -> bool {
    let ours = controller_of(rs).is_some_and(|c| c.uid == uid(d));
    ours && equal_ignoring_hash(ReplicaSet(rs).template(), Deployment(d).template())
}

/// The ReplicaSet for `d`'s current template, whose hash is `hash`:
/// named `<deployment>-<hash>`, its pods and selector carrying the hash
/// label (so its selector picks only its own pods, though every version's
/// pods match the Deployment's), with `count` replicas, `annotations`, and
/// `d` as its controller (the garbage collector deletes it with `d`).
pub fn new_replicaset(d: &Value, hash: &str, count: i64, annotations: Map<String, Value>) -> Value {
    let (ns, name) = namespace_and_name(d);
    let mut template = Deployment(d).template().clone();
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = d["spec"]["selector"].clone();
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "namespace": ns,
            "labels": template["metadata"]["labels"],
            "annotations": annotations,
            "ownerReferences": [controller_reference(d, "Deployment", "apps/v1")],
        },
        "spec": {
            "replicas": count,
            "minReadySeconds": Deployment(d).min_ready_seconds(),
            "selector": selector,
            "template": template,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_key_order_and_changes_with_content_and_collisions() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}});
        let b = json!({"spec": {"containers": [{"image": "nginx:1", "name": "c"}]}, "metadata": {"labels": {"app": "web"}}});
        let c = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}});
        let hash = pod_template_hash(&a, 0);
        assert_eq!(hash, pod_template_hash(&b, 0));
        assert_ne!(hash, pod_template_hash(&c, 0));
        assert_ne!(hash, pod_template_hash(&a, 1));
        assert!(hash.bytes().all(|ch| ALPHABET.contains(&ch)), "{hash}");
        assert!(!hash.is_empty() && hash.len() <= 10);
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let deployment = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"x": 1}});
        let rs = json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"x": 1}});
        assert!(equal_ignoring_hash(&deployment, &rs));
        let other = json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"x": 2}});
        assert!(!equal_ignoring_hash(&deployment, &other));
        let bare = json!({"spec": {"x": 1}});
        let hashed =
            json!({"metadata": {"labels": {"pod-template-hash": "abc"}}, "spec": {"x": 1}});
        assert!(equal_ignoring_hash(&bare, &hashed));
    }

    #[test]
    fn a_new_replicaset_selects_only_its_own_pods_and_names_its_owner() {
        let d = json!({"metadata": {"name": "web", "namespace": "shop", "uid": "d-1"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"x": 1}}}});
        let rs = new_replicaset(&d, "abc", 2, Map::new());
        assert_eq!(rs["metadata"]["name"], "web-abc");
        assert_eq!(
            rs["metadata"]["labels"],
            json!({"app": "web", HASH_LABEL: "abc"})
        );
        let selector = json!({"matchLabels": {"app": "web", HASH_LABEL: "abc"}});
        assert_eq!(rs["spec"]["selector"], selector);
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL],
            "abc"
        );
        assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "d-1");
        assert_eq!(
            (
                rs["spec"]["replicas"].as_i64(),
                rs["spec"]["minReadySeconds"].as_i64()
            ),
            (Some(2), Some(0))
        );
        assert!(equal_ignoring_hash(
            &rs["spec"]["template"],
            &d["spec"]["template"]
        ));
    }
}
