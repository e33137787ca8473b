//! Create throughput and p99 through orc-apiserver, side by side with raw
//! etcd puts of the same payloads from the same number of clients; then
//! watch fan-out latency to many watchers.
//!
//! ```text
//! cargo bench -p orc-apiserver --bench create [-- CLIENTS OBJECTS WATCHERS ROUNDS]
//! ```
//!
//! Everything runs on this machine: etcd (via orc-testkit), the API server
//! (`orc-apiserver`, a process of its own like etcd), the clients. The figures are ratios more than absolutes:
//! both sides share the same etcd, cores and payloads.

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
        let http = reqwest::Client::new();
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
    let url = format!("http://{addr}/api/v1/namespaces/default/pods?watch=true&resourceVersion=1");
    let mut streams = Vec::new();
    for _ in 0..watchers {
        // One client per watcher: each watch is its own connection, as with
        // separate processes.
        let r = reqwest::Client::new().get(&url).send().await.unwrap();
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
    let http = reqwest::Client::new();
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

/// `orc-apiserver` as a child process on a free loopback port, killed
/// when dropped.
struct ApiServerProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl ApiServerProcess {
    async fn start(etcd: &str) -> ApiServerProcess {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", orc_testkit::ports::free_port())
            .parse()
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_orc-apiserver"))
            .args(["--etcd", etcd, "--listen", &addr.to_string()])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("orc-apiserver starts");
        let server = ApiServerProcess { child, addr };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("orc-apiserver did not become ready on {addr}");
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

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(16);
    let objects = args.get(1).copied().unwrap_or(4000);
    let watchers = args.get(2).copied().unwrap_or(1000);
    let rounds = args.get(3).copied().unwrap_or(3).max(1);

    println!(
        "{clients} clients, {objects} creates of a 512-byte ConfigMap each side, {rounds} rounds"
    );
    // Each side of each round gets a fresh etcd, and the sides alternate:
    // neither runs on a store the other has filled, nor always second on a
    // machine the other has warmed. The ratios are the median round's.
    let (mut throughput_ratios, mut p99_ratios) = (Vec::new(), Vec::new());
    let mut last_server = None;
    for round in 1..=rounds {
        println!("round {round}:");
        let etcd = orc_testkit::Etcd::start();
        let (t, l, raw_own, raw_etcd_cpu) =
            cpu_per_object(etcd.pid(), raw_etcd(&etcd.endpoint(), clients, objects)).await;
        let (etcd_tput, etcd_p99) = report("  raw etcd create txn", t, l);
        drop(etcd);

        let etcd = orc_testkit::Etcd::start();
        // The API server runs as its own process, as etcd does: each side's
        // CPU is then read from its own /proc entry, and the clients do not
        // share a runtime with the server they measure.
        let server = ApiServerProcess::start(&etcd.endpoint()).await;
        let api_cpu_before = cpu_time(&server.pid());
        let (t, l, api_own, api_etcd_cpu) =
            cpu_per_object(etcd.pid(), through_api(server.addr, clients, objects)).await;
        let api_server_cpu = (cpu_time(&server.pid()) - api_cpu_before) / l.len().max(1) as u32;
        let (api_tput, api_p99) = report("  orc-apiserver POST", t, l);
        println!(
            "  CPU per object: raw: clients {raw_own:.0?} + etcd {raw_etcd_cpu:.0?}; \
             API: clients {api_own:.0?} + API server {api_server_cpu:.0?} + etcd {api_etcd_cpu:.0?}"
        );
        throughput_ratios.push(api_tput / etcd_tput);
        p99_ratios.push(api_p99.as_secs_f64() / etcd_p99.as_secs_f64());
        last_server = Some((server, etcd));
    }
    let (_, _, http_own, _) = cpu_per_object(
        std::process::id(),
        through_api(http_floor().await, clients, objects),
    )
    .await;
    println!(
        "the same clients against an in-process HTTP server that only echoes: {http_own:.0?} per object (clients and server)"
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "ratio (median of {rounds} rounds): throughput {:.2}x of etcd (target >= 0.8; rounds {}), \
         p99 {:.2}x of etcd (target <= 1.5; rounds {})",
        median(throughput_ratios.clone()),
        join(&throughput_ratios),
        median(p99_ratios.clone()),
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
