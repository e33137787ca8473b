//! How pods find orc-dns: the `kube-dns` Service in `kube-system` at the
//! address every pod's resolv.conf names (`10.96.0.10`, the agent's
//! `--cluster-dns`), with one EndpointSlice per node listing that node's
//! own DNS server. orc-proxy then DNATs a pod's question to the cluster
//! IP like any other Service's traffic.
//!
//! The Service has no selector (no pod runs DNS: the agent does), so the
//! endpoint controllers leave it alone and each agent writes its node's
//! slice itself, labelled as its own. `internalTrafficPolicy: Local`
//! keeps every question on the node it was asked on.

use std::net::Ipv4Addr;

use orc_client::resources::by_kind;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};

/// Where the Service lives and what it is called, as on every cluster.
pub const NAMESPACE: &str = "kube-system";
pub const SERVICE: &str = "kube-dns";
/// The `managed-by` label of the slices agents write.
pub const MANAGED_BY: &str = "orc-agent";

/// Both DNS ports: 53 over UDP (most questions) and TCP (long answers).
fn ports(key: &str) -> Value {
    json!([
        {"name": "dns", "protocol": "UDP", key: 53},
        {"name": "dns-tcp", "protocol": "TCP", key: 53},
    ])
}

/// The `kube-dns` Service at `cluster_ip`.
pub fn service(cluster_ip: Ipv4Addr) -> Value {
    let mut ports = ports("port");
    for p in ports.as_array_mut().into_iter().flatten() {
        p["targetPort"] = json!(53);
    }
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "orc-dns"}},
        "spec": {"clusterIP": cluster_ip.to_string(), "ports": ports,
            "internalTrafficPolicy": "Local"}})
}

/// Node `node`'s slice of `kube-dns`: its DNS server at `address`.
pub fn node_slice(node: &str, address: Ipv4Addr) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{SERVICE}-{node}"), "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": SERVICE,
                "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
        "addressType": "IPv4",
        "ports": ports("port"),
        "endpoints": [{"addresses": [address.to_string()], "nodeName": node,
            "conditions": {"ready": true, "serving": true, "terminating": false}}]})
}

/// Makes sure the `kube-dns` Service exists (another node may have made
/// it) and writes this node's slice.
pub async fn publish(
    client: &Client,
    cluster_ip: Ipv4Addr,
    node: &str,
    address: Ipv4Addr,
) -> Result<(), ClientError> {
    let services = by_kind("v1", "Service").expect("Services are served");
    let slices = by_kind("discovery.k8s.io/v1", "EndpointSlice").expect("slices are served");
    match client
        .create(services, Some(NAMESPACE), &service(cluster_ip))
        .await
    {
        Err(e) if e.is_conflict() => {}
        other => {
            other?;
        }
    }
    let slice = node_slice(node, address);
    match client.create(slices, Some(NAMESPACE), &slice).await {
        Err(e) if e.is_conflict() => {
            // From an earlier run of this agent: make it say today's address.
            let name = format!("{SERVICE}-{node}");
            client
                .merge_patch(slices, Some(NAMESPACE), &name, None, &slice)
                .await?;
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// Removes this node's slice (the agent is stopping: its server goes).
pub async fn withdraw(client: &Client, node: &str) -> Result<(), ClientError> {
    let slices = by_kind("discovery.k8s.io/v1", "EndpointSlice").expect("slices are served");
    match client
        .delete(slices, Some(NAMESPACE), &format!("{SERVICE}-{node}"))
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_and_a_slice_agree_on_ports_and_the_slice_names_its_node() {
        let svc = service(Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "UDP");
        let slice = node_slice("node-a", Ipv4Addr::new(10, 244, 1, 1));
        assert_eq!(slice["metadata"]["name"], "kube-dns-node-a");
        assert_eq!(
            slice["metadata"]["labels"]["kubernetes.io/service-name"],
            SERVICE
        );
        assert_eq!(slice["endpoints"][0]["addresses"][0], "10.244.1.1");
        assert_eq!(slice["endpoints"][0]["nodeName"], "node-a");
        for (s, p) in [(0, 0), (1, 1)] {
            assert_eq!(svc["spec"]["ports"][s]["name"], slice["ports"][p]["name"]);
        }
    }
}
