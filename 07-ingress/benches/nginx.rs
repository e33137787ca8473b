//! orc-ingress beside nginx, as the same reverse proxy, in one run.
//!
//! ```text
//! sudo cargo bench -p orc-ingress --bench nginx
//! ```
//!
//! Everything runs in a network namespace of its own: two hyper backends
//! (`127.0.0.2:8080`, `127.0.0.3:8080`, a two-byte answer), orc's proxy on
//! `127.0.0.1:80` routing host `bench.test` to both by round robin, and
//! Debian's nginx on `:8081` configured as the equivalent (an upstream of
//! the same two, `keepalive 64`, HTTP/1.1 upstream, `X-Forwarded-For`,
//! access log off). wrk drives each with keep-alive, 64 connections, two
//! threads, and once straight at a backend for the latency a proxy adds.
//! CPU per request counts only the proxy's own threads (orc's runtime
//! threads are named `orc-ingress`; nginx's are its worker processes).
//! Not measured: TLS, HAProxy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;

use http_body_util::Full;
use hyper::Response;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use orc_ingress::balance::Algorithm;
use orc_ingress::proxy::{Config, Proxy};
use orc_ingress::routes::{Backend, Endpoint, HostMatch, PathType, RouteTable, Rule};
use orc_testkit::NetnsHost;
use tokio::sync::watch;

const BACKENDS: [&str; 2] = ["127.0.0.2:8080", "127.0.0.3:8080"];
const DURATION: &str = "5s";

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: f64,
}

fn main() {
    orc_testkit::require_root();
    orc_testkit::require_command("wrk");
    orc_testkit::require_command("nginx");
    let host = NetnsHost::new();
    let dir = tempfile::tempdir().unwrap();
    host.enter(|| {
        let backends = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("backend")
            .enable_all()
            .build()
            .unwrap();
        backends.block_on(async {
            for address in BACKENDS {
                tokio::spawn(backend(address.parse().unwrap()));
            }
        });
        let proxy = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("orc-ingress")
            .enable_all()
            .build()
            .unwrap();
        proxy.block_on(async {
            let (_tx, rx) = watch::channel(table());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:80").await.unwrap();
            tokio::spawn(Proxy::new(Config::default(), rx).serve(listener, None));
            std::mem::forget(_tx);
        });
        let nginx = Nginx::start(&host, dir.path());
        let direct = wrk(&host, &format!("http://{}/", BACKENDS[0]));
        let (orc, orc_cpu) = measured(|| wrk(&host, "http://127.0.0.1/"), orc_cpu_seconds);
        let nginx_pids = nginx.workers();
        let (peer, peer_cpu) = measured(
            || wrk(&host, "http://127.0.0.1:8081/"),
            || pids_cpu_seconds(&nginx_pids),
        );
        report(direct, orc, orc_cpu, peer, peer_cpu);
        drop(nginx);
        drop(proxy);
        drop(backends);
    });
}

fn report(direct: Run, orc: Run, orc_cpu: f64, nginx: Run, nginx_cpu: f64) {
    let cpu = |run: Run, seconds: f64| seconds * 1e6 / run.requests;
    println!("keep-alive, 64 connections, {DURATION}, two backends, round robin\n");
    println!(
        "{:<26}{:>14}{:>14}{:>10}",
        "", "orc-ingress", "nginx", "ratio"
    );
    let row = |name: &str, a: f64, b: f64| println!("{name:<26}{a:>14.1}{b:>14.1}{:>10.2}", a / b);
    row(
        "requests/s",
        orc.requests_per_second,
        nginx.requests_per_second,
    );
    row("p99 latency (ms)", orc.p99_ms, nginx.p99_ms);
    row(
        "CPU per request (µs)",
        cpu(orc, orc_cpu),
        cpu(nginx, nginx_cpu),
    );
    println!(
        "\nstraight to a backend: {:.0} requests/s, p50 {:.3} ms; added p50: orc-ingress {:.3} ms, nginx {:.3} ms",
        direct.requests_per_second,
        direct.p50_ms,
        orc.p50_ms - direct.p50_ms,
        nginx.p50_ms - direct.p50_ms
    );
}

/// Runs `f`, and answers its result and how much `cpu` grew meanwhile.
fn measured(f: impl FnOnce() -> Run, cpu: impl Fn() -> f64) -> (Run, f64) {
    let before = cpu();
    let run = f();
    (run, cpu() - before)
}

fn table() -> Arc<RouteTable> {
    let endpoints = BACKENDS
        .iter()
        .map(|a| Endpoint {
            address: a.parse().unwrap(),
            weight: 1,
        })
        .collect();
    let backend = Backend {
        service: "default/bench".into(),
        port: "80".into(),
        algorithm: Algorithm::RoundRobin,
        endpoints,
    };
    let rule = Rule {
        host: HostMatch::parse("bench.test"),
        path: "/".into(),
        path_type: PathType::Prefix,
        backend: Arc::new(backend),
    };
    Arc::new(RouteTable {
        rules: vec![rule],
        ..RouteTable::default()
    })
}

async fn backend(address: SocketAddr) {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// wrk against `url` with host `bench.test`, parsed.
fn wrk(host: &NetnsHost, url: &str) -> Run {
    let args = [
        "-t2",
        "-c64",
        "-d",
        DURATION,
        "--latency",
        "-H",
        "Host: bench.test",
        url,
    ];
    let out = host.run("wrk", &args);
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
        !out.contains("Non-2xx"),
        "wrk saw errors against {url}:\n{out}"
    );
    Run {
        requests_per_second: number_after("Requests/sec:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(f64::NAN),
        p50_ms: number_after("50%").map_or(f64::NAN, ms),
        p99_ms: number_after("99%").map_or(f64::NAN, ms),
        requests: requests.and_then(|n| n.parse().ok()).unwrap_or(f64::NAN),
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
    fn start(host: &NetnsHost, dir: &Path) -> Nginx {
        let upstreams: String = BACKENDS
            .iter()
            .map(|b| format!("    server {b};\n"))
            .collect();
        let conf = format!(
            "worker_processes 2;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  upstream backends {{\n{upstreams}    keepalive 64;\n  }}\n\
             server {{\n    listen 127.0.0.1:8081;\n    server_name bench.test;\n\
             location / {{\n      proxy_pass http://backends;\n      proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n",
            dir = dir.display()
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let mut command: Command = host.command("nginx");
        command.args([
            "-p",
            &dir.display().to_string(),
            "-c",
            &file.display().to_string(),
            "-g",
            "daemon off;",
        ]);
        let child = command.spawn().expect("nginx starts");
        let nginx = Nginx { child };
        // Ready when it answers: wrk's first run would otherwise count refusals.
        for _ in 0..500 {
            if host
                .command("wrk")
                .args(["-t1", "-c1", "-d1s", "http://127.0.0.1:8081/"])
                .output()
                .is_ok_and(|o| {
                    String::from_utf8_lossy(&o.stdout).contains("Requests/sec")
                        && !String::from_utf8_lossy(&o.stdout).contains("Socket errors")
                })
            {
                return nginx;
            }
        }
        panic!("nginx did not answer; see {}/error.log", dir.display());
    }

    /// The worker processes' pids (children of the master).
    fn workers(&self) -> Vec<u32> {
        let children = format!("/proc/{0}/task/{0}/children", self.master());
        let text = std::fs::read_to_string(children).unwrap_or_default();
        text.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// `ip netns exec` execs nginx in place, so the child is the master.
    fn master(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
