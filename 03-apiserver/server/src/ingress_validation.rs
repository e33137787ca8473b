//! Ingress and IngressClass validation (`networking.k8s.io/v1`), with
//! Kubernetes' field paths and messages.
//!
//! An Ingress is routing data that chapter 07's controller turns into a
//! proxy's table, so the API server refuses what no controller could
//! route: a path without a `pathType`, a relative path, a backend that
//! names neither a Service nor a resource, a Service port given both by
//! name and number, a host that is an IP address. The rules and their
//! wording follow Kubernetes' `pkg/apis/networking/validation`
//! (`ValidateIngressSpec` and the functions it calls).

use std::net::IpAddr;

use serde_json::Value;

use crate::services::validation::check_port_name;
use crate::status::FieldCause;
use crate::validation::validate_port;
use orc_client::names::{check_dns1123_label, check_dns1123_subdomain};

/// The three `pathType`s, in the sorted order Kubernetes lists them.
const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
/// Path pieces that would let a request escape its prefix after the
/// backend normalises the path; Kubernetes refuses them in Exact and Prefix paths.
const BAD_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
const BAD_SUFFIXES: &[&str] = &["/..", "/."];

// ANCHOR: validate
/// `spec` of an Ingress: a default backend or rules, each rule's host and
/// paths, the TLS hosts and the class name.
pub fn validate(ing: &Value, causes: &mut Vec<FieldCause>) {
    let spec = ing.get("spec").unwrap_or(&Value::Null);
    let rules = spec.get("rules").and_then(Value::as_array);
    let default = spec.get("defaultBackend").filter(|b| !b.is_null());
    if rules.is_none_or(Vec::is_empty) && default.is_none() {
        causes.push(FieldCause::invalid(
            "spec",
            &Value::Null,
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(backend) = default {
        validate_backend(backend, "spec.defaultBackend", causes);
    }
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let at = format!("spec.rules[{i}]");
        if let Some(host) = rule.get("host").and_then(Value::as_str) {
            validate_host(host, &format!("{at}.host"), causes);
        }
        if let Some(http) = rule.get("http").filter(|h| !h.is_null()) {
            validate_http(http, &format!("{at}.http"), causes);
        }
    }
    validate_tls(spec, causes);
    if let Some(class) = spec.get("ingressClassName").and_then(Value::as_str)
        && let Err(why) = check_dns1123_subdomain(class)
    {
        causes.push(FieldCause::invalid(
            "spec.ingressClassName",
            &Value::from(class),
            why,
        ));
    }
}
// ANCHOR_END: validate

/// A rule's host: a DNS name, or `*.` and a DNS name; never an IP address.
fn validate_host(host: &str, at: &str, causes: &mut Vec<FieldCause>) {
    if host.is_empty() {
        return;
    }
    if host.parse::<IpAddr>().is_ok() {
        causes.push(FieldCause::invalid(
            at,
            &Value::from(host),
            "must be a DNS name, not an IP address",
        ));
    }
    if let Err(why) = check_host_name(host) {
        causes.push(FieldCause::invalid(at, &Value::from(host), why));
    }
}

/// A host name as Ingress and TLS hosts take it: a DNS subdomain, or a
/// single-label wildcard `*.` followed by one.
fn check_host_name(host: &str) -> Result<(), String> {
    if !host.contains('*') {
        return check_dns1123_subdomain(host);
    }
    match host.strip_prefix("*.") {
        Some(rest) if !rest.contains('*') && check_dns1123_subdomain(rest).is_ok() => Ok(()),
        _ => Err(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid \
                  DNS subdomain, which must consist of lower case alphanumeric characters, \
                  '-' or '.' and end with an alphanumeric character (e.g. '*.example.com')"
                .into(),
        ),
    }
}

/// `http.paths`: at least one, each with a known `pathType`, an absolute
/// path where the type needs one, and a backend.
fn validate_http(http: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let paths = http.get("paths").and_then(Value::as_array);
    if paths.is_none_or(Vec::is_empty) {
        causes.push(FieldCause::required(format!("{at}.paths")));
    }
    for (i, path) in paths.into_iter().flatten().enumerate() {
        let at = format!("{at}.paths[{i}]");
        let text = path.get("path").and_then(Value::as_str).unwrap_or("");
        let absolute = |causes: &mut Vec<FieldCause>| {
            if !text.starts_with('/') {
                let why = "must be an absolute path";
                causes.push(FieldCause::invalid(format!("{at}.path"), &text.into(), why));
            }
        };
        match path.get("pathType").and_then(Value::as_str) {
            None => {
                let mut cause = FieldCause::required(format!("{at}.pathType"));
                cause.message.push_str(": pathType must be specified");
                causes.push(cause);
                continue;
            }
            Some("Exact" | "Prefix") => {
                absolute(causes);
                check_path_pieces(text, &format!("{at}.path"), causes);
            }
            Some("ImplementationSpecific") if !text.is_empty() => absolute(causes),
            Some("ImplementationSpecific") => {}
            Some(other) => causes.push(FieldCause::not_supported(
                format!("{at}.pathType"),
                other,
                PATH_TYPES,
            )),
        }
        let backend = path.get("backend").unwrap_or(&Value::Null);
        validate_backend(backend, &format!("{at}.backend"), causes);
    }
}

/// Exact and Prefix paths may not hold `//`, `/./`, `/../` or an encoded
/// slash, nor end in `/.` or `/..`.
fn check_path_pieces(path: &str, at: &str, causes: &mut Vec<FieldCause>) {
    for bad in BAD_SEQUENCES.iter().filter(|s| path.contains(*s)) {
        let why = format!("must not contain '{bad}'");
        causes.push(FieldCause::invalid(at, &path.into(), why));
    }
    for bad in BAD_SUFFIXES.iter().filter(|s| path.ends_with(*s)) {
        let why = format!("cannot end with '{bad}'");
        causes.push(FieldCause::invalid(at, &path.into(), why));
    }
}

// ANCHOR: backend
/// A backend is a Service (a DNS-1035 name and a port by name or number,
/// not both) or a typed resource reference, exactly one of the two.
fn validate_backend(backend: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let service = backend.get("service").filter(|s| !s.is_null());
    let resource = backend.get("resource").filter(|r| !r.is_null());
    let empty = &Value::from("");
    let service = match (service, resource) {
        (Some(_), Some(_)) => {
            let why = "cannot set both resource and service backends";
            return causes.push(FieldCause::invalid(at, empty, why));
        }
        (None, None) => {
            let why = "resource or service backend is required";
            return causes.push(FieldCause::invalid(at, empty, why));
        }
        (None, Some(resource)) => return validate_resource(resource, at, causes),
        (Some(service), None) => service,
    };
    match service.get("name").and_then(Value::as_str).unwrap_or("") {
        "" => causes.push(FieldCause::required(format!("{at}.service.name"))),
        name => {
            if let Err(why) = check_dns1035_label(name) {
                causes.push(FieldCause::invalid(
                    format!("{at}.service.name"),
                    &name.into(),
                    why,
                ));
            }
        }
    }
    let port = service.get("port").unwrap_or(&Value::Null);
    let name = port.get("name").and_then(Value::as_str).unwrap_or("");
    let number = port
        .get("number")
        .filter(|n| n.as_i64() != Some(0) && !n.is_null());
    match (name, number) {
        ("", None) => {
            let mut cause = FieldCause::required(at);
            cause.message.push_str(": port name or number is required");
            causes.push(cause);
        }
        ("", Some(n)) => validate_port(Some(n), &format!("{at}.service.port.number"), true, causes),
        (name, None) => {
            if let Err(why) = check_port_name(name) {
                causes.push(FieldCause::invalid(
                    format!("{at}.service.port.name"),
                    &name.into(),
                    why,
                ));
            }
        }
        (_, Some(_)) => {
            let why = "cannot set both port name & port number";
            causes.push(FieldCause::invalid(at, empty, why));
        }
    }
}
// ANCHOR_END: backend

/// A Service name is a DNS-1035 label: a DNS label that starts with a letter.
fn check_dns1035_label(name: &str) -> Result<(), String> {
    check_dns1123_label(name)?;
    if name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', \
             start with an alphabetic character, and end with an alphanumeric character \
             (e.g. 'my-name', or 'abc-123')"
                .into(),
        )
    }
}

/// A `resource` backend (a CRD object some controllers route to) needs a
/// kind and a name. orc's controller routes only to Services and says so
/// on the Ingress; the API accepts it, as Kubernetes does.
fn validate_resource(resource: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    for field in ["kind", "name"] {
        if resource
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            let mut cause = FieldCause::required(format!("{at}.resource.{field}"));
            cause.message.push_str(&format!(": {field} is required"));
            causes.push(cause);
        }
    }
}

/// `spec.tls[].hosts` are host names like the rules' (wildcards allowed),
/// and `secretName`, when set, a Secret's name.
fn validate_tls(spec: &Value, causes: &mut Vec<FieldCause>) {
    let tls = spec.get("tls").and_then(Value::as_array);
    for (i, entry) in tls.into_iter().flatten().enumerate() {
        let hosts = entry.get("hosts").and_then(Value::as_array);
        for (j, host) in hosts.into_iter().flatten().enumerate() {
            let host = host.as_str().unwrap_or("");
            if let Err(why) = check_host_name(host) {
                let at = format!("spec.tls[{i}].hosts[{j}]");
                causes.push(FieldCause::invalid(at, &host.into(), why));
            }
        }
        let secret = entry
            .get("secretName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !secret.is_empty()
            && let Err(why) = check_dns1123_subdomain(secret)
        {
            let at = format!("spec.tls[{i}].secretName");
            causes.push(FieldCause::invalid(at, &secret.into(), why));
        }
    }
}

/// An IngressClass names the controller that implements it, as a
/// domain-prefixed path (`orc.dev/ingress`); the name cannot change later.
pub fn validate_class(class: &Value, causes: &mut Vec<FieldCause>) {
    match class.pointer("/spec/controller").and_then(Value::as_str) {
        None | Some("") => causes.push(FieldCause::required("spec.controller")),
        Some(controller) => {
            let domain = controller.split_once('/').map(|(d, _)| d);
            if domain.is_none_or(|d| check_dns1123_subdomain(d).is_err()) {
                let why = "must be a domain-prefixed path (such as \"acme.io/foo\")";
                causes.push(FieldCause::invalid(
                    "spec.controller",
                    &controller.into(),
                    why,
                ));
            }
        }
    }
}

/// `spec.controller` is immutable: the controller that claimed a class's
/// Ingresses keeps them.
pub fn validate_class_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    let controller = new.pointer("/spec/controller").unwrap_or(&Value::Null);
    if old.pointer("/spec/controller").unwrap_or(&Value::Null) != controller {
        causes.push(FieldCause::invalid(
            "spec.controller",
            controller,
            "field is immutable",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn causes(spec: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(
            &json!({"metadata": {"name": "i"}, "spec": spec}),
            &mut causes,
        );
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn path(path_type: Value, path: &str, backend: Value) -> Value {
        json!({"spec": {"rules": [{"host": "a.example", "http": {"paths": [
            {"path": path, "pathType": path_type, "backend": backend}]}}]}})["spec"]
            .clone()
    }

    #[test]
    fn a_service_backend_with_a_numbered_port_is_valid() {
        let web = json!({"service": {"name": "web", "port": {"number": 80}}});
        assert_eq!(
            causes(path(json!("Prefix"), "/", web.clone())),
            Vec::<String>::new()
        );
        assert_eq!(causes(json!({"defaultBackend": web})), Vec::<String>::new());
    }

    #[test]
    fn paths_need_a_type_and_an_absolute_path() {
        let web = json!({"service": {"name": "web", "port": {"name": "http"}}});
        assert_eq!(
            causes(path(Value::Null, "/", web.clone())),
            ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]
        );
        assert_eq!(
            causes(path(json!("Exact"), "api", web.clone())),
            ["spec.rules[0].http.paths[0].path: Invalid value: \"api\": must be an absolute path"]
        );
        assert_eq!(
            causes(path(json!("Prefix"), "/a//b", web.clone())),
            ["spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'"]
        );
        assert_eq!(
            causes(path(json!("Regex"), "/", web)),
            [
                "spec.rules[0].http.paths[0].pathType: Unsupported value: \"Regex\": supported \
              values: \"Exact\", \"ImplementationSpecific\", \"Prefix\""
            ]
        );
    }

    #[test]
    fn backends_name_a_service_port_one_way() {
        let both = json!({"service": {"name": "web", "port": {"name": "http", "number": 80}}});
        assert_eq!(
            causes(path(json!("Prefix"), "/", both)),
            [
                "spec.rules[0].http.paths[0].backend: Invalid value: \"\": cannot set both port name & port number"
            ]
        );
        let neither = json!({"service": {"name": "9web", "port": {}}});
        let found = causes(path(json!("Prefix"), "/", neither));
        assert!(found[0].starts_with("spec.rules[0].http.paths[0].backend.service.name: Invalid value: \"9web\": a DNS-1035 label"));
        assert_eq!(
            found[1],
            "spec.rules[0].http.paths[0].backend: Required value: port name or number is required"
        );
        assert_eq!(
            causes(path(json!("Prefix"), "/", json!({}))),
            [
                "spec.rules[0].http.paths[0].backend: Invalid value: \"\": resource or service backend is required"
            ]
        );
    }

    #[test]
    fn hosts_are_names_or_single_label_wildcards() {
        let web = json!({"service": {"name": "web", "port": {"number": 80}}});
        let host = |h: &str| {
            let mut spec = path(json!("Prefix"), "/", web.clone());
            spec["rules"][0]["host"] = json!(h);
            causes(spec)
        };
        assert_eq!(host("*.example.com"), Vec::<String>::new());
        assert_eq!(
            host("10.0.0.1"),
            [
                "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address"
            ]
        );
        assert!(host("a.*.example.com")[0].contains("a wildcard DNS-1123 subdomain"));
        assert_eq!(
            causes(json!({})),
            ["spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"]
        );
    }

    #[test]
    fn classes_name_a_domain_prefixed_controller_once() {
        let class = |c: &str| json!({"spec": {"controller": c}});
        let mut found = Vec::new();
        validate_class(&class("orc.dev/ingress"), &mut found);
        assert!(found.is_empty());
        validate_class(&class("ingress"), &mut found);
        validate_class_update(&class("orc.dev/ingress"), &class("x.dev/y"), &mut found);
        let fields: Vec<&str> = found.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            fields,
            [
                "Invalid value: \"ingress\": must be a domain-prefixed path (such as \"acme.io/foo\")",
                "Invalid value: \"x.dev/y\": field is immutable"
            ]
        );
    }
}
