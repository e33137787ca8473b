//! # orc-pod: chapter 02, the pod network
//!
//! Kubernetes promises that every pod has its own IP address and reaches
//! every other pod, on any node, without NAT. This crate builds that promise
//! the way the simplest real network plugins do (the CNI `bridge` and
//! `host-local` plugins, flannel's `host-gw` back-end).
//!
//! ## Layout
//!
//! - [`cidr`]: [`Ipv4Cidr`], the address blocks the network is planned in:
//!   a cluster CIDR, sliced into one pod CIDR per node.
//! - [`ipam`]: [`Ipam`], which hands out pod addresses from the node's pod
//!   CIDR and keeps them in a state file, so a restart never gives one address
//!   to two pods; [`ipam::next_free`] is the pure choice of the next address.
//! - [`netns`]: reaching into another network namespace: a thread that joins
//!   it, and netlink connections opened from such a thread.
//! - [`link`]: the few link requests the others share (look up, up, delete).
//! - [`bridge`]: the node's bridge `orc0`, the pods' switch and gateway.
//! - [`veth`]: the veth pair from each pod's `eth0` to the bridge, and the
//!   pod side's address and default route.
//! - [`routes`]: host-gw routes to the other nodes' pod CIDRs, kept in sync
//!   with the node list.
//! - [`chains`]: orc's own iptables chains, kept in sync inside a namespace.
//! - [`masquerade`]: the iptables rule that NATs traffic leaving the cluster.
//! - [`forward`]: the iptables rules that let pod traffic through `FORWARD`
//!   even where Docker set its policy to `DROP`.
//! - [`node`]: [`NodeNetwork`], all of the above for one node: set-up, add
//!   and remove a pod, sync routes, tear-down.
//! - [`error`]: [`NetError`], which says what failed and where.
//!
//! Links, addresses and routes are made through netlink ([`rtnetlink`]), the
//! kernel interface `ip` itself uses; only the iptables rules go through the
//! `iptables` program.
//!
//! Tests (`tests/pod_network.rs`, root, real kernel) build a small cluster
//! out of network namespaces, nodes joined by an "underlay" bridge and one
//! namespace per pod, and check with real packets: pod to pod on one node and
//! across nodes without NAT, pod to node, masquerade towards addresses outside
//! the cluster, and tear-down back to the exact prior state.
//! `benches/pod_network.rs` compares pod set-up with the same steps as an
//! `ip` script, and `examples/two_nodes.rs` is the chapter's walk-through:
//! two nodes, a pod on each, and what `ip` and `iptables-save` then show.
//!
//! ## Not built yet
//!
//! This crate plumbs a network namespace that already exists; it does not
//! create one. The pod sandbox (the pause process holding the pod's
//! namespaces), the containers that join it and the node agent that keeps
//! static pods running come in later parts of this chapter. IPv6, overlays
//! for nodes on different layer-2 networks, and locking the IPAM file
//! against a second process are not built either.

pub mod bridge;
pub mod chains;
pub mod cidr;
pub mod error;
pub mod forward;
pub mod ipam;
pub mod link;
pub mod masquerade;
pub mod netns;
pub mod node;
pub mod routes;
pub mod veth;

pub use cidr::Ipv4Cidr;
pub use error::NetError;
pub use ipam::{Ipam, IpamError};
pub use node::{NodeConfig, NodeNetwork, PodNetwork};
pub use routes::NodeRoute;
