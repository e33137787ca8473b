//! One node's pod network, put together: bridge, pods, routes, iptables rules.
//!
//! [`NodeNetwork`] is what a node agent holds. At start-up it makes sure the
//! node is ready for pods ([`NodeNetwork::setup`]); for each pod sandbox it
//! plugs the sandbox's network namespace in ([`NodeNetwork::add_pod`]) or
//! unplugs it ([`NodeNetwork::remove_pod`]); when the cluster's node list
//! changes it updates the routes to the other nodes
//! ([`NodeNetwork::sync_routes`]). Every operation is idempotent, because an
//! agent that crashed half-way through must be able to simply run it again.
//!
//! The node is named by its network namespace, so the same code configures a
//! real host ([`HOST_NETNS`](crate::netns::HOST_NETNS)) or, in tests, a
//! namespace standing in for one.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::bridge;
use crate::cidr::Ipv4Cidr;
use crate::error::NetError;
use crate::forward;
use crate::ipam::Ipam;
use crate::link;
use crate::masquerade;
use crate::neighbour;
use crate::netns;
use crate::routes::{self, NodeRoute, RouteChanges};
use crate::veth;

/// Everything that describes one node's pod network.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The node's network namespace.
    pub netns: PathBuf,
    /// The bridge's name, usually [`bridge::BRIDGE`].
    pub bridge: String,
    /// The block this node's pods get their addresses from.
    pub pod_cidr: Ipv4Cidr,
    /// The block of all pods in the cluster: traffic to it is not masqueraded.
    pub cluster_cidr: Ipv4Cidr,
    /// The IPAM state file.
    pub ipam_state: PathBuf,
}

/// A node's pod network, ready for pods.
pub struct NodeNetwork {
    config: NodeConfig,
    /// A netlink connection opened inside the node's namespace.
    node: rtnetlink::Handle,
    /// The bridge's link index, which veth ends are attached to.
    bridge_index: u32,
    /// A std `Mutex`, not tokio's: it is held only while the state file is
    /// written, never across an `.await`.
    ipam: Mutex<Ipam>,
}

/// What a pod got from the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNetwork {
    /// The pod's IP address.
    pub address: Ipv4Addr,
    /// The node's end of the pod's veth pair.
    pub host_veth: String,
}

impl NodeNetwork {
    // ANCHOR: setup
    /// Prepares the node: IP forwarding on, the bridge with the gateway
    /// address, the masquerade and forward rules, and the IPAM state opened.
    pub async fn setup(config: NodeConfig) -> Result<NodeNetwork, NetError> {
        let ipam = Ipam::open(&config.ipam_state, config.pod_cidr)?;
        enable_forwarding(&config.netns)?;
        let node = netns::connect(&config.netns).await?;
        let bridge_index =
            bridge::ensure_bridge(&node, &config.netns, &config.bridge, config.pod_cidr).await?;
        masquerade::ensure_masquerade(&config.netns, config.pod_cidr, config.cluster_cidr)?;
        forward::ensure_forward(&config.netns, config.cluster_cidr)?;
        Ok(NodeNetwork {
            config,
            node,
            bridge_index,
            ipam: Mutex::new(ipam),
        })
    }
    // ANCHOR_END: setup

    // ANCHOR: add_pod
    /// Plugs pod `pod_id`, whose network namespace is `pod_netns`, into the
    /// node: an address from IPAM, a veth pair to the bridge, `eth0`
    /// configured inside the pod, and the node's permanent neighbour entry
    /// for the pod's address. Running it again for the same pod returns
    /// the same address and changes nothing. If a later step fails, the pod
    /// keeps its address until [`remove_pod`](Self::remove_pod), so a retry
    /// gets the same one.
    pub async fn add_pod(&self, pod_id: &str, pod_netns: &Path) -> Result<PodNetwork, NetError> {
        // Reaching the pod's namespace first means a wrong path fails before
        // an address is spent on it.
        let pod = netns::connect(pod_netns).await?;
        let address = self.lock_ipam().allocate(pod_id)?;
        let host_veth = veth::host_veth_name(pod_id);
        let host_end = link::index_of(&self.node, &host_veth).await?;
        let pod_end = link::index_of(&pod, veth::POD_INTERFACE).await?;
        if host_end.is_some() && pod_end.is_none() {
            // A pair left over from an earlier sandbox of this pod, whose other
            // end is in another namespace: start again.
            link::delete_if_present(&self.node, &host_veth).await?;
        }
        if host_end.is_none() || pod_end.is_none() {
            veth::create_pair(&self.node, &host_veth, self.bridge_index, pod_netns).await?;
        }
        // Also for a pair an older agent made: a pod must reach itself
        // through its own Service.
        veth::enable_hairpin(&self.node, &host_veth).await?;
        let pod_cidr = self.config.pod_cidr;
        veth::configure_pod(&pod, address, pod_cidr.prefix(), pod_cidr.gateway()).await?;
        let mac = link::mac_address(&pod, veth::POD_INTERFACE).await?;
        neighbour::pin(&self.node, self.bridge_index, address, &mac).await?;
        Ok(PodNetwork { address, host_veth })
    }
    // ANCHOR_END: add_pod

    /// Unplugs pod `pod_id`: deletes its veth pair (which takes the pod's
    /// `eth0` with it) and its neighbour entry, and releases its address.
    /// Succeeds for a pod that is already gone.
    pub async fn remove_pod(&self, pod_id: &str) -> Result<(), NetError> {
        link::delete_if_present(&self.node, &veth::host_veth_name(pod_id)).await?;
        let address = self.lock_ipam().get(pod_id);
        if let Some(address) = address {
            neighbour::unpin(&self.node, self.bridge_index, address).await?;
        }
        self.lock_ipam().release(pod_id)?;
        Ok(())
    }

    /// Makes the routes to other nodes' pods exactly those for `nodes` (the
    /// cluster's whole node list; this node's own entry is skipped).
    pub async fn sync_routes(&self, nodes: &[NodeRoute]) -> Result<RouteChanges, NetError> {
        let wanted = routes::routes_to_peers(self.config.pod_cidr, nodes);
        routes::sync_routes(&self.node, &wanted).await
    }

    /// The pods that have an address, by pod id.
    pub fn pods(&self) -> Vec<(String, Ipv4Addr)> {
        let ipam = self.lock_ipam();
        ipam.allocations()
            .iter()
            .map(|(id, address)| (id.clone(), *address))
            .collect()
    }

    /// The configuration this network was set up with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    // ANCHOR: teardown
    /// Removes everything [`setup`](Self::setup) and the other methods
    /// created: every pod's veth pair and address, orc's routes, the
    /// masquerade and forward rules and the bridge. The IPAM state file stays, empty.
    /// IP forwarding stays on: other software on the node may rely on it.
    pub async fn teardown(self) -> Result<(), NetError> {
        for (pod_id, _) in self.pods() {
            self.remove_pod(&pod_id).await?;
        }
        routes::sync_routes(&self.node, &BTreeSet::new()).await?;
        masquerade::remove_masquerade(&self.config.netns)?;
        forward::remove_forward(&self.config.netns)?;
        link::delete_if_present(&self.node, &self.config.bridge).await?;
        Ok(())
    }
    // ANCHOR_END: teardown

    fn lock_ipam(&self) -> std::sync::MutexGuard<'_, Ipam> {
        // A panic while the lock was held cannot leave the allocator half
        // changed (the file is replaced atomically), so poisoning is ignored.
        self.ipam
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Turns on IPv4 forwarding in the node's namespace: without it the node
/// drops packets between its bridge and other nodes instead of routing them.
/// A new network namespace starts with forwarding off.
fn enable_forwarding(node_netns: &Path) -> Result<(), NetError> {
    // Files under /proc/sys/net belong to the namespace of the thread that
    // opens them, so the write happens inside the node's namespace.
    netns::run_in(node_netns, || {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
    })?
    .map_err(|source| NetError::Sysctl {
        what: "net.ipv4.ip_forward".into(),
        netns: node_netns.to_path_buf(),
        source,
    })
}
