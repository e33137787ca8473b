//! The API server's memory under big LISTs: its resident set idle, at the
//! peak of many concurrent full LISTs, and once they are over.
//!
//! ```text
//! cargo bench -p orc-apiserver --bench list_memory [-- OBJECTS CLIENTS ROUNDS] [on|off]
//! ```
//!
//! Defaults: 50,000 ConfigMaps, 16 concurrent clients each reading the
//! whole collection (`GET /api/v1/configmaps`, no `limit`), 2 rounds, and
//! both ways in one run against the same etcd: a server with
//! `--watch-cache=false` (every LIST reads etcd), then a fresh one with
//! `--watch-cache=true` (the first LIST starts the cache's fill, the
//! LISTs wait for it and are answered from the cache; the bench checks on
//! `/metrics` that they were). `on` or `off` runs only that one.
//! `LIST_MEMORY_HOLD=SECONDS` keeps each server alive that long after its
//! rounds, its pid printed, to look at its `/proc/PID/smaps`. The
//! objects are written straight into a fresh etcd (via orc-testkit) in
//! the API server's layout; the data size printed is the sum of the
//! stored JSON values, what a LIST has to carry. `orc-apiserver` runs as a
//! child process (its own allocator, mimalloc, as shipped); its resident
//! set is read from `/proc/PID/status`: `VmRSS` sampled every 5 ms while
//! the LISTs run, and `VmHWM` (the kernel's high-water mark) at the end.
//! "Steady" is `VmRSS` once the LISTs have ended and the server has been
//! left alone for a few seconds. The server gets `--request-timeout 1h`:
//! a LIST that gathers the collection before its headers can outlast the
//! default minute (it did, under load, before LISTs were streamed).
//!
//! The targets of issue 15: peak < 3x the data size, steady < 2x idle +
//! data (printed both as a ratio to `idle + data` and as `2*idle + data`).

use std::time::{Duration, Instant};

use etcd_client::{Txn, TxnOp};
use serde_json::json;

/// `VmRSS` and `VmHWM` of process `pid`, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Writes `n` ConfigMaps of 300 B to 1 KB of JSON (a payload that varies
/// with the name) into etcd, a hundred per transaction; answers the bytes
/// stored.
async fn seed(endpoint: &str, n: usize) -> u64 {
    let client = etcd_client::Client::connect([endpoint], None)
        .await
        .unwrap();
    let mut kv = client.kv_client();
    let mut stored = 0u64;
    let names: Vec<usize> = (0..n).collect();
    for batch in names.chunks(100) {
        let mut puts = Vec::new();
        for &i in batch {
            let name = format!("cm-{i:06}");
            let namespace = format!("ns-{}", i % 50);
            let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace,
                    "uid": format!("00000000-0000-0000-0000-{i:012}"),
                    "creationTimestamp": "2026-01-01T00:00:00Z",
                    "labels": {"app": format!("app-{}", i % 10)}},
                "data": {"payload": "x".repeat(64 + (i * 37) % 640)}});
            let value = serde_json::to_vec(&obj).unwrap();
            stored += value.len() as u64;
            let key = format!("/registry/configmaps/{namespace}/{name}");
            puts.push(TxnOp::put(key, value, None));
        }
        kv.txn(Txn::new().and_then(puts)).await.unwrap();
    }
    stored
}

/// `orc-apiserver` as a child process on a free loopback port; killed
/// when dropped.
struct ApiServerProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl ApiServerProcess {
    async fn start(etcd: &str, watch_cache: bool) -> ApiServerProcess {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", orc_testkit::ports::free_port())
            .parse()
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_orc-apiserver"))
            // A buffered LIST of 50,000 objects in a debug build on a
            // loaded machine outlasts the default minute: this measures
            // memory, so no request is cut.
            .args(["--etcd", etcd, "--listen", &addr.to_string()])
            .args(["--request-timeout", "1h"])
            .arg(format!("--watch-cache={watch_cache}"))
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("orc-apiserver starts");
        let server = ApiServerProcess { child, addr };
        let http = orc_client::tls::http_client();
        for _ in 0..400 {
            if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("orc-apiserver did not become ready on {addr}");
    }
}

impl Drop for ApiServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `clients` concurrent full LISTs; answers the bytes each received and
/// the highest `VmRSS` sampled meanwhile.
async fn concurrent_lists(server: &ApiServerProcess, clients: usize, objects: usize) -> (u64, u64) {
    let pid = server.child.id();
    let url = format!("http://{}/api/v1/configmaps", server.addr);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let http = orc_client::tls::http_client();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let response = http.get(&url).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let body = response.bytes().await.unwrap();
            // Parse only the item count: the body is one whole list.
            let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(list["items"].as_array().map(Vec::len), Some(objects));
            body.len() as u64
        }));
    }
    let mut peak = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        peak = peak.max(memory(pid).0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut received = 0;
    for t in tasks {
        received = t.await.unwrap();
    }
    (received, peak)
}

/// The LISTs the watch cache answered, from the server's `/metrics`,
/// and the lines that say what the cache and its feed hold.
async fn served_from_cache(server: &ApiServerProcess) -> (u64, Vec<String>) {
    let http = orc_client::tls::http_client();
    let url = format!("http://{}/metrics", server.addr);
    let text = http.get(url).send().await.unwrap().text().await.unwrap();
    let served = text
        .lines()
        .filter(|l| l.starts_with("apiserver_cache_list_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let held = text
        .lines()
        .filter(|l| l.starts_with("orc_watch_"))
        .map(str::to_string)
        .collect();
    (served, held)
}

async fn bench(args: Vec<usize>, modes: Vec<bool>) {
    let objects = args.first().copied().unwrap_or(50_000);
    let clients = args.get(1).copied().unwrap_or(16);
    let rounds = args.get(2).copied().unwrap_or(2).max(1);
    let etcd = orc_testkit::Etcd::start();
    let data = seed(&etcd.endpoint(), objects).await;
    println!(
        "{objects} ConfigMaps, {:.1} MB stored ({} B each on average); {clients} concurrent full LISTs, {rounds} rounds",
        mb(data),
        data / objects as u64
    );
    for watch_cache in modes {
        println!("--watch-cache={watch_cache}");
        measure(
            &etcd.endpoint(),
            data,
            objects,
            clients,
            rounds,
            watch_cache,
        )
        .await;
    }
}

/// One server's figures.
async fn measure(
    etcd: &str,
    data: u64,
    objects: usize,
    clients: usize,
    rounds: usize,
    watch_cache: bool,
) {
    let server = ApiServerProcess::start(etcd, watch_cache).await;
    let pid = server.child.id();
    let (idle, _) = memory(pid);
    println!("idle:   VmRSS {:>7.1} MB", mb(idle));
    let mut steady = idle;
    for round in 1..=rounds {
        let started = Instant::now();
        let (body, sampled) = concurrent_lists(&server, clients, objects).await;
        let took = started.elapsed();
        let (_, hwm) = memory(pid);
        // Left alone: what the server keeps once the LISTs are over.
        let mut settled = Vec::new();
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            settled.push(memory(pid).0);
        }
        steady = *settled.last().unwrap();
        println!(
            "round {round}: {clients} LISTs of {:.1} MB in {took:.2?}; peak VmRSS sampled {:.1} MB, \
             VmHWM {:.1} MB; steady VmRSS {:.1} MB",
            mb(body),
            mb(sampled),
            mb(hwm),
            mb(steady)
        );
    }
    if let Some(secs) = std::env::var("LIST_MEMORY_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!("holding pid {pid} for {secs} s");
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    let (from_cache, held) = served_from_cache(&server).await;
    println!("LISTs answered from the watch cache: {from_cache}");
    for line in held {
        println!("  {line}");
    }
    if watch_cache {
        assert!(from_cache > 0, "the watch cache answered no LIST");
    } else {
        assert_eq!(from_cache, 0, "the watch cache is off");
    }
    let (_, hwm) = memory(pid);
    let peak_ratio = hwm as f64 / data as f64;
    let steady_ratio = steady as f64 / (idle + data) as f64;
    println!(
        "peak   VmHWM / data        = {peak_ratio:.2}  (target < 3: {})",
        if peak_ratio < 3.0 { "met" } else { "NOT met" }
    );
    println!(
        "steady VmRSS / (idle+data) = {steady_ratio:.2}  (target < 2: {}); \
         steady {:.1} MB vs 2*idle+data = {:.1} MB ({})",
        if steady_ratio < 2.0 { "met" } else { "NOT met" },
        mb(steady),
        mb(2 * idle + data),
        if steady < 2 * idle + data {
            "below"
        } else {
            "above"
        }
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let modes = match std::env::args().skip(1).find(|a| a == "on" || a == "off") {
        Some(mode) => vec![mode == "on"],
        None => vec![false, true],
    };
    tokio::runtime::Runtime::new()
        .expect("a tokio runtime")
        .block_on(bench(args, modes));
}
