//! Validation: refuse bad objects before they reach etcd, field by field.
//!
//! Kubernetes validates every write and answers 422 Invalid with one cause
//! per broken rule, each naming its field path (`spec.containers[0].image:
//! Required value`). Collecting *all* causes, not stopping at the first,
//! saves the user a round trip per mistake; orc does the same.
//!
//! The name and label rules are the DNS-derived ones from Kubernetes'
//! `apimachinery/pkg/util/validation`; the per-kind rules cover the fields
//! orc's later chapters rely on (containers, ports, selectors).

use serde_json::Value;

use crate::resources::Resource;
use crate::selectors::labels::{Requirement, Selector};
use crate::status::FieldCause;

/// Is `s` a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63 chars)?
/// Namespaces, services and container names must be, because they become
/// DNS names (`web.default.svc`).
pub fn check_dns1123_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character (e.g. 'my-name', or \
             '123-abc')"
                .into(),
        )
    }
}

/// Is `s` a DNS-1123 subdomain (labels joined by dots, ≤ 253 chars)? The
/// rule for most object names.
pub fn check_dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    let ok = !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (e.g. \
             'example.com')"
                .into(),
        )
    }
}

/// The "name" part of label keys and the whole of label values:
/// alphanumerics with `-`, `_`, `.` inside, ≤ 63 chars.
fn is_qualified_name_part(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

// ANCHOR: label_key
/// Is `key` a valid label (or annotation) key: `[prefix/]name`, where the
/// optional prefix is a DNS subdomain (`app.kubernetes.io/name`)?
pub fn check_label_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            check_dns1123_subdomain(prefix).map_err(|e| format!("prefix part {e}"))?;
            name
        }
        None => key,
    };
    if is_qualified_name_part(name) {
        Ok(())
    } else {
        Err(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character, at most 63 characters"
                .into(),
        )
    }
}

/// Is `value` a valid label value: empty, or like a key's name part?
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_qualified_name_part(value) {
        Ok(())
    } else {
        Err(
            "a valid label must be an empty string or consist of alphanumeric characters, \
             '-', '_' or '.', and must start and end with an alphanumeric character, at most \
             63 characters"
                .into(),
        )
    }
}
// ANCHOR_END: label_key

/// Validates `obj` (already defaulted) as a `resource`; empty means valid.
pub fn validate(resource: &Resource, obj: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    validate_meta(resource, obj, &mut causes);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    match resource.kind {
        "Pod" => validate_pod_spec(spec, "spec", &mut causes),
        "Deployment" | "ReplicaSet" | "DaemonSet" => validate_workload(spec, &mut causes),
        "Job" => validate_template(spec, "spec.template", &mut causes),
        "Service" => validate_service(spec, &mut causes),
        _ => {}
    }
    causes
}

/// Rules that change between the old and the new object on update.
pub fn validate_update(resource: &Resource, old: &Value, new: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    if matches!(resource.kind, "Deployment" | "ReplicaSet" | "DaemonSet")
        && old.pointer("/spec/selector") != new.pointer("/spec/selector")
    {
        causes.push(FieldCause::invalid(
            "spec.selector",
            new.pointer("/spec/selector").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
    if resource.kind == "Pod" {
        let old_node = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let new_node = new
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !old_node.is_empty() && old_node != new_node {
            causes.push(FieldCause::forbidden(
                "spec.nodeName",
                "pod updates may not change nodeName",
            ));
        }
    }
    causes
}

fn validate_meta(resource: &Resource, obj: &Value, causes: &mut Vec<FieldCause>) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        causes.push(FieldCause::required("metadata.name"));
    } else {
        let check = match resource.kind {
            "Namespace" | "Service" => check_dns1123_label(name),
            _ => check_dns1123_subdomain(name),
        };
        if let Err(why) = check {
            causes.push(FieldCause::invalid(
                "metadata.name",
                &Value::from(name),
                why,
            ));
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            if let Err(why) = check_label_key(key) {
                causes.push(FieldCause::invalid(
                    "metadata.labels",
                    &Value::from(key.as_str()),
                    why,
                ));
            }
            if let Err(why) = check_label_value(value.as_str().unwrap_or_default()) {
                causes.push(FieldCause::invalid(
                    format!("metadata.labels.{key}"),
                    value,
                    why,
                ));
            }
        }
    }
    if let Some(annotations) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for key in annotations.keys() {
            if let Err(why) = check_label_key(key) {
                causes.push(FieldCause::invalid(
                    "metadata.annotations",
                    &Value::from(key.as_str()),
                    why,
                ));
            }
        }
    }
}

fn validate_port(port: Option<&Value>, field: &str, required: bool, causes: &mut Vec<FieldCause>) {
    match port {
        None | Some(Value::Null) if required => causes.push(FieldCause::required(field)),
        None | Some(Value::Null) => {}
        Some(v) => {
            if !v.as_i64().is_some_and(|p| (1..=65535).contains(&p)) {
                causes.push(FieldCause::invalid(
                    field,
                    v,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
    }
}

// ANCHOR: pod_spec
/// A pod needs at least one container, each with a unique DNS-label name
/// and an image; container ports must be real port numbers.
fn validate_pod_spec(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(FieldCause::required(format!("{path}.containers")));
        return;
    };
    let mut seen = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{i}]");
        match c.get("name").and_then(Value::as_str) {
            None | Some("") => causes.push(FieldCause::required(format!("{at}.name"))),
            Some(name) => {
                if let Err(why) = check_dns1123_label(name) {
                    causes.push(FieldCause::invalid(
                        format!("{at}.name"),
                        &Value::from(name),
                        why,
                    ));
                } else if seen.contains(&name) {
                    causes.push(FieldCause {
                        field: format!("{at}.name"),
                        message: format!("Duplicate value: {name:?}"),
                        reason: "FieldValueDuplicate",
                    });
                }
                seen.push(name);
            }
        }
        if c.get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .is_empty()
        {
            causes.push(FieldCause::required(format!("{at}.image")));
        }
        for (j, p) in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            validate_port(
                p.get("containerPort"),
                &format!("{at}.ports[{j}].containerPort"),
                true,
                causes,
            );
            validate_port(
                p.get("hostPort"),
                &format!("{at}.ports[{j}].hostPort"),
                false,
                causes,
            );
        }
    }
}
// ANCHOR_END: pod_spec

fn validate_template(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let template_spec = spec.pointer("/template/spec").unwrap_or(&Value::Null);
    validate_pod_spec(template_spec, &format!("{path}.spec"), causes);
}

/// The selector of a `LabelSelector` object (`matchLabels` and
/// `matchExpressions`) as a parsed [`Selector`].
pub fn selector_from_object(selector: &Value) -> Selector {
    let mut requirements = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            requirements.push(Requirement::Equals(
                k.clone(),
                v.as_str().unwrap_or("").into(),
            ));
        }
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let values: Vec<String> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => requirements.push(Requirement::In(key, values)),
            "NotIn" => requirements.push(Requirement::NotIn(key, values)),
            "Exists" => requirements.push(Requirement::Exists(key)),
            _ => requirements.push(Requirement::DoesNotExist(key)),
        }
    }
    Selector { requirements }
}

/// Deployments, ReplicaSets and DaemonSets must select the pods their own
/// template makes; otherwise their controller would create pods forever
/// without ever counting one.
fn validate_workload(spec: &Value, causes: &mut Vec<FieldCause>) {
    let selector = spec.get("selector").filter(|s| s.is_object());
    match selector {
        None => causes.push(FieldCause::required("spec.selector")),
        Some(selector) => {
            let parsed = selector_from_object(selector);
            if parsed.is_empty() {
                causes.push(FieldCause::invalid(
                    "spec.selector",
                    selector,
                    "empty selector is invalid for deployment",
                ));
            }
            let labels = crate::selectors::labels_of(spec.get("template").unwrap_or(&Value::Null));
            if !parsed.matches(&labels) {
                causes.push(FieldCause::invalid(
                    "spec.template.metadata.labels",
                    &serde_json::to_value(&labels).unwrap_or_default(),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    if let Some(r) = spec.get("replicas") {
        if r.as_i64().is_none_or(|r| r < 0) {
            causes.push(FieldCause::invalid(
                "spec.replicas",
                r,
                "must be greater than or equal to 0",
            ));
        }
    }
    validate_template(spec, "spec.template", causes);
}

/// Services need at least one port, each a real port number, and a known
/// type. Two kinds of Service route no ports, so Kubernetes lets them leave
/// `ports` out: an `ExternalName` Service (a DNS alias) and a headless one
/// (`clusterIP: None`, which `kubectl create service clusterip x
/// --clusterip=None` writes without ports): DNS answers with the pods'
/// own addresses, and clients pick the port themselves.
fn validate_service(spec: &Value, causes: &mut Vec<FieldCause>) {
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !matches!(
        kind,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        causes.push(FieldCause {
            field: "spec.type".into(),
            message: format!("Unsupported value: {kind:?}: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
            reason: "FieldValueNotSupported",
        });
    }
    let ports = spec.get("ports").and_then(Value::as_array);
    let portless_allowed = kind == "ExternalName" || (kind == "ClusterIP" && is_headless(spec));
    if !portless_allowed && ports.is_none_or(|p| p.is_empty()) {
        causes.push(FieldCause::required("spec.ports"));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        validate_port(
            p.get("port"),
            &format!("spec.ports[{i}].port"),
            true,
            causes,
        );
        if let Some(t) = p.get("targetPort").filter(|t| t.is_number()) {
            validate_port(
                Some(t),
                &format!("spec.ports[{i}].targetPort"),
                false,
                causes,
            );
        }
        if let Some(n) = p.get("nodePort").filter(|n| !n.is_null()) {
            if !n.as_i64().is_some_and(|n| (30000..=32767).contains(&n)) {
                causes.push(FieldCause::invalid(format!("spec.ports[{i}].nodePort"), n, "provided port is not in the valid range. The range of valid ports is 30000-32767"));
            }
        }
    }
}

/// A headless Service asks for no cluster IP: `clusterIP` (or the first of
/// `clusterIPs`) is the word `None`.
fn is_headless(spec: &Value) -> bool {
    let first = spec
        .get("clusterIP")
        .or_else(|| spec.pointer("/clusterIPs/0"))
        .and_then(Value::as_str);
    first == Some("None")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(check_dns1123_label("web-1").is_ok());
        assert!(check_dns1123_label("Web").is_err());
        assert!(check_dns1123_label("-a").is_err());
        assert!(check_dns1123_subdomain("a.b-c.d").is_ok());
        assert!(check_dns1123_subdomain("a..b").is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(check_label_key("app.kubernetes.io/name").is_ok());
        assert!(check_label_key("app").is_ok());
        assert!(check_label_key("Bad_Prefix/x").is_err());
        assert!(check_label_key("x/").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("-x").is_err());
    }

    #[test]
    fn pod_rules_collect_every_cause() {
        let pods = lookup("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 70000}]},
            {"name": "a"}
        ]}});
        let fields: Vec<String> = validate(pods, &pod).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].ports[0].containerPort",
                "spec.containers[1].name",
                "spec.containers[1].image"
            ]
        );
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let d = lookup("apps", "v1", "deployments").unwrap();
        let obj = json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        }});
        let causes = validate(d, &obj);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.template.metadata.labels");
    }
}
