//! Routes between nodes from the Node objects, on a real network
//! namespace and a real API server: a node's agent routes to every peer
//! that registers, follows a peer's new address, and drops the route of a
//! Node that is deleted, never touching its own pod CIDR or routes it did
//! not make. Root only.

#[path = "../../server/tests/common/mod.rs"]
mod common;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::TestServer;
use orc_client::Client;
use orc_node::{NodeAgent, NodeConfig, NodeIdentity, Registration};
use orc_testkit::NetnsHost;

fn identity(name: &str, ip: [u8; 4], pod_cidr: &str) -> NodeIdentity {
    NodeIdentity {
        name: name.into(),
        ip: Ipv4Addr::from(ip),
        hostname: name.into(),
        pod_cidr: pod_cidr.into(),
        port: 10250,
        runtime_version: "orc://0.1.0".into(),
        agent_version: "v0.1.0".into(),
        state_dir: None,
        labels: Default::default(),
    }
}

/// orc's routes in `host` (proto 79), one `CIDR via ADDRESS` per line, sorted.
fn orc_routes(host: &NetnsHost) -> Vec<String> {
    let mut routes: Vec<String> = host
        .run("ip", &["-4", "route", "show", "proto", "79"])
        .lines()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    routes.sort();
    routes
}

/// Waits (polling the namespace, 30 s at most) until `host`'s orc routes
/// are `want`.
async fn routes_become(host: &NetnsHost, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let has = orc_routes(host);
        if has == want {
            return;
        }
        assert!(Instant::now() < deadline, "routes {has:?}, wanted {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_node_routes_to_its_peers_as_their_node_objects_come_change_and_go() {
    // The node: a namespace whose underlay is one end of a veth pair
    // (both ends inside it), enough for the kernel to accept next hops on
    // 192.168.50.0/24.
    let host = NetnsHost::new();
    host.run(
        "ip",
        &[
            "link", "add", "eth0", "type", "veth", "peer", "name", "wire0",
        ],
    );
    host.run("ip", &["addr", "add", "192.168.50.1/24", "dev", "eth0"]);
    host.run("ip", &["link", "set", "wire0", "up"]);
    host.run("ip", &["link", "set", "eth0", "up"]);
    // A route someone else made, in the range orc would use: left alone.
    host.run(
        "ip",
        &["route", "add", "10.244.9.0/24", "via", "192.168.50.9"],
    );

    let s = TestServer::start().await;
    let client = Client::new(s.url(""));
    let mut node = NodeAgent::start(
        client.clone(),
        NodeConfig {
            identity: identity("a", [192, 168, 50, 1], "10.244.1.0/24"),
            lease_period: Duration::from_secs(10),
            status_period: Duration::from_secs(60),
        },
    )
    .await
    .unwrap();
    node.route_to_peers(
        client.clone(),
        PathBuf::from(host.path()),
        "10.244.1.0/24".parse().unwrap(),
    );

    // Two peers join.
    let mut b = Registration::new(identity("b", [192, 168, 50, 2], "10.244.2.0/24"));
    b.register(&client).await.unwrap();
    Registration::new(identity("c", [192, 168, 50, 3], "10.244.3.0/24"))
        .register(&client)
        .await
        .unwrap();
    routes_become(
        &host,
        &[
            "10.244.2.0/24 via 192.168.50.2",
            "10.244.3.0/24 via 192.168.50.3",
        ],
    )
    .await;

    // b comes back with a new address: its route follows.
    let mut b = Registration::new(identity("b", [192, 168, 50, 22], "10.244.2.0/24"));
    b.register(&client).await.unwrap();
    routes_become(
        &host,
        &[
            "10.244.2.0/24 via 192.168.50.22",
            "10.244.3.0/24 via 192.168.50.3",
        ],
    )
    .await;

    // c's Node is deleted: its route goes.
    let (code, _) = s.delete("/api/v1/nodes/c").await;
    assert_eq!(code, 200);
    routes_become(&host, &["10.244.2.0/24 via 192.168.50.22"]).await;

    // A route deleted by hand is not orc's to lose: a Node change brings
    // it back (the periodic resync would too, later).
    host.run("ip", &["route", "del", "10.244.2.0/24"]);
    Registration::new(identity("d", [192, 168, 50, 4], "10.244.4.0/24"))
        .register(&client)
        .await
        .unwrap();
    routes_become(
        &host,
        &[
            "10.244.2.0/24 via 192.168.50.22",
            "10.244.4.0/24 via 192.168.50.4",
        ],
    )
    .await;

    // The foreign route is untouched.
    let all = host.run("ip", &["-4", "route"]);
    assert!(all.contains("10.244.9.0/24 via 192.168.50.9"), "{all}");
    node.stop(Duration::from_secs(1)).await;
}
