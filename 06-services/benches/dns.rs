//! orc-dns beside dnsmasq, in one run: queries per second and latency
//! for a Service's A record, both servers holding the same names.
//!
//! ```text
//! cargo bench -p orc-services --bench dns
//! ```
//!
//! orc-dns here is the real server (hickory-server with orc's request
//! handler, on a UDP socket per CPU answered on threads of their own, as
//! `orc agent` serves it) over a table built by orc's own [`build::records`] from
//! `ORC_BENCH_DNS_SERVICES` Services (default 1,000); dnsmasq (Debian's
//! `dnsmasq-base`) serves the same names from a hosts file, with no
//! upstream, the classic small DNS server. Both listen on loopback.
//!
//! Two measurements, alternating between the servers for
//! `ORC_BENCH_DNS_ROUNDS` rounds (default 3; medians reported):
//!
//! - **throughput**: dnsperf (Debian) sends the A questions for every
//!   Service name, in turn, from 8 clients with up to 100 questions
//!   outstanding, for 5 s; its "Queries per second" and average latency;
//! - **latency**: one client asks 5,000 questions one after another
//!   (the next when the answer is in, as a pod's resolver does); the
//!   median and 99th percentile of the round trips.
//!
//! dnsmasq is single-threaded; orc-dns runs on tokio's multi-threaded
//! runtime, so on a machine with more cores its throughput can scale
//! where dnsmasq's cannot. The figures say how many cores there were.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use orc_services::dns::build;
use orc_services::dns::handler::{ClusterDns, SharedRecords};
use orc_services::dns::{DnsServer, DnsSockets, Upstream};
use serde_json::json;

const CLIENTS: &str = "8";
const OUTSTANDING: &str = "100";
const SECONDS: &str = "5";
const LATENCY_QUERIES: usize = 5_000;

fn main() {
    orc_testkit::require_command("dnsperf");
    orc_testkit::require_command("dnsmasq");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let services = env("ORC_BENCH_DNS_SERVICES", 1_000);
    let rounds = env("ORC_BENCH_DNS_ROUNDS", 3);
    let dir = tempfile::tempdir().expect("a temp dir");

    // The names: svc-<i>.bench.svc.cluster.local, cluster IPs from 10.96.0.10.
    let ips: Vec<Ipv4Addr> = (0..services as u32)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 10)) + i))
        .collect();
    let name = |i: usize| format!("svc-{i}.bench.svc.cluster.local");
    let queries = dir.path().join("queries");
    let hosts = dir.path().join("hosts");
    let mut q = std::fs::File::create(&queries).unwrap();
    let mut h = std::fs::File::create(&hosts).unwrap();
    for (i, ip) in ips.iter().enumerate() {
        writeln!(q, "{} A", name(i)).unwrap();
        writeln!(h, "{ip} {}", name(i)).unwrap();
    }
    drop((q, h));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The server serves while it lives: for the whole benchmark.
    let (orc, _server) = runtime.block_on(start_orc_dns(&ips));
    let dnsmasq = Dnsmasq::start(&hosts);

    // Both must give the same, right answer before either is timed.
    for (label, server) in [("orc-dns", orc), ("dnsmasq", dnsmasq.addr)] {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let last = services - 1;
        let answer = ask(&socket, server, &name(last), 1)
            .unwrap_or_else(|| panic!("{label} did not answer"));
        let found: Vec<Ipv4Addr> = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(found, [ips[last]], "{label} answered {answer:?}");
    }

    let mut results = [Results::default(), Results::default()];
    for _ in 0..rounds {
        for (server, results) in [orc, dnsmasq.addr].into_iter().zip(results.iter_mut()) {
            let (qps, average, lost) = dnsperf(server, &queries);
            results.qps.push(qps);
            results.average.push(average);
            results.lost += lost;
            let (p50, p99) = latency(server, services);
            results.p50.push(p50);
            results.p99.push(p99);
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "A lookups of {services} Service names on loopback, {cores} cores, median of {rounds} rounds"
    );
    println!(
        "dnsperf: {CLIENTS} clients, {OUTSTANDING} outstanding, {SECONDS} s; latency: {LATENCY_QUERIES} questions one at a time"
    );
    println!(
        "{:<9} {:>12} {:>12} {:>8} {:>10} {:>10}",
        "server", "queries/s", "avg latency", "lost", "p50", "p99"
    );
    let [orc_results, dnsmasq_results] = &results;
    for (label, r) in [("orc-dns", orc_results), ("dnsmasq", dnsmasq_results)] {
        println!(
            "{label:<9} {:>12.0} {:>12} {:>8} {:>10} {:>10}",
            median(&r.qps),
            us(median(&r.average)),
            r.lost,
            us(median(&r.p50)),
            us(median(&r.p99)),
        );
    }
    println!(
        "orc/dnsmasq: queries/s {:.2}x, p50 {:.2}x, p99 {:.2}x",
        median(&orc_results.qps) / median(&dnsmasq_results.qps),
        median(&orc_results.p50) / median(&dnsmasq_results.p50),
        median(&orc_results.p99) / median(&dnsmasq_results.p99),
    );
}

/// One server's samples, one per round.
#[derive(Default)]
struct Results {
    qps: Vec<f64>,
    /// Seconds.
    average: Vec<f64>,
    lost: u64,
    /// Seconds.
    p50: Vec<f64>,
    /// Seconds.
    p99: Vec<f64>,
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn us(seconds: f64) -> String {
    format!("{:.0} us", seconds * 1e6)
}

/// orc-dns over a table of `ips.len()` Services, on a loopback port.
async fn start_orc_dns(ips: &[Ipv4Addr]) -> (SocketAddr, DnsServer) {
    let services: Vec<_> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            json!({"metadata": {"namespace": "bench", "name": format!("svc-{i}")},
                "spec": {"clusterIP": ip.to_string(), "ports": [{"name": "http", "port": 80}]}})
        })
        .collect();
    let table = build::records("cluster.local", &services, &[], &[]);
    // Bound as `orc agent` binds it: a UDP socket per CPU on one port.
    let sockets = DnsSockets::bind_in(
        Path::new(orc_pod::netns::HOST_NETNS),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = sockets.local_addr().unwrap();
    let server = sockets
        .serve(ClusterDns {
            records: SharedRecords::new(table),
            // Every name asked is the cluster's: nothing is forwarded.
            upstream: Upstream {
                servers: vec![],
                timeout: Duration::from_secs(1),
            },
        })
        .unwrap();
    (addr, server)
}

/// dnsmasq serving `hosts` on a loopback port, killed on drop.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
}

impl Dnsmasq {
    fn start(hosts: &std::path::Path) -> Dnsmasq {
        // A free port: bound, read, released, then given to dnsmasq.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--pid-file=",
                // Stay root: the hosts file is in a temp dir only root reads.
                "--user=root",
                "--local-ttl=5",
                "--cache-size=10000",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--addn-hosts={}", hosts.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting dnsmasq");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Ready once it answers (it reads the hosts file first).
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ask(&socket, addr, "svc-0.bench.svc.cluster.local", 1).is_none() {
            assert!(Instant::now() < deadline, "dnsmasq never answered");
        }
        Dnsmasq { child, addr }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One A question for `name` with id `id`; the answer, or `None` on a
/// timeout.
fn ask(socket: &UdpSocket, server: SocketAddr, name: &str, id: u16) -> Option<Message> {
    let mut query = Message::query();
    query.metadata.id = id;
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buf = [0u8; 1500];
    loop {
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        let answer = Message::from_vec(&buf[..n]).ok()?;
        // A late answer to an earlier question is skipped.
        if answer.metadata.id == id {
            return Some(answer);
        }
    }
}

/// dnsperf against `server`: (queries/s, average latency in seconds,
/// queries lost).
fn dnsperf(server: SocketAddr, queries: &std::path::Path) -> (f64, f64, u64) {
    let output = Command::new("dnsperf")
        .args([
            "-s",
            &server.ip().to_string(),
            "-p",
            &server.port().to_string(),
        ])
        .args(["-c", CLIENTS, "-q", OUTSTANDING, "-l", SECONDS, "-t", "2"])
        .arg("-d")
        .arg(queries)
        .output()
        .expect("running dnsperf");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "dnsperf failed: {text}");
    let field = |label: &str| -> &str {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in dnsperf's output: {text}"))
            .split_whitespace()
            .next()
            .unwrap()
    };
    let qps = field("Queries per second:").parse().unwrap();
    let average = field("Average Latency (s):").parse().unwrap();
    let lost = field("Queries lost:").parse().unwrap();
    (qps, average, lost)
}

/// [`LATENCY_QUERIES`] questions one after another, cycling through the
/// `services` names: (p50, p99) of the round trips, in seconds.
fn latency(server: SocketAddr, services: usize) -> (f64, f64) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut samples: Vec<f64> = (0..LATENCY_QUERIES)
        .map(|i| {
            let name = format!("svc-{}.bench.svc.cluster.local", i % services);
            let start = Instant::now();
            let answer = ask(&socket, server, &name, i as u16);
            assert!(answer.is_some(), "{server} lost question {i}");
            start.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}
