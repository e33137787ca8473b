//! Your code for lab 02. Replace each `todo!()`; `cargo lab 02` tells you
//! which tasks pass. The doc comments say what orc's version does; chapter 02
//! explains why.

// The parameters, and the imports you will need, are unused until you
// write the bodies.
#![allow(unused_variables, unused_imports)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::{BACKOFF_INITIAL, BACKOFF_MAX, Ipv4Cidr, NodeRoute, RestartPolicy, RouteChanges};

/// Task 1. The lowest address of `cidr` that a new pod may get, or `None`
/// when every usable one is in `used`.
///
/// Three addresses of a block are never given to a pod: the network address
/// (`cidr.network()`), the gateway that the node's bridge holds
/// (`cidr.gateway()`, the address right after it) and the broadcast address
/// (`cidr.broadcast()`). Hint: `u32::from(address)` and `Ipv4Addr::from(n)`
/// turn addresses into numbers and back.
pub fn next_free(cidr: Ipv4Cidr, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    todo!()
}

/// Task 2. The routes the node whose pods are in `own_pod_cidr` needs, given
/// every node of the cluster (itself included): one route per *other* node,
/// to that node's pod CIDR via that node's address.
pub fn routes_to_peers(own_pod_cidr: Ipv4Cidr, nodes: &[NodeRoute]) -> BTreeSet<NodeRoute> {
    todo!()
}

/// Task 3. What to change to go from the routes a node `has` to those it
/// `wants`: routes only wanted are added, routes only present are removed,
/// both in ascending order. A route whose next hop changed is therefore
/// removed (old next hop) and added (new next hop).
pub fn route_changes(has: &BTreeSet<NodeRoute>, wants: &BTreeSet<NodeRoute>) -> RouteChanges {
    todo!()
}

/// Task 4. The masquerade rule of a node, in `iptables` syntax without the
/// chain: traffic *from* the node's pods *to* anywhere outside the cluster
/// leaves with the node's address. Format: `-s POD_CIDR ! -d CLUSTER_CIDR -j MASQUERADE`.
pub fn masquerade_rule(pod_cidr: Ipv4Cidr, cluster_cidr: Ipv4Cidr) -> String {
    todo!()
}

/// Task 5. Whether a container that exited with `exit_code` is started
/// again, under the pod's restart policy: `Always` restarts whatever the
/// exit code, `OnFailure` only after a non-zero exit, `Never` never.
pub fn should_restart(policy: RestartPolicy, exit_code: i32) -> bool {
    todo!()
}

/// Task 6. How long an exited container waits before it is started again,
/// given how many times it has already been restarted: the first restart is
/// immediate; after that the delay starts at [`BACKOFF_INITIAL`] (10 s) and
/// doubles with every restart up to [`BACKOFF_MAX`] (5 min):
/// 0, 10 s, 20 s, 40 s, ..., 300 s. While it waits, the container's status
/// says CrashLoopBackOff. It must not overflow for large counts.
pub fn restart_backoff(restart_count: u32) -> Duration {
    todo!()
}

/// Task 7. The sync loop's diff: the pods (by uid) that run on the node, or
/// left something behind, but are no longer desired, in ascending order.
/// These are the ones the agent stops.
pub fn pods_to_stop(desired: &BTreeSet<String>, actual: &BTreeSet<String>) -> Vec<String> {
    todo!()
}
