//! Routes to the other nodes' pods, from the Node objects.
//!
//! Chapter 02 taught the routes themselves ([`orc_pod::routes`]): one
//! `host-gw` route per other node, "its pod CIDR via its address", synced
//! as a diff. There the tests handed each node the cluster's node list.
//! On the API the list is the Node objects: every agent registers its own
//! with `spec.podCIDR` and an `InternalIP` address, so every agent can
//! watch them all and route to its peers. A node that joins gets a route
//! on every other node as soon as its Node object is written; a Node that
//! is deleted loses it. This is what flannel's `host-gw` back-end does
//! from its node watch.
//!
//! [`node_routes`] reads the list (pure); [`follow_peers`] is the shell:
//! an informer on Nodes and, at each change, one level-triggered
//! [`sync_routes`](orc_pod::routes::sync_routes) in the node's network
//! namespace.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orc_client::Client;
use orc_client::informer as informers;
use orc_client::resources::by_kind;
use orc_pod::routes::{self, NodeRoute};
use orc_pod::{Ipv4Cidr, netns};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How often the routes are synced even when no Node changed: a route
/// someone deleted by hand comes back within this time.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);

/// How long to wait before trying again after a sync failed.
const RETRY_AFTER: Duration = Duration::from_secs(2);

// ANCHOR: node_routes
/// The route to each node in `nodes` (Node objects): its `spec.podCIDR`
/// via its first `InternalIP`. A node without either yet (a pod CIDR is
/// not assigned, the address not reported) gets no route; one whose values
/// cannot be read is named in the second list, for a warning.
pub fn node_routes(nodes: &[Value]) -> (Vec<NodeRoute>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for node in nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or("?");
        let Some(cidr) = node["spec"]["podCIDR"].as_str() else {
            continue;
        };
        let Some(address) = orc_client::nodes::internal_ip(node) else {
            continue;
        };
        match (cidr.parse::<Ipv4Cidr>(), address.parse::<Ipv4Addr>()) {
            (Ok(pod_cidr), Ok(via)) => found.push(NodeRoute { pod_cidr, via }),
            (Err(e), _) => problems.push(format!("node {name}: spec.podCIDR {cidr:?}: {e}")),
            (_, Err(e)) => problems.push(format!(
                "node {name}: status.addresses InternalIP {address:?}: {e}"
            )),
        }
    }
    (found, problems)
}
// ANCHOR_END: node_routes

// ANCHOR: follow_peers
/// Keeps the routes in the network namespace `netns` to every other
/// node's pods in step with the Node objects, until dropped. `own` is this
/// node's pod CIDR: its own Node gets no route.
pub async fn follow_peers(client: Client, netns: PathBuf, own: Ipv4Cidr) {
    let nodes = informers::everything(
        &client,
        by_kind("v1", "Node").expect("the resource table serves Nodes"),
    );
    let cache = nodes.cache();
    let changed = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    // Before the first list the cache is empty, and syncing to an empty
    // list would remove every route a restarted agent had left in place.
    if !informers::follow_changes(&mut tasks, vec![nodes], &changed).await {
        return;
    }
    let mut reported = BTreeSet::new();
    loop {
        let (found, problems) = node_routes(&cache.list());
        for problem in problems {
            // Logged once per distinct problem, not at every sync.
            if reported.insert(problem.clone()) {
                tracing::warn!("no route to a node: {problem}; fix the Node object");
            }
        }
        let wait = match sync(&netns, own, &found).await {
            Ok(()) => RESYNC_PERIOD,
            Err(error) => {
                tracing::warn!(%error, "syncing the routes to other nodes failed; retrying");
                RETRY_AFTER
            }
        };
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
// ANCHOR_END: follow_peers

/// One level-triggered sync: the routes in `netns` become exactly those to
/// the nodes in `nodes` other than `own`.
async fn sync(netns: &std::path::Path, own: Ipv4Cidr, nodes: &[NodeRoute]) -> Result<(), String> {
    // A fresh netlink connection each time: cheap next to a Node change,
    // and nothing to repair if the namespace was re-created.
    let handle = netns::connect(netns).await.map_err(|e| e.to_string())?;
    let wanted = routes::routes_to_peers(own, nodes);
    let changes = routes::sync_routes(&handle, &wanted)
        .await
        .map_err(|e| e.to_string())?;
    for route in &changes.add {
        tracing::info!(pod_cidr = %route.pod_cidr, via = %route.via, "route to a node added");
    }
    for route in &changes.remove {
        tracing::info!(pod_cidr = %route.pod_cidr, via = %route.via, "route to a node removed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cidr: Option<&str>, ip: Option<&str>) -> Value {
        let mut node = json!({"metadata": {"name": name}, "spec": {}, "status": {"addresses": [
            {"type": "Hostname", "address": name}]}});
        if let Some(cidr) = cidr {
            node["spec"]["podCIDR"] = json!(cidr);
        }
        if let Some(ip) = ip {
            node["status"]["addresses"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "InternalIP", "address": ip}));
        }
        node
    }

    #[test]
    fn each_node_with_a_pod_cidr_and_an_internal_ip_is_a_route() {
        let nodes = [
            node("a", Some("10.244.1.0/24"), Some("192.168.50.1")),
            node("b", Some("10.244.2.0/24"), Some("192.168.50.2")),
            node("no-cidr-yet", None, Some("192.168.50.3")),
            node("no-address-yet", Some("10.244.4.0/24"), None),
        ];
        let (found, problems) = node_routes(&nodes);
        assert_eq!(
            found,
            [
                NodeRoute {
                    pod_cidr: "10.244.1.0/24".parse().unwrap(),
                    via: Ipv4Addr::new(192, 168, 50, 1),
                },
                NodeRoute {
                    pod_cidr: "10.244.2.0/24".parse().unwrap(),
                    via: Ipv4Addr::new(192, 168, 50, 2),
                },
            ]
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn an_unreadable_node_is_named_not_routed() {
        let nodes = [
            node("bad-cidr", Some("10.244.1.0/33"), Some("192.168.50.1")),
            node("bad-ip", Some("10.244.2.0/24"), Some("192.168.50.300")),
        ];
        let (found, problems) = node_routes(&nodes);
        assert!(found.is_empty());
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].starts_with("node bad-cidr: spec.podCIDR"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("node bad-ip: status.addresses InternalIP"),
            "{problems:?}"
        );
    }
}
