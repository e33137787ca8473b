//! Strategic merge patch: a merge patch that knows Kubernetes' lists.
//!
//! A JSON merge patch replaces lists whole, so "change the image of the
//! container named `nginx`" would have to resend every container. Kubernetes
//! therefore merges some lists *by key*: containers by `name`, container
//! ports by `containerPort`, env vars by `name`, and so on (the
//! `patchMergeKey` tags of the Go types). kubectl's `apply`, `label`,
//! `annotate`, `edit` and `patch` send this format
//! (`application/strategic-merge-patch+json`).
//!
//! Besides keyed lists, a patch may carry directives:
//!
//! - `"$patch": "delete"` in a list element removes the element with that key;
//!   in a map, removes the map; `"$patch": "replace"` replaces instead of merging;
//! - `"$setElementOrder/<list>": [{key: value}, ...]`: the order of the merged list;
//! - `"$retainKeys": [...]`: keys of the map to keep (others are cleared);
//! - `"$deleteFromPrimitiveList/<list>": [...]`: values to remove from a
//!   merged list of strings (finalizers).
//!
//! orc has no Go structs to read tags from: the keys are the table in
//! [`merge_key`], covering the kinds orc serves. Lists not in it are
//! replaced, as for any field without a merge strategy.

use serde_json::{Map, Value};

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Objects merged by this key.
    ByKey(&'static str),
    /// Strings merged as a set (finalizers).
    Union,
    /// Replaced whole.
    Replace,
}

// ANCHOR: merge_key
/// The strategy of the list at `path` (field names from the object root,
/// list indices left out) in an object of `kind`.
pub fn merge_key(kind: &str, path: &[String]) -> ListStrategy {
    let field = path.last().map(String::as_str).unwrap_or("");
    let parent = if path.len() >= 2 {
        path[path.len() - 2].as_str()
    } else {
        ""
    };
    let in_container = matches!(
        parent,
        "containers" | "initContainers" | "ephemeralContainers"
    );
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "schedulingGates"
        | "resourceClaims" => ListStrategy::ByKey("name"),
        "env" if in_container => ListStrategy::ByKey("name"),
        "ports" if in_container => ListStrategy::ByKey("containerPort"),
        "ports" if kind == "Service" && path.len() == 2 => ListStrategy::ByKey("port"),
        "volumeMounts" => ListStrategy::ByKey("mountPath"),
        "volumeDevices" => ListStrategy::ByKey("devicePath"),
        "hostAliases" => ListStrategy::ByKey("ip"),
        "conditions" => ListStrategy::ByKey("type"),
        "addresses" if kind == "Node" => ListStrategy::ByKey("type"),
        "ownerReferences" => ListStrategy::ByKey("uid"),
        "topologySpreadConstraints" => ListStrategy::ByKey("topologyKey"),
        "finalizers" if parent == "metadata" => ListStrategy::Union,
        _ => ListStrategy::Replace,
    }
}
// ANCHOR_END: merge_key

/// Applies `patch` to `original` for an object of `kind`.
pub fn apply(kind: &str, original: &Value, patch: &Value) -> Value {
    let mut path = Vec::new();
    merge_value(kind, &mut path, original, patch)
}

fn merge_value(kind: &str, path: &mut Vec<String>, original: &Value, patch: &Value) -> Value {
    match (original, patch) {
        (Value::Object(o), Value::Object(p)) => merge_map(kind, path, o, p),
        (_, p) => strip_directives(p),
    }
}

/// Removes `$` directives from a value that is taken as is.
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

// ANCHOR: merge_map
fn merge_map(
    kind: &str,
    path: &mut Vec<String>,
    original: &Map<String, Value>,
    patch: &Map<String, Value>,
) -> Value {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        return strip_directives(&Value::Object(patch.clone()));
    }
    let mut out = original.clone();
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        out.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k)));
    }
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        let deleted = value.get("$patch").and_then(Value::as_str) == Some("delete");
        if value.is_null() || deleted {
            out.remove(key);
            continue;
        }
        path.push(key.clone());
        let merged = match (out.get(key), value) {
            (Some(Value::Array(o)), Value::Array(p)) => merge_list(kind, path, o, p),
            (Some(o), p) => merge_value(kind, path, o, p),
            (None, Value::Array(p)) => merge_list(kind, path, &[], p),
            (None, p) => strip_directives(p),
        };
        path.pop();
        out.insert(key.clone(), merged);
    }
    list_directives(kind, path, &mut out, patch);
    Value::Object(out)
}
// ANCHOR_END: merge_map

// ANCHOR: list_directives
/// The directives that name a list of the merged map `out`: deletions
/// from a list of primitives, then the order of the merged list.
fn list_directives(
    kind: &str,
    path: &mut Vec<String>,
    out: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) {
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(gone)) = (out.get_mut(field), value.as_array()) {
                list.retain(|v| !gone.contains(v));
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$setElementOrder/") {
            path.push(field.to_string());
            let strategy = merge_key(kind, path);
            path.pop();
            if let (Some(Value::Array(list)), Some(order)) = (out.get_mut(field), value.as_array())
            {
                reorder(list, order, strategy);
            }
        }
    }
}
// ANCHOR_END: list_directives

fn merge_list(kind: &str, path: &mut Vec<String>, original: &[Value], patch: &[Value]) -> Value {
    let replace_all = patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"));
    match merge_key(kind, path) {
        _ if replace_all => Value::Array(
            patch
                .iter()
                .filter(|p| p.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        ),
        ListStrategy::Replace => Value::Array(patch.iter().map(strip_directives).collect()),
        ListStrategy::Union => {
            let mut out = original.to_vec();
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            Value::Array(out)
        }
        ListStrategy::ByKey(key) => {
            let mut out = original.to_vec();
            for p in patch {
                let id = p.get(key);
                let at = out.iter().position(|o| o.get(key) == id && id.is_some());
                let delete = p.get("$patch").and_then(Value::as_str) == Some("delete");
                match (at, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => out[i] = merge_value(kind, path, &out[i], p),
                    (None, false) => out.push(strip_directives(p)),
                }
            }
            Value::Array(out)
        }
    }
}

/// Sorts `list` by the position of each element's key in `order`; elements
/// the order does not name keep their relative order, after the named ones.
fn reorder(list: &mut [Value], order: &[Value], strategy: ListStrategy) {
    let rank = |v: &Value| -> usize {
        let found = match strategy {
            ListStrategy::ByKey(key) => order
                .iter()
                .position(|o| o.get(key).is_some() && o.get(key) == v.get(key)),
            _ => order.iter().position(|o| o == v),
        };
        found.unwrap_or(usize::MAX)
    };
    list.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_apply_changes_one_container() {
        let pod = json!({"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}
        ]}});
        let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "nginx"}, {"name": "side"}],
            "containers": [{"image": "nginx:1.26", "name": "nginx"}]}});
        let out = apply("Pod", &pod, &patch);
        assert_eq!(out["spec"]["containers"][0]["image"], "nginx:1.26");
        assert_eq!(
            out["spec"]["containers"][0]["ports"][0]["containerPort"], 80,
            "merged, not replaced"
        );
        assert_eq!(out["spec"]["containers"][1]["name"], "side");
    }

    #[test]
    fn delete_directives_and_nulls() {
        let pod = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"metadata": {"labels": {"a": null}, "$deleteFromPrimitiveList/finalizers": ["x"], "finalizers": ["z"]},
            "spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        let out = apply("Pod", &pod, &patch);
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["y", "z"]));
        assert_eq!(out["spec"]["containers"], json!([{"name": "b"}]));
    }

    #[test]
    fn retain_keys_and_replace() {
        let d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "selector": {"a": 1}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}, "selector": {"$patch": "replace", "b": 2}}});
        let out = apply("Deployment", &d, &patch);
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(out["spec"]["selector"], json!({"b": 2}));
    }

    #[test]
    fn unkeyed_lists_are_replaced() {
        let pod = json!({"spec": {"tolerations": [{"key": "a"}]}});
        let out = apply(
            "Pod",
            &pod,
            &json!({"spec": {"tolerations": [{"key": "b"}]}}),
        );
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
    }
}
