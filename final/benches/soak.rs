//! The soak: the API server under a steady stream of creates, updates and
//! deletes for a long time, with etcd's database size and the processes'
//! resident memory printed as it goes. Flat lines mean compaction (and
//! defragmentation) keep etcd's history bounded and nothing leaks; a line
//! that climbs is a leak.
//!
//! ```text
//! sudo cargo bench -p orc --bench soak --profile dev -- --minutes 30
//!     [--node] [--workers 4] [--live 50] [--every 60] [--compaction 5m]
//!     [--defrag 1h] [--watch-cache true] [--event-ttl 1h] [--pods 1:5] [--scale-every 20]
//!     [--rate 0]
//! ```
//!
//! Root, as `orc server` is. Two shapes:
//!
//! - alone (the default): `orc server` with a fresh data directory (a
//!   temporary one, removed at the end) on a free loopback port; its own
//!   etcd (`orc server` supervises one) keeps its default quota. Nothing
//!   but the bench's clients writes.
//! - `--node`: a one-node cluster that `orc up --detach` starts in a
//!   network namespace of the bench's own (`benches/cluster/`, as the
//!   `up` and `pod_startup` benches), taken down with `orc down --purge`
//!   at the end. Beside the bench's clients, the load of a real cluster:
//!   the node's Lease renewals and status, the scheduler, the
//!   controllers, the proxy's and DNS's watches, and real pods: a
//!   Deployment of busybox `sleep` pods (grace period 0) scaled between
//!   the two ends of `--pods` every `--scale-every` seconds, so with the
//!   defaults (1:5, 20 s) the node starts 4 pods and stops 4 every 40 s,
//!   6 a minute each way, which a loaded 2-core machine keeps up with
//!   (a pod starts in under a second, `benches/pod_startup.rs`).
//!
//! Each of `--workers` clients cycles through ConfigMaps of 1 KiB: it
//! creates one, updates a live one twice (merge patches, each a new
//! revision), and once it holds `--live` of them deletes its oldest, so
//! the live data stays constant (workers × live objects) while every
//! operation adds history. `--rate` holds the operations per second of
//! all workers together at a fixed figure (each worker takes its share,
//! one operation per period, and a period the machine was too slow for is
//! not made up with a burst); 0, the default, lets them go as fast as
//! they can. Fast is the harder test, but on a shared machine its rate
//! follows the other work, and etcd's size follows the rate (compaction
//! keeps the last five to ten minutes of history): only at a fixed rate
//! does a flat line mean what it says. Every `--every` seconds a line is printed:
//! operations so far, etcd's revision, its file size (`dbSize`, what the
//! quota counts) and the part in use (`dbSizeInUse`), and the resident set
//! (`VmRSS`) of each process, found by pid: `orc server` (the API server,
//! and under `orc up` the scheduler and the controllers too, in the same
//! process) from the bench's own child or `orc up`'s record (`up.json`),
//! its etcd as that process's child, with `--node` the node's `orc agent`
//! (the agent, its proxy, DNS and ingress) from the record, and the
//! pods' runtime processes (every other process naming the run's own
//! data directory: each container's and sandbox's `orc shim` and
//! `orc-container`; summed and counted, and compared per process at the
//! end, as their number follows the Deployment's size), beside the pods
//! the API holds and how many of them run, and the Events etcd holds.
//! `--compaction`, `--defrag`, `--watch-cache` and `--event-ttl` pass
//! through to `orc server` (`--etcd-compaction-interval`,
//! `--etcd-defrag-interval`, `--watch-cache`, `--event-ttl`; `orc up`
//! takes the same flags); the compaction defaults are the server's, so a 30-minute run
//! sees six compactions, and the watch cache is on, as it is to be by
//! default. A short proof run wants shorter ones (`--minutes 4
//! --compaction 30s --defrag 1m`), and a run shorter than an hour sees
//! Events expire only with a shorter `--event-ttl` (`5m`).
//!
//! At the end it compares the second half of the run with the first
//! (after the first compaction interval, the warm-up): the growth of the
//! file, the in-use size and each RSS between their medians, and the
//! highest of each. No pass/fail: the numbers are for a person to read.
//!
//! Measured with `--node --minutes 30` and the defaults, a debug build,
//! load average 20–28 from other builds (chapter 03, "Compaction and
//! revisions", says what the climb of the server is made of):
//!
//! ```text
//! 138104 ConfigMap operations in 1800 s (77/s), 181 pods asked for, 0 failed
//! after the warm-up (300 s), first half → second half:
//! dbSize       median    91.34 MB →    91.34 MB (+0.0 %), highest 91.34 MB
//! dbSizeInUse  median    59.27 MB →    56.53 MB (-4.6 %), highest 83.34 MB
//! server RSS   median   112.20 MB →   121.46 MB (+8.3 %), highest 125.53 MB
//! etcd RSS     median   159.17 MB →   166.59 MB (+4.7 %), highest 176.69 MB
//! agent RSS    median    65.18 MB →    66.97 MB (+2.7 %), highest 67.73 MB
//! runtime/proc median    18.89 MB →    18.91 MB (+0.1 %), highest 23.70 MB
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orc_client::Client;
use orc_testkit::{NetnsHost, require_command, require_root};
use serde_json::json;

use cluster::Cluster;

mod cluster;

/// The bench's flags.
struct Options {
    minutes: f64,
    node: bool,
    workers: usize,
    live: usize,
    every: Duration,
    compaction: String,
    defrag: String,
    watch_cache: bool,
    /// How long the API server keeps an Event after its last write.
    event_ttl: String,
    /// The Deployment's two sizes, with `--node`.
    pods: (u64, u64),
    scale_every: Duration,
    /// ConfigMap operations per second, all workers together; 0: as fast
    /// as they go.
    rate: f64,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            minutes: 30.0,
            node: false,
            workers: 4,
            live: 50,
            every: Duration::from_secs(60),
            compaction: "5m".into(),
            defrag: "1h".into(),
            watch_cache: true,
            event_ttl: "1h".into(),
            pods: (1, 5),
            scale_every: Duration::from_secs(20),
            rate: 0.0,
        };
        // `cargo bench` passes `--bench`; anything unknown is refused.
        let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
            };
            let number = |v: String| -> f64 {
                v.parse()
                    .unwrap_or_else(|_| panic!("{flag}: {v:?} is not a number"))
            };
            match flag.as_str() {
                "--minutes" => options.minutes = number(value()),
                "--node" => options.node = true,
                "--workers" => options.workers = number(value()) as usize,
                "--live" => options.live = number(value()).max(1.0) as usize,
                "--every" => options.every = Duration::from_secs_f64(number(value())),
                "--compaction" => options.compaction = value(),
                "--defrag" => options.defrag = value(),
                "--event-ttl" => options.event_ttl = value(),
                "--watch-cache" => {
                    let v = value();
                    options.watch_cache = v
                        .parse()
                        .unwrap_or_else(|_| panic!("--watch-cache: {v:?} is not true or false"))
                }
                "--pods" => {
                    let v = value();
                    options.pods = v
                        .split_once(':')
                        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                        .filter(|(low, high)| low < high)
                        .unwrap_or_else(|| {
                            panic!("--pods: {v:?} is not LOW:HIGH, two replica counts, LOW < HIGH")
                        })
                }
                "--rate" => options.rate = number(value()).max(0.0),
                "--scale-every" => {
                    options.scale_every = Duration::from_secs_f64(number(value()).max(1.0))
                }
                other => panic!(
                    "unknown flag {other:?}: --minutes, --node, --workers, --live, --every, \
                     --compaction, --defrag, --watch-cache, --event-ttl, --pods, --scale-every, --rate"
                ),
            }
        }
        options
    }

    /// The flags `orc server` and `orc up` both take for the store.
    fn server_flags(&self) -> Vec<String> {
        vec![
            format!("--etcd-compaction-interval={}", self.compaction),
            format!("--etcd-defrag-interval={}", self.defrag),
            format!("--watch-cache={}", self.watch_cache),
            format!("--event-ttl={}", self.event_ttl),
        ]
    }
}

/// `orc server` as a child; stopped with SIGTERM (killed if that fails)
/// when dropped.
struct OrcServer {
    child: Child,
    data: PathBuf,
}

impl OrcServer {
    fn start(data: &Path, options: &Options) -> OrcServer {
        let port = orc_testkit::ports::free_port();
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_orc"))
            .arg("server")
            .arg("--data-dir")
            .arg(data)
            .arg(format!("--listen=127.0.0.1:{port}"))
            .args(options.server_flags())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("orc runs");
        OrcServer {
            child,
            data: data.to_path_buf(),
        }
    }
}

impl Drop for OrcServer {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the soak runs against, either shape: where to reach it and which
/// processes to watch.
struct Target {
    /// The admin's kubeconfig.
    kubeconfig: PathBuf,
    /// `orc server`'s data directory (its etcd's socket is inside).
    server_data: PathBuf,
    server_pid: u32,
    /// The node's `orc agent`, with `--node`.
    agent_pid: Option<u32>,
    /// The run's own data directory: any other process naming it is one
    /// of the pods' runtime processes (with `--node`).
    marker: Option<PathBuf>,
}

impl Target {
    fn alone(server: &OrcServer) -> Target {
        Target {
            kubeconfig: server.data.join("kubeconfig"),
            server_data: server.data.clone(),
            server_pid: server.child.id(),
            agent_pid: None,
            marker: None,
        }
    }

    fn node(cluster: &Cluster) -> Target {
        let record = cluster.record();
        let pid = |v: &serde_json::Value| v.as_u64().expect("a pid in up.json") as u32;
        Target {
            kubeconfig: cluster.kubeconfig().to_path_buf(),
            server_data: cluster.dir().join("server"),
            server_pid: pid(&record["server_pid"]),
            agent_pid: Some(pid(&record["agent_pids"][0])),
            marker: Some(cluster.dir().to_path_buf()),
        }
    }

    /// The API, once the kubeconfig is written and the server answers.
    async fn client(&self) -> Client {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(connection) = orc_client::kubeconfig::load(&self.kubeconfig) {
                let client = connection.client();
                let namespaces = orc_client::resources::lookup("", "v1", "namespaces").unwrap();
                if client.get(namespaces, None, "default").await.is_ok() {
                    return client;
                }
            }
            assert!(Instant::now() < deadline, "orc server did not come up");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The pid of the server's etcd (its child named `etcd`).
    fn etcd_pid(&self) -> Option<u32> {
        let parent = self.server_pid.to_string();
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // `pid (comm) state ppid ...`
                let (comm, rest) = stat.split_once(") ")?;
                let ppid = rest.split_whitespace().nth(1)?;
                (comm.ends_with("(etcd") && ppid == parent).then_some(pid)
            })
    }

    /// How many processes other than `known` name the run's data
    /// directory, and their resident set together: the pods' runtime
    /// processes, for each of a pod's containers and its sandbox an `orc
    /// shim` and the `orc-container` that started the container.
    fn runtime(&self, known: &[u32]) -> (u64, u64) {
        let Some(marker) = &self.marker else {
            return (0, 0);
        };
        let marker = marker.to_string_lossy();
        let mut found = (0, 0);
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if known.contains(&pid) || !String::from_utf8_lossy(&cmdline).contains(&*marker) {
                continue;
            }
            found.0 += 1;
            found.1 += rss(pid);
        }
        found
    }
}

/// `VmRSS` of `pid`, in bytes (0 once it is gone).
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Counts one operation's result: failures are counted, not fatal (a
/// soak reports what happened), and the first few printed.
fn count<T>(
    result: Result<T, orc_client::ClientError>,
    who: &str,
    ops: &AtomicU64,
    failures: &AtomicU64,
) {
    match result {
        Ok(_) => {
            ops.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                eprintln!("{who}: {error}");
            }
        }
    }
}

/// Waits for the pacer's next tick; no pacer, no wait. A tick missed
/// (the machine was slower than the rate) is not made up with a burst.
async fn paced(pacer: &mut Option<tokio::time::Interval>) {
    if let Some(pacer) = pacer {
        pacer.tick().await;
    }
}

/// One worker's loop: create, update twice, delete the oldest beyond
/// `live`, until `until`; one operation per `pace` when given.
async fn work(
    client: Client,
    worker: usize,
    live: usize,
    pace: Option<Duration>,
    until: Instant,
    ops: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
) {
    let configmaps = orc_client::resources::lookup("", "v1", "configmaps").unwrap();
    let mut held = std::collections::VecDeque::new();
    let mut next = 0u64;
    let ns = Some("default");
    let who = format!("worker {worker}");
    let mut pacer = pace.map(|period| {
        let mut pacer = tokio::time::interval(period);
        pacer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        pacer
    });
    while Instant::now() < until {
        paced(&mut pacer).await;
        let name = format!("soak-{worker}-{next}");
        next += 1;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"soak": worker.to_string()}},
            "data": {"v": "x".repeat(1024)}});
        count(
            client.create(configmaps, ns, &cm).await,
            &who,
            &ops,
            &failures,
        );
        held.push_back(name);
        let target = &held[(next as usize * 7) % held.len()];
        for round in 0..2 {
            paced(&mut pacer).await;
            let patch = json!({"data": {"v": format!("{round}{}", "y".repeat(1023))}});
            let patched = client
                .merge_patch(configmaps, ns, target, None, &patch)
                .await;
            count(patched, &who, &ops, &failures);
        }
        if held.len() > live {
            paced(&mut pacer).await;
            let oldest = held.pop_front().unwrap();
            count(
                client.delete(configmaps, ns, &oldest).await,
                &who,
                &ops,
                &failures,
            );
        }
    }
}

/// The Deployment whose pods the node starts and stops.
const DEPLOYMENT: &str = "soak-pods";

/// With `--node`: a Deployment of busybox `sleep` pods, scaled between
/// `low` and `high` every `every` until `until`; `started` counts the
/// pods asked for by each scale-up.
async fn churn_pods(
    client: Client,
    (low, high): (u64, u64),
    every: Duration,
    until: Instant,
    started: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
) {
    let deployments = orc_client::resources::lookup("apps", "v1", "deployments").unwrap();
    let ns = Some("default");
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT},
        "spec": {"replicas": low, "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {"metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "main",
                    "image": "busybox", "command": ["sleep", "3600"]}]}}}});
    let ops = AtomicU64::new(0);
    let created = client.create(deployments, ns, &deployment).await;
    if created.is_ok() {
        started.fetch_add(low, Ordering::Relaxed);
    }
    count(created, "pods", &ops, &failures);
    let mut replicas = low;
    while Instant::now() + every < until {
        tokio::time::sleep(every).await;
        replicas = if replicas == low { high } else { low };
        let patch = json!({"spec": {"replicas": replicas}});
        let scaled = client
            .merge_patch(deployments, ns, DEPLOYMENT, None, &patch)
            .await;
        if scaled.is_ok() && replicas == high {
            started.fetch_add(high - low, Ordering::Relaxed);
        }
        count(scaled, "pods", &ops, &failures);
    }
}

/// The Deployment's pods the API holds, and how many of them run.
async fn pods(client: &Client) -> (usize, usize) {
    let resource = orc_client::resources::lookup("", "v1", "pods").unwrap();
    let Ok(list) = client
        .list(resource, Some("default"), &format!("app={DEPLOYMENT}"))
        .await
    else {
        return (0, 0);
    };
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let running = items
        .iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count();
    (items.len(), running)
}

/// One sample of the run: etcd's sizes, each watched process's RSS in
/// the order of the run's `watched`, and with `--node` the pods' runtime
/// processes (how many, their RSS together).
#[derive(Clone)]
struct Sample {
    seconds: f64,
    db: u64,
    in_use: u64,
    rss: Vec<u64>,
    runtime: (u64, u64),
    /// The Events etcd holds (every namespace's).
    events: u64,
}

/// How many Events etcd holds: keys under `/registry/events/`, counted
/// by etcd (none sent back).
async fn events_stored(etcd: &mut etcd_client::Client) -> u64 {
    let options = etcd_client::GetOptions::new()
        .with_prefix()
        .with_count_only();
    etcd.get("/registry/events/", Some(options))
        .await
        .map_or(0, |r| r.count().max(0) as u64)
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

async fn soak(options: Options, target: Target) {
    let client = target.client().await;
    let endpoint = format!(
        "unix://{}",
        target
            .server_data
            .join("etcd-socket")
            .join("etcd:2379")
            .display()
    );
    let mut etcd = orc_apiserver::etcd_socket::connect(&endpoint)
        .await
        .expect("orc server's etcd answers on its socket");
    let etcd_pid = target.etcd_pid().expect("orc server runs an etcd");
    // The processes watched by pid, by name.
    let mut watched = vec![("server", target.server_pid), ("etcd", etcd_pid)];
    watched.extend(target.agent_pid.map(|pid| ("agent", pid)));
    let known: Vec<u32> = watched.iter().map(|(_, pid)| *pid).collect();
    let run = Duration::from_secs_f64(options.minutes * 60.0);
    println!(
        "soak: {:.1} min, {}, {} workers × {} live ConfigMaps of 1 KiB (create, 2 updates, delete), \
         {}; {}",
        options.minutes,
        if options.node {
            "one node (orc up)"
        } else {
            "orc server alone"
        },
        options.workers,
        options.live,
        options.server_flags().join(" "),
        watched
            .iter()
            .map(|(name, pid)| format!("{name} pid {pid}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if options.node {
        println!(
            "pods: Deployment {DEPLOYMENT} of busybox sleep, scaled {} ↔ {} every {:.0} s",
            options.pods.0,
            options.pods.1,
            options.scale_every.as_secs_f64()
        );
    }
    let mut heading = format!(
        "{:>7} {:>9} {:>9} {:>10} {:>10} {:>7}",
        "minute", "ops", "revision", "dbSize MB", "in use MB", "events"
    );
    for (name, _) in &watched {
        heading += &format!(" {:>10}", format!("{name} MB"));
    }
    if options.node {
        heading += &format!(
            " {:>12} {:>12} {:>7}",
            "runtime MB", "pods run/all", "started"
        );
    }
    println!("{heading}");
    let started = Instant::now();
    let until = started + run;
    let (ops, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers: Vec<_> = (0..options.workers)
        .map(|w| {
            tokio::spawn(work(
                client.clone(),
                w,
                options.live,
                // Each worker's share of the rate: one operation per period.
                (options.rate > 0.0)
                    .then(|| Duration::from_secs_f64(options.workers as f64 / options.rate)),
                until,
                ops.clone(),
                failures.clone(),
            ))
        })
        .collect();
    let pods_started = Arc::new(AtomicU64::new(0));
    if options.node {
        workers.push(tokio::spawn(churn_pods(
            client.clone(),
            options.pods,
            options.scale_every,
            until,
            pods_started.clone(),
            failures.clone(),
        )));
    }
    let mut samples = Vec::new();
    let mut next_sample = started;
    loop {
        let now = Instant::now();
        if now >= next_sample {
            let status = etcd.status().await.expect("etcd's status");
            let sample = Sample {
                seconds: started.elapsed().as_secs_f64(),
                db: status.db_size().max(0) as u64,
                in_use: status.raft_used_db_size().max(0) as u64,
                rss: watched.iter().map(|(_, pid)| rss(*pid)).collect(),
                runtime: target.runtime(&known),
                events: events_stored(&mut etcd).await,
            };
            let mut line = format!(
                "{:>7.1} {:>9} {:>9} {:>10.2} {:>10.2} {:>7}",
                sample.seconds / 60.0,
                ops.load(Ordering::Relaxed),
                status.header().map_or(0, |h| h.revision()),
                mb(sample.db),
                mb(sample.in_use),
                sample.events,
            );
            for bytes in &sample.rss {
                line += &format!(" {:>10.1}", mb(*bytes));
            }
            if options.node {
                let (all, running) = pods(&client).await;
                let (processes, bytes) = sample.runtime;
                line += &format!(
                    " {:>12} {:>12} {:>7}",
                    format!("{:.1} ({processes})", mb(bytes)),
                    format!("{running}/{all}"),
                    pods_started.load(Ordering::Relaxed)
                );
            }
            println!("{line}");
            samples.push(sample);
            next_sample += options.every;
        }
        if now >= until && workers.iter().all(|w| w.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = ops.load(Ordering::Relaxed);
    println!(
        "{done} ConfigMap operations in {elapsed:.0} s ({:.0}/s), {} pods asked for, {} failed",
        done as f64 / elapsed,
        pods_started.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    // Warm-up: up to the first compaction (the flag's interval).
    let warmup =
        orc_apiserver::limits::parse_duration(&options.compaction).map_or(0.0, |d| d.as_secs_f64());
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.seconds > warmup).collect();
    if steady.len() < 4 {
        println!(
            "too few samples after the first compaction ({} s) to compare halves: run longer \
             or sample more often (--every)",
            warmup
        );
        return;
    }
    let (first, second) = steady.split_at(steady.len() / 2);
    let compare = |what: &str, pick: &dyn Fn(&Sample) -> u64| {
        let a = median(first.iter().map(|s| pick(s)).collect());
        let b = median(second.iter().map(|s| pick(s)).collect());
        let max = samples.iter().map(pick).max().unwrap_or(0);
        println!(
            "{what:<12} median {:>8.2} MB → {:>8.2} MB ({:+.1} %), highest {:.2} MB",
            mb(a),
            mb(b),
            (b as f64 - a as f64) * 100.0 / a.max(1) as f64,
            mb(max)
        );
    };
    println!("after the warm-up ({warmup:.0} s), first half → second half:");
    compare("dbSize", &|s| s.db);
    compare("dbSizeInUse", &|s| s.in_use);
    for (i, (name, _)) in watched.iter().enumerate() {
        compare(&format!("{name} RSS"), &|s| s.rss[i]);
    }
    if options.node {
        // Their number follows the Deployment's size, so per process.
        compare("runtime/proc", &|s| s.runtime.1 / s.runtime.0.max(1));
    }
    let a = median(first.iter().map(|s| s.events).collect());
    let b = median(second.iter().map(|s| s.events).collect());
    let max = samples.iter().map(|s| s.events).max().unwrap_or(0);
    println!(
        "{:<12} median {a:>8} → {b:>8} ({:+.1} %), highest {max}",
        "events",
        (b as f64 - a as f64) * 100.0 / a.max(1) as f64,
    );
}

fn main() {
    require_root();
    require_command("etcd");
    let options = Options::parse();
    if options.node {
        require_command("nsenter");
        let host = NetnsHost::new();
        let data = tempfile::tempdir().unwrap();
        let cluster = Cluster::up(&host, data.path(), 1, &options.server_flags());
        let target = Target::node(&cluster);
        // The bench's clients in the cluster's namespace, where the API
        // server's address is.
        host.block_on(|| soak(options, target));
    } else {
        let dir = tempfile::tempdir().unwrap();
        let server = OrcServer::start(&dir.path().join("server"), &options);
        let target = Target::alone(&server);
        tokio::runtime::Runtime::new()
            .expect("a tokio runtime")
            .block_on(soak(options, target));
    }
}
