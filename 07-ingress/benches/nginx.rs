//! orc-ingress beside nginx and HAProxy, as the same reverse proxy, in one run.
//!
//! ```text
//! sudo cargo bench -p orc-ingress --bench nginx
//! ```
//!
//! Everything runs in a network namespace of its own: two hyper backends
//! (`127.0.0.2:8080`, `127.0.0.3:8080`, a two-byte answer); orc's proxy on
//! `127.0.0.1:80` and `:443`, routing any host to both by round robin;
//! Debian's nginx on `:8081` and `:8443`, configured as the equivalent (an
//! upstream of the same two, `keepalive 64`, HTTP/1.1 upstream, the same
//! four `X-Forwarded-*` headers orc adds, access log off); and Debian's
//! HAProxy, when it is installed, on `:8082` and `:9443` (`balance
//! roundrobin`, `http-reuse always`, `option forwardfor` and the other
//! three headers). `benches/instructions.rs` counts instructions per
//! request of the same set-up, which a noisy machine does not move. Each proxy runs one thread or worker process per CPU (orc's
//! default, nginx's `worker_processes auto`, HAProxy's default `nbthread`).
//! Access logs are off for all three: nginx's `access_log off`, and orc's
//! `orc_ingress::access` events go nowhere because the bench installs no
//! tracing subscriber. TLS terminates at each proxy, with one openssl
//! certificate (P-256) for `secure.test`, which `/etc/netns/<ns>/hosts`
//! points at `127.0.0.1` for wrk's SNI; the backends stay plain HTTP.
//!
//! wrk drives each with keep-alive, 64 connections, two threads, for
//! `ORC_BENCH_SECONDS` (default 5) per run; the proxies take turns, three
//! rounds, and each figure is the median run's. One more run goes straight
//! at a backend, for the latency a proxy adds. CPU per request counts only
//! the proxy's own threads (orc's runtime threads are named `orc-ingress`;
//! nginx's are its worker processes; HAProxy's its one process). The load
//! average is printed before and after: on a shared machine it says how
//! far to trust the run.

#[path = "shared/mod.rs"]
mod shared;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;

use base64::Engine;
use orc_ingress::proxy::{Config, Listener, Proxy};
use orc_ingress::routes::{Certificates, RouteTable, tls};
use orc_testkit::NetnsHost;
use serde_json::json;
use shared::BACKENDS;
use tokio::sync::watch;

/// The host the TLS runs ask for; plain runs ask for `bench.test`, which
/// has no certificate (a host with one is redirected to HTTPS).
const TLS_HOST: &str = "secure.test";
const ROUNDS: usize = 3;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: f64,
    /// CPU seconds the proxy used during the run.
    cpu: f64,
}

impl Run {
    fn cpu_per_request_us(&self) -> f64 {
        self.cpu * 1e6 / self.requests
    }
}

/// One proxy under test: its name, its plain and TLS URLs, and how to read
/// its CPU time.
struct Peer {
    name: &'static str,
    plain: String,
    tls: String,
    cpu: Box<dyn Fn() -> f64>,
}

// orc's proxy runs inside this program: with mimalloc, as in `orc agent`
// and the `orc-ingress` binary (src/bin/orc-ingress.rs), not glibc's
// malloc, which no orc program that runs the proxy uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    orc_testkit::require_root();
    orc_testkit::require_command("wrk");
    orc_testkit::require_command("nginx");
    orc_testkit::require_command("openssl");
    let seconds = std::env::var("ORC_BENCH_SECONDS").unwrap_or_else(|_| "5".into());
    let host = NetnsHost::new();
    let dir = tempfile::tempdir().unwrap();
    let hosts = EtcHosts::new(&host);
    let (crt, key) = certificate(dir.path());
    println!("load average before: {}", load_average());
    host.enter(|| {
        let backends = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("backend")
            .enable_all()
            .build()
            .unwrap();
        backends.block_on(async {
            for address in BACKENDS {
                tokio::spawn(shared::backend(address.parse().unwrap()));
            }
        });
        // orc's proxy makes its own worker threads (one per CPU, each with
        // its own runtime, named `orc-ingress-N`); this runtime only binds
        // the sockets and polls the serving futures, which start them.
        let proxy = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("serving")
            .enable_all()
            .build()
            .unwrap();
        let workers = Config::default().workers;
        proxy.block_on(async {
            let (tx, rx) = watch::channel(table(&crt, &key));
            let proxy = Proxy::new(Config::default(), rx);
            let listen = |addr: &str| Listener::bind(addr.parse().unwrap(), workers);
            let plain = listen("127.0.0.1:80").await.unwrap();
            let secure = listen("127.0.0.1:443").await.unwrap();
            let acceptor = proxy.tls_acceptor().unwrap();
            tokio::spawn(proxy.clone().serve(plain, None));
            tokio::spawn(proxy.serve(secure, Some(acceptor)));
            std::mem::forget(tx);
        });
        let nginx = Nginx::start(&host, dir.path(), &crt, &key);
        let haproxy = Haproxy::start(&host, dir.path(), &crt, &key);
        let mut peers = vec![
            Peer {
                name: "orc-ingress",
                plain: "http://bench.test:80/".into(),
                tls: format!("https://{TLS_HOST}:443/"),
                cpu: Box::new(orc_cpu_seconds),
            },
            Peer {
                name: "nginx",
                plain: "http://bench.test:8081/".into(),
                tls: format!("https://{TLS_HOST}:8443/"),
                cpu: {
                    let pids = nginx.workers();
                    Box::new(move || pids_cpu_seconds(&pids))
                },
            },
        ];
        if let Some(h) = &haproxy {
            let pid = h.child.id();
            peers.push(Peer {
                name: "haproxy",
                plain: "http://bench.test:8082/".into(),
                tls: format!("https://{TLS_HOST}:9443/"),
                cpu: Box::new(move || pids_cpu_seconds(&[pid])),
            });
        }
        for peer in &peers {
            wait_ready(&host, &peer.plain);
            wait_ready(&host, &peer.tls);
        }
        let direct = wrk(&host, &seconds, &format!("http://{}/", BACKENDS[0]), &|| 0.0);
        let mut plain: Vec<Vec<Run>> = vec![Vec::new(); peers.len()];
        let mut secure: Vec<Vec<Run>> = vec![Vec::new(); peers.len()];
        for _ in 0..ROUNDS {
            for (i, peer) in peers.iter().enumerate() {
                plain[i].push(wrk(&host, &seconds, &peer.plain, &peer.cpu));
                secure[i].push(wrk(&host, &seconds, &peer.tls, &peer.cpu));
            }
        }
        let names: Vec<&str> = peers.iter().map(|p| p.name).collect();
        println!(
            "\nkeep-alive, 64 connections, 2 wrk threads, {seconds} s per run, median of {ROUNDS} rounds; \
             two backends, round robin; every proxy on {workers} threads or workers (one per CPU); \
             access logs off for all"
        );
        if haproxy.is_none() {
            println!("(HAProxy is not installed: `apt-get install haproxy` adds its column)");
        }
        report("plain HTTP", &names, &median(plain), Some(direct));
        report("TLS (terminated at the proxy)", &names, &median(secure), None);
        drop(nginx);
        drop(haproxy);
        drop(proxy);
        drop(backends);
    });
    println!("\nload average after: {}", load_average());
    drop(hosts);
}

/// The run with the median requests/s of each peer's rounds.
fn median(runs: Vec<Vec<Run>>) -> Vec<Run> {
    runs.into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
            r[r.len() / 2]
        })
        .collect()
}

fn report(title: &str, names: &[&str], runs: &[Run], direct: Option<Run>) {
    println!("\n{title}");
    print!("{:<24}", "");
    for name in names {
        print!("{name:>13}");
    }
    for name in &names[1..] {
        print!("{:>13}", format!("orc/{name}"));
    }
    println!();
    let row = |label: &str, value: &dyn Fn(&Run) -> f64, digits: usize| {
        print!("{label:<24}");
        for run in runs {
            print!("{:>13.digits$}", value(run));
        }
        for run in &runs[1..] {
            print!("{:>13.2}", value(&runs[0]) / value(run));
        }
        println!();
    };
    row("requests/s", &|r| r.requests_per_second, 0);
    row("p50 latency (ms)", &|r| r.p50_ms, 3);
    row("p99 latency (ms)", &|r| r.p99_ms, 3);
    row("CPU per request (µs)", &|r| r.cpu_per_request_us(), 1);
    if let Some(direct) = direct {
        print!("{:<24}", "added p50 (ms)");
        for run in runs {
            print!("{:>13.3}", run.p50_ms - direct.p50_ms);
        }
        println!(
            "\n(straight to one backend: {:.0} requests/s, p50 {:.3} ms, p99 {:.3} ms)",
            direct.requests_per_second, direct.p50_ms, direct.p99_ms
        );
    }
}

/// `/proc/loadavg`'s first three fields.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A self-signed P-256 certificate for `secure.test`: (crt, key) paths.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={TLS_HOST}")])
        .args(["-addext", &format!("subjectAltName=DNS:{TLS_HOST}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (crt, key)
}

/// `/etc/netns/<ns>/hosts`, which `ip netns exec` mounts over `/etc/hosts`
/// for the commands it runs: the test hosts at `127.0.0.1`, so wrk sends
/// them as SNI. Removed on drop.
struct EtcHosts(PathBuf);

impl EtcHosts {
    fn new(host: &NetnsHost) -> EtcHosts {
        let dir = Path::new("/etc/netns").join(host.name());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hosts"),
            format!("127.0.0.1 localhost bench.test {TLS_HOST}\n"),
        )
        .unwrap();
        EtcHosts(dir)
    }
}

impl Drop for EtcHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shared table, with a certificate for `secure.test`.
fn table(crt: &Path, key: &Path) -> Arc<RouteTable> {
    let b64 =
        |p: &Path| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    let secret = json!({"type": "kubernetes.io/tls", "metadata": {"name": "bench"},
        "data": {"tls.crt": b64(crt), "tls.key": b64(key)}});
    let mut certificates = Certificates::default();
    certificates.insert(TLS_HOST, tls::certified_key(&secret).unwrap());
    Arc::new(RouteTable {
        certificates,
        ..shared::table()
    })
}

/// Waits until `url` answers 200 (a proxy that is still starting would
/// otherwise count refusals in its first run).
fn wait_ready(host: &NetnsHost, url: &str) {
    for _ in 0..200 {
        let ok = host
            .command("wrk")
            .args(["-t1", "-c1", "-d1s", url])
            .output()
            .is_ok_and(|o| {
                let out = String::from_utf8_lossy(&o.stdout);
                out.contains("Requests/sec") && !out.contains("errors") && !out.contains("Non-2xx")
            });
        if ok {
            return;
        }
    }
    panic!("{url} did not answer 200");
}

/// wrk against `url`, parsed, with the CPU `cpu` counted meanwhile.
fn wrk(host: &NetnsHost, seconds: &str, url: &str, cpu: &dyn Fn() -> f64) -> Run {
    let duration = format!("{seconds}s");
    let args = ["-t2", "-c64", "-d", &duration, "--latency", url];
    let before = cpu();
    let out = host.run("wrk", &args);
    let cpu = cpu() - before;
    let number_after = |label: &str| -> Option<&str> {
        out.lines()
            .find(|l| l.trim_start().starts_with(label))?
            .split_whitespace()
            .nth(1)
    };
    let ms = |text: &str| -> f64 {
        let (number, unit) =
            text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
        let n: f64 = number.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "s" => n * 1000.0,
            _ => n,
        }
    };
    let requests = out
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next());
    assert!(
        !out.contains("Non-2xx") && !out.contains("Socket errors"),
        "wrk saw errors against {url}:\n{out}"
    );
    Run {
        requests_per_second: number_after("Requests/sec:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(f64::NAN),
        p50_ms: number_after("50%").map_or(f64::NAN, ms),
        p99_ms: number_after("99%").map_or(f64::NAN, ms),
        requests: requests.and_then(|n| n.parse().ok()).unwrap_or(f64::NAN),
        cpu,
    }
}

/// user + system CPU seconds of `/proc/<path>/stat`.
fn stat_cpu_seconds(path: &Path) -> (String, f64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (comm, rest) = match (text.find('('), text.rfind(')')) {
        (Some(a), Some(b)) => (text[a + 1..b].to_string(), &text[b + 1..]),
        _ => return (String::new(), 0.0),
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|t| t.parse::<f64>().ok()).sum()
    });
    (comm, ticks / 100.0) // USER_HZ is 100 on Linux.
}

/// CPU of this process's `orc-ingress` runtime threads.
fn orc_cpu_seconds() -> f64 {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    tasks
        .filter_map(Result::ok)
        .map(|t| stat_cpu_seconds(&t.path().join("stat")))
        .filter(|(comm, _)| comm.starts_with("orc-ingress"))
        .map(|(_, s)| s)
        .sum()
}

fn pids_cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|p| stat_cpu_seconds(&Path::new("/proc").join(p.to_string()).join("stat")).1)
        .sum()
}

/// nginx as the same reverse proxy, in the namespace, stopped on drop.
struct Nginx {
    child: Child,
}

impl Nginx {
    fn start(host: &NetnsHost, dir: &Path, crt: &Path, key: &Path) -> Nginx {
        let (upstream, location) = (shared::nginx_upstream(), shared::NGINX_LOCATION);
        let conf = format!(
            "worker_processes auto;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n{upstream}\
             server {{\n    listen 127.0.0.1:8081;\n    {location}\n  }}\n\
             server {{\n    listen 127.0.0.1:8443 ssl;\n    ssl_certificate {crt};\n\
             ssl_certificate_key {key};\n    ssl_protocols TLSv1.2 TLSv1.3;\n    {location}\n  }}\n}}\n",
            dir = dir.display(),
            crt = crt.display(),
            key = key.display(),
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let mut command: Command = host.command("nginx");
        command.arg("-p").arg(dir).arg("-c").arg(&file);
        command.args(["-g", "daemon off;"]);
        let child = command.spawn().expect("nginx starts");
        Nginx { child }
    }

    /// The worker processes' pids (children of the master; `ip netns
    /// exec` execs nginx in place, so the child is the master).
    fn workers(&self) -> Vec<u32> {
        let children = format!("/proc/{0}/task/{0}/children", self.child.id());
        let text = std::fs::read_to_string(children).unwrap_or_default();
        text.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Nginx {
    /// A fast shutdown (SIGTERM): the master stops its workers, waits for
    /// them, then exits. SIGKILL would end the master alone and leave its
    /// workers running, adopted by init, long after the bench.
    fn drop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// HAProxy as the same reverse proxy, when it is installed; stopped on drop.
struct Haproxy {
    child: Child,
}

impl Haproxy {
    fn start(host: &NetnsHost, dir: &Path, crt: &Path, key: &Path) -> Option<Haproxy> {
        if Command::new("haproxy").arg("-v").output().is_err() {
            return None;
        }
        // HAProxy wants the certificate and its key in one file.
        let pem = dir.join("haproxy.pem");
        let both = [std::fs::read(crt).unwrap(), std::fs::read(key).unwrap()].concat();
        std::fs::write(&pem, both).unwrap();
        let servers: String = BACKENDS
            .iter()
            .enumerate()
            .map(|(i, b)| format!("  server b{i} {b}\n"))
            .collect();
        let conf = format!(
            "global\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             option forwardfor\n\
             frontend web\n  bind 127.0.0.1:8082\n  bind 127.0.0.1:9443 ssl crt {pem}\n\
             http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]\n\
             http-request set-header X-Forwarded-Host %[req.hdr(host)]\n\
             http-request set-header X-Forwarded-Port %[dst_port]\n\
             default_backend backends\n\
             backend backends\n  balance roundrobin\n  http-reuse always\n{servers}",
            pem = pem.display()
        );
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, conf).unwrap();
        let mut command = host.command("haproxy");
        command.arg("-db").arg("-f").arg(&file);
        let child = command.spawn().expect("haproxy starts");
        Some(Haproxy { child })
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
