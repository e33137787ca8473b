//! Which addresses a `LoadBalancer` Service gets, decided from the Service
//! and the Nodes: pure, so it is tested without a cluster.
//!
//! orc's load balancer is k3s' ServiceLB's idea: there is no cloud to ask
//! for a new address, so a Service is reachable on the addresses the
//! nodes already have. Every Ready node's `InternalIP` becomes one entry
//! of `status.loadBalancer.ingress`; each node's proxy catches traffic to
//! its own address and the Service's port (chapter 06's rules) and sends
//! it to a pod, as it does for a node port.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use orc_client::conditions::is_ready;
use orc_client::nodes::internal_ip;
use serde_json::{Value, json};

// ANCHOR: ingress
/// What `status.loadBalancer.ingress` of `service` should be, given every
/// Node; `None` when the Service is not this controller's (a
/// `spec.loadBalancerClass` naming another implementation, which
/// Kubernetes' own service controller leaves alone too).
///
/// A `LoadBalancer` gets one `{"ip": ..., "ipMode": "VIP"}` per Ready
/// node, sorted so that the same nodes always give the same status. With
/// no Ready node it gets none (`null`), which kubectl shows as
/// `<pending>`; so does a Service that is no longer a `LoadBalancer`: its
/// old addresses are taken back.
pub fn desired_ingress(service: &Value, nodes: &[Value]) -> Option<Value> {
    let spec = &service["spec"];
    if spec["type"] != "LoadBalancer" {
        return Some(Value::Null);
    }
    if spec["loadBalancerClass"].is_string() {
        return None;
    }
    let addresses: BTreeSet<Ipv4Addr> = nodes
        .iter()
        .filter(|node| is_ready(node))
        .filter_map(|node| internal_ip(node)?.parse().ok())
        .collect();
    if addresses.is_empty() {
        return Some(Value::Null);
    }
    let ingress = addresses
        .iter()
        .map(|ip| json!({"ip": ip.to_string(), "ipMode": "VIP"}))
        .collect();
    Some(Value::Array(ingress))
}
// ANCHOR_END: ingress

/// The merge patch for the `status` subresource that makes `service`'s
/// ingress `desired`, or `None` when it already is (no write, no event:
/// a resync of an unchanged cluster costs nothing). A `null` in a merge
/// patch deletes the field.
pub fn status_patch(service: &Value, desired: &Value) -> Option<Value> {
    let current = &service["status"]["loadBalancer"]["ingress"];
    let same =
        current == desired || (desired.is_null() && current.as_array().is_some_and(Vec::is_empty));
    (!same).then(|| json!({"status": {"loadBalancer": {"ingress": desired}}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ip: &str, ready: &str) -> Value {
        json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n"}, {"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": ready}]}})
    }

    fn service(kind: &str) -> Value {
        json!({"spec": {"type": kind}, "status": {}})
    }

    #[test]
    fn a_load_balancer_answers_on_every_ready_node() {
        let nodes = [
            node("192.168.50.2", "True"),
            node("192.168.50.1", "True"),
            node("192.168.50.3", "Unknown"),
        ];
        let svc = service("LoadBalancer");
        let desired = desired_ingress(&svc, &nodes).unwrap();
        assert_eq!(
            desired,
            json!([
                {"ip": "192.168.50.1", "ipMode": "VIP"},
                {"ip": "192.168.50.2", "ipMode": "VIP"}])
        );
        let patch = status_patch(&svc, &desired).unwrap();
        assert_eq!(patch["status"]["loadBalancer"]["ingress"], desired);
        // Once written, nothing more to write.
        let mut written = svc.clone();
        written["status"]["loadBalancer"]["ingress"] = desired.clone();
        assert_eq!(status_patch(&written, &desired), None);
    }

    #[test]
    fn without_a_ready_node_it_is_pending() {
        let nodes = [node("192.168.50.1", "False")];
        let svc = service("LoadBalancer");
        assert_eq!(desired_ingress(&svc, &nodes), Some(Value::Null));
        assert_eq!(status_patch(&svc, &Value::Null), None);
    }

    #[test]
    fn another_class_is_left_to_its_controller() {
        let mut svc = service("LoadBalancer");
        svc["spec"]["loadBalancerClass"] = json!("example.com/other");
        assert_eq!(desired_ingress(&svc, &[node("192.168.50.1", "True")]), None);
    }

    #[test]
    fn a_service_that_stops_being_a_load_balancer_gives_its_addresses_back() {
        let mut svc = service("ClusterIP");
        svc["status"]["loadBalancer"]["ingress"] = json!([{"ip": "192.168.50.1"}]);
        let desired = desired_ingress(&svc, &[node("192.168.50.1", "True")]).unwrap();
        assert_eq!(desired, Value::Null);
        assert_eq!(
            status_patch(&svc, &desired),
            Some(json!({"status": {"loadBalancer": {"ingress": null}}}))
        );
    }
}
