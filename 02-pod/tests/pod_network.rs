//! The pod network on the real kernel: nodes and pods are network namespaces
//! (see `common/mod.rs`), and the assertions are real packets.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use common::{Underlay, iptables_save, listen, namespace_state, path, ping, source_seen_by};
use orc_pod::{NodeNetwork, routes};
use orc_testkit::NetnsHost;

#[tokio::test]
async fn pods_on_one_node_reach_each_other_and_their_node() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let network = NodeNetwork::setup(node.config()).await.unwrap();
    let (a, b) = (NetnsHost::new(), NetnsHost::new());
    let pod_a = network.add_pod("default/a", &path(&a)).await.unwrap();
    let pod_b = network.add_pod("default/b", &path(&b)).await.unwrap();
    assert_eq!(pod_a.address, Ipv4Addr::new(10, 244, 1, 2));
    assert_eq!(pod_b.address, Ipv4Addr::new(10, 244, 1, 3));

    // Pod to pod over the bridge: the receiver sees the sender's own address.
    let listener = listen(&b);
    assert_eq!(
        source_seen_by(&listener, &a, pod_b.address),
        IpAddr::V4(pod_a.address)
    );
    // Pod to its gateway (the bridge) and to the node's own address.
    ping(&a, node.pod_cidr.gateway());
    ping(&a, node.address);
    // The pod side looks like a Kubernetes pod's.
    let inside = a.run("ip", &["-br", "addr", "show", "eth0"]);
    assert!(inside.contains("10.244.1.2/24"), "{inside}");
    let routes = a.run("ip", &["route"]);
    assert!(
        routes.contains("default via 10.244.1.1 dev eth0"),
        "{routes}"
    );
    // Its bridge port may send a frame back where it came from: how a
    // pod reaches itself through its own Service (chapter 06).
    let port = node
        .host
        .run("ip", &["-d", "link", "show", &pod_a.host_veth]);
    assert!(port.contains("hairpin on"), "{port}");
    // The node knows its pods' MAC addresses without ARP: their entries
    // are permanent, so packets the node forwards never wait on a probe.
    for (pod, network) in [(&a, &pod_a), (&b, &pod_b)] {
        assert_pinned(&node, pod, network.address);
    }
}

#[tokio::test]
async fn a_port_with_a_lower_mac_changes_neither_the_bridge_nor_the_pods_entries() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let network = NodeNetwork::setup(node.config()).await.unwrap();
    let pods = [NetnsHost::new(), NetnsHost::new(), NetnsHost::new()];
    let mut addresses = Vec::new();
    for (n, pod) in pods[..2].iter().enumerate() {
        addresses.push(
            network
                .add_pod(&format!("pod-{n}"), &path(pod))
                .await
                .unwrap()
                .address,
        );
    }
    // A port whose MAC address is lower than any other, as a pod's veth
    // end (random) may be: a bridge that chose its own address would take
    // this one, and the kernel would then forget the pods' entries.
    node.host.run(
        "ip",
        &[
            "link",
            "add",
            "low",
            "address",
            "00:00:00:00:00:01",
            "type",
            "veth",
            "peer",
            "name",
            "low-peer",
        ],
    );
    node.host
        .run("ip", &["link", "set", "low", "master", "orc0", "up"]);
    addresses.push(
        network
            .add_pod("pod-2", &path(&pods[2]))
            .await
            .unwrap()
            .address,
    );

    // The bridge keeps the address it was made with (0a:58 and the
    // gateway's bytes), marked as set on purpose (NET_ADDR_SET).
    let bridge = node.host.run("cat", &["/sys/class/net/orc0/address"]);
    assert_eq!(bridge.trim(), "0a:58:0a:f4:01:01");
    let assign_type = node
        .host
        .run("cat", &["/sys/class/net/orc0/addr_assign_type"]);
    assert_eq!(assign_type.trim(), "3");
    // And every pod's entry is still there, not only the last one's.
    for (pod, address) in pods.iter().zip(addresses) {
        assert_pinned(&node, pod, address);
    }
}

#[tokio::test]
async fn a_bridge_an_older_agent_made_gets_its_fixed_mac_and_keeps_its_pods() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let network = NodeNetwork::setup(node.config()).await.unwrap();
    let (a, b) = (NetnsHost::new(), NetnsHost::new());
    let pod_a = network.add_pod("a", &path(&a)).await.unwrap();
    let pod_b = network.add_pod("b", &path(&b)).await.unwrap();
    // What an older agent left behind: a bridge on the address it took
    // from one of its ports (a's), the pods' permanent entries, and pod b
    // knowing its gateway by that address.
    let lent = node.host.run(
        "cat",
        &[&format!("/sys/class/net/{}/address", pod_a.host_veth)],
    );
    node.host
        .run("ip", &["link", "set", "orc0", "address", lent.trim()]);
    for (pod, network) in [(&a, &pod_a), (&b, &pod_b)] {
        let mac = pod.run("cat", &["/sys/class/net/eth0/address"]);
        let address = network.address.to_string();
        node.host.run(
            "ip",
            &[
                "neigh",
                "replace",
                &address,
                "lladdr",
                mac.trim(),
                "dev",
                "orc0",
                "nud",
                "permanent",
            ],
        );
    }
    let gateway = node.pod_cidr.gateway();
    ping(&b, gateway);
    let known = b.run("ip", &["neigh", "show", &gateway.to_string()]);
    assert!(known.contains(lent.trim()), "{known}");

    // The new agent starts.
    let again = NodeNetwork::setup(node.config()).await.unwrap();
    let bridge = node.host.run("cat", &["/sys/class/net/orc0/address"]);
    assert_eq!(bridge.trim(), "0a:58:0a:f4:01:01");
    for (pod, network) in [(&a, &pod_a), (&b, &pod_b)] {
        assert_pinned(&node, pod, network.address);
    }
    // Pod a goes, and with its port the last link that still answered to
    // the old address (the bridge delivers frames for its ports' own
    // addresses to itself). b still reaches its gateway, because the
    // bridge announced its new address and b's entry took it; without the
    // announcement every echo was lost.
    again.remove_pod("a").await.unwrap();
    ping(&b, gateway);
    let known = b.run("ip", &["neigh", "show", &gateway.to_string()]);
    assert!(known.contains("0a:58:0a:f4:01:01"), "{known}");
}

/// Asserts that the node has a permanent neighbour entry for `address`
/// on its bridge, with the MAC address of `pod`'s `eth0`.
#[track_caller]
fn assert_pinned(node: &common::TestNode, pod: &NetnsHost, address: Ipv4Addr) {
    let mac = pod.run("cat", &["/sys/class/net/eth0/address"]);
    let entry = node.host.run(
        "ip",
        &["neigh", "show", &address.to_string(), "dev", "orc0"],
    );
    assert!(
        entry.contains(&format!("lladdr {} PERMANENT", mac.trim())),
        "{address}: {entry}"
    );
}

#[tokio::test]
async fn pods_on_different_nodes_reach_each_other_without_nat() {
    let mut underlay = Underlay::new();
    let nodes = [underlay.node(), underlay.node(), underlay.node()];
    let node_list: Vec<_> = nodes.iter().map(|n| n.route()).collect();
    let mut networks = Vec::new();
    for node in &nodes {
        let network = NodeNetwork::setup(node.config()).await.unwrap();
        let changes = network.sync_routes(&node_list).await.unwrap();
        assert_eq!(changes.add.len(), 2, "one route per other node");
        networks.push(network);
    }
    let pods = [NetnsHost::new(), NetnsHost::new(), NetnsHost::new()];
    let mut addresses = Vec::new();
    for (network, pod) in networks.iter().zip(&pods) {
        addresses.push(network.add_pod("pod", &path(pod)).await.unwrap().address);
    }
    assert_eq!(
        addresses,
        ["10.244.1.2", "10.244.2.2", "10.244.3.2"].map(|a| a.parse::<Ipv4Addr>().unwrap())
    );

    // Every pod reaches every other, and the receiver sees the sender's pod
    // address: the packets crossed nodes un-NATed.
    for (to, listener_pod) in pods.iter().enumerate() {
        let listener = listen(listener_pod);
        for (from, sender) in pods.iter().enumerate().filter(|(from, _)| *from != to) {
            assert_eq!(
                source_seen_by(&listener, sender, addresses[to]),
                IpAddr::V4(addresses[from]),
                "pod {from} -> pod {to}"
            );
        }
    }
    let table = nodes[0].host.run("ip", &["route"]);
    assert!(
        table.contains("10.244.2.0/24 via 192.168.50.2 dev eth0 proto 79"),
        "{table}"
    );
}

#[tokio::test]
async fn traffic_leaving_the_cluster_cidr_is_masqueraded() {
    let mut underlay = Underlay::new();
    let (one, two) = (underlay.node(), underlay.node());
    let node_list = [one.route(), two.route()];
    let network_one = NodeNetwork::setup(one.config()).await.unwrap();
    let network_two = NodeNetwork::setup(two.config()).await.unwrap();
    network_one.sync_routes(&node_list).await.unwrap();
    // Node two could route answers straight back to node one's pods, so
    // seeing node one's address below can only be the masquerade's doing.
    network_two.sync_routes(&node_list).await.unwrap();
    let pod = NetnsHost::new();
    network_one.add_pod("pod", &path(&pod)).await.unwrap();

    // 192.168.50.2 is outside the cluster CIDR 10.244.0.0/16.
    let listener = listen(&two.host);
    assert_eq!(
        source_seen_by(&listener, &pod, two.address),
        IpAddr::V4(one.address)
    );
    let rules = iptables_save(&one.host);
    assert!(
        rules.contains("-A ORC-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 -j MASQUERADE"),
        "{rules}"
    );
}

#[tokio::test]
async fn setting_up_twice_changes_nothing() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let pod = NetnsHost::new();
    let first = NodeNetwork::setup(node.config()).await.unwrap();
    let address = first.add_pod("pod", &path(&pod)).await.unwrap();
    first.sync_routes(&[node.route()]).await.unwrap();
    let (node_before, pod_before) = (node.network_state(), namespace_state(&pod));
    let rules_before = iptables_save(&node.host);

    // A restarted agent runs every step again.
    let again = NodeNetwork::setup(node.config()).await.unwrap();
    assert_eq!(again.add_pod("pod", &path(&pod)).await.unwrap(), address);
    let changes = again.sync_routes(&[node.route()]).await.unwrap();
    assert_eq!(changes, routes::RouteChanges::default());
    assert_eq!(node.network_state(), node_before);
    assert_eq!(namespace_state(&pod), pod_before);
    assert_eq!(iptables_save(&node.host), rules_before);
}

#[tokio::test]
async fn teardown_removes_every_link_address_route_and_rule() {
    let mut underlay = Underlay::new();
    let (one, two) = (underlay.node(), underlay.node());
    let before = one.network_state();
    let pods = [NetnsHost::new(), NetnsHost::new()];
    let pods_before: Vec<_> = pods.iter().map(namespace_state).collect();

    let network = NodeNetwork::setup(one.config()).await.unwrap();
    network
        .sync_routes(&[one.route(), two.route()])
        .await
        .unwrap();
    for (n, pod) in pods.iter().enumerate() {
        network
            .add_pod(&format!("pod-{n}"), &path(pod))
            .await
            .unwrap();
    }
    assert_ne!(one.network_state(), before);
    network.teardown().await.unwrap();

    assert_eq!(one.network_state(), before);
    let after: Vec<_> = pods.iter().map(namespace_state).collect();
    assert_eq!(
        after, pods_before,
        "the pods' eth0 went with their veth pairs"
    );
    let rules = iptables_save(&one.host);
    assert!(
        !rules.contains("ORC") && !rules.contains("MASQUERADE"),
        "{rules}"
    );
    let state = std::fs::read_to_string(one.config().ipam_state).unwrap();
    assert!(state.contains("\"allocations\": {}"), "{state}");
}

#[tokio::test]
async fn removing_a_pod_frees_its_link_and_address() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let network = NodeNetwork::setup(node.config()).await.unwrap();
    let (a, b) = (NetnsHost::new(), NetnsHost::new());
    let pod_a = network.add_pod("a", &path(&a)).await.unwrap();
    network.remove_pod("a").await.unwrap();
    network.remove_pod("a").await.unwrap(); // again: already gone is fine

    let links = node.host.run("ip", &["-br", "link"]);
    assert!(!links.contains(&pod_a.host_veth), "{links}");
    assert!(!a.run("ip", &["-br", "link"]).contains("eth0"));
    // Its neighbour entry went too: the next pod with the address has
    // another MAC.
    let neighbours = node.host.run("ip", &["neigh", "show", "dev", "orc0"]);
    assert!(
        !neighbours.contains(&pod_a.address.to_string()),
        "{neighbours}"
    );
    // The address is free again, and the node's entry names the new pod.
    let pod_b = network.add_pod("b", &path(&b)).await.unwrap();
    assert_eq!(pod_b.address, pod_a.address);
    let mac = b.run("cat", &["/sys/class/net/eth0/address"]);
    let neighbours = node.host.run("ip", &["neigh", "show", "dev", "orc0"]);
    assert!(neighbours.contains(mac.trim()), "{neighbours}");
}

#[tokio::test]
async fn an_agent_restart_never_hands_out_an_address_twice() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let pods = [NetnsHost::new(), NetnsHost::new(), NetnsHost::new()];
    let mut before = BTreeSet::new();
    {
        let network = NodeNetwork::setup(node.config()).await.unwrap();
        for (n, pod) in pods[..2].iter().enumerate() {
            before.insert(
                network
                    .add_pod(&format!("pod-{n}"), &path(pod))
                    .await
                    .unwrap()
                    .address,
            );
        }
        // Dropped without tear-down, as a crashing agent would.
    }
    let network = NodeNetwork::setup(node.config()).await.unwrap();
    let new = network
        .add_pod("pod-2", &path(&pods[2]))
        .await
        .unwrap()
        .address;
    assert!(!before.contains(&new), "{new} was already given out");
    let old = network
        .add_pod("pod-0", &path(&pods[0]))
        .await
        .unwrap()
        .address;
    assert!(before.contains(&old), "pod-0 keeps its address");
    ping(&pods[2], old);
}

#[tokio::test]
async fn a_missing_pod_namespace_is_named_and_costs_no_address() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let network = NodeNetwork::setup(node.config()).await.unwrap();
    let missing = std::path::Path::new("/run/netns/orc-no-such-pod");
    let error = network.add_pod("ghost", missing).await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("network namespace /run/netns/orc-no-such-pod: "),
        "{error}"
    );
    assert!(network.pods().is_empty(), "no address was allocated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_added_in_parallel_get_distinct_addresses() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    let network = std::sync::Arc::new(NodeNetwork::setup(node.config()).await.unwrap());
    let pods: Vec<_> = (0..8).map(|_| NetnsHost::new()).collect();
    let tasks: Vec<_> = pods
        .iter()
        .enumerate()
        .map(|(n, pod)| {
            let (network, pod) = (network.clone(), path(pod));
            tokio::spawn(async move { network.add_pod(&format!("pod-{n}"), &pod).await })
        })
        .collect();
    let mut addresses = BTreeSet::new();
    for task in tasks {
        addresses.insert(task.await.unwrap().unwrap().address);
    }
    assert_eq!(addresses.len(), pods.len(), "{addresses:?}");
    ping(&pods[0], *addresses.last().unwrap());
}

#[tokio::test]
async fn pods_are_forwarded_even_where_docker_set_forward_to_drop() {
    let mut underlay = Underlay::new();
    let (one, two) = (underlay.node(), underlay.node());
    for node in [&one, &two] {
        // What a Docker engine does to the namespace it runs in.
        node.host.run("iptables", &["-P", "FORWARD", "DROP"]);
    }
    let node_list = [one.route(), two.route()];
    let mut pods = Vec::new();
    for node in [&one, &two] {
        let network = NodeNetwork::setup(node.config()).await.unwrap();
        network.sync_routes(&node_list).await.unwrap();
        let pod = NetnsHost::new();
        let address = network.add_pod("pod", &path(&pod)).await.unwrap().address;
        pods.push((pod, address));
    }
    let listener = listen(&pods[1].0);
    assert_eq!(
        source_seen_by(&listener, &pods[0].0, pods[1].1),
        IpAddr::V4(pods[0].1)
    );
    let rules = iptables_save(&one.host);
    assert!(rules.contains(":FORWARD DROP"), "{rules}");
    assert!(
        rules.contains("-A ORC-FORWARD -s 10.244.0.0/16 -j ACCEPT"),
        "{rules}"
    );
}

#[tokio::test]
async fn a_changed_cluster_cidr_replaces_the_old_rules() {
    let mut underlay = Underlay::new();
    let node = underlay.node();
    NodeNetwork::setup(node.config()).await.unwrap();
    let mut wider = node.config();
    wider.cluster_cidr = "10.0.0.0/8".parse().unwrap();
    NodeNetwork::setup(wider).await.unwrap();

    let rules = iptables_save(&node.host);
    assert!(!rules.contains("10.244.0.0/16"), "{rules}");
    assert!(
        rules.contains("-A ORC-POSTROUTING -s 10.244.1.0/24 ! -d 10.0.0.0/8 -j MASQUERADE"),
        "{rules}"
    );
    assert_eq!(rules.matches("-j ORC-FORWARD").count(), 1, "{rules}");
}
