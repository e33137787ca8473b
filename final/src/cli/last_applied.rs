//! The three-way merge behind `orc apply`, as kubectl's client-side apply
//! does it.
//!
//! Comparing the manifest with the live object is not enough: a label the
//! user *deleted* from the manifest is simply absent, and absent looks the
//! same as "the manifest does not care" (the server adds defaults, status,
//! a uid). So apply keeps a third copy: the manifest it last applied, in
//! the annotation `kubectl.kubernetes.io/last-applied-configuration` (the
//! name kubectl uses, so the two tools read each other's). A field in the
//! last applied copy but not in the new manifest was removed by the user:
//! the patch sends it as `null`, which is how a JSON merge patch deletes.

use serde_json::{Map, Value, json};

/// Where the last applied manifest is kept.
pub const ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata the server sets: a manifest copied from `orc get -o yaml` holds
/// them, but they are not the user's wish.
const SERVER_SET: &[&str] = &[
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The manifest as the user's wish: no status (the system's report, which
/// the server ignores on the main resource anyway), no server-set metadata,
/// no previous record; then recorded in the annotation, so the object
/// created or patched carries its own last applied copy.
///
/// The record is written byte for byte as kubectl writes it (the namespace
/// filled in, an empty `annotations`, keys sorted, a final newline), so
/// `kubectl apply` after `orc apply` of the same file says `unchanged`.
pub fn recorded(manifest: &Value, namespace: Option<&str>) -> Value {
    let mut wish = manifest.clone();
    if let Some(ns) = namespace {
        wish["metadata"]["namespace"] = json!(ns);
    }
    if let Some(object) = wish.as_object_mut() {
        object.remove("status");
    }
    if let Some(meta) = wish.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in SERVER_SET {
            meta.remove(*key);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(ANNOTATION);
        }
        meta.entry("annotations").or_insert_with(|| json!({}));
    }
    let record = wish.to_string() + "\n";
    wish["metadata"]["annotations"][ANNOTATION] = json!(record);
    wish
}

/// The merge patch that takes `live` to `wanted` (a [`recorded`] manifest):
/// `wanted` itself plus a `null` for each field the last applied manifest
/// had and `wanted` drops. `None` when `live` already is what the patch
/// would make it: apply then says `unchanged`.
pub fn patch(live: &Value, wanted: &Value) -> Option<Value> {
    let last: Value = live
        .pointer(&format!(
            "/metadata/annotations/{}",
            ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let mut patch = wanted.clone();
    add_missing(&mut patch, removed(&last, wanted));
    (!contains(live, &patch)).then_some(patch)
}

/// The fields `last` sets and `now` does not, as `null`s.
fn removed(last: &Value, now: &Value) -> Value {
    let mut out = Map::new();
    if let (Value::Object(last), Value::Object(now)) = (last, now) {
        for (key, was) in last {
            match now.get(key) {
                None => {
                    out.insert(key.clone(), Value::Null);
                }
                Some(is) => {
                    let inner = removed(was, is);
                    if inner.as_object().is_some_and(|m| !m.is_empty()) {
                        out.insert(key.clone(), inner);
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// Adds `extra`'s fields to `base` where `base` has none.
fn add_missing(base: &mut Value, extra: Value) {
    let (Value::Object(base), Value::Object(extra)) = (base, extra) else {
        return;
    };
    for (key, value) in extra {
        match base.get_mut(&key) {
            Some(inner) => add_missing(inner, value),
            None => {
                base.insert(key, value);
            }
        }
    }
}

/// Whether applying the merge patch `wanted` to `live` would change
/// nothing: every field it sets has that value, every `null` is absent.
/// Lists must have the same length, element by element, so a removed
/// container counts as a change while a defaulted `imagePullPolicy` does
/// not.
pub fn contains(live: &Value, wanted: &Value) -> bool {
    match (live, wanted) {
        (Value::Object(live), Value::Object(wanted)) => {
            wanted.iter().all(|(k, w)| match live.get(k) {
                Some(l) => contains(l, w),
                None => w.is_null(),
            })
        }
        (Value::Array(live), Value::Array(wanted)) => {
            live.len() == wanted.len() && live.iter().zip(wanted).all(|(l, w)| contains(l, w))
        }
        (Value::Number(l), Value::Number(w)) => l.as_f64() == w.as_f64(),
        (l, w) => l == w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_not_changes() {
        let live = json!({"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always"}]}, "status": {}});
        assert!(contains(
            &live,
            &json!({"spec": {"containers": [{"name": "a", "image": "x"}]}})
        ));
        assert!(!contains(
            &live,
            &json!({"spec": {"containers": [{"name": "a", "image": "y"}]}})
        ));
        assert!(!contains(&live, &json!({"spec": {"containers": []}})));
    }

    #[test]
    fn a_field_dropped_from_the_manifest_is_deleted() {
        let first = recorded(
            &json!({"metadata": {"name": "w", "labels": {"a": "1", "b": "2"}}}),
            Some("d"),
        );
        assert_eq!(
            first["metadata"]["annotations"][ANNOTATION],
            "{\"metadata\":{\"annotations\":{},\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"name\":\"w\",\"namespace\":\"d\"}}\n"
        );
        let mut live = first.clone();
        live["metadata"]["uid"] = json!("u");
        assert_eq!(patch(&live, &first), None, "applied twice: unchanged");
        let second = recorded(
            &json!({"metadata": {"name": "w", "labels": {"a": "1"}}}),
            None,
        );
        let p = patch(&live, &second).expect("a change");
        assert_eq!(p["metadata"]["labels"], json!({"a": "1", "b": null}));
        // A copy from `get -o yaml` records the same wish as the manifest.
        assert_eq!(recorded(&live, Some("d")), first);
    }
}
