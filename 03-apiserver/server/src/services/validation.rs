//! The rules a Service must keep, checked after [`super::spec::normalize`]
//! and before anything is allocated; messages in Kubernetes' words.
//!
//! Two kinds of Service route no ports, so they may leave `ports` out: an
//! `ExternalName` Service (a DNS alias) and a headless one (`clusterIP:
//! None`, which `kubectl create service clusterip x --clusterip=None`
//! writes without ports): DNS answers with the pods' own addresses, and
//! clients pick the port themselves.
//!
//! Node-port *ranges* are not checked here but by the allocator, which
//! knows the configured range (as in Kubernetes).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;

use super::spec::{self, NONE};
use crate::status::FieldCause;
use crate::validation::validate_port;

/// `Unsupported value: "x": supported values: "a", "b"`.
fn unsupported(field: &str, value: &str, supported: &[&str]) -> FieldCause {
    FieldCause::not_supported(field, value, supported)
}

/// `spec.<field>` as text, if set.
fn text<'a>(svc: &'a Value, field: &str) -> Option<&'a str> {
    svc.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_str)
}

/// Checks a new or updated Service.
pub fn validate(svc: &Value, causes: &mut Vec<FieldCause>) {
    let kind = spec::service_type(svc);
    let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !types.contains(&kind) {
        causes.push(unsupported("spec.type", kind, &types));
    }
    if kind == "ExternalName" && text(svc, "externalName").is_none_or(str::is_empty) {
        causes.push(FieldCause::required("spec.externalName"));
    }
    validate_cluster_ips(svc, causes);
    validate_ports(svc, causes);
    validate_policies(svc, causes);
    refuse_unbuilt(svc, causes);
}

/// Fields orc's proxy and load balancer do not act on. Accepting them
/// would be a silent lie (a `loadBalancerSourceRanges` firewall that lets
/// everyone in is worse than an error), so they are refused with the
/// reason; chapter 06's "What is not built" lists them.
const UNBUILT: &[(&str, &str)] = &[
    (
        "externalIPs",
        "external IPs are not routed; use type NodePort or LoadBalancer",
    ),
    (
        "loadBalancerIP",
        "the load balancer answers on the nodes' addresses and cannot take a chosen one",
    ),
    (
        "loadBalancerSourceRanges",
        "the load balancer does not filter clients by source address",
    ),
    (
        "healthCheckNodePort",
        "no health-check node port is served for externalTrafficPolicy: Local",
    ),
    (
        "trafficDistribution",
        "topology-aware routing is not built; every ready endpoint is used",
    ),
];

/// Refuses each [`UNBUILT`] field that is set to something (an empty list,
/// an empty string or port 0 say nothing and pass).
fn refuse_unbuilt(svc: &Value, causes: &mut Vec<FieldCause>) {
    for (field, why) in UNBUILT {
        let set = match svc.pointer(&format!("/spec/{field}")) {
            None | Some(Value::Null) => false,
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::String(text)) => !text.is_empty(),
            Some(Value::Number(n)) => n.as_u64() != Some(0),
            Some(_) => true,
        };
        if set {
            causes.push(FieldCause::forbidden(
                format!("spec.{field}"),
                format!("not supported by orc: {why}"),
            ));
        }
    }
}

/// The cluster IP: an IPv4 address or `None`, the same in `clusterIP`
/// and `clusterIPs[0]`, and families this single-stack cluster has.
fn validate_cluster_ips(svc: &Value, causes: &mut Vec<FieldCause>) {
    if !spec::needs_cluster_ip(svc) {
        return;
    }
    let ips: Vec<&str> = spec::strings(svc, "clusterIPs");
    let ip = spec::cluster_ip(svc);
    if let Some(first) = ips.first().filter(|first| !ip.is_empty() && **first != ip) {
        causes.push(FieldCause::invalid(
            "spec.clusterIPs[0]",
            &Value::from(*first),
            "must match `clusterIP` if present",
        ));
    }
    let headless = spec::is_headless(svc);
    if headless && spec::needs_node_ports(svc) {
        causes.push(FieldCause::invalid(
            "spec.clusterIPs[0]",
            &serde_json::json!(ips),
            format!(
                "may not be set to 'None' for {} services",
                spec::service_type(svc)
            ),
        ));
    }
    for (i, value) in ips
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != NONE && !v.is_empty())
    {
        match value.parse::<IpAddr>() {
            Err(_) => causes.push(FieldCause::invalid(
                format!("spec.clusterIPs[{i}]"),
                &Value::from(*value),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )),
            Ok(IpAddr::V6(_)) => causes.push(FieldCause::invalid(
                format!("spec.clusterIPs[{i}]"),
                &serde_json::json!(ips),
                "IPv6 is not configured on this cluster",
            )),
            Ok(IpAddr::V4(_)) => {}
        }
    }
    if headless {
        // A headless Service may name both families: no address is taken.
        return;
    }
    let policy = text(svc, "ipFamilyPolicy").unwrap_or("SingleStack");
    let policies = ["PreferDualStack", "RequireDualStack", "SingleStack"];
    if !policies.contains(&policy) {
        causes.push(unsupported("spec.ipFamilyPolicy", policy, &policies));
    } else if policy == "RequireDualStack" {
        causes.push(FieldCause::invalid(
            "spec.ipFamilyPolicy",
            &Value::from(policy),
            "this cluster is not configured for dual-stack services",
        ));
    } else if policy == "SingleStack" && ips.len() > 1 {
        causes.push(FieldCause::invalid(
            "spec.ipFamilyPolicy",
            &Value::from(policy),
            "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
        ));
    }
    for (i, family) in spec::strings(svc, "ipFamilies").iter().enumerate() {
        if *family != "IPv4" {
            causes.push(FieldCause::invalid(
                format!("spec.ipFamilies[{i}]"),
                &Value::from(*family),
                "not configured on this cluster",
            ));
        }
    }
}

/// Ports: at least one (but see the module doc), real numbers, a name
/// each when there are several (the endpoints name them), distinct names,
/// target ports that are numbers or port names, and node ports only on
/// the types that open them.
fn validate_ports(svc: &Value, causes: &mut Vec<FieldCause>) {
    let kind = spec::service_type(svc);
    let ports = spec::ports(svc);
    let portless_allowed =
        kind == "ExternalName" || (kind == "ClusterIP" && spec::is_headless(svc));
    if !portless_allowed && ports.is_empty() {
        causes.push(FieldCause::required("spec.ports"));
    }
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        validate_port(p.get("port"), &format!("{at}.port"), true, causes);
        let name = spec::port_name(p);
        if ports.len() > 1 && name.is_empty() {
            causes.push(FieldCause::required(format!("{at}.name")));
        } else if !name.is_empty() && !names.insert(name) {
            causes.push(FieldCause {
                field: format!("{at}.name"),
                message: format!("Duplicate value: {name:?}"),
                reason: "FieldValueDuplicate",
            });
        }
        match p.get("targetPort") {
            Some(t) if t.is_number() => {
                validate_port(Some(t), &format!("{at}.targetPort"), false, causes)
            }
            Some(Value::String(named)) => {
                if let Err(why) = check_port_name(named) {
                    causes.push(FieldCause::invalid(
                        format!("{at}.targetPort"),
                        &Value::from(named.as_str()),
                        why,
                    ));
                }
            }
            _ => {}
        }
        if let Some(n) = p.get("nodePort").filter(|n| !n.is_null() && **n != 0) {
            if !spec::needs_node_ports(svc) {
                causes.push(FieldCause::forbidden(
                    format!("{at}.nodePort"),
                    format!("may not be used when `type` is '{kind}'"),
                ));
            } else {
                validate_port(Some(n), &format!("{at}.nodePort"), false, causes);
            }
        }
    }
}

/// A named port (IANA's service-name syntax): at most 15 characters,
/// lower-case letters, digits and single hyphens, at least one letter.
pub fn check_port_name(name: &str) -> Result<(), &'static str> {
    if name.len() > 15 {
        return Err("must be no more than 15 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if name.contains("--") {
        return Err("must not contain consecutive hyphens");
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return Err("must contain at least one letter (a-z)");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must not begin or end with a hyphen");
    }
    Ok(())
}

/// Session affinity and the traffic policies: known values, and the
/// external policy only where there is external traffic.
fn validate_policies(svc: &Value, causes: &mut Vec<FieldCause>) {
    let affinity = text(svc, "sessionAffinity").unwrap_or("None");
    if !["ClientIP", "None"].contains(&affinity) {
        causes.push(unsupported(
            "spec.sessionAffinity",
            affinity,
            &["ClientIP", "None"],
        ));
    }
    for field in ["externalTrafficPolicy", "internalTrafficPolicy"] {
        if let Some(policy) = text(svc, field).filter(|p| !["Cluster", "Local"].contains(p)) {
            causes.push(unsupported(
                &format!("spec.{field}"),
                policy,
                &["Cluster", "Local"],
            ));
        }
    }
    if let Some(policy) = text(svc, "externalTrafficPolicy")
        && !spec::needs_node_ports(svc)
    {
        causes.push(FieldCause::invalid(
            "spec.externalTrafficPolicy",
            &Value::from(policy),
            "may only be set for externally-accessible services",
        ));
    }
}

/// Rules between the stored Service and its update: the cluster IP of a
/// Service that keeps one never changes.
pub fn validate_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    let (before, after) = (spec::cluster_ip(old), spec::cluster_ip(new));
    if spec::needs_cluster_ip(old)
        && spec::needs_cluster_ip(new)
        && !before.is_empty()
        && before != after
    {
        causes.push(FieldCause::invalid(
            "spec.clusterIPs[0]",
            &serde_json::json!(spec::strings(new, "clusterIPs")),
            "may not change once set",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn causes(svc: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(&svc, &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn several_ports_need_distinct_names_and_valid_targets() {
        let svc = json!({"spec": {"ports": [
            {"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": "Web_1"},
            {"name": "a", "port": 82}, {"name": "a", "port": 83, "nodePort": 30083}]}});
        assert_eq!(
            causes(svc),
            [
                "spec.ports[0].name: Required value",
                "spec.ports[1].name: Required value",
                "spec.ports[1].targetPort: Invalid value: \"Web_1\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.ports[3].name: Duplicate value: \"a\"",
                "spec.ports[3].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            ]
        );
    }

    #[test]
    fn cluster_ips_must_be_ipv4_addresses_that_agree() {
        let svc = json!({"spec": {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.6"], "ports": [{"port": 80}]}});
        assert_eq!(
            causes(svc),
            ["spec.clusterIPs[0]: Invalid value: \"10.96.0.6\": must match `clusterIP` if present"]
        );
        let svc =
            json!({"spec": {"clusterIP": "nope", "clusterIPs": ["nope"], "ports": [{"port": 80}]}});
        assert_eq!(
            causes(svc),
            [
                "spec.clusterIPs[0]: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            ]
        );
        let svc = json!({"spec": {"type": "NodePort", "clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80}]}});
        assert_eq!(
            causes(svc),
            [
                "spec.clusterIPs[0]: Invalid value: [\"None\"]: may not be set to 'None' for NodePort services"
            ]
        );
        let svc = json!({"spec": {"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]}});
        assert_eq!(
            causes(svc),
            [
                "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
            ]
        );
    }

    #[test]
    fn external_names_and_policies() {
        assert_eq!(
            causes(json!({"spec": {"type": "ExternalName"}})),
            ["spec.externalName: Required value"]
        );
        let svc = json!({"spec": {"externalTrafficPolicy": "Local", "sessionAffinity": "Sticky", "ports": [{"port": 80}]}});
        assert_eq!(
            causes(svc),
            [
                "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"",
                "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services",
            ]
        );
    }

    #[test]
    fn fields_the_proxy_does_not_act_on_are_refused_not_ignored() {
        let svc = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
            "loadBalancerSourceRanges": ["10.0.0.0/8"], "loadBalancerIP": "192.0.2.1",
            "externalIPs": ["192.0.2.2"], "healthCheckNodePort": 31000,
            "trafficDistribution": "PreferClose"}});
        let fields: Vec<String> = causes(svc)
            .into_iter()
            .filter(|c| c.contains("not supported by orc"))
            .map(|c| c.split(':').next().unwrap().to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "spec.externalIPs",
                "spec.loadBalancerIP",
                "spec.loadBalancerSourceRanges",
                "spec.healthCheckNodePort",
                "spec.trafficDistribution"
            ]
        );
        let empty = json!({"spec": {"ports": [{"port": 80}], "externalIPs": [],
            "loadBalancerIP": "", "healthCheckNodePort": 0}});
        assert!(causes(empty).is_empty());
    }

    #[test]
    fn the_cluster_ip_may_not_change() {
        let old = json!({"spec": {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"]}});
        let new = json!({"spec": {"clusterIP": "10.96.0.6", "clusterIPs": ["10.96.0.6"]}});
        let mut causes = Vec::new();
        validate_update(&old, &new, &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: [\"10.96.0.6\"]: may not change once set"
        );
    }
}
