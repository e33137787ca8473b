//! Routes between nodes, the `host-gw` way.
//!
//! Each node's pods live behind that node's bridge, in the node's pod CIDR.
//! For a pod on node A to reach a pod on node B, node A needs one route per
//! other node: "10.244.2.0/24 via 192.168.50.2", the pod CIDR of node B via
//! node B's own address. Packets then travel between nodes unchanged, with the
//! pods' addresses as source and destination: no NAT, no tunnel. This is
//! flannel's `host-gw` back-end, and works when all nodes share one layer-2
//! network (the next hop must be directly reachable).
//!
//! orc marks its routes with its own routing protocol number,
//! [`ROUTE_PROTOCOL`] (`ip route` shows `proto 79`), so that it can list
//! exactly the routes it owns and remove the ones for nodes that left,
//! without touching routes anyone else added.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use futures::TryStreamExt;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::cidr::Ipv4Cidr;
use crate::error::{Context, NetError};

/// The routing protocol number on routes orc owns: 79 is ASCII `O`. Numbers
/// above 4 are free for routing daemons (see `/etc/iproute2/rt_protos`).
pub const ROUTE_PROTOCOL: u8 = 79;

/// One route to another node's pods: `pod_cidr via node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeRoute {
    /// The other node's pod CIDR.
    pub pod_cidr: Ipv4Cidr,
    /// The other node's address on the network the nodes share.
    pub via: Ipv4Addr,
}

/// What [`sync_routes`] must change to go from the routes a node has to the
/// routes it should have.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteChanges {
    pub add: Vec<NodeRoute>,
    pub remove: Vec<NodeRoute>,
}

// ANCHOR: route_changes
/// The difference between the routes a node `has` and those it `wants`.
///
/// A route whose next hop changed (a node got a new address) appears in both
/// lists: removed with its old gateway, added with the new one.
pub fn route_changes(has: &BTreeSet<NodeRoute>, wants: &BTreeSet<NodeRoute>) -> RouteChanges {
    RouteChanges {
        add: wants.difference(has).copied().collect(),
        remove: has.difference(wants).copied().collect(),
    }
}
// ANCHOR_END: route_changes

/// The routes node `own_pod_cidr` needs, given every node of the cluster
/// (itself included, as a cluster's node list does): one per *other* node.
pub fn routes_to_peers(own_pod_cidr: Ipv4Cidr, nodes: &[NodeRoute]) -> BTreeSet<NodeRoute> {
    nodes
        .iter()
        .filter(|node| node.pod_cidr != own_pod_cidr)
        .copied()
        .collect()
}

/// The routes orc owns in the main table of `handle`'s namespace.
pub async fn list_routes(handle: &Handle) -> Result<BTreeSet<NodeRoute>, NetError> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(query)
        .execute()
        .try_collect()
        .await
        .context(|| "listing routes".to_string())?;
    Ok(routes.iter().filter_map(node_route).collect())
}

/// The [`NodeRoute`] a kernel route stands for, if orc made it.
fn node_route(route: &RouteMessage) -> Option<NodeRoute> {
    if route.header.protocol != RouteProtocol::Other(ROUTE_PROTOCOL)
        || route.header.kind != RouteType::Unicast
    {
        return None;
    }
    let mut destination = None;
    let mut gateway = None;
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet(a)) => destination = Some(*a),
            RouteAttribute::Gateway(RouteAddress::Inet(a)) => gateway = Some(*a),
            _ => {}
        }
    }
    Some(NodeRoute {
        pod_cidr: Ipv4Cidr::new(destination?, route.header.destination_prefix_length),
        via: gateway?,
    })
}

/// The netlink message for `ip route replace POD_CIDR via NODE proto 79`.
fn route_message(route: NodeRoute) -> RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(route.pod_cidr.network(), route.pod_cidr.prefix())
        .gateway(route.via)
        .protocol(RouteProtocol::Other(ROUTE_PROTOCOL))
        .build()
}

// ANCHOR: sync_routes
/// Makes the orc routes in `handle`'s namespace exactly `wants`, and returns
/// what it changed.
///
/// Level-triggered, like a Kubernetes controller: it looks at the whole
/// current and desired state, not at which node just joined or left, so
/// calling it again with the same list changes nothing.
pub async fn sync_routes(
    handle: &Handle,
    wants: &BTreeSet<NodeRoute>,
) -> Result<RouteChanges, NetError> {
    let changes = route_changes(&list_routes(handle).await?, wants);
    for route in &changes.remove {
        handle
            .route()
            .del(route_message(*route))
            .execute()
            .await
            .context(|| format!("removing route {} via {}", route.pod_cidr, route.via))?;
    }
    for route in &changes.add {
        handle
            .route()
            .add(route_message(*route))
            .replace()
            .execute()
            .await
            .context(|| format!("adding route {} via {}", route.pod_cidr, route.via))?;
    }
    Ok(changes)
}
// ANCHOR_END: sync_routes

#[cfg(test)]
mod tests {
    use super::*;

    fn route(cidr: &str, via: &str) -> NodeRoute {
        NodeRoute {
            pod_cidr: cidr.parse().unwrap(),
            via: via.parse().unwrap(),
        }
    }

    #[test]
    fn a_node_routes_to_every_other_node() {
        let nodes = [
            route("10.244.1.0/24", "192.168.50.1"),
            route("10.244.2.0/24", "192.168.50.2"),
            route("10.244.3.0/24", "192.168.50.3"),
        ];
        let wanted = routes_to_peers("10.244.2.0/24".parse().unwrap(), &nodes);
        assert_eq!(
            wanted,
            BTreeSet::from([
                route("10.244.1.0/24", "192.168.50.1"),
                route("10.244.3.0/24", "192.168.50.3"),
            ])
        );
    }

    #[test]
    fn changes_add_the_missing_and_remove_the_stale() {
        let has = BTreeSet::from([
            route("10.244.2.0/24", "192.168.50.2"),
            route("10.244.3.0/24", "192.168.50.3"),
        ]);
        let wants = BTreeSet::from([
            route("10.244.2.0/24", "192.168.50.2"),
            route("10.244.3.0/24", "192.168.50.33"),
            route("10.244.4.0/24", "192.168.50.4"),
        ]);
        assert_eq!(
            route_changes(&has, &wants),
            RouteChanges {
                add: vec![
                    route("10.244.3.0/24", "192.168.50.33"),
                    route("10.244.4.0/24", "192.168.50.4"),
                ],
                remove: vec![route("10.244.3.0/24", "192.168.50.3")],
            }
        );
        assert_eq!(route_changes(&wants, &wants), RouteChanges::default());
    }
}
