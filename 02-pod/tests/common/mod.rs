//! A small cluster made of network namespaces, for the pod network tests.
//!
//! ```text
//!             underlay namespace: bridge "under0"
//!            /              |               \
//!   node 1: eth0         node 2: eth0      node 3: eth0
//!   192.168.50.1/24      192.168.50.2/24   192.168.50.3/24
//!   pods 10.244.1.0/24   10.244.2.0/24     10.244.3.0/24
//! ```
//!
//! The underlay (the "physical" network between the nodes) is test scaffolding
//! and is built with `ip` commands; everything on the nodes is made by the code
//! under test. Every namespace is deleted when the fixture is dropped, which
//! removes every link inside it.

#![allow(dead_code)] // Each test file uses a different part of the fixture.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use orc_pod::{Ipv4Cidr, NodeConfig, NodeRoute};
use orc_testkit::NetnsHost;

pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

/// The network between the nodes.
pub struct Underlay {
    pub ns: NetnsHost,
    next: u8,
}

impl Underlay {
    pub fn new() -> Underlay {
        let ns = NetnsHost::new();
        ns.run("ip", &["link", "add", "under0", "type", "bridge"]);
        ns.run("ip", &["link", "set", "under0", "up"]);
        Underlay { ns, next: 1 }
    }

    /// A new node namespace plugged into the underlay as 192.168.50.N, with
    /// pod CIDR 10.244.N.0/24 and an IPAM state file of its own.
    pub fn node(&mut self) -> TestNode {
        let n = self.next;
        self.next += 1;
        let host = NetnsHost::new();
        let port = format!("n{n}");
        // Created inside the underlay namespace with its peer placed straight
        // into the node's: the root namespace never sees either end.
        self.ns.run(
            "ip",
            &[
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host.name(),
            ],
        );
        self.ns
            .run("ip", &["link", "set", &port, "master", "under0", "up"]);
        let address = Ipv4Addr::new(192, 168, 50, n);
        host.run(
            "ip",
            &["addr", "add", &format!("{address}/24"), "dev", "eth0"],
        );
        host.run("ip", &["link", "set", "eth0", "up"]);
        TestNode {
            host,
            address,
            pod_cidr: format!("10.244.{n}.0/24").parse().unwrap(),
            state: tempfile::tempdir().unwrap(),
        }
    }
}

/// One node: its namespace, its address on the underlay, its pod CIDR.
pub struct TestNode {
    pub host: NetnsHost,
    pub address: Ipv4Addr,
    pub pod_cidr: Ipv4Cidr,
    pub state: tempfile::TempDir,
}

impl TestNode {
    pub fn config(&self) -> NodeConfig {
        NodeConfig {
            netns: PathBuf::from(self.host.path()),
            bridge: "orc0".into(),
            pod_cidr: self.pod_cidr,
            cluster_cidr: CLUSTER_CIDR.parse().unwrap(),
            ipam_state: self.state.path().join("ipam.json"),
        }
    }

    /// This node as an entry of the cluster's node list.
    pub fn route(&self) -> NodeRoute {
        NodeRoute {
            pod_cidr: self.pod_cidr,
            via: self.address,
        }
    }

    /// What the node's namespace holds, for before/after comparisons.
    pub fn network_state(&self) -> String {
        namespace_state(&self.host)
    }
}

/// Links, IPv4 addresses and IPv4 routes of a namespace, as `ip` shows them.
///
/// The operational state column is left out: the kernel changes it on its
/// own (a bridge goes from UNKNOWN to UP as its ports come up), so it says
/// nothing about what orc did. So is the carrier, for the same reason: a
/// veth just set up shows `NO-CARRIER` among its flags (and its routes
/// `linkdown`) until the kernel has raised it, `LOWER_UP` after; a
/// snapshot taken in between differed from the next one once in a loaded
/// run. IPv6 is left out too: the kernel adds link-local addresses to
/// every link by itself.
pub fn namespace_state(ns: &NetnsHost) -> String {
    let mut state = String::new();
    for args in [&["-br", "link"][..], &["-4", "-br", "addr"][..]] {
        for line in ns.run("ip", args).lines() {
            let mut fields = line.split_whitespace();
            let name = fields.next().unwrap_or_default();
            let _operstate = fields.next();
            let rest: Vec<String> = fields.map(without_carrier).collect();
            state += &format!("{name} {}\n", rest.join(" "));
        }
    }
    let routes = ns.run("ip", &["-4", "route", "show", "table", "all"]);
    state + &routes.replace(" linkdown", "")
}

/// A `<FLAG,FLAG>` field of `ip -br link` without the carrier's flags;
/// any other field as it is.
fn without_carrier(field: &str) -> String {
    match field.strip_prefix('<').and_then(|f| f.strip_suffix('>')) {
        Some(flags) => {
            let kept: Vec<&str> = flags
                .split(',')
                .filter(|f| !matches!(*f, "NO-CARRIER" | "LOWER_UP"))
                .collect();
            format!("<{}>", kept.join(","))
        }
        None => field.to_string(),
    }
}

/// `iptables-save` of a namespace, without the comment lines that carry a
/// timestamp.
pub fn iptables_save(ns: &NetnsHost) -> String {
    ns.run("iptables-save", &[])
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect()
}

pub fn path(ns: &NetnsHost) -> PathBuf {
    PathBuf::from(ns.path())
}

/// A TCP listener on port 8080 inside `ns`, on all its addresses.
pub fn listen(ns: &NetnsHost) -> TcpListener {
    ns.enter(|| TcpListener::bind("0.0.0.0:8080").expect("bind 0.0.0.0:8080"))
}

/// Connects from inside `from` to `to:8080`, where `listener` listens, and
/// returns the source address the listener saw: the proof of whether the
/// packet was NATed on its way.
pub fn source_seen_by(listener: &TcpListener, from: &NetnsHost, to: Ipv4Addr) -> IpAddr {
    let target = SocketAddr::from((to, 8080));
    let mut client = from.enter(|| {
        TcpStream::connect_timeout(&target, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("connecting from {} to {target}: {e}", from.name()))
    });
    // The handshake is complete, so the connection waits in the accept queue.
    let (mut server, peer) = listener.accept().expect("accept");
    client.write_all(b"ping").unwrap();
    let mut buffer = [0; 4];
    server.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"ping");
    peer.ip()
}

/// `ping -c1 -W1 ADDRESS` from inside `ns` (busybox's ping), up to five
/// times: the proof is that an echo comes back. On a loaded machine a
/// single echo was lost once in 30 runs of this binary beside two CPU
/// hogs (`pods_added_in_parallel_get_distinct_addresses`, then
/// `an_agent_restart_never_hands_out_an_address_twice`, each right after
/// its pods' veths were made); why was not found. TCP would send such a
/// packet again; one ping does not.
pub fn ping(ns: &NetnsHost, address: Ipv4Addr) {
    let address = address.to_string();
    let mut last = None;
    for attempt in 1..=5 {
        let out = ns
            .command("busybox")
            .args(["ping", "-c1", "-W1", &address])
            .output()
            .expect("busybox runs");
        if out.status.success() {
            return;
        }
        // Counted by the stress runs (`--nocapture`): a lost echo that a
        // later one made up for still says something about the network.
        eprintln!("ping {address} from {}: echo {attempt} lost", ns.name());
        last = Some(out);
    }
    let out = last.expect("five tries");
    panic!(
        "ping {address} from {} failed five times: {}{}",
        ns.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
