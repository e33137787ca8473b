//! The machine's nodes: network namespaces on a private LAN.
//!
//! `orc up --nodes 3` needs three machines. It makes them as chapter 02's
//! and chapter 06's tests do: each node is a network namespace with its own
//! address, pod CIDR and `orc agent`, and the nodes share a LAN, a bridge
//! inside a namespace of its own. (Why namespaces and not Docker containers:
//! ARCHITECTURE.md, `final/`.) The namespace `orc up` runs in joins the
//! LAN through one veth, and the API server listens on that end:
//!
//! ```text
//!   this namespace: orc-XXXXXX 192.168.K.254 (API server :6443, scheduler :10259)
//!                    │ veth
//!   orc-XXXXXX-lan:  bridge lan0 ── n1 ── n2 ── n3
//!                                    │     │     │ veth, eth0 inside
//!   orc-XXXXXX-node-1 192.168.K.1   node-2 .2   node-3 .3
//!   pods 10.244.1.0/24              10.244.2.0/24 ...
//! ```
//!
//! The bridge lives in its own namespace, not in this one, because this
//! machine filters bridged traffic through its own FORWARD chain (Docker
//! sets that chain's policy to DROP): in a namespace of its own the bridge
//! has its own, empty rules. Each node reaches the others' pods through
//! their node address (host-gw routes, made here until the agents make
//! them from the Node objects). Everything is made with `ip`, as the tests
//! do: this is the scaffolding around the cluster, not a lesson of it.
//! `orc down` deletes the uplink and the namespaces, which removes every
//! link and route inside them.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, Result, bail};
use orc_apiserver::services::ServiceCidr;
use orc_pod::Ipv4Cidr;
use serde::{Deserialize, Serialize};

/// Every node's pods together (`--cluster-cidr`).
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

/// The LAN and its nodes, decided before anything is made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// The namespace holding the bridge.
    pub lan_netns: String,
    /// The veth in the namespace `orc up` runs in.
    pub uplink: String,
    /// This end's address: where the API server listens.
    pub uplink_address: Ipv4Addr,
    pub nodes: Vec<NodeNet>,
}

/// One node's place on the LAN.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeNet {
    /// The Node's name: `node-1`, `node-2`, ...
    pub name: String,
    /// Its network namespace, under `/run/netns`.
    pub netns: String,
    pub address: Ipv4Addr,
    pub pod_cidr: Ipv4Cidr,
}

impl NodeNet {
    pub fn netns_path(&self) -> String {
        format!("/run/netns/{}", self.netns)
    }
}

/// The plan for cluster `id` with `nodes` nodes, on the first
/// `192.168.K.0/24` (K from 200) that no route of this namespace uses
/// (`routes` is `ip -4 route` as text). Pure, so it is unit-tested.
pub fn plan(id: &str, nodes: u8, routes: &str) -> Result<Network> {
    if nodes == 0 || nodes > 200 {
        bail!("--nodes {nodes}: give a number from 1 to 200");
    }
    let Some(k) = (200..=254u8).find(|k| !routes.contains(&format!("192.168.{k}."))) else {
        bail!("every 192.168.200-254.0/24 is in use here; remove a cluster with `orc down`");
    };
    let nodes = (1..=nodes)
        .map(|i| NodeNet {
            name: format!("node-{i}"),
            netns: format!("{id}-node-{i}"),
            address: Ipv4Addr::new(192, 168, k, i),
            pod_cidr: format!("10.244.{i}.0/24").parse().expect("a valid CIDR"),
        })
        .collect();
    Ok(Network {
        lan_netns: format!("{id}-lan"),
        uplink: id.to_string(),
        uplink_address: Ipv4Addr::new(192, 168, k, 254),
        nodes,
    })
}

/// This namespace's IPv4 routes, for [`plan`].
pub fn current_routes() -> Result<String> {
    ip(&["-4", "route"])
}

/// Makes the LAN, the nodes and their routes. On failure, what was made
/// is removed again.
pub fn create(net: &Network) -> Result<()> {
    let made = build(net);
    if made.is_err() {
        delete(net);
    }
    made
}

fn build(net: &Network) -> Result<()> {
    let lan = net.lan_netns.as_str();
    ip_line(None, &format!("netns add {lan}"))?;
    ip_line(Some(lan), "link add lan0 type bridge")?;
    ip_line(Some(lan), "link set lan0 up")?;
    // The uplink: made here, its peer moved into the LAN's namespace.
    let uplink = &net.uplink;
    ip_line(
        None,
        &format!("link add {uplink} type veth peer name up0 netns {lan}"),
    )?;
    ip_line(Some(lan), "link set up0 master lan0 up")?;
    ip_line(
        None,
        &format!("addr add {}/24 dev {uplink}", net.uplink_address),
    )?;
    ip_line(None, &format!("link set {uplink} up"))?;
    for (i, node) in net.nodes.iter().enumerate() {
        // Port nI on the bridge, eth0 inside the node.
        let (port, netns) = (port(i), node.netns.as_str());
        ip_line(None, &format!("netns add {netns}"))?;
        ip_line(Some(netns), "link set lo up")?;
        ip_line(
            Some(lan),
            &format!("link add {port} type veth peer name eth0 netns {netns}"),
        )?;
        ip_line(Some(lan), &format!("link set {port} master lan0 up"))?;
        ip_line(
            Some(netns),
            &format!("addr add {}/24 dev eth0", node.address),
        )?;
        ip_line(Some(netns), "link set eth0 up")?;
    }
    // The service range, onto the LAN. A machine on a real LAN has a
    // default route, and the proxy's rules count on it: the kernel picks a
    // route before the filter table sees a forwarded packet, and before
    // the nat table sees a packet the node sends itself. These nodes'
    // LAN leads nowhere, so they get no default route, only this one:
    // without it a pod's connection to a Service with no ready endpoint
    // fails as "Network is unreachable" before the proxy's REJECT can
    // refuse it, and the node's own processes (hostNetwork pods) cannot
    // reach a cluster IP at all. A packet no rule rewrote asks for its
    // address on the LAN, which no one holds, and goes no further.
    let services = ServiceCidr::default();
    for node in &net.nodes {
        ip_line(Some(&node.netns), &format!("route add {services} dev eth0"))?;
    }
    // host-gw: every node reaches another node's pods through that node.
    for node in &net.nodes {
        for other in net.nodes.iter().filter(|o| o.name != node.name) {
            let route = format!("route add {} via {}", other.pod_cidr, other.address);
            ip_line(Some(&node.netns), &route)?;
        }
    }
    Ok(())
}

/// The name of node `index`'s port on the LAN's bridge (0-based index:
/// `n1` is node-1's): the other end of the node's `eth0`.
fn port(index: usize) -> String {
    format!("n{}", index + 1)
}

// ANCHOR: cable
/// Whether a node's cable is in: `orc node partition` pulls it, `orc node
/// heal` puts it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cable {
    Connected,
    Pulled,
}

/// Sets node `index`'s cable. Pulling it sets the node's port on the
/// LAN's bridge down, as a switch port that failed: the node's `eth0`
/// loses its carrier, and every frame to or from the node is dropped
/// without an answer, so neither side learns more than a real partition
/// would tell it (connections stall; nothing is refused). The node itself,
/// its agent and its pods run on untouched.
pub fn set_cable(net: &Network, index: usize, cable: Cable) -> Result<()> {
    let state = match cable {
        Cable::Connected => "up",
        Cable::Pulled => "down",
    };
    ip_line(
        Some(&net.lan_netns),
        &format!("link set {} {state}", port(index)),
    )?;
    Ok(())
}
// ANCHOR_END: cable

/// Node `index`'s cable, read from its port's flags (`UP` when set up).
pub fn cable(net: &Network, index: usize) -> Result<Cable> {
    let shown = ip(&["-n", &net.lan_netns, "-o", "link", "show", &port(index)])?;
    Ok(cable_from_flags(&shown))
}

/// `ip -o link show` prints the flags between `<` and `>`; `UP` among
/// them is the administrative state this module sets.
fn cable_from_flags(shown: &str) -> Cable {
    let flags = shown
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(flags, _)| flags)
        .unwrap_or("");
    match flags.split(',').any(|f| f == "UP") {
        true => Cable::Connected,
        false => Cable::Pulled,
    }
}

/// Deletes the uplink, then the nodes' and the LAN's namespaces (and with
/// them every link and route inside). What is already gone is skipped.
pub fn delete(net: &Network) {
    // The uplink first, and by name: a namespace is destroyed some time
    // after its last reference goes (the kernel does it in the
    // background), and the uplink would linger here until then.
    // (Asked of `ip`, not of /sys/class/net: /sys shows the namespace it
    // was mounted in, which need not be this process's.)
    if ip(&["link", "show", &net.uplink]).is_ok() {
        if let Err(e) = ip(&["link", "delete", &net.uplink]) {
            eprintln!("warning: {e:#}");
        }
    }
    for netns in net.nodes.iter().map(|n| &n.netns).chain([&net.lan_netns]) {
        if std::path::Path::new("/run/netns").join(netns).exists() {
            if let Err(e) = ip(&["netns", "delete", netns]) {
                eprintln!("warning: {e:#}");
            }
        }
    }
}

/// Runs `ip [-n NETNS] LINE`, the line split at spaces (no argument
/// here has one).
fn ip_line(netns: Option<&str>, line: &str) -> Result<String> {
    let mut args: Vec<&str> = match netns {
        Some(netns) => vec!["-n", netns],
        None => vec![],
    };
    args.extend(line.split_whitespace());
    ip(&args)
}

/// Runs `ip ARGS`; its stderr is the error.
fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (install iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_a_free_subnet_and_one_pod_cidr_per_node() {
        let net = plan("orc-abc123", 3, "192.168.200.0/24 dev x\n").unwrap();
        assert_eq!(net.uplink_address, Ipv4Addr::new(192, 168, 201, 254));
        let names: Vec<_> = net.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node-1", "node-2", "node-3"]);
        assert_eq!(net.nodes[2].address, Ipv4Addr::new(192, 168, 201, 3));
        assert_eq!(net.nodes[2].pod_cidr.to_string(), "10.244.3.0/24");
        assert_eq!(net.nodes[0].netns, "orc-abc123-node-1");
        assert!(plan("orc-abc123", 0, "").is_err());
    }

    #[test]
    fn a_port_set_down_is_a_pulled_cable_whatever_its_carrier() {
        let up = "5: n2@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master lan0 state UP";
        let down = "5: n2@if2: <BROADCAST,MULTICAST> mtu 1500 master lan0 state DOWN";
        let no_carrier = "5: n2@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP> state LOWERLAYERDOWN";
        assert_eq!(cable_from_flags(up), Cable::Connected);
        assert_eq!(cable_from_flags(down), Cable::Pulled);
        assert_eq!(cable_from_flags(no_carrier), Cable::Connected);
    }
}
