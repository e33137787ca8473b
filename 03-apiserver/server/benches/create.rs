//! Create throughput and p99 through orc-apiserver, side by side with raw
//! etcd puts of the same payloads from the same number of clients, and
//! with a pass-through floor (an HTTP server that only forwards the bytes
//! to etcd: what any API server in between must cost); then watch fan-out
//! latency to many watchers.
//!
//! ```text
//! cargo bench -p orc-apiserver --bench create [-- CLIENTS OBJECTS WATCHERS ROUNDS]
//! ```
//!
//! Everything runs on this machine: etcd (via orc-testkit), the servers
//! (`orc-apiserver`, and this program as the floor: processes of their own
//! like etcd), the clients. The figures are ratios more than absolutes:
//! every side has the same etcd, cores and payloads.

use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use serde_json::{Value, json};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, total: Duration, mut latencies: Vec<Duration>) -> (f64, Duration) {
    latencies.sort();
    let throughput = latencies.len() as f64 / total.as_secs_f64();
    let p50 = percentile(&latencies, 0.5);
    let p99 = percentile(&latencies, 0.99);
    println!("{name:<28} {throughput:>9.0} obj/s   p50 {p50:>9.2?}   p99 {p99:>9.2?}");
    (throughput, p99)
}

/// CPU time (user + system) a process has used so far, from
/// `/proc/<pid>/stat` (fields 14 and 15, in clock ticks of 10 ms).
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; count fields after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// CPU used per object by this process (clients, and the API server when
/// it is in the path) and by etcd while `phase` ran: where the time goes.
async fn cpu_per_object<F: std::future::Future<Output = (Duration, Vec<Duration>)>>(
    etcd_pid: u32,
    phase: F,
) -> (Duration, Vec<Duration>, Duration, Duration) {
    let etcd_pid = etcd_pid.to_string();
    let (own, etcd) = (cpu_time("self"), cpu_time(&etcd_pid));
    let (total, latencies) = phase.await;
    let n = latencies.len().max(1) as u32;
    let own = (cpu_time("self") - own) / n;
    let etcd = (cpu_time(&etcd_pid) - etcd) / n;
    (total, latencies, own, etcd)
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"bench": "yes"}},
        "data": {"payload": "x".repeat(512)}})
}

async fn through_api(
    addr: std::net::SocketAddr,
    clients: usize,
    objects: usize,
) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = orc_client::tls::http_client();
        let url = format!("http://{addr}/api/v1/namespaces/default/configmaps");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..objects / clients {
                let body = configmap(&format!("api-{c}-{i}"));
                let t = Instant::now();
                let r = http.post(&url).json(&body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 201);
                let _ = r.bytes().await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (started.elapsed(), all)
}

async fn raw_etcd(endpoint: &str, clients: usize, objects: usize) -> (Duration, Vec<Duration>) {
    let client = etcd_client::Client::connect([endpoint], None)
        .await
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut kv = client.kv_client();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..objects / clients {
                let key = format!("/bench/raw-{c}-{i}");
                let value = serde_json::to_vec(&configmap(&key)).unwrap();
                let t = Instant::now();
                // The same create-if-absent transaction the API server runs.
                let txn = Txn::new()
                    .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key.as_str(), value, None)]);
                assert!(kv.txn(txn).await.unwrap().succeeded());
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (started.elapsed(), all)
}

/// `watchers` clients watch pods; one writer creates pods one at a time;
/// each delivery's latency is measured from just before the create.
async fn fan_out(addr: std::net::SocketAddr, watchers: usize, events: usize) -> Vec<Duration> {
    // From the current version: an old one may be compacted or beyond the
    // watch window after a long create run, and the watch would end in 410.
    let list: Value = orc_client::tls::http_client()
        .get(format!("http://{addr}/api/v1/namespaces/default/pods"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let version = list["metadata"]["resourceVersion"].as_str().unwrap_or("0");
    let url = format!(
        "http://{addr}/api/v1/namespaces/default/pods?watch=true&resourceVersion={version}"
    );
    let mut streams = Vec::new();
    for _ in 0..watchers {
        // One client per watcher: each watch is its own connection, as with
        // separate processes.
        let r = orc_client::tls::http_client()
            .get(&url)
            .send()
            .await
            .unwrap();
        streams.push(r);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    for mut r in streams {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buffer = Vec::new();
            while let Ok(Some(chunk)) = r.chunk().await {
                buffer.extend_from_slice(&chunk);
                while let Some(i) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=i).collect();
                    let e: Value = serde_json::from_slice(&line).unwrap();
                    let name = e["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send((name, Instant::now()));
                }
            }
        });
    }
    drop(tx);
    let http = orc_client::tls::http_client();
    let mut latencies = Vec::new();
    for i in 0..events {
        let name = format!("fan-{i}");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}});
        let sent = Instant::now();
        let r = http
            .post(format!("http://{addr}/api/v1/namespaces/default/pods"))
            .json(&pod)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let mut seen = 0;
        while seen < watchers {
            let (got, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if got == name {
                latencies.push(at - sent);
                seen += 1;
            }
        }
    }
    latencies
}

/// An HTTP server that answers every create with 201 and the body it got,
/// doing no other work: what the HTTP hop alone costs the clients and a
/// server, the part of the API path no handler optimisation can remove.
async fn http_floor() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = axum::routing::post(|body: axum::body::Bytes| async move {
        (axum::http::StatusCode::CREATED, body)
    });
    let app = axum::Router::new().route("/api/v1/namespaces/default/configmaps", echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A server between the clients and etcd, as a child process on a free
/// loopback port (each side's CPU is then read from its own /proc entry,
/// and the clients do not share a runtime with the server they measure);
/// killed when dropped.
struct ApiServerProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl ApiServerProcess {
    /// `orc-apiserver` on `etcd`.
    async fn start(etcd: &str) -> ApiServerProcess {
        Self::spawn(env!("CARGO_BIN_EXE_orc-apiserver"), &["--etcd", etcd]).await
    }

    /// This bench program as the pass-through floor (see [`floor_server`]).
    async fn floor(etcd: &str) -> ApiServerProcess {
        let me = std::env::current_exe().expect("the bench knows its own path");
        Self::spawn(me.to_str().unwrap(), &[FLOOR_FLAG, etcd]).await
    }

    /// Runs `program ARGS --listen ADDR` and waits for its `/readyz`.
    async fn spawn(program: &str, args: &[&str]) -> ApiServerProcess {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", orc_testkit::ports::free_port())
            .parse()
            .unwrap();
        let child = std::process::Command::new(program)
            .args(args)
            .args(["--listen", &addr.to_string()])
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap_or_else(|e| panic!("{program} starts: {e}"));
        let server = ApiServerProcess { child, addr };
        let http = orc_client::tls::http_client();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{program} did not become ready on {addr}");
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for ApiServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The argument that makes this program the pass-through floor server.
const FLOOR_FLAG: &str = "--pass-through-floor";

// ANCHOR: floor
/// The least an API server on etcd can do per create: take the body's
/// bytes, put them under a new key with the same create-if-absent
/// transaction through the same etcd client, answer 201 with the same
/// bytes. No JSON, routing, metadata or validation: what the HTTP hop and
/// the etcd client cost by themselves, in a process of its own with
/// orc-apiserver's runtime and allocator and `TCP_NODELAY`. No API server
/// of this shape can do better on this machine.
fn floor_server(etcd: String, listen: String) {
    use axum::serve::ListenerExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async move {
        let client = etcd_client::Client::connect([etcd], None)
            .await
            .expect("etcd reachable");
        let next = std::sync::Arc::new(AtomicU64::new(0));
        let create = axum::routing::post(move |body: axum::body::Bytes| async move {
            let key = format!("/registry/floor/{}", next.fetch_add(1, Ordering::Relaxed));
            let txn = Txn::new()
                .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key.as_str(), body.to_vec(), None)]);
            match client.kv_client().txn(txn).await {
                Ok(r) if r.succeeded() => (axum::http::StatusCode::CREATED, body),
                _ => (axum::http::StatusCode::CONFLICT, body),
            }
        });
        let app = axum::Router::new()
            .route("/api/v1/namespaces/default/configmaps", create)
            .route("/readyz", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.unwrap();
    });
}
// ANCHOR_END: floor

/// One side of a round: where the clients send their creates.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    RawEtcd,
    Floor,
    Orc,
}

/// What one side measured in one round.
struct Measured {
    throughput: f64,
    p99: Duration,
    /// CPU per object: the clients, the server between them and etcd (if
    /// any), etcd.
    cpu: (Duration, Duration, Duration),
}

/// Runs one side on a fresh etcd; returns what it measured, and the server
/// and etcd still running (the last orc-apiserver serves the fan-out).
async fn run_side(
    side: Side,
    clients: usize,
    objects: usize,
) -> (Measured, Option<(ApiServerProcess, orc_testkit::Etcd)>) {
    let etcd = orc_testkit::Etcd::start();
    let server = match side {
        Side::RawEtcd => None,
        Side::Floor => Some(ApiServerProcess::floor(&etcd.endpoint()).await),
        Side::Orc => Some(ApiServerProcess::start(&etcd.endpoint()).await),
    };
    let server_cpu = || {
        server
            .as_ref()
            .map(|s| cpu_time(&s.pid()))
            .unwrap_or_default()
    };
    let before = server_cpu();
    let (total, latencies, clients_cpu, etcd_cpu) = match &server {
        None => cpu_per_object(etcd.pid(), raw_etcd(&etcd.endpoint(), clients, objects)).await,
        Some(s) => cpu_per_object(etcd.pid(), through_api(s.addr, clients, objects)).await,
    };
    let server_cpu = (server_cpu() - before) / latencies.len().max(1) as u32;
    let name = match side {
        Side::RawEtcd => "  raw etcd create txn",
        Side::Floor => "  pass-through floor POST",
        Side::Orc => "  orc-apiserver POST",
    };
    let (throughput, p99) = report(name, total, latencies);
    let measured = Measured {
        throughput,
        p99,
        cpu: (clients_cpu, server_cpu, etcd_cpu),
    };
    (measured, server.map(|s| (s, etcd)))
}

// This program, as the clients and as the floor server, allocates with
// mimalloc as orc-apiserver does: the two servers and the clients of every
// side pay the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(FLOOR_FLAG) {
        let etcd = argv
            .get(2)
            .cloned()
            .expect("--pass-through-floor ETCD --listen ADDR");
        let listen = argv
            .get(4)
            .cloned()
            .expect("--pass-through-floor ETCD --listen ADDR");
        return floor_server(etcd, listen);
    }
    let args: Vec<usize> = argv.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    tokio::runtime::Runtime::new()
        .expect("a tokio runtime")
        .block_on(bench(args));
}

async fn bench(args: Vec<usize>) {
    let clients = args.first().copied().unwrap_or(16);
    let objects = args.get(1).copied().unwrap_or(4000);
    let watchers = args.get(2).copied().unwrap_or(1000);
    let rounds = args.get(3).copied().unwrap_or(3).max(1);

    println!(
        "{clients} clients, {objects} creates of a 512-byte ConfigMap each side, {rounds} rounds"
    );
    // Each side of each round gets a fresh etcd, and the sides take turns
    // going first: none runs on a store another has filled, nor always
    // after the same neighbour. The ratios are the median round's.
    let sides = [Side::RawEtcd, Side::Floor, Side::Orc];
    let (mut orc_raw, mut floor_raw, mut orc_floor, mut p99_ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last_server = None;
    for round in 0..rounds {
        println!("round {}:", round + 1);
        let mut measured = Vec::new();
        for k in 0..sides.len() {
            let side = sides[(round + k) % sides.len()];
            let (m, server) = run_side(side, clients, objects).await;
            if side == Side::Orc {
                last_server = server;
            }
            measured.push((side, m));
        }
        let of = |side| &measured.iter().find(|(s, _)| *s == side).unwrap().1;
        let (raw, floor, orc) = (of(Side::RawEtcd), of(Side::Floor), of(Side::Orc));
        println!(
            "  CPU per object: raw: clients {:.0?} + etcd {:.0?}; floor: clients {:.0?} + server {:.0?} + etcd {:.0?}; \
             orc: clients {:.0?} + API server {:.0?} + etcd {:.0?}",
            raw.cpu.0,
            raw.cpu.2,
            floor.cpu.0,
            floor.cpu.1,
            floor.cpu.2,
            orc.cpu.0,
            orc.cpu.1,
            orc.cpu.2
        );
        orc_raw.push(orc.throughput / raw.throughput);
        floor_raw.push(floor.throughput / raw.throughput);
        orc_floor.push(orc.throughput / floor.throughput);
        p99_ratios.push(orc.p99.as_secs_f64() / raw.p99.as_secs_f64());
    }
    let (_, _, http_own, _) = cpu_per_object(
        std::process::id(),
        through_api(http_floor().await, clients, objects),
    )
    .await;
    println!(
        "the same clients against an in-process HTTP server that only echoes: {http_own:.0?} per object (clients and server)"
    );
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "throughput (median of {rounds} rounds): orc {:.2}x of raw etcd (target >= 0.8; rounds {}); \
         the pass-through floor {:.2}x of raw etcd (rounds {}); orc {:.2}x of the floor (rounds {})",
        median(&orc_raw),
        join(&orc_raw),
        median(&floor_raw),
        join(&floor_raw),
        median(&orc_floor),
        join(&orc_floor),
    );
    println!(
        "p99 (median of {rounds} rounds): orc {:.2}x of raw etcd (target <= 1.5; rounds {})",
        median(&p99_ratios),
        join(&p99_ratios),
    );

    let Some((server, _etcd)) = last_server else {
        return;
    };
    let events = 20;
    let mut l = fan_out(server.addr, watchers, events).await;
    l.sort();
    println!(
        "watch fan-out: {watchers} watchers x {events} events: p50 {:.2?}, p99 {:.2?} (target p99 < 50ms)",
        percentile(&l, 0.5),
        percentile(&l, 0.99)
    );
}

fn join(ratios: &[f64]) -> String {
    ratios
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}
