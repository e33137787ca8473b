//! Lab 02's tasks: one test per function in `src/student.rs`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use std::time::Duration;

use lab_02::{
    BACKOFF_MAX, Ipv4Cidr, NodeRoute, RestartPolicy, RouteChanges, masquerade_rule, next_free,
    pods_to_stop, restart_backoff, route_changes, routes_to_peers, should_restart,
};

fn cidr(text: &str) -> Ipv4Cidr {
    text.parse().unwrap()
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn route(pod_cidr: &str, via: &str) -> NodeRoute {
    NodeRoute {
        pod_cidr: cidr(pod_cidr),
        via: ip(via),
    }
}

#[test]
fn task_1_next_free_address() {
    let block = cidr("10.244.1.0/29"); // .0 to .7
    let mut used = BTreeSet::new();
    let mut handed_out = Vec::new();
    while let Some(address) = next_free(block, &used) {
        assert!(
            handed_out.len() < 8,
            "a /29 has only 8 addresses, but next_free keeps finding more"
        );
        used.insert(address);
        handed_out.push(address.to_string());
    }
    assert_eq!(
        handed_out,
        [
            "10.244.1.2",
            "10.244.1.3",
            "10.244.1.4",
            "10.244.1.5",
            "10.244.1.6"
        ],
        "never the network (.0), the gateway (.1) or the broadcast (.7) address"
    );
    used.remove(&ip("10.244.1.4"));
    assert_eq!(
        next_free(block, &used),
        Some(ip("10.244.1.4")),
        "a released address is the lowest free one again"
    );
    assert_eq!(
        next_free(cidr("10.244.9.0/30"), &BTreeSet::new()),
        Some(ip("10.244.9.2")),
        "a /30 holds exactly one pod"
    );
    assert_eq!(next_free(cidr("10.244.9.0/31"), &BTreeSet::new()), None);
}

#[test]
fn task_2_routes_to_the_other_nodes() {
    let nodes = [
        route("10.244.1.0/24", "192.168.50.1"),
        route("10.244.2.0/24", "192.168.50.2"),
        route("10.244.3.0/24", "192.168.50.3"),
    ];
    let wanted: Vec<NodeRoute> = routes_to_peers(cidr("10.244.2.0/24"), &nodes)
        .into_iter()
        .collect();
    assert_eq!(
        wanted,
        [nodes[0], nodes[2]],
        "node 2 needs routes to nodes 1 and 3, not to itself"
    );
    assert!(routes_to_peers(cidr("10.244.1.0/24"), &nodes[..1]).is_empty());
}

#[test]
fn task_3_route_changes() {
    let has = BTreeSet::from([
        route("10.244.2.0/24", "192.168.50.2"),
        route("10.244.3.0/24", "192.168.50.3"),
        route("10.244.4.0/24", "192.168.50.4"),
    ]);
    let wants = BTreeSet::from([
        route("10.244.2.0/24", "192.168.50.2"),
        route("10.244.3.0/24", "192.168.50.33"),
        route("10.244.5.0/24", "192.168.50.5"),
    ]);
    assert_eq!(
        route_changes(&has, &wants),
        RouteChanges {
            add: vec![
                route("10.244.3.0/24", "192.168.50.33"),
                route("10.244.5.0/24", "192.168.50.5"),
            ],
            remove: vec![
                route("10.244.3.0/24", "192.168.50.3"),
                route("10.244.4.0/24", "192.168.50.4"),
            ],
        }
    );
    assert_eq!(
        route_changes(&wants, &wants),
        RouteChanges::default(),
        "nothing to do when a node already has what it wants"
    );
}

#[test]
fn task_4_masquerade_rule() {
    insta::assert_snapshot!(
        masquerade_rule(cidr("10.244.1.0/24"), cidr("10.244.0.0/16")),
        @"-s 10.244.1.0/24 ! -d 10.244.0.0/16 -j MASQUERADE"
    );
}

#[test]
fn task_5_should_restart() {
    use RestartPolicy::*;
    let table: Vec<(RestartPolicy, i32, bool)> = [Always, OnFailure, Never]
        .into_iter()
        .flat_map(|policy| [0, 1, 137].map(|code| (policy, code, should_restart(policy, code))))
        .collect();
    assert_eq!(
        table,
        [
            (Always, 0, true),
            (Always, 1, true),
            (Always, 137, true),
            (OnFailure, 0, false),
            (OnFailure, 1, true),
            (OnFailure, 137, true),
            (Never, 0, false),
            (Never, 1, false),
            (Never, 137, false),
        ]
    );
}

#[test]
fn task_6_crash_loop_back_off() {
    let seconds: Vec<u64> = (0..8).map(|n| restart_backoff(n).as_secs()).collect();
    assert_eq!(seconds, [0, 10, 20, 40, 80, 160, 300, 300]);
    assert_eq!(restart_backoff(u32::MAX), BACKOFF_MAX, "no overflow");
    assert!(restart_backoff(1) > Duration::ZERO);
}

#[test]
fn task_7_pods_to_stop() {
    let set = |uids: &[&str]| -> BTreeSet<String> { uids.iter().map(|u| u.to_string()).collect() };
    assert_eq!(
        pods_to_stop(&set(&["a", "b"]), &set(&["c", "b", "d"])),
        ["c", "d"],
        "running but not desired"
    );
    assert!(
        pods_to_stop(&set(&["a", "b"]), &set(&["a"])).is_empty(),
        "a desired pod that is not running yet is started, not stopped"
    );
}
