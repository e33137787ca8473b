//! Validation of a container's `env` and `envFrom`, with Kubernetes' rules
//! and messages (`ValidateEnv`, `validateEnvVarValueFrom`, `ValidateEnvFrom`
//! in `pkg/apis/core/validation`).
//!
//! What passes here the node agent resolves when the container starts
//! (chapter 02's `env.rs`): so a fieldPath the agent does not know, or a
//! `valueFrom` with two sources, is a 422 now rather than an empty
//! variable later.

use serde_json::Value;

use crate::status::FieldCause;
use orc_client::names::{check_dns1123_subdomain, check_label_key};

/// The `fieldRef.fieldPath`s an environment variable may name without a
/// subscript (`validEnvDownwardAPIFieldPathExpressions`, sorted as
/// Kubernetes lists them in its message).
pub const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Every path Kubernetes' `ConvertDownwardAPIFieldLabel` knows for v1 pods;
/// anything else is "field label not supported".
const KNOWN_FIELD_LABELS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// The resources a `resourceFieldRef` may name (hugepages are not built).
pub const RESOURCE_FIELDS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

const CPU_DIVISORS: &[&str] = &["1m", "1"];
const BYTE_DIVISORS: &[&str] = &[
    "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

// ANCHOR: validate_env
/// `container.env` and `container.envFrom`; `at` is the container's path.
pub fn validate_env(container: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    for (i, var) in items(container, "env") {
        let path = format!("{at}.env[{i}]");
        match var.get("name").and_then(Value::as_str).unwrap_or("") {
            "" => causes.push(FieldCause::required(format!("{path}.name"))),
            name => check_variable_name(name, &format!("{path}.name"), causes),
        }
        let Some(from) = var.get("valueFrom").filter(|v| !v.is_null()) else {
            continue;
        };
        let from_path = format!("{path}.valueFrom");
        let mut sources = 0;
        if let Some(f) = set(from, "fieldRef") {
            sources += 1;
            field_ref(f, &format!("{from_path}.fieldRef"), causes);
        }
        if let Some(r) = set(from, "resourceFieldRef") {
            sources += 1;
            resource_field_ref(r, &format!("{from_path}.resourceFieldRef"), causes);
        }
        for kind in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = set(from, kind) {
                sources += 1;
                key_ref(r, &format!("{from_path}.{kind}"), causes);
            }
        }
        let value = var.get("value").and_then(Value::as_str).unwrap_or("");
        let why = if sources == 0 {
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
        } else if !value.is_empty() {
            "may not be specified when `value` is not empty"
        } else if sources > 1 {
            "may not have more than one field specified at a time"
        } else {
            continue;
        };
        causes.push(FieldCause::invalid(from_path, &Value::from(""), why));
    }
    for (i, source) in items(container, "envFrom") {
        let path = format!("{at}.envFrom[{i}]");
        if let Some(prefix) = source.get("prefix").and_then(Value::as_str) {
            if !prefix.is_empty() {
                check_variable_name(prefix, &format!("{path}.prefix"), causes);
            }
        }
        let mut sources = 0;
        for kind in ["configMapRef", "secretRef"] {
            if let Some(r) = set(source, kind) {
                sources += 1;
                object_name(r, &format!("{path}.{kind}.name"), causes);
            }
        }
        let why = match sources {
            0 => "must specify one of: `configMapRef` or `secretRef`",
            1 => continue,
            _ => "may not have more than one field specified at a time",
        };
        // Kubernetes names the list here, not the entry.
        causes.push(FieldCause::invalid(
            format!("{at}.envFrom"),
            &Value::from(""),
            why,
        ));
    }
}
// ANCHOR_END: validate_env

/// The entries of list `key` of `obj`, with their index.
fn items<'a>(obj: &'a Value, key: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    obj.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// `obj[key]` when it is set to something other than null.
fn set<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Kubernetes 1.32's relaxed rule: any printable ASCII but `=`.
fn check_variable_name(name: &str, path: &str, causes: &mut Vec<FieldCause>) {
    if !name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
    {
        causes.push(FieldCause::invalid(
            path,
            &Value::from(name),
            "a valid environment variable name must consist only of printable ASCII characters other than '='",
        ));
    }
}

/// A ConfigMap or Secret name: required, and a DNS subdomain.
fn object_name(r: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    match r.get("name").and_then(Value::as_str).unwrap_or("") {
        "" => causes.push(FieldCause::required(path)),
        name => {
            if let Err(why) = check_dns1123_subdomain(name) {
                causes.push(FieldCause::invalid(path, &Value::from(name), why));
            }
        }
    }
}

/// `configMapKeyRef` and `secretKeyRef`: a name and a valid key.
fn key_ref(r: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    object_name(r, &format!("{path}.name"), causes);
    match r.get("key").and_then(Value::as_str).unwrap_or("") {
        "" => causes.push(FieldCause::required(format!("{path}.key"))),
        key => {
            if let Err(why) = check_config_key(key) {
                causes.push(FieldCause::invalid(
                    format!("{path}.key"),
                    &Value::from(key),
                    why,
                ));
            }
        }
    }
}

/// Kubernetes' `IsConfigMapKey`: what a key of `data` may be (it becomes
/// a file name when the object is mounted).
pub fn check_config_key(key: &str) -> Result<(), String> {
    if key.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into());
    }
    match key {
        "." => Err("must not be '.'".into()),
        ".." => Err("must not be '..'".into()),
        _ if key.starts_with("..") => Err("must not start with '..'".into()),
        _ => Ok(()),
    }
}

// ANCHOR: field_ref
/// `fieldRef`: a path the agent can read, as `validateObjectFieldSelector`.
fn field_ref(f: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let field_path = f.get("fieldPath").and_then(Value::as_str).unwrap_or("");
    let at = format!("{path}.fieldPath");
    if field_path.is_empty() {
        causes.push(FieldCause::required(at));
        return;
    }
    if let Some((base, subscript)) = split_subscript(field_path) {
        match base {
            "metadata.labels" | "metadata.annotations" => {
                let key = if base == "metadata.annotations" {
                    subscript.to_lowercase()
                } else {
                    subscript.to_string()
                };
                if let Err(why) = check_label_key(&key) {
                    causes.push(FieldCause::invalid(path, &Value::from(key), why));
                }
            }
            _ => causes.push(FieldCause::invalid(
                at,
                &Value::from(field_path),
                format!(
                    "error converting fieldPath: field label does not support subscript: {field_path}"
                ),
            )),
        }
    } else if !KNOWN_FIELD_LABELS.contains(&field_path) {
        causes.push(FieldCause::invalid(
            at,
            &Value::from(field_path),
            format!("error converting fieldPath: field label not supported: {field_path}"),
        ));
    } else if !ENV_FIELD_PATHS.contains(&field_path) {
        causes.push(FieldCause::not_supported(at, field_path, ENV_FIELD_PATHS));
    }
}
// ANCHOR_END: field_ref

/// `metadata.labels['app']` → `("metadata.labels", "app")`.
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let (base, rest) = path.split_once("['")?;
    Some((base, rest.strip_suffix("']")?))
}

/// `resourceFieldRef`: a resource orc's agent reads, a divisor Kubernetes allows.
fn resource_field_ref(r: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let resource = r.get("resource").and_then(Value::as_str).unwrap_or("");
    if resource.is_empty() {
        causes.push(FieldCause::required(format!("{path}.resource")));
        return;
    }
    if !RESOURCE_FIELDS.contains(&resource) {
        causes.push(FieldCause::not_supported(
            format!("{path}.resource"),
            resource,
            RESOURCE_FIELDS,
        ));
        return;
    }
    let divisor = match r.get("divisor") {
        None | Some(Value::Null) => return,
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let (allowed, names) = if resource.ends_with(".cpu") {
        (CPU_DIVISORS, "1m and 1")
    } else {
        (
            BYTE_DIVISORS,
            "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei",
        )
    };
    if !allowed.contains(&divisor.as_str()) {
        let kind = resource.split_once('.').map_or("", |(_, k)| k);
        causes.push(FieldCause::invalid(
            format!("{path}.divisor"),
            &Value::from(divisor.as_str()),
            format!("only divisor's values {names} are supported with the {kind} resource"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(container: Value) -> Vec<String> {
        let mut causes = vec![];
        validate_env(&container, "spec.containers[0]", &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn good_references_pass() {
        let ok = messages(json!({"env": [
            {"name": "A", "value": "x"},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "web", "key": "port"}}},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pass.word", "optional": true}}},
            {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/name']"}}},
            {"name": "E", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        ], "envFrom": [{"prefix": "DB_", "secretRef": {"name": "db"}}, {"configMapRef": {"name": "web"}}]}));
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn bad_references_get_kubernetes_messages() {
        let at = "spec.containers[0]";
        let got = messages(json!({"env": [
            {"name": "A", "valueFrom": {}},
            {"name": "B", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "spec.foo"}}},
            {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}},
            {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "web"}}},
            {"name": "F", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "2"}}},
            {"name": "G", "valueFrom": {"resourceFieldRef": {"resource": "limits.hugepages-2Mi"}}},
            {"name": "H=I", "value": "x"},
        ], "envFrom": [{"prefix": "X_"}]}));
        let want = [
            format!(
                "{at}.env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
            ),
            format!(
                "{at}.env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"
            ),
            format!(
                "{at}.env[2].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.foo\": error converting fieldPath: field label not supported: spec.foo"
            ),
            format!(
                "{at}.env[3].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""
            ),
            format!("{at}.env[4].valueFrom.configMapKeyRef.key: Required value"),
            format!(
                "{at}.env[5].valueFrom.resourceFieldRef.divisor: Invalid value: \"2\": only divisor's values 1m and 1 are supported with the cpu resource"
            ),
            format!(
                "{at}.env[6].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.hugepages-2Mi\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\""
            ),
            format!(
                "{at}.env[7].name: Invalid value: \"H=I\": a valid environment variable name must consist only of printable ASCII characters other than '='"
            ),
            format!(
                "{at}.envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"
            ),
        ];
        assert_eq!(got, want);
    }
}
