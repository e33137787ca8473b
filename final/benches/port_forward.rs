//! Through `kubectl port-forward` against straight to the pod's IP, in one
//! run: `sudo cargo bench -p orc --bench port_forward`.
//!
//! One node (an API server, `orc agent` on a test node, as the tests
//! start them) runs a busybox pod with httpd serving 100 MB and a
//! persistent `nc -ll -e cat` echo. The direct side connects to the pod
//! IP from inside the node's network namespace (the bench's own), the
//! forwarded side to kubectl's listener on loopback: kubectl → API server
//! (relay) → agent → pod, SPDY tunnelled in a WebSocket. Reported:
//! - bulk: 100 MB over one connection, the throughput ratio (median of 3);
//! - latency: 2,000 round trips of 64 bytes on one kept-alive connection,
//!   p50 and p99 and their ratios.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
#[path = "../tests/cluster/mod.rs"]
mod cluster;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cluster::{kubectl_command, one_node, running};
use serde_json::json;

const NODE: &str = "node-bench";
const BULK_MB: usize = 100;
const ROUND_TRIPS: usize = 2_000;
const MESSAGE: usize = 64;

fn main() {
    orc_testkit::require_root();
    orc_testkit::require_command("kubectl");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let (node, api, _agent, config) = one_node(NODE).await;
    let script = format!(
        "mkdir -p /www && dd if=/dev/zero of=/www/bulk bs=1M count={BULK_MB} 2>/dev/null && \
         (nc -ll -p 7 -e cat &) && exec httpd -f -p 80 -h /www"
    );
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox",
                "command": ["sh", "-c", script],
                "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1}}],
        },
    });
    api.post("/api/v1/namespaces/default/pods", pod).await;
    let pod = api
        .wait_for(
            "/api/v1/namespaces/default/pods/bench",
            Duration::from_secs(120),
            |p| running(p) && p["status"]["containerStatuses"][0]["ready"] == true,
        )
        .await;
    let pod_ip: Ipv4Addr = pod["status"]["podIP"].as_str().unwrap().parse().unwrap();
    let netns = node.config.node_netns.clone();
    let (http, echo) = (
        orc_testkit::ports::free_port(),
        orc_testkit::ports::free_port(),
    );
    let _forward = Forward::start(&config, &[&format!("{http}:80"), &format!("{echo}:7")]);

    let direct = |port| SocketAddr::from((pod_ip, port));
    let local = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // The pod's address is reachable only inside the node's namespace:
    // the direct side's client runs on a thread that joined it.
    let mut bulk_direct: Vec<f64> = (0..3)
        .map(|_| orc_pod::netns::run_in(&netns, move || bulk(direct(80))).unwrap())
        .collect();
    let mut bulk_forward: Vec<f64> = (0..3).map(|_| bulk(local(http))).collect();
    let (direct_mbs, forward_mbs) = (median(&mut bulk_direct), median(&mut bulk_forward));
    println!(
        "bulk {BULK_MB} MB: direct {direct_mbs:.0} MB/s, port-forward {forward_mbs:.0} MB/s, \
         ratio {:.3}",
        forward_mbs / direct_mbs
    );

    let direct_lat = orc_pod::netns::run_in(&netns, move || round_trips(direct(7))).unwrap();
    let forward_lat = round_trips(local(echo));
    let (d50, d99) = (percentile(&direct_lat, 50), percentile(&direct_lat, 99));
    let (f50, f99) = (percentile(&forward_lat, 50), percentile(&forward_lat, 99));
    println!(
        "round trip ({ROUND_TRIPS} x {MESSAGE} B, one connection): direct p50 {d50:?} p99 {d99:?}, \
         port-forward p50 {f50:?} p99 {f99:?}, ratios p50 {:.1} p99 {:.1}",
        f50.as_secs_f64() / d50.as_secs_f64(),
        f99.as_secs_f64() / d99.as_secs_f64()
    );
    cluster::delete_pods(&api, &["bench"]).await;
}

/// `GET /bulk` over HTTP/1.0 from `addr`; answers MB/s of the whole answer.
fn bulk(addr: SocketAddr) -> f64 {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"GET /bulk HTTP/1.0\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0usize;
    loop {
        match tcp.read(&mut buf).unwrap() {
            0 => break,
            n => total += n,
        }
    }
    assert!(total > BULK_MB << 20, "only {total} bytes came back");
    total as f64 / 1e6 / started.elapsed().as_secs_f64()
}

/// Round trips of [`MESSAGE`] bytes to the echo at `addr`, each timed.
fn round_trips(addr: SocketAddr) -> Vec<Duration> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let message = [b'x'; MESSAGE];
    let mut back = [0u8; MESSAGE];
    // Warm-up: the forwarded connection's streams open on first use.
    for _ in 0..20 {
        tcp.write_all(&message).unwrap();
        tcp.read_exact(&mut back).unwrap();
    }
    let mut times: Vec<Duration> = (0..ROUND_TRIPS)
        .map(|_| {
            let started = Instant::now();
            tcp.write_all(&message).unwrap();
            tcp.read_exact(&mut back).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `kubectl port-forward pod/bench PORTS`, killed by pid when dropped.
struct Forward(Child);

impl Forward {
    fn start(config: &Path, ports: &[&str]) -> Forward {
        let mut command =
            kubectl_command(config, &[&["port-forward", "pod/bench"], ports].concat());
        command.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // One "Forwarding from 127.0.0.1" line per port, then it listens.
        let mut seen = 0;
        let mut line = String::new();
        while seen < ports.len() && stdout.read_line(&mut line).unwrap() > 0 {
            seen += usize::from(line.starts_with("Forwarding from 127.0.0.1"));
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Forward(child)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
