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
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
