//! `status.loadBalancer.ingress` of a claimed Ingress: where it is served.
//!
//! orc's proxy listens on ports 80 and 443 of the nodes' own addresses (as
//! k3s' ServiceLB and chapter 06's `LoadBalancer` Services do), so node
//! addresses are what an Ingress publishes, and what `kubectl get ingress`
//! shows as ADDRESS. Not every node's: only those that really serve. A
//! node whose agent runs the proxy labels its own Node
//! `ingress.orc.dev/proxy=true` ([`PROXY_LABEL`]), and a node that stops
//! being Ready stops being published until it is Ready again, as
//! Kubernetes' service controller drops NotReady nodes from a load
//! balancer's pool.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orc_client::conditions::is_ready;
use orc_client::nodes::internal_ip;
use serde_json::{Value, json};

/// The label a node's agent puts on its own Node when it runs the
/// ingress proxy there (and takes off when it does not). Outside
/// `kubernetes.io` and `k8s.io`, so NodeRestriction lets a node set it on
/// itself with its own credential.
pub const PROXY_LABEL: &str = "ingress.orc.dev/proxy";

/// Which addresses the claimed Ingresses publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    /// The `InternalIP` of every Ready node labelled [`PROXY_LABEL`]`=true`,
    /// following the Nodes: what `orc agent` (so `orc up`) runs.
    ProxyNodes,
    /// These, whatever the Nodes say (`--publish-address`: a proxy that is
    /// not on the nodes, behind an address of its own).
    Fixed(Vec<IpAddr>),
}

// ANCHOR: serving_addresses
/// Where the cluster's Ingresses are served, given every Node: the
/// `InternalIP` of each node labelled `ingress.orc.dev/proxy=true` that is
/// Ready, sorted and without repeats (so the same nodes always give the
/// same list, and a resync writes nothing). A node without a readable
/// `InternalIP` has nowhere to be reached and is left out.
pub fn serving_addresses(nodes: &[Value]) -> Vec<IpAddr> {
    let serving: BTreeSet<IpAddr> = nodes
        .iter()
        .filter(|node| node["metadata"]["labels"][PROXY_LABEL] == "true")
        .filter(|node| is_ready(node))
        .filter_map(|node| internal_ip(node)?.parse().ok())
        .collect();
    serving.into_iter().collect()
}
// ANCHOR_END: serving_addresses

// ANCHOR: status_patch
/// The merge patch that makes `ingress`'s published addresses
/// `addresses` (sorted, so the same set is the same list), or `None` when
/// they already are.
pub fn status_patch(ingress: &Value, addresses: &[IpAddr]) -> Option<Value> {
    let mut sorted = addresses.to_vec();
    sorted.sort();
    sorted.dedup();
    let desired: Vec<Value> = sorted
        .iter()
        .map(|ip| json!({"ip": ip.to_string()}))
        .collect();
    let current = ingress.pointer("/status/loadBalancer/ingress");
    let empty = current.is_none_or(|c| c.is_null() || c.as_array().is_some_and(Vec::is_empty));
    let same = match current.and_then(Value::as_array) {
        Some(current) => *current == desired,
        None => empty && desired.is_empty(),
    };
    (!same).then(|| json!({"status": {"loadBalancer": {"ingress": desired}}}))
}
// ANCHOR_END: status_patch

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ip: &str, ready: &str, label: Option<&str>) -> Value {
        let labels = match label {
            Some(v) => json!({"kubernetes.io/os": "linux", PROXY_LABEL: v}),
            None => json!({"kubernetes.io/os": "linux"}),
        };
        json!({"metadata": {"labels": labels}, "status": {
            "addresses": [{"type": "Hostname", "address": "n"}, {"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": ready}]}})
    }

    #[test]
    fn ready_labelled_nodes_serve() {
        let nodes = [
            node("192.168.50.3", "True", Some("true")),
            node("192.168.50.1", "True", Some("true")),
            // The same address twice (two Node names for one machine).
            node("192.168.50.1", "True", Some("true")),
            node("192.168.50.4", "False", Some("true")),
            node("192.168.50.5", "Unknown", Some("true")),
            node("192.168.50.6", "True", None),
            node("192.168.50.7", "True", Some("false")),
            node("not-an-address", "True", Some("true")),
        ];
        let ips: Vec<String> = serving_addresses(&nodes)
            .iter()
            .map(IpAddr::to_string)
            .collect();
        assert_eq!(ips, ["192.168.50.1", "192.168.50.3"]);
        assert_eq!(serving_addresses(&[]), Vec::<IpAddr>::new());
    }

    #[test]
    fn a_node_that_goes_and_comes_back_is_one_write_each_way() {
        let mut nodes = vec![
            node("192.168.50.1", "True", Some("true")),
            node("192.168.50.2", "True", Some("true")),
        ];
        let mut ingress = json!({"metadata": {"name": "web"}});
        let mut writes = 0;
        let mut sync = |nodes: &[Value], ingress: &mut Value| {
            if let Some(patch) = status_patch(ingress, &serving_addresses(nodes)) {
                writes += 1;
                ingress["status"] = patch["status"].clone();
            }
        };
        sync(&nodes, &mut ingress);
        sync(&nodes, &mut ingress);
        assert_eq!(
            ingress["status"]["loadBalancer"]["ingress"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        nodes[1]["status"]["conditions"][0]["status"] = json!("False");
        sync(&nodes, &mut ingress);
        sync(&nodes, &mut ingress);
        assert_eq!(
            ingress["status"]["loadBalancer"]["ingress"],
            json!([{"ip": "192.168.50.1"}])
        );
        nodes[1]["status"]["conditions"][0]["status"] = json!("True");
        sync(&nodes, &mut ingress);
        // Unlabelled: it no longer serves, Ready or not.
        nodes[0]["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(PROXY_LABEL);
        sync(&nodes, &mut ingress);
        sync(&nodes, &mut ingress);
        assert_eq!(
            ingress["status"]["loadBalancer"]["ingress"],
            json!([{"ip": "192.168.50.2"}])
        );
        assert_eq!(writes, 4);
    }

    #[test]
    fn addresses_are_written_once_and_sorted() {
        let ips: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        let fresh = json!({"metadata": {"name": "web"}});
        let patch = status_patch(&fresh, &ips).unwrap();
        assert_eq!(
            patch,
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}}})
        );
        let written = json!({"status": patch["status"]});
        assert_eq!(status_patch(&written, &ips), None);
        assert_eq!(status_patch(&fresh, &[]), None);
    }
}
