//! What the proxy routes, read from Services and EndpointSlices: one
//! [`ServicePort`] per port of each Service that has a cluster IP, with
//! the [`Endpoint`]s the slices list for that port.
//!
//! This is kube-proxy's `ServicePortMap` and `EndpointsMap`, reduced to
//! the fields the rules use. Reading it is pure: objects in, structs out.
//! Headless and ExternalName Services have no cluster IP and get no rule.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

/// One port of one Service, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The port's name (`""` for a Service with one unnamed port).
    pub port_name: String,
    /// `tcp`, `udp` or `sctp`: lower case, as iptables' `-p` wants it.
    pub protocol: String,
    /// The virtual address.
    pub cluster_ip: Ipv4Addr,
    /// The virtual port.
    pub port: u16,
    /// The port opened on every node, for NodePort and LoadBalancer.
    pub node_port: Option<u16>,
    /// A LoadBalancer's external addresses (`status.loadBalancer.ingress`
    /// in `VIP` mode), caught at the Service's own port.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `sessionAffinity: ClientIP`: how long a client sticks to its
    /// endpoint, in seconds.
    pub affinity_seconds: Option<u32>,
    /// `externalTrafficPolicy: Local`: node-port traffic only to this
    /// node's endpoints (the client's address is kept).
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`: cluster-IP traffic only to this
    /// node's endpoints.
    pub internal_local: bool,
}

impl ServicePort {
    /// Reached from outside the cluster too: through a node port or a
    /// load balancer's address. Such traffic goes through the external
    /// chain, where its policy and masquerading are decided.
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some() || !self.load_balancer_ips.is_empty()
    }

    /// `namespace/name:port`, or `namespace/name` for an unnamed port:
    /// kube-proxy's `ServicePortName`, which its comments and chain-name
    /// hashes are made from.
    pub fn name_string(&self) -> String {
        match self.port_name.as_str() {
            "" => format!("{}/{}", self.namespace, self.name),
            port => format!("{}/{}:{port}", self.namespace, self.name),
        }
    }
}

/// One backend of a [`ServicePort`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// The pod's address.
    pub ip: Ipv4Addr,
    /// The port on the pod (the Service's target port, resolved).
    pub port: u16,
    /// May get new connections.
    pub ready: bool,
    /// Passes its readiness checks (it may be terminating).
    pub serving: bool,
    /// Is being deleted.
    pub terminating: bool,
    /// Runs on this node.
    pub local: bool,
}

impl Endpoint {
    /// `ip:port`, what a DNAT sends to.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// A Service port and its endpoints.
pub type Routed = (ServicePort, Vec<Endpoint>);

/// The text at `pointer`, or `""`.
fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The ports of a Service the proxy routes (none for headless and
/// ExternalName Services, or before a cluster IP is set).
pub fn service_ports(svc: &Value) -> Vec<ServicePort> {
    let Ok(cluster_ip) = text(svc, "/spec/clusterIP").parse::<Ipv4Addr>() else {
        return Vec::new();
    };
    if text(svc, "/spec/type") == "ExternalName" {
        return Vec::new();
    }
    let affinity_seconds = (text(svc, "/spec/sessionAffinity") == "ClientIP").then(|| {
        svc.pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds")
            .and_then(Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(10800)
    });
    let external = matches!(text(svc, "/spec/type"), "NodePort" | "LoadBalancer");
    let load_balancer_ips = load_balancer_ips(svc);
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(ServicePort {
                namespace: text(svc, "/metadata/namespace").to_string(),
                name: text(svc, "/metadata/name").to_string(),
                port_name: p["name"].as_str().unwrap_or("").to_string(),
                protocol: p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase(),
                cluster_ip,
                port: u16::try_from(p["port"].as_u64()?).ok()?,
                node_port: p["nodePort"]
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| external && *n != 0),
                load_balancer_ips: load_balancer_ips.clone(),
                affinity_seconds,
                external_local: external && text(svc, "/spec/externalTrafficPolicy") == "Local",
                internal_local: text(svc, "/spec/internalTrafficPolicy") == "Local",
            })
        })
        .collect()
}

/// A LoadBalancer Service's ingress addresses. An entry in `Proxy` mode
/// is skipped, as kube-proxy skips it: that load balancer forwards to the
/// nodes itself, and catching its address here would bypass it.
fn load_balancer_ips(svc: &Value) -> Vec<Ipv4Addr> {
    if text(svc, "/spec/type") != "LoadBalancer" {
        return Vec::new();
    }
    svc.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i["ipMode"] != "Proxy")
        .filter_map(|i| i["ip"].as_str()?.parse().ok())
        .collect()
}

// ANCHOR: routes
/// Every Service port with its endpoints, in a stable order, from the
/// Services and EndpointSlices in the cluster. `node` is this node's
/// name: endpoints on it are `local`.
pub fn routes(services: &[Value], slices: &[Value], node: &str) -> Vec<Routed> {
    // Endpoints by (namespace, service, port name, protocol), one per address.
    let mut endpoints: BTreeMap<(String, String, String, String), BTreeMap<Ipv4Addr, Endpoint>> =
        BTreeMap::new();
    for slice in slices.iter().filter(|s| s["addressType"] == "IPv4") {
        let namespace = text(slice, "/metadata/namespace").to_string();
        let Some(service) = slice.pointer("/metadata/labels/kubernetes.io~1service-name") else {
            continue;
        };
        let service = service.as_str().unwrap_or("").to_string();
        for port in slice["ports"].as_array().into_iter().flatten() {
            let Some(number) = port["port"].as_u64().and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            let key = (
                namespace.clone(),
                service.clone(),
                port["name"].as_str().unwrap_or("").to_string(),
                port["protocol"]
                    .as_str()
                    .unwrap_or("TCP")
                    .to_ascii_lowercase(),
            );
            let found = endpoints.entry(key).or_default();
            for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
                let Some(ip) = endpoint["addresses"][0]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                else {
                    continue;
                };
                // A missing condition reads as true (Kubernetes' rule for
                // slices written by other controllers).
                let condition = |name: &str, unset: bool| {
                    endpoint["conditions"][name].as_bool().unwrap_or(unset)
                };
                let candidate = Endpoint {
                    ip,
                    port: number,
                    ready: condition("ready", true),
                    serving: condition("serving", condition("ready", true)),
                    terminating: condition("terminating", false),
                    local: endpoint["nodeName"].as_str() == Some(node),
                };
                // The same address in two slices (mid-move): the readier wins.
                let better = found
                    .get(&ip)
                    .is_none_or(|old| candidate.ready && !old.ready);
                if better {
                    found.insert(ip, candidate);
                }
            }
        }
    }
    let mut routed: Vec<Routed> = services
        .iter()
        .flat_map(service_ports)
        .map(|sp| {
            let key = (
                sp.namespace.clone(),
                sp.name.clone(),
                sp.port_name.clone(),
                sp.protocol.clone(),
            );
            let eps = endpoints
                .get(&key)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            (sp, eps)
        })
        .collect();
    routed.sort_by_key(|(sp, _)| (sp.name_string(), sp.protocol.clone()));
    routed
}
// ANCHOR_END: routes

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_become_ports_with_their_slices_endpoints() {
        let svc = json!({"metadata": {"namespace": "default", "name": "web"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                "externalTrafficPolicy": "Local",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}});
        let headless = json!({"metadata": {"namespace": "default", "name": "db"},
            "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}});
        let slice = json!({"metadata": {"namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.244.2.2"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "node-2"},
                {"addresses": ["10.244.1.2"], "nodeName": "node-1"}]});
        let routed = routes(&[svc, headless], &[slice], "node-1");
        assert_eq!(routed.len(), 1, "the headless Service has no rule");
        let (port, endpoints) = &routed[0];
        assert_eq!(port.name_string(), "default/web:http");
        assert_eq!(
            (port.node_port, port.affinity_seconds, port.external_local),
            (Some(30080), Some(60), true)
        );
        assert_eq!(
            endpoints,
            &[
                Endpoint {
                    ip: Ipv4Addr::new(10, 244, 1, 2),
                    port: 8080,
                    ready: true,
                    serving: true,
                    terminating: false,
                    local: true
                },
                Endpoint {
                    ip: Ipv4Addr::new(10, 244, 2, 2),
                    port: 8080,
                    ready: false,
                    serving: true,
                    terminating: true,
                    local: false
                },
            ]
        );
    }
}
