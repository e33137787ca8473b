//! Which pods back a Service, and how: the decision both endpoint
//! controllers share, as pure functions of the Service and its pods.
//!
//! A pod backs its Service when the Service's selector matches it, it has
//! an address, and it has not finished (`Succeeded` and `Failed` pods
//! never serve again). Three conditions say how much traffic it should
//! get, as Kubernetes' `podToEndpoint` sets them:
//!
//! - **serving**: the pod's `Ready` condition is true;
//! - **terminating**: the pod is being deleted;
//! - **ready**: serving and not terminating (or the Service publishes
//!   pods before they are ready): the proxies send new connections only
//!   to ready endpoints. A terminating pod that still passes its readiness
//!   probe is *serving but not ready*: it finishes what it has and gets
//!   nothing new.
//!
//! The Service's ports are resolved per pod: a `targetPort` given by name
//! (`http`) is the number of that pod's container port with that name, so
//! two versions of an app may listen on different numbers behind one
//! Service. A pod without the named port is left out of that port.

use std::net::Ipv4Addr;

use orc_client::conditions::is_ready;
use orc_client::selectors::{labels, labels_of};
use serde_json::{Value, json};

/// One port of a backend: the Service port's name and protocol, and the
/// number on the pod (its `targetPort`, resolved).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BackendPort {
    /// The Service port's name (`""` when the Service has one port).
    pub name: String,
    /// The number on the pod.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The Service port's `appProtocol`, copied through.
    pub app_protocol: Option<String>,
}

/// One pod behind a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The pod's address.
    pub ip: Ipv4Addr,
    /// The node it runs on (the proxy's `Local` policies read it).
    pub node_name: Option<String>,
    /// `{kind: Pod, namespace, name, uid}`.
    pub target_ref: Value,
    /// The pod's `spec.hostname`, when its `spec.subdomain` names this
    /// Service: orc-dns then answers `<hostname>.<service>.<ns>.svc.<zone>`
    /// with the pod's address (a StatefulSet's stable pod names).
    pub hostname: Option<String>,
    /// Its ports, in the Service's order.
    pub ports: Vec<BackendPort>,
    /// May get new connections.
    pub ready: bool,
    /// Passes its readiness checks (terminating or not).
    pub serving: bool,
    /// Is being deleted.
    pub terminating: bool,
}

/// The Service's selector, or `None` for a Service without one (its
/// endpoints are written by hand, and the controllers leave them alone).
pub fn selector(svc: &Value) -> Option<labels::Selector> {
    let selector = svc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())?;
    Some(labels::from_label_selector(
        &json!({"matchLabels": selector}),
    ))
}

/// Whether the Service's selector picks `pod` (same namespace, labels match).
pub fn selects(svc: &Value, pod: &Value) -> bool {
    let namespace = |o: &Value| o.pointer("/metadata/namespace").cloned();
    namespace(svc) == namespace(pod) && selector(svc).is_some_and(|s| s.matches(&labels_of(pod)))
}

/// The pod's address, if it has one.
fn pod_ip(pod: &Value) -> Option<Ipv4Addr> {
    pod.pointer("/status/podIP")?.as_str()?.parse().ok()
}

/// Whether the pod is being deleted.
pub fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

// ANCHOR: hostname
/// The name `pod` has under `svc`: its `spec.hostname` when it sets one
/// and its `spec.subdomain` is the Service's name (the namespace is
/// already the same: the Service selects it). Kubernetes'
/// `podToEndpoint` sets the endpoint's `hostname` on the same test.
pub fn hostname(svc: &Value, pod: &Value) -> Option<String> {
    let hostname = pod.pointer("/spec/hostname")?.as_str()?;
    let subdomain = pod.pointer("/spec/subdomain")?.as_str()?;
    let service = svc.pointer("/metadata/name")?.as_str()?;
    (!hostname.is_empty() && subdomain == service).then(|| hostname.to_string())
}
// ANCHOR_END: hostname

// ANCHOR: resolve_port
/// The number `service_port` reaches on `pod`: its `targetPort` if that is
/// a number, else the pod's container port of that name and protocol
/// (Kubernetes' `FindPort`). `None` when the pod has no such port.
pub fn resolve_port(pod: &Value, service_port: &Value) -> Option<u16> {
    let protocol = service_port["protocol"].as_str().unwrap_or("TCP");
    match service_port
        .get("targetPort")
        .or_else(|| service_port.get("port"))?
    {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(name) => pod
            .pointer("/spec/containers")?
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find(|p| {
                p["name"].as_str() == Some(name)
                    && p["protocol"].as_str().unwrap_or("TCP") == protocol
            })?["containerPort"]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}
// ANCHOR_END: resolve_port

// ANCHOR: backends
/// The pods behind `svc`, from `pods` (any pods; those the Service does
/// not select are skipped), sorted by address.
pub fn backends(svc: &Value, pods: &[Value]) -> Vec<Backend> {
    let publish_not_ready = svc.pointer("/spec/publishNotReadyAddresses") == Some(&json!(true));
    let service_ports: Vec<&Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut backends: Vec<Backend> = pods
        .iter()
        .filter(|pod| selects(svc, pod))
        .filter(|pod| {
            let phase = pod.pointer("/status/phase").and_then(Value::as_str);
            !matches!(phase, Some("Succeeded" | "Failed"))
        })
        .filter_map(|pod| {
            let ip = pod_ip(pod)?;
            let serving = is_ready(pod);
            let terminating = is_terminating(pod);
            let ports = service_ports
                .iter()
                .filter_map(|sp| {
                    Some(BackendPort {
                        name: sp["name"].as_str().unwrap_or("").to_string(),
                        port: resolve_port(pod, sp)?,
                        protocol: sp["protocol"].as_str().unwrap_or("TCP").to_string(),
                        app_protocol: sp["appProtocol"].as_str().map(String::from),
                    })
                })
                .collect();
            let meta = &pod["metadata"];
            Some(Backend {
                ip,
                node_name: pod["spec"]["nodeName"].as_str().map(String::from),
                target_ref: json!({"kind": "Pod", "namespace": meta["namespace"],
                    "name": meta["name"], "uid": meta["uid"]}),
                hostname: hostname(svc, pod),
                ports,
                ready: publish_not_ready || (serving && !terminating),
                serving: publish_not_ready || serving,
                terminating,
            })
        })
        .collect();
    backends.sort_by_key(|b| b.ip);
    backends
}
// ANCHOR_END: backends

/// A backend for unit tests: `10.244.1.<last>` on node-1, port `http`
/// at `port`.
#[cfg(test)]
pub(crate) fn test_backend(last: u8, port: u16, ready: bool, terminating: bool) -> Backend {
    Backend {
        ip: Ipv4Addr::new(10, 244, 1, last),
        node_name: Some("node-1".into()),
        target_ref: json!({"kind": "Pod", "name": format!("p{last}")}),
        hostname: None,
        ports: vec![BackendPort {
            name: "http".into(),
            port,
            protocol: "TCP".into(),
            app_protocol: None,
        }],
        ready,
        serving: ready || terminating,
        terminating,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn pod(name: &str, ip: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    fn service() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "admin", "port": 9000, "targetPort": 9000, "protocol": "TCP"}]}})
    }

    #[test]
    fn ready_serving_and_terminating_follow_kubernetes() {
        let mut leaving = pod("c", "10.244.1.4", true);
        leaving["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        let pods = [
            pod("b", "10.244.1.3", false),
            pod("a", "10.244.1.2", true),
            leaving,
        ];
        let conditions: Vec<(Ipv4Addr, bool, bool, bool)> = backends(&service(), &pods)
            .into_iter()
            .map(|b| (b.ip, b.ready, b.serving, b.terminating))
            .collect();
        assert_eq!(
            conditions,
            [
                (Ipv4Addr::new(10, 244, 1, 2), true, true, false),
                (Ipv4Addr::new(10, 244, 1, 3), false, false, false),
                (Ipv4Addr::new(10, 244, 1, 4), false, true, true),
            ]
        );
    }

    #[test]
    fn pods_without_an_address_finished_or_elsewhere_are_left_out() {
        let mut pending = pod("p", "", true);
        pending["status"]["podIP"] = Value::Null;
        let mut done = pod("d", "10.244.1.9", false);
        done["status"]["phase"] = json!("Succeeded");
        let mut other_ns = pod("o", "10.244.1.8", true);
        other_ns["metadata"]["namespace"] = json!("other");
        let mut other_app = pod("x", "10.244.1.7", true);
        other_app["metadata"]["labels"]["app"] = json!("db");
        assert!(backends(&service(), &[pending, done, other_ns, other_app]).is_empty());
        let mut selectorless = service();
        selectorless["spec"]["selector"] = json!({});
        assert!(backends(&selectorless, &[pod("a", "10.244.1.2", true)]).is_empty());
    }

    #[test]
    fn a_pod_has_a_hostname_only_under_the_service_its_subdomain_names() {
        let mut named = pod("web-0", "10.244.1.2", true);
        named["spec"]["hostname"] = json!("web-0");
        named["spec"]["subdomain"] = json!("web");
        let mut elsewhere = pod("web-1", "10.244.1.3", true);
        elsewhere["spec"]["hostname"] = json!("web-1");
        elsewhere["spec"]["subdomain"] = json!("other");
        let mut no_hostname = pod("web-2", "10.244.1.4", true);
        no_hostname["spec"]["subdomain"] = json!("web");
        let hostnames: Vec<Option<String>> = backends(&service(), &[named, elsewhere, no_hostname])
            .into_iter()
            .map(|b| b.hostname)
            .collect();
        assert_eq!(hostnames, [Some("web-0".to_string()), None, None]);
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let mut v2 = pod("v2", "10.244.1.3", true);
        v2["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8081);
        let mut unnamed = pod("u", "10.244.1.4", true);
        unnamed["spec"]["containers"][0]["ports"] = json!([]);
        let ports: Vec<Vec<(String, u16)>> =
            backends(&service(), &[pod("v1", "10.244.1.2", true), v2, unnamed])
                .into_iter()
                .map(|b| b.ports.into_iter().map(|p| (p.name, p.port)).collect())
                .collect();
        assert_eq!(
            ports,
            [
                vec![("http".to_string(), 8080), ("admin".to_string(), 9000)],
                vec![("http".to_string(), 8081), ("admin".to_string(), 9000)],
                vec![("admin".to_string(), 9000)],
            ]
        );
    }
}
