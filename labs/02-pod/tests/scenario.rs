//! Lab 02's walkthrough: chapter 02's two-node cluster, run for real.
//!
//! Two nodes and two pods, all network namespaces made for this test, joined
//! by an "underlay" bridge; orc's pod network plumbs them. The snapshots are
//! what the chapter shows as expected output: what `ip` and `iptables-save`
//! print on node 1 and inside pod a. Interface indexes (`eth0@if12`) differ
//! from run to run and are redacted, and the links' operational state is left
//! out because the kernel settles it on its own time.

#[path = "../../../02-pod/tests/common/mod.rs"]
mod common;

use common::{Underlay, iptables_save, listen, path, source_seen_by};
use orc_pod::NodeNetwork;
use orc_testkit::{NetnsHost, require_root};

/// `ip -4 -br addr` as `NAME ADDRESSES` lines: `eth0@if12` becomes
/// `eth0@ifN` (the peer's index depends on what else exists), and the state
/// column (UP, UNKNOWN) is dropped.
fn addresses(host: &NetnsHost) -> String {
    host.run("ip", &["-4", "-br", "addr"])
        .lines()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next().unwrap_or_default();
            let name = match name.split_once("@if") {
                Some((link, _index)) => format!("{link}@ifN"),
                None => name.to_string(),
            };
            let _state = fields.next();
            format!("{name:<10} {}\n", fields.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn two_nodes_with_a_pod_each() {
    require_root();
    let mut underlay = Underlay::new();
    let (one, two) = (underlay.node(), underlay.node());
    let nodes = [one.route(), two.route()];
    let (pod_a, pod_b) = (NetnsHost::new(), NetnsHost::new());

    let network_one = NodeNetwork::setup(one.config()).await.unwrap();
    let network_two = NodeNetwork::setup(two.config()).await.unwrap();
    network_one.sync_routes(&nodes).await.unwrap();
    network_two.sync_routes(&nodes).await.unwrap();
    let a = network_one
        .add_pod("default/a", &path(&pod_a))
        .await
        .unwrap();
    let b = network_two
        .add_pod("default/b", &path(&pod_b))
        .await
        .unwrap();

    // Pod b sees pod a's own address: no NAT between pods.
    let listener = listen(&pod_b);
    assert_eq!(source_seen_by(&listener, &pod_a, b.address), a.address);

    insta::assert_snapshot!("node1_ip_addr", addresses(&one.host));
    insta::assert_snapshot!("node1_ip_route", one.host.run("ip", &["route"]));
    insta::assert_snapshot!("node1_iptables", iptables_save(&one.host));
    insta::assert_snapshot!("pod_a_ip_addr", addresses(&pod_a));
    insta::assert_snapshot!("pod_a_ip_route", pod_a.run("ip", &["route"]));

    network_one.teardown().await.unwrap();
    network_two.teardown().await.unwrap();
}
