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
//! 15 rounds, each a 2 s run to the cluster IP and one to the pod IP, in
//! alternating order, every round's ratio printed with the load average,
//! and the median of the rounds' ratios reported. On a machine shared with
//! other builds one round's ratio can be anywhere from 0.75 to 1.8: only
//! the median of many rounds means anything.
//!
//! What the cluster IP adds per request (measured with `perf stat` on the
//! `fib:fib_table_lookup` and `net:net_dev_xmit` tracepoints and `perf
//! record -e cpu-clock`): the DNAT and its reverse on every packet
//! (`nf_nat_manip_pkt`, and `nf_xfrm_me_harder` on replies), and one
//! route lookup per client-to-server packet, because br_netfilter routes a
//! packet whose destination the DNAT changed before bridging it again. A
//! second lookup per packet comes with `send_redirects` or `rp_filter` on
//! the bridge. And while the node's ARP entry for the server pod was not
//! permanent, it went stale every half minute and each packet then made
//! one more pass through the bridge device: 0.90 of the direct rate in
//! that state against 0.97 with chapter 02's permanent entry.
//!
//! Figures (2 cores, the release profile without LTO, the bench at nice
//! -20, load average 11 to 17 from other builds): cluster IP / direct
//! 0.980x median of 15 rounds (rounds from 0.75x to 1.77x; the medians of
//! each side, 59,136 and 65,760 requests/s, give 0.90x). On a quiet
//! machine (release with LTO, load 3 to 9, the bench's own): 0.955x and
//! 0.938x median of the rounds' ratios, 0.960x and 0.955x by the sides'
//! medians, p99 0.86x and 0.84x (chapter 06 has the discussion).

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
/// Many short rounds rather than a few long ones: on a machine shared
/// with other work, a burst of load spoils one round's ratio, not the
/// median.
const ROUNDS: usize = 15;
/// The length of one wrk run, and of the warm-up runs.
const RUN: &str = "2s";
const WARM_UP: &str = "1s";
/// wrk's settings: 2 threads, 32 connections kept alive.
const WRK: [&str; 5] = ["-t2", "-c32", "--latency", "--timeout", "2s"];

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

    // One short run of each first: connections, neighbour entries and
    // caches warm up outside the figures.
    wrk(&client, &format!("http://{CLUSTER_IP}/"), WARM_UP);
    wrk(&client, &format!("http://{server_ip}:{PORT}/"), WARM_UP);
    println!(
        "HTTP with keep-alive from a pod (wrk {} -d{RUN}), {ROUNDS} rounds, each a run through the cluster IP and one straight to the pod, in alternating order:",
        WRK.join(" ")
    );
    println!(
        "{:>5} {:>11} {:>11} {:>7} {:>9} {:>9}  load average (1, 5, 15 min)",
        "round", "cluster IP", "direct", "ratio", "p99 svc", "p99 pod"
    );
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let via_service = || wrk(&client, &format!("http://{CLUSTER_IP}/"), RUN);
        let direct = || wrk(&client, &format!("http://{server_ip}:{PORT}/"), RUN);
        // Alternating which goes first cancels a load that rises or falls
        // during a round.
        let (svc, pod) = if round % 2 == 0 {
            let svc = via_service();
            (svc, direct())
        } else {
            let pod = direct();
            (via_service(), pod)
        };
        println!(
            "{round:>5} {:>11.0} {:>11.0} {:>6.3}x {:>6.3} ms {:>6.3} ms  {}",
            svc.requests_per_second,
            pod.requests_per_second,
            svc.requests_per_second / pod.requests_per_second,
            svc.p99_ms,
            pod.p99_ms,
            load_average()
        );
        rounds.push((svc, pod));
    }
    let ratio = |f: fn(&Run) -> f64| median(rounds.iter().map(|(s, p)| f(s) / f(p)).collect());
    let each = |f: fn(&Run) -> f64, pick: fn(&(Run, Run)) -> &Run| {
        median(rounds.iter().map(|r| f(pick(r))).collect())
    };
    println!("medians over the rounds:");
    println!(
        "{:<22} {:>12} {:>10} {:>10}",
        "", "requests/s", "p50", "p99"
    );
    for (label, pick) in [
        ("cluster IP", (|r| &r.0) as fn(&(Run, Run)) -> &Run),
        ("pod IP (direct)", |r| &r.1),
    ] {
        println!(
            "{label:<22} {:>12.0} {:>7.3} ms {:>7.3} ms",
            each(|r| r.requests_per_second, pick),
            each(|r| r.p50_ms, pick),
            each(|r| r.p99_ms, pick)
        );
    }
    println!(
        "{:<22} {:>11.3}x {:>9.3}x {:>9.3}x  (median of the rounds' ratios)",
        "cluster IP / direct",
        ratio(|r| r.requests_per_second),
        ratio(|r| r.p50_ms),
        ratio(|r| r.p99_ms)
    );
    println!("load average at the end: {}", load_average());
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

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The 1, 5 and 15 minute load averages, as `uptime` prints them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// One wrk run's figures.
struct Run {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs wrk against `url` from inside `client` for `duration`, and reads
/// its report.
fn wrk(client: &NetnsHost, url: &str, duration: &str) -> Run {
    let output = client
        .command("wrk")
        .args(WRK)
        .arg(format!("-d{duration}"))
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
