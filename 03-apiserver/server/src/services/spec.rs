//! What the API server fills in on a Service before it allocates, as pure
//! functions of the new object and, on update, the stored one.
//!
//! Kubernetes' service registry does this in several steps with names a
//! reader of its source will recognise: `patchAllocatedValues` (an update
//! that leaves out the cluster IP or a node port keeps the old one, so a
//! `kubectl replace` of a manifest without them changes nothing),
//! `dropTypeDependentFields` (a Service that stops being a NodePort gives
//! its node ports back), `normalizeClusterIPs` (`clusterIP` and
//! `clusterIPs[0]` are one value written twice) and `initIPFamilyFields`
//! (`ipFamilies` and `ipFamilyPolicy` as a single-stack IPv4 cluster sets
//! them). [`wants`] then says what the Service asks the allocators for.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

/// The word that makes a Service headless.
pub const NONE: &str = "None";

/// `spec.type`, `ClusterIP` when absent.
pub fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

/// `spec.clusterIP`, or `""`.
pub fn cluster_ip(svc: &Value) -> &str {
    svc.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Whether the Service routes through a virtual IP at all: every type
/// but `ExternalName` (a DNS alias). A headless Service "needs" one too;
/// its value is `None`.
pub fn needs_cluster_ip(svc: &Value) -> bool {
    service_type(svc) != "ExternalName"
}

/// Whether the Service is headless (`clusterIP: None`): DNS answers with
/// the pods' own addresses and no proxy rule exists for it.
pub fn is_headless(svc: &Value) -> bool {
    let first = svc
        .pointer("/spec/clusterIP")
        .or_else(|| svc.pointer("/spec/clusterIPs/0"))
        .and_then(Value::as_str);
    first == Some(NONE)
}

/// Whether the type opens node ports: `NodePort` and `LoadBalancer` (a
/// cloud load balancer forwards to a node port on every node).
pub fn needs_node_ports(svc: &Value) -> bool {
    matches!(service_type(svc), "NodePort" | "LoadBalancer")
}

/// Whether node ports are allocated when not asked for: always for
/// `NodePort`; for `LoadBalancer` unless `allocateLoadBalancerNodePorts`
/// is false (for load balancers that reach pods directly).
fn allocates_node_ports(svc: &Value) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => svc.pointer("/spec/allocateLoadBalancerNodePorts") != Some(&json!(false)),
        _ => false,
    }
}

/// `spec.ports`, or none.
pub fn ports(svc: &Value) -> &[Value] {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The strings of the list `spec.<field>` (`clusterIPs`, `ipFamilies`).
pub fn strings<'a>(svc: &'a Value, field: &str) -> Vec<&'a str> {
    svc.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A port's `nodePort`, 0 when absent.
fn node_port_of(port: &Value) -> i64 {
    port.get("nodePort").and_then(Value::as_i64).unwrap_or(0)
}

/// Every node port the Service names, 0s left out.
pub fn node_ports(svc: &Value) -> BTreeSet<i64> {
    ports(svc)
        .iter()
        .map(node_port_of)
        .filter(|n| *n != 0)
        .collect()
}

// ANCHOR: normalize
/// Fills in, on the new Service `svc`, what Kubernetes fills in before it
/// allocates; `old` is the stored Service on update.
pub fn normalize(svc: &mut Value, old: Option<&Value>) {
    if let Some(old) = old {
        patch_allocated_values(svc, old);
        drop_type_dependent_fields(svc, old);
    }
    normalize_cluster_ips(svc);
    init_ip_family_fields(svc, old);
}
// ANCHOR_END: normalize

/// The mutable `spec`, if the object has one.
fn spec_mut(svc: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    svc.get_mut("spec").and_then(Value::as_object_mut)
}

/// An update that leaves out allocated values keeps the stored ones: the
/// cluster IP, and each node port by the name of its port (unless the new
/// object already uses that number elsewhere).
fn patch_allocated_values(svc: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(svc) {
        let old_spec = old.get("spec").cloned().unwrap_or_default();
        if let Some(spec) = spec_mut(svc) {
            for field in ["clusterIP", "clusterIPs"] {
                let missing = spec.get(field).is_none_or(|v| {
                    v.is_null() || v == "" || v.as_array().is_some_and(Vec::is_empty)
                });
                if missing && let Some(value) = old_spec.get(field) {
                    spec.insert(field.into(), value.clone());
                }
            }
        }
    }
    if needs_node_ports(old) && needs_node_ports(svc) {
        let used_by_both: BTreeSet<i64> = node_ports(old)
            .intersection(&node_ports(svc))
            .copied()
            .collect();
        let by_name: Vec<(String, i64)> = ports(old)
            .iter()
            .map(|p| (port_name(p).to_string(), node_port_of(p)))
            .collect();
        let Some(new_ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
            return;
        };
        for port in new_ports.iter_mut().filter(|p| node_port_of(p) == 0) {
            let name = port_name(port).to_string();
            let kept = by_name.iter().find(|(n, _)| *n == name).map(|(_, np)| *np);
            if let Some(np) = kept.filter(|np| *np != 0 && !used_by_both.contains(np)) {
                port["nodePort"] = json!(np);
            }
        }
    }
}

/// A port's `name`, `""` when unnamed.
pub fn port_name(port: &Value) -> &str {
    port.get("name").and_then(Value::as_str).unwrap_or("")
}

/// A Service that changes to a type without a cluster IP (ExternalName)
/// or without node ports (ClusterIP) gives them up, unless the update
/// itself changed them (then validation has the last word).
fn drop_type_dependent_fields(svc: &mut Value, old: &Value) {
    let same = |field: &str, a: &Value, b: &Value| {
        a.pointer(&format!("/spec/{field}")) == b.pointer(&format!("/spec/{field}"))
    };
    if needs_cluster_ip(old)
        && !needs_cluster_ip(svc)
        && same("clusterIP", old, svc)
        && same("clusterIPs", old, svc)
    {
        let family_fields_unchanged =
            same("ipFamilies", old, svc) && same("ipFamilyPolicy", old, svc);
        if let Some(spec) = spec_mut(svc) {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
            if family_fields_unchanged {
                spec.remove("ipFamilies");
                spec.remove("ipFamilyPolicy");
            }
        }
    }
    if needs_node_ports(old) && !needs_node_ports(svc) && same("externalTrafficPolicy", old, svc) {
        if let Some(spec) = spec_mut(svc) {
            spec.remove("externalTrafficPolicy");
        }
    }
    if needs_node_ports(old) && !needs_node_ports(svc) && node_ports(old) == node_ports(svc) {
        for port in svc
            .pointer_mut("/spec/ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(port) = port.as_object_mut() {
                port.remove("nodePort");
            }
        }
    }
}

/// `clusterIP` and `clusterIPs[0]` say the same thing: whichever the
/// client sent fills the other.
fn normalize_cluster_ips(svc: &mut Value) {
    if !needs_cluster_ip(svc) {
        return;
    }
    let ip = cluster_ip(svc).to_string();
    let first = svc
        .pointer("/spec/clusterIPs/0")
        .and_then(Value::as_str)
        .map(String::from);
    let Some(spec) = spec_mut(svc) else { return };
    match (ip.is_empty(), first) {
        (false, None) => {
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        (true, Some(first)) => {
            spec.insert("clusterIP".into(), json!(first));
        }
        _ => {}
    }
}

/// `ipFamilyPolicy` and `ipFamilies` on a single-stack IPv4 cluster: the
/// policy the client sent, or the stored one, or `SingleStack`; the
/// families `[IPv4]`. A headless Service without a selector is the
/// exception Kubernetes makes: `RequireDualStack` and both families,
/// since its endpoints are written by hand and may be of either.
fn init_ip_family_fields(svc: &mut Value, old: Option<&Value>) {
    if !needs_cluster_ip(svc) {
        return;
    }
    let selectorless = svc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .is_none_or(|s| s.is_empty());
    let headless_selectorless = is_headless(svc) && selectorless;
    let old_policy = old.and_then(|o| o.pointer("/spec/ipFamilyPolicy")).cloned();
    let Some(spec) = spec_mut(svc) else { return };
    if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
        let policy = match old_policy.filter(|p| !p.is_null()) {
            Some(policy) => policy,
            None if headless_selectorless => json!("RequireDualStack"),
            None => json!("SingleStack"),
        };
        spec.insert("ipFamilyPolicy".into(), policy);
    }
    let families_missing = spec
        .get("ipFamilies")
        .is_none_or(|f| f.as_array().is_none_or(Vec::is_empty));
    if families_missing {
        let single = spec.get("ipFamilyPolicy") == Some(&json!("SingleStack"));
        let families = if headless_selectorless && !single {
            json!(["IPv4", "IPv6"])
        } else {
            json!(["IPv4"])
        };
        spec.insert("ipFamilies".into(), families);
    }
}

/// One value a Service asks an allocator for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<T> {
    /// Whichever is free.
    Any,
    /// This one (the client named it).
    Exactly(T),
}

/// A node port the Service asks for, and the `spec.ports` entries that
/// share it: entries with the same `port` number (TCP and UDP on 53, say)
/// get one node port, as in Kubernetes' `initNodePorts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePortWant {
    /// Indices into `spec.ports`.
    pub indices: Vec<usize>,
    /// The value asked for.
    pub ask: Ask<i64>,
}

/// Everything a Service asks the allocators for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wants {
    /// `None`: no cluster IP (ExternalName, headless).
    pub cluster_ip: Option<Ask<Ipv4Addr>>,
    /// The node ports, one per distinct value.
    pub node_ports: Vec<NodePortWant>,
}

// ANCHOR: wants
/// What a normalized, valid Service asks for.
pub fn wants(svc: &Value) -> Wants {
    let cluster_ip = match cluster_ip(svc) {
        _ if !needs_cluster_ip(svc) || is_headless(svc) => None,
        "" => Some(Ask::Any),
        // Validation has refused anything that is not an address.
        ip => ip.parse().ok().map(Ask::Exactly),
    };
    let mut node_ports: Vec<NodePortWant> = Vec::new();
    if needs_node_ports(svc) {
        let ports = ports(svc);
        let number = |p: &Value| p.get("port").and_then(Value::as_i64).unwrap_or(0);
        for (i, port) in ports.iter().enumerate() {
            let asked = node_port_of(port);
            // A port left at 0 shares what another entry with the same
            // `port` number asked for (`findRequestedNodePort`).
            let shared = ports
                .iter()
                .filter(|other| number(other) == number(port))
                .map(node_port_of)
                .find(|np| *np != 0);
            let ask = match (asked, shared) {
                (0, Some(np)) => Ask::Exactly(np),
                (0, None) if allocates_node_ports(svc) => Ask::Any,
                (0, None) => continue,
                (np, _) => Ask::Exactly(np),
            };
            let same = |w: &NodePortWant| match ask {
                Ask::Exactly(np) => w.ask == Ask::Exactly(np),
                Ask::Any => {
                    w.ask == Ask::Any
                        && w.indices.iter().any(|j| number(&ports[*j]) == number(port))
                }
            };
            match node_ports.iter_mut().find(|w| same(w)) {
                Some(want) => want.indices.push(i),
                None => node_ports.push(NodePortWant {
                    indices: vec![i],
                    ask,
                }),
            }
        }
    }
    Wants {
        cluster_ip,
        node_ports,
    }
}
// ANCHOR_END: wants

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_cluster_ip_service_gets_single_stack_ipv4_fields() {
        let mut svc = json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}});
        normalize(&mut svc, None);
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(svc["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(wants(&svc).cluster_ip, Some(Ask::Any));
    }

    #[test]
    fn cluster_ip_and_cluster_ips_fill_each_other() {
        let mut svc = json!({"spec": {"clusterIP": "10.96.0.9"}});
        normalize(&mut svc, None);
        assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.9"]));
        let mut svc = json!({"spec": {"clusterIPs": ["10.96.0.9"]}});
        normalize(&mut svc, None);
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(
            wants(&svc).cluster_ip,
            Some(Ask::Exactly(Ipv4Addr::new(10, 96, 0, 9)))
        );
    }

    #[test]
    fn headless_and_external_name_services_ask_for_no_ip() {
        let mut headless = json!({"spec": {"clusterIP": "None", "selector": {"app": "db"}}});
        normalize(&mut headless, None);
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(wants(&headless).cluster_ip, None);
        let mut bare = json!({"spec": {"clusterIP": "None"}});
        normalize(&mut bare, None);
        assert_eq!(bare["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(bare["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let mut alias = json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        normalize(&mut alias, None);
        assert_eq!(alias["spec"].get("ipFamilies"), None);
        assert_eq!(wants(&alias), Wants::default());
    }

    #[test]
    fn node_ports_are_asked_per_distinct_port_number() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "web", "port": 80, "nodePort": 30080},
            {"name": "alt", "port": 8080, "nodePort": 30080},
        ]}});
        assert_eq!(
            wants(&svc).node_ports,
            [
                NodePortWant {
                    indices: vec![0, 1],
                    ask: Ask::Any
                },
                NodePortWant {
                    indices: vec![2, 3],
                    ask: Ask::Exactly(30080)
                },
            ]
        );
        let lb = json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
            "ports": [{"port": 80}, {"port": 81, "nodePort": 30081}]}});
        assert_eq!(
            wants(&lb).node_ports,
            [NodePortWant {
                indices: vec![1],
                ask: Ask::Exactly(30081)
            }]
        );
    }

    #[test]
    fn an_update_without_allocated_values_keeps_the_stored_ones() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.3.4", "clusterIPs": ["10.96.3.4"],
            "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        let mut new =
            json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 8080}]}});
        normalize(&mut new, Some(&old));
        assert_eq!(new["spec"]["clusterIP"], "10.96.3.4");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.3.4"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
    }

    #[test]
    fn changing_type_gives_back_what_the_new_type_does_not_use() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.3.4", "clusterIPs": ["10.96.3.4"],
            "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        let mut cluster_ip = old.clone();
        cluster_ip["spec"]["type"] = json!("ClusterIP");
        normalize(&mut cluster_ip, Some(&old));
        assert_eq!(cluster_ip["spec"]["ports"][0].get("nodePort"), None);
        assert_eq!(cluster_ip["spec"]["clusterIP"], "10.96.3.4");
        let mut alias = old.clone();
        alias["spec"]["type"] = json!("ExternalName");
        alias["spec"]["externalName"] = json!("example.com");
        normalize(&mut alias, Some(&old));
        for gone in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            assert_eq!(alias["spec"].get(gone), None, "{gone}");
        }
    }
}
