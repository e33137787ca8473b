//! The data path: HTTP requests with keep-alive through a cluster IP
//! against the same requests sent straight to the pod, in one run.
//!
//! ```text
//! sudo cargo bench -p orc-services --bench data_path
//! ```
//!
//! A node (a network namespace with chapter 02's bridge), two pods on it
//! (a server and a client, each a namespace plugged in by chapter 02's
//! code), and orc-proxy's rules for one Service in front of the server:
//! everything is created here and deleted at the end, so the host's
//! tables are never touched. The server is a small keep-alive HTTP
//! responder on threads of this process (its socket lives in the server
//! pod's namespace); the load is `wrk` (Debian's) from the client pod:
//! once to the cluster IP, once to the pod IP, alternating for a few
//! rounds, medians reported. The difference is what the DNAT costs: the
//! first packet of each connection goes through the nat table, the rest
//! follow conntrack.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;

use orc_pod::{NodeConfig, NodeNetwork};
use orc_services::ProxyConfig;
use orc_services::proxy::Proxy;
use orc_testkit::NetnsHost;

const CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 50);
/// The server's port: the one `common::ready_endpoint` names.
const PORT: u16 = 8080;
const ROUNDS: usize = 3;
/// wrk's settings: 2 threads, 32 connections kept alive, 5 s per run.
const WRK: [&str; 6] = ["-t2", "-c32", "-d5s", "--latency", "--timeout", "2s"];

fn main() {
    orc_testkit::require_root();
    orc_testkit::require_command("wrk");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (node, server, client) = (NetnsHost::new(), NetnsHost::new(), NetnsHost::new());
    let state = tempfile::tempdir().unwrap();
    let network = runtime.block_on(async {
        NodeNetwork::setup(NodeConfig {
            netns: node.path().into(),
            bridge: "orc0".into(),
            pod_cidr: "10.244.1.0/24".parse().unwrap(),
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            ipam_state: state.path().join("ipam.json"),
        })
        .await
        .expect("the node's pod network is set up")
    });
    let (server_netns, client_netns) = (server.path(), client.path());
    let server_ip = runtime
        .block_on(network.add_pod("server", Path::new(&server_netns)))
        .expect("the server pod is plugged in")
        .address;
    runtime
        .block_on(network.add_pod("client", Path::new(&client_netns)))
        .expect("the client pod is plugged in");

    // The Service: one port, the server pod its one endpoint.
    let mut proxy = Proxy::new(ProxyConfig {
        cluster_cidr: Some("10.244.0.0/16".parse().unwrap()),
        netns: node.path().into(),
        ..ProxyConfig::new("bench-node")
    });
    let service = common::service_port("web", CLUSTER_IP);
    let endpoint = common::ready_endpoint(server_ip);
    proxy
        .sync(&[(service, vec![endpoint])], true)
        .expect("the Service's rules apply");

    let listener = server.enter(|| TcpListener::bind(("0.0.0.0", PORT)).expect("the server binds"));
    std::thread::spawn(move || serve(listener));

    println!(
        "HTTP with keep-alive from a pod (wrk {}), median of {ROUNDS} rounds:",
        WRK.join(" ")
    );
    println!(
        "{:<22} {:>12} {:>10} {:>10}",
        "", "requests/s", "p50", "p99"
    );
    let (mut via_service, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        via_service.push(wrk(&client, &format!("http://{CLUSTER_IP}/")));
        direct.push(wrk(&client, &format!("http://{server_ip}:{PORT}/")));
    }
    let (svc, pod) = (Run::median(via_service), Run::median(direct));
    for (label, run) in [("cluster IP", &svc), ("pod IP (direct)", &pod)] {
        println!(
            "{label:<22} {:>12.0} {:>7.3} ms {:>7.3} ms",
            run.requests_per_second, run.p50_ms, run.p99_ms
        );
    }
    println!(
        "{:<22} {:>11.3}x {:>9.3}x {:>9.3}x",
        "cluster IP / direct",
        svc.requests_per_second / pod.requests_per_second,
        svc.p50_ms / pod.p50_ms,
        svc.p99_ms / pod.p99_ms
    );
    runtime
        .block_on(network.teardown())
        .expect("the node's network is removed");
}

/// Answers every request on every connection with a small 200, keeping
/// the connection open, one thread per connection.
fn serve(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || answer(stream));
    }
}

fn answer(mut stream: TcpStream) {
    const RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n";
    let _ = stream.set_nodelay(true);
    let mut buffer = [0u8; 4096];
    let mut pending = Vec::new();
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buffer[..n]);
        // One response per complete request head (wrk sends GETs, no body).
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if stream.write_all(RESPONSE).is_err() {
                return;
            }
        }
    }
}

/// One wrk run's figures.
struct Run {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Run {
    /// Each figure's median over the runs.
    fn median(runs: Vec<Run>) -> Run {
        let pick = |f: fn(&Run) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        Run {
            requests_per_second: pick(|r| r.requests_per_second),
            p50_ms: pick(|r| r.p50_ms),
            p99_ms: pick(|r| r.p99_ms),
        }
    }
}

/// Runs wrk against `url` from inside `client`, and reads its report.
fn wrk(client: &NetnsHost, url: &str) -> Run {
    let output = client
        .command("wrk")
        .args(WRK)
        .arg(url)
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk {url}: {text}");
    assert!(
        !text.contains("Socket errors"),
        "wrk {url} saw errors: {text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::trim))
            .unwrap_or_else(|| panic!("wrk printed no {prefix:?}: {text}"))
            .to_string()
    };
    Run {
        requests_per_second: field("Requests/sec:").parse().expect("a number"),
        p50_ms: millis(&field("50%")),
        p99_ms: millis(&field("99%")),
    }
}

/// wrk's durations (`812.00us`, `1.25ms`, `2.01s`) in milliseconds.
fn millis(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => f64::NAN,
    }
}
