//! A walk through the pod network: two nodes made of network namespaces, a
//! pod on each, and what `ip` and `iptables-save` show on node 1.
//!
//! ```text
//! sudo cargo run -p orc-pod --example two_nodes
//! ```
//!
//! Everything lives in namespaces created here and deleted at the end; the
//! host's own links, routes and rules are not touched.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Underlay, iptables_save, listen, path, source_seen_by};
use orc_pod::NodeNetwork;
use orc_testkit::NetnsHost;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), orc_pod::NetError> {
    let mut underlay = Underlay::new();
    let (one, two) = (underlay.node(), underlay.node());
    let nodes = [one.route(), two.route()];
    let (pod_a, pod_b) = (NetnsHost::new(), NetnsHost::new());

    let network_one = NodeNetwork::setup(one.config()).await?;
    let network_two = NodeNetwork::setup(two.config()).await?;
    network_one.sync_routes(&nodes).await?;
    network_two.sync_routes(&nodes).await?;
    let a = network_one.add_pod("default/a", &path(&pod_a)).await?;
    let b = network_two.add_pod("default/b", &path(&pod_b)).await?;
    println!("pod a on node 1: {} ({})", a.address, a.host_veth);
    println!("pod b on node 2: {} ({})", b.address, b.host_veth);

    let listener = listen(&pod_b);
    let seen = source_seen_by(&listener, &pod_a, b.address);
    println!("pod b sees a connection from pod a coming from {seen}\n");

    for (title, program, args) in [
        ("node 1: ip -br addr", "ip", &["-br", "addr"][..]),
        ("node 1: ip route", "ip", &["route"][..]),
        ("pod a: ip -br addr", "ip", &["-br", "addr"][..]),
        ("pod a: ip route", "ip", &["route"][..]),
    ] {
        let host = if title.starts_with("pod") {
            &pod_a
        } else {
            &one.host
        };
        println!("== {title}\n{}", host.run(program, args));
    }
    println!("== node 1: iptables-save\n{}", iptables_save(&one.host));

    network_one.teardown().await?;
    network_two.teardown().await?;
    Ok(())
}
