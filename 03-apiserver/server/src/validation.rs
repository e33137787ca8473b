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

use crate::status::FieldCause;
use orc_client::names::{
    check_dns1123_label, check_dns1123_subdomain, check_label_key, check_label_value,
};
use orc_client::resources::Resource;
use orc_client::selectors::labels;

/// The group of the newer Event API, validated more strictly than core's.
const EVENTS_GROUP: &str = "events.k8s.io";

/// Validates `obj` (already defaulted) as a `resource`; empty means valid.
pub fn validate(resource: &Resource, obj: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    validate_meta(resource, obj, &mut causes);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    match resource.kind {
        "Pod" => {
            validate_pod_spec(spec, "spec", &mut causes);
            validate_pod_dns(spec, "spec", &mut causes);
        }
        "Deployment" | "ReplicaSet" => validate_workload(spec, "deployment", &mut causes),
        "DaemonSet" => {
            validate_workload(spec, "daemonset", &mut causes);
            validate_daemonset(spec, &mut causes);
        }
        "StatefulSet" => {
            validate_workload(spec, "statefulset", &mut causes);
            crate::statefulset::validate_statefulset(obj, &mut causes);
        }
        "ControllerRevision" => crate::statefulset::validate_controller_revision(obj, &mut causes),
        "Job" => crate::batch::validate_job(obj, &mut causes),
        "CronJob" => crate::batch::validate_cronjob(obj, &mut causes),
        "HorizontalPodAutoscaler" => crate::autoscaling::validate_hpa(obj, &mut causes),
        "Service" => crate::services::validation::validate(obj, &mut causes),
        "EndpointSlice" => validate_endpoint_slice(obj, &mut causes),
        "PriorityClass" => crate::priority::validate(obj, &mut causes),
        "PodDisruptionBudget" => crate::disruption_budget::validate(obj, &mut causes),
        "Role" | "ClusterRole" => {
            crate::authz::validation::validate_rules(obj, resource.namespaced, &mut causes)
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            crate::authz::validation::validate_binding(obj, resource.namespaced, &mut causes)
        }
        "Node" => crate::node_validation::validate(obj, &mut causes),
        "Secret" => crate::secret_validation::validate(obj, &mut causes),
        "Ingress" => crate::ingress_validation::validate(obj, &mut causes),
        "IngressClass" => crate::ingress_validation::validate_class(obj, &mut causes),
        "PersistentVolume" => crate::volumes::validate_volume(obj, &mut causes),
        "PersistentVolumeClaim" => crate::volumes::validate_claim(obj, &mut causes),
        "StorageClass" => crate::volumes::validate_class(obj, &mut causes),
        // The newer Event API's rules, for writes through it only. Core
        // v1 Events are checked for their metadata alone: Kubernetes has
        // a few lenient rules for them that orc does not check.
        "Event" if resource.group == EVENTS_GROUP => {
            crate::event_validation::validate(obj, &mut causes)
        }
        _ => {}
    }
    causes
}

/// Rules only a create keeps (the version a client writes through may
/// ask more of a new object than of one it only updates).
pub fn validate_create(resource: &Resource, obj: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    if resource.kind == "Event" && resource.group == EVENTS_GROUP {
        crate::event_validation::validate_create(obj, &mut causes);
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
    if resource.kind == "StatefulSet" {
        crate::statefulset::validate_statefulset_update(old, new, &mut causes);
    }
    if resource.kind == "ControllerRevision" {
        crate::statefulset::validate_controller_revision_update(old, new, &mut causes);
    }
    if resource.kind == "Job" {
        crate::batch::validate_job_update(old, new, &mut causes);
    }
    if resource.kind == "Service" {
        crate::services::validation::validate_update(old, new, &mut causes);
    }
    if resource.kind == "PriorityClass" {
        crate::priority::validate_update(old, new, &mut causes);
    }
    if matches!(resource.kind, "RoleBinding" | "ClusterRoleBinding") {
        crate::authz::validation::validate_binding_update(old, new, &mut causes);
    }
    if resource.kind == "Secret" {
        crate::secret_validation::validate_update(old, new, &mut causes);
    }
    if resource.kind == "ConfigMap" {
        crate::secret_validation::validate_config_map_update(old, new, &mut causes);
    }
    if resource.kind == "IngressClass" {
        crate::ingress_validation::validate_class_update(old, new, &mut causes);
    }
    if resource.kind == "StorageClass" {
        crate::volumes::validate_class_update(old, new, &mut causes);
    }
    if resource.kind == "Event" && resource.group == EVENTS_GROUP {
        crate::event_validation::validate_update(old, new, &mut causes);
    }
    if resource.kind == "PersistentVolumeClaim" {
        crate::volumes::validate_claim_update(old, new, &mut causes);
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
        crate::pod_qos::validate_update(old, new, &mut causes);
    }
    causes
}

/// A name that can stand as one segment of a URL path (apimachinery's
/// `IsValidPathSegmentName`, with its messages).
fn check_path_segment(name: &str) -> Result<(), String> {
    if name == "." || name == ".." {
        return Err(format!("may not be '{name}'"));
    }
    match ['/', '%'].into_iter().find(|c| name.contains(*c)) {
        Some(c) => Err(format!("may not contain '{c}'")),
        None => Ok(()),
    }
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
            // RBAC names are path segments, not DNS names, so that
            // `system:kube-scheduler` and `system:controller:*` are names
            // (Kubernetes' `ValidateRBACName`).
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
                check_path_segment(name)
            }
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

pub(crate) fn validate_port(
    port: Option<&Value>,
    field: &str,
    required: bool,
    causes: &mut Vec<FieldCause>,
) {
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
    crate::pod_fields::check_pod_spec(spec, path, causes);
    validate_host_aliases(spec, path, causes);
    // Bounds a preStop sleep (defaulted to 30 s before validation runs).
    let grace = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64);
    let init = spec.get("initContainers").and_then(Value::as_array);
    for (i, c) in init.into_iter().flatten().enumerate() {
        let at = format!("{path}.initContainers[{i}]");
        validate_pull_policy(c, &at, causes);
        validate_mounts(c, &at, causes);
        crate::probe_validation::validate_init_container(c, &at, causes);
        crate::lifecycle_validation::validate_container(c, &at, grace, causes);
    }
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
        validate_pull_policy(c, &at, causes);
        validate_mounts(c, &at, causes);
        crate::probe_validation::validate_app_container(c, &at, causes);
        crate::lifecycle_validation::validate_container(c, &at, grace, causes);
        crate::env_validation::validate_env(c, &at, causes);
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

/// Each `hostAliases` entry names an IP address and hostnames that are
/// DNS subdomains: the lines the node writes into the pod's /etc/hosts.
fn validate_host_aliases(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let aliases = spec.get("hostAliases").and_then(Value::as_array);
    for (i, alias) in aliases.into_iter().flatten().enumerate() {
        let at = format!("{path}.hostAliases[{i}]");
        let ip = alias.get("ip").unwrap_or(&Value::Null);
        if ip
            .as_str()
            .is_none_or(|s| s.parse::<std::net::IpAddr>().is_err())
        {
            causes.push(FieldCause::invalid(
                format!("{at}.ip"),
                ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
        let hostnames = alias.get("hostnames").and_then(Value::as_array);
        for (j, name) in hostnames.into_iter().flatten().enumerate() {
            let text = name.as_str().unwrap_or("");
            if let Err(why) = check_dns1123_subdomain(text) {
                causes.push(FieldCause::invalid(
                    format!("{at}.hostnames[{j}]"),
                    name,
                    why,
                ));
            }
        }
    }
}

/// A mount names one path in its volume, written (`subPath`) or expanded
/// from the environment (`subPathExpr`), never both.
fn validate_mounts(c: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let mounts = c.get("volumeMounts").and_then(Value::as_array);
    for (j, mount) in mounts.into_iter().flatten().enumerate() {
        let set = |field: &str| mount.get(field).and_then(Value::as_str).unwrap_or("");
        if !set("subPath").is_empty() && !set("subPathExpr").is_empty() {
            causes.push(FieldCause::invalid(
                format!("{at}.volumeMounts[{j}].subPathExpr"),
                &Value::from(set("subPathExpr")),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
    }
}

/// `imagePullPolicy` is one of Kubernetes' three (the node agent reads no
/// other), on app and init containers alike.
fn validate_pull_policy(c: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    const POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
    match c.get("imagePullPolicy") {
        None => {}
        Some(Value::String(p)) if POLICIES.contains(&p.as_str()) => {}
        Some(other) => {
            let value = other
                .as_str()
                .map_or_else(|| other.to_string(), String::from);
            causes.push(FieldCause::not_supported(
                format!("{at}.imagePullPolicy"),
                &value,
                &POLICIES,
            ));
        }
    }
}

// ANCHOR: pod_dns
/// `dnsPolicy` is one of Kubernetes' four, and `None` needs a `dnsConfig`
/// with at least one nameserver: the node agent would otherwise write a
/// resolv.conf that resolves nothing. At most 3 nameservers (what a libc
/// resolver reads), each an IP address.
fn validate_pod_dns(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    // `hostname` and `subdomain` become labels of a DNS name
    // (`web-0.web.default.svc.cluster.local`), so each must be one label.
    for field in ["hostname", "subdomain"] {
        let value = spec.get(field).and_then(Value::as_str).unwrap_or("");
        if !value.is_empty()
            && let Err(why) = check_dns1123_label(value)
        {
            causes.push(FieldCause::invalid(
                format!("{path}.{field}"),
                &Value::from(value),
                why,
            ));
        }
    }
    const POLICIES: &str = r#""ClusterFirst", "ClusterFirstWithHostNet", "Default", "None""#;
    let policy = spec.get("dnsPolicy").and_then(Value::as_str);
    if let Some(other) = policy.filter(|p| {
        !matches!(
            *p,
            "ClusterFirst" | "ClusterFirstWithHostNet" | "Default" | "None"
        )
    }) {
        causes.push(FieldCause {
            field: format!("{path}.dnsPolicy"),
            message: format!("Unsupported value: {other:?}: supported values: {POLICIES}"),
            reason: "FieldValueNotSupported",
        });
    }
    let config = spec.get("dnsConfig").filter(|c| !c.is_null());
    let nameservers = config
        .and_then(|c| c.get("nameservers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if policy == Some("None") {
        let required = |field: String, message: &str| FieldCause {
            field,
            message: format!("Required value: {message}"),
            reason: "FieldValueRequired",
        };
        if config.is_none() {
            causes.push(required(
                format!("{path}.dnsConfig"),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        }
        if nameservers.is_empty() {
            causes.push(required(
                format!("{path}.dnsConfig.nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
        }
    }
    let at = format!("{path}.dnsConfig.nameservers");
    if nameservers.len() > 3 {
        causes.push(FieldCause::invalid(
            &at,
            &Value::Array(nameservers.clone()),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, server) in nameservers.iter().enumerate() {
        if server
            .as_str()
            .is_none_or(|s| s.parse::<std::net::IpAddr>().is_err())
        {
            causes.push(FieldCause::invalid(
                format!("{at}[{i}]"),
                server,
                "must be a valid IP address",
            ));
        }
    }
}
// ANCHOR_END: pod_dns

pub(crate) fn validate_template(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let template_spec = spec.pointer("/template/spec").unwrap_or(&Value::Null);
    validate_pod_spec(template_spec, &format!("{path}.spec"), causes);
    validate_pod_dns(template_spec, &format!("{path}.spec"), causes);
}

/// Deployments, ReplicaSets, DaemonSets and StatefulSets must select the
/// pods their own template makes; otherwise their controller would create
/// pods forever without ever counting one. `what` names the kind in the
/// empty-selector message, as Kubernetes words it.
fn validate_workload(spec: &Value, what: &str, causes: &mut Vec<FieldCause>) {
    let selector = spec.get("selector").filter(|s| s.is_object());
    match selector {
        None => causes.push(FieldCause::required("spec.selector")),
        Some(selector) => {
            let parsed = labels::from_label_selector(selector);
            if parsed.is_empty() {
                causes.push(FieldCause::invalid(
                    "spec.selector",
                    selector,
                    format!("empty selector is invalid for {what}"),
                ));
            }
            let labels =
                orc_client::selectors::labels_of(spec.get("template").unwrap_or(&Value::Null));
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

/// What a DaemonSet adds to a workload's rules, as Kubernetes'
/// `ValidateDaemonSetSpec`: its pods run until the node goes (only
/// `restartPolicy: Always`), it updates with `RollingUpdate` or `OnDelete`,
/// and a rolling update that may neither surge nor leave a node without
/// its pod could never start.
fn validate_daemonset(spec: &Value, causes: &mut Vec<FieldCause>) {
    let restart = spec
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    if restart != "Always" {
        causes.push(FieldCause::not_supported(
            "spec.template.spec.restartPolicy",
            restart,
            &["Always"],
        ));
    }
    let strategy = spec.get("updateStrategy").unwrap_or(&Value::Null);
    match strategy.get("type").and_then(Value::as_str) {
        Some("OnDelete") => {}
        Some("RollingUpdate") => {
            let rolling = strategy.get("rollingUpdate").unwrap_or(&Value::Null);
            let zero = |field: &str| match rolling.get(field) {
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.trim_end_matches('%').trim() == "0",
                _ => true,
            };
            for field in ["maxUnavailable", "maxSurge"] {
                let value = rolling.get(field).unwrap_or(&Value::Null);
                let valid = match value {
                    Value::Null => true,
                    Value::Number(n) => n.as_i64().is_some_and(|n| n >= 0),
                    Value::String(s) => s
                        .strip_suffix('%')
                        .and_then(|p| p.parse::<i64>().ok())
                        .is_some_and(|p| (0..=100).contains(&p)),
                    _ => false,
                };
                if !valid {
                    let path = format!("spec.updateStrategy.rollingUpdate.{field}");
                    causes.push(FieldCause::invalid(
                        path,
                        value,
                        "must be a non-negative integer or a percentage from 0% to 100%",
                    ));
                }
            }
            if zero("maxUnavailable") && zero("maxSurge") {
                causes.push(FieldCause::invalid(
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    rolling.get("maxUnavailable").unwrap_or(&Value::Null),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        other => causes.push(FieldCause::not_supported(
            "spec.updateStrategy.type",
            other.unwrap_or(""),
            &["OnDelete", "RollingUpdate"],
        )),
    }
}

/// An EndpointSlice names its address type (immutable in Kubernetes; the
/// proxy reads only IPv4 ones) and holds at most 1000 endpoints.
fn validate_endpoint_slice(slice: &Value, causes: &mut Vec<FieldCause>) {
    match slice.get("addressType").and_then(Value::as_str) {
        None | Some("") => causes.push(FieldCause::required("addressType")),
        Some("IPv4" | "IPv6" | "FQDN") => {}
        Some(other) => causes.push(FieldCause {
            field: "addressType".into(),
            message: format!(
                "Unsupported value: {other:?}: supported values: \"FQDN\", \"IPv4\", \"IPv6\""
            ),
            reason: "FieldValueNotSupported",
        }),
    }
    let count = slice
        .get("endpoints")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if count > 1000 {
        causes.push(FieldCause {
            field: "endpoints".into(),
            message: format!("Too many: {count}: must have at most 1000 items"),
            reason: "FieldValueTooMany",
        });
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn rbac_names_are_path_segments_so_system_names_pass() {
        assert_eq!(
            check_path_segment("system:controller:job-controller"),
            Ok(())
        );
        assert_eq!(check_path_segment(".."), Err("may not be '..'".into()));
        assert_eq!(check_path_segment("a/b"), Err("may not contain '/'".into()));
        assert_eq!(check_path_segment("a%b"), Err("may not contain '%'".into()));
    }

    use super::*;
    use orc_client::resources::lookup;
    use serde_json::json;

    #[test]
    fn pull_policies_and_sub_paths_with_kubernetes_messages() {
        let pods = lookup("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i", "image": "x", "imagePullPolicy": "Never"}],
            "containers": [{"name": "a", "image": "x", "imagePullPolicy": "Sometimes",
                "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "a",
                    "subPathExpr": "$(B)"}]}],
            "volumes": [{"name": "v", "emptyDir": {}}]}});
        let messages: Vec<String> = validate(pods, &pod)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            messages,
            [
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": \
              supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                "spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: \"$(B)\": \
              subPathExpr and subPath are mutually exclusive"
            ]
        );
    }

    #[test]
    fn host_aliases_need_an_ip_and_dns_hostnames() {
        let pods = lookup("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]},
                {"ip": "not-an-ip", "hostnames": ["Bad_Name"]}],
            "setHostnameAsFQDN": true, "hostname": "web", "subdomain": "svc",
            "containers": [{"name": "a", "image": "x"}]}});
        let messages: Vec<String> = validate(pods, &pod)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(
            messages[0],
            "spec.hostAliases[1].ip: Invalid value: \"not-an-ip\": \
             must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        );
        assert!(
            messages[1].starts_with("spec.hostAliases[1].hostnames[0]: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
            "{messages:?}"
        );
    }

    #[test]
    fn a_daemonset_restarts_always_and_can_roll() {
        let daemonsets = lookup("apps", "v1", "daemonsets").unwrap();
        let ds = |restart: &str, strategy: Value| {
            json!({"metadata": {"name": "d"}, "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "updateStrategy": strategy,
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                    "restartPolicy": restart,
                    "containers": [{"name": "c", "image": "x"}]}}}})
        };
        let messages = |obj: &Value| -> Vec<String> {
            validate(daemonsets, obj)
                .into_iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect()
        };
        let rolling = json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}});
        assert!(messages(&ds("Always", rolling)).is_empty());
        let stuck = json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "0%", "maxSurge": 0}});
        assert_eq!(
            messages(&ds("Never", stuck)),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": \
                 supported values: \"Always\"",
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": \
                 may not be 0 when `maxSurge` is 0"
            ]
        );
        let unknown = json!({"type": "Recreate"});
        assert_eq!(
            messages(&ds("Always", unknown)),
            [
                "spec.updateStrategy.type: Unsupported value: \"Recreate\": \
              supported values: \"OnDelete\", \"RollingUpdate\""
            ]
        );
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
    fn dns_policy_none_needs_nameservers_with_kubernetes_messages() {
        let pods = lookup("", "v1", "pods").unwrap();
        let pod = |dns: Value| {
            let mut spec = json!({"containers": [{"name": "a", "image": "x"}]});
            for (k, v) in dns.as_object().unwrap() {
                spec[k] = v.clone();
            }
            json!({"metadata": {"name": "p"}, "spec": spec})
        };
        let causes = |dns: Value| -> Vec<(String, String)> {
            validate(pods, &pod(dns))
                .into_iter()
                .map(|c| (c.field, c.message))
                .collect()
        };
        assert_eq!(
            causes(json!({"dnsPolicy": "None"})),
            [(
                "spec.dnsConfig".to_string(),
                "Required value: must provide `dnsConfig` when `dnsPolicy` is None".to_string()
            )]
        );
        assert_eq!(
            causes(json!({"dnsPolicy": "None", "dnsConfig": {"searches": ["a.example"]}})),
            [(
                "spec.dnsConfig.nameservers".to_string(),
                "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"
                    .to_string()
            )]
        );
        assert_eq!(
            causes(json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["192.0.2.1"]}})),
            []
        );
        assert_eq!(
            causes(json!({"hostname": "web-0", "subdomain": "web"})),
            [],
            "a pod named in its headless Service's domain"
        );
        assert_eq!(
            causes(json!({"subdomain": "Web.Svc"})),
            [(
                "spec.subdomain".to_string(),
                "Invalid value: \"Web.Svc\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')".to_string()
            )]
        );
        let bad = causes(json!({"dnsPolicy": "Cluster", "dnsConfig": {"nameservers": ["x"]}}));
        assert_eq!(
            bad.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
            ["spec.dnsPolicy", "spec.dnsConfig.nameservers[0]"]
        );
        assert!(
            bad[0]
                .1
                .starts_with("Unsupported value: \"Cluster\": supported values: ")
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
