//! The soak: `orc server` under a steady stream of creates, updates and
//! deletes for a long time, with etcd's database size and the processes'
//! resident memory printed as it goes. Flat lines mean compaction (and
//! defragmentation) keep etcd's history bounded and the server leaks
//! nothing; a line that climbs is a leak.
//!
//! ```text
//! sudo cargo bench -p orc --bench soak --profile dev -- --minutes 30
//!     [--workers 4] [--live 50] [--every 60] [--compaction 5m] [--defrag 1h]
//! ```
//!
//! Root, as `orc server` is. The server gets a fresh data directory (a
//! temporary one, removed at the end) and a free loopback port; its own
//! etcd (`orc server` supervises one) keeps its default quota. Each of
//! `--workers` clients cycles through ConfigMaps of 1 KiB: it creates one,
//! updates a live one twice (merge patches, each a new revision), and once
//! it holds `--live` of them deletes its oldest, so the live data stays
//! constant (workers × live objects) while every operation adds history.
//! Every `--every` seconds a line is printed: operations so far, etcd's
//! revision, its file size (`dbSize`, what the quota counts) and the part
//! in use (`dbSizeInUse`), and the resident set (`VmRSS`) of `orc server`
//! and of its etcd. `--compaction` and `--defrag` pass through to `orc
//! server` (`--etcd-compaction-interval`, `--etcd-defrag-interval`); the
//! defaults are the server's, so a 30-minute run sees six compactions.
//! A short proof run wants shorter ones (`--minutes 4 --compaction 30s
//! --defrag 1m`).
//!
//! At the end it compares the second half of the run with the first
//! (after the first compaction interval, the warm-up): the growth of the
//! file, the in-use size and each RSS between their medians, and the
//! highest of each. No pass/fail: the numbers are for a person to read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orc_client::Client;
use orc_client::resources::Resource;
use orc_testkit::{require_command, require_root};
use serde_json::json;

/// The bench's flags.
struct Options {
    minutes: f64,
    workers: usize,
    live: usize,
    every: Duration,
    compaction: String,
    defrag: String,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            minutes: 30.0,
            workers: 4,
            live: 50,
            every: Duration::from_secs(60),
            compaction: "5m".into(),
            defrag: "1h".into(),
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
                "--workers" => options.workers = number(value()) as usize,
                "--live" => options.live = number(value()).max(1.0) as usize,
                "--every" => options.every = Duration::from_secs_f64(number(value())),
                "--compaction" => options.compaction = value(),
                "--defrag" => options.defrag = value(),
                other => panic!(
                    "unknown flag {other:?}: --minutes, --workers, --live, --every, \
                     --compaction, --defrag"
                ),
            }
        }
        options
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
            .args(["--etcd-compaction-interval", &options.compaction])
            .args(["--etcd-defrag-interval", &options.defrag])
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

    /// The API, once `orc server` wrote its kubeconfig and answers.
    async fn client(&self) -> Client {
        let kubeconfig = self.data.join("kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(connection) = orc_client::kubeconfig::load(&kubeconfig) {
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

    /// The pid of its etcd (its child named `etcd`).
    fn etcd_pid(&self) -> Option<u32> {
        let parent = self.child.id().to_string();
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

/// One worker's loop: create, update twice, delete the oldest beyond
/// `live`, until `until`. Failures are counted, not fatal: a soak
/// reports what happened.
async fn work(
    client: Client,
    configmaps: &'static Resource,
    worker: usize,
    live: usize,
    until: Instant,
    ops: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
) {
    let mut held = std::collections::VecDeque::new();
    let mut next = 0u64;
    let ns = Some("default");
    let count = |result: Result<serde_json::Value, orc_client::ClientError>| {
        match result {
            Ok(_) => ops.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("worker {worker}: {error}");
                }
                0
            }
        };
    };
    while Instant::now() < until {
        let name = format!("soak-{worker}-{next}");
        next += 1;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"soak": worker.to_string()}},
            "data": {"v": "x".repeat(1024)}});
        count(client.create(configmaps, ns, &cm).await);
        held.push_back(name);
        let target = &held[(next as usize * 7) % held.len()];
        for round in 0..2 {
            let patch = json!({"data": {"v": format!("{round}{}", "y".repeat(1023))}});
            count(
                client
                    .merge_patch(configmaps, ns, target, None, &patch)
                    .await,
            );
        }
        if held.len() > live {
            let oldest = held.pop_front().unwrap();
            count(client.delete(configmaps, ns, &oldest).await);
        }
    }
}

/// One sample of the run.
#[derive(Clone, Copy)]
struct Sample {
    seconds: f64,
    db: u64,
    in_use: u64,
    server: u64,
    etcd: u64,
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

async fn soak(options: Options) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = OrcServer::start(&data, &options);
    let client = server.client().await;
    let endpoint = format!(
        "unix://{}",
        data.join("etcd-socket").join("etcd:2379").display()
    );
    let mut etcd = orc_apiserver::etcd_socket::connect(&endpoint)
        .await
        .expect("orc server's etcd answers on its socket");
    let etcd_pid = server.etcd_pid().expect("orc server runs an etcd");
    let configmaps = orc_client::resources::lookup("", "v1", "configmaps").unwrap();
    let run = Duration::from_secs_f64(options.minutes * 60.0);
    println!(
        "soak: {:.1} min, {} workers × {} live ConfigMaps of 1 KiB (create, 2 updates, delete), \
         --etcd-compaction-interval {} --etcd-defrag-interval {}; orc server pid {}, etcd pid {etcd_pid}",
        options.minutes,
        options.workers,
        options.live,
        options.compaction,
        options.defrag,
        server.child.id()
    );
    println!(
        "{:>7} {:>9} {:>9} {:>10} {:>10} {:>11} {:>9}",
        "minute", "ops", "revision", "dbSize MB", "in use MB", "server RSS", "etcd RSS"
    );
    let started = Instant::now();
    let until = started + run;
    let (ops, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..options.workers)
        .map(|w| {
            tokio::spawn(work(
                client.clone(),
                configmaps,
                w,
                options.live,
                until,
                ops.clone(),
                failures.clone(),
            ))
        })
        .collect();
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
                server: rss(server.child.id()),
                etcd: rss(etcd_pid),
            };
            println!(
                "{:>7.1} {:>9} {:>9} {:>10.2} {:>10.2} {:>8.1} MB {:>6.1} MB",
                sample.seconds / 60.0,
                ops.load(Ordering::Relaxed),
                status.header().map_or(0, |h| h.revision()),
                mb(sample.db),
                mb(sample.in_use),
                mb(sample.server),
                mb(sample.etcd),
            );
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
        "{done} operations in {elapsed:.0} s ({:.0}/s), {} failed",
        done as f64 / elapsed,
        failures.load(Ordering::Relaxed)
    );
    // Warm-up: up to the first compaction (the flag's interval).
    let warmup =
        orc_apiserver::limits::parse_duration(&options.compaction).map_or(0.0, |d| d.as_secs_f64());
    let steady: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.seconds > warmup)
        .collect();
    if steady.len() < 4 {
        println!(
            "too few samples after the first compaction ({} s) to compare halves: run longer \
             or sample more often (--every)",
            warmup
        );
        return;
    }
    let (first, second) = steady.split_at(steady.len() / 2);
    let compare = |what: &str, pick: fn(&Sample) -> u64| {
        let a = median(first.iter().map(pick).collect());
        let b = median(second.iter().map(pick).collect());
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
    compare("dbSize", |s| s.db);
    compare("dbSizeInUse", |s| s.in_use);
    compare("server RSS", |s| s.server);
    compare("etcd RSS", |s| s.etcd);
}

fn main() {
    require_root();
    require_command("etcd");
    let options = Options::parse();
    tokio::runtime::Runtime::new()
        .expect("a tokio runtime")
        .block_on(soak(options));
}
