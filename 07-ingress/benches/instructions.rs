//! Instructions per request, orc-ingress beside nginx: a figure that a
//! noisy machine does not move, where requests/s (`benches/nginx.rs`) is
//! whatever the other processes leave.
//!
//! ```text
//! sudo cargo bench -p orc-ingress --bench instructions
//! ```
//!
//! Each proxy runs alone under `valgrind --tool=callgrind`, which counts
//! every instruction it executes (`perf stat -e instructions` would be
//! cheaper, but this machine's kernel gives no hardware counters). The
//! same two hyper backends as the nginx bench (`127.0.0.2:8080`,
//! `127.0.0.3:8080`, in a network namespace of the bench's own, outside
//! valgrind) answer; orc's proxy routes any host to both by round robin on
//! `127.0.0.1:80` with one worker thread, nginx the same as the nginx bench
//! configures it (upstream keepalive, HTTP/1.1 upstream, the same
//! `X-Forwarded-*` headers, access log off) on `:8081` as one process
//! (`master_process off`, one worker). A client outside valgrind sends
//! plain HTTP/1.1 GETs one after the other on one keep-alive connection.
//!
//! Start-up, the first connections and shutting down cost the same
//! whatever the number of requests, so each proxy runs twice, with
//! `WARM` requests and with `WARM + N`: the difference over `N` is what
//! one more request costs. `N` is `ORC_BENCH_REQUESTS` (default 2000).
//! `ORC_BENCH_KEEP` names a directory to keep the callgrind files in, for
//! `callgrind_annotate` (BENCH.md says how).

#[path = "shared/mod.rs"]
mod shared;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use orc_ingress::proxy::{Config, Listener, Proxy};
use orc_testkit::NetnsHost;
use shared::BACKENDS;
use tokio::sync::watch;

/// Set in the environment of the copy of this program that is the proxy
/// under valgrind.
const CHILD: &str = "ORC_INSTRUCTIONS_PROXY";
/// Requests of the shorter run, whose cost is subtracted.
const WARM: u64 = 200;
const ORC_PORT: u16 = 80;
const NGINX_PORT: u16 = 8081;

// orc's proxy runs inside this program: with mimalloc, as in `orc agent`
// and the `orc-ingress` binary (src/bin/orc-ingress.rs), not glibc's
// malloc, which no orc program that runs the proxy uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if std::env::var_os(CHILD).is_some() {
        serve_proxy();
        return;
    }
    orc_testkit::require_root();
    orc_testkit::require_command("valgrind");
    orc_testkit::require_command("nginx");
    let requests: u64 = std::env::var("ORC_BENCH_REQUESTS")
        .ok()
        .map(|n| {
            n.parse()
                .expect("ORC_BENCH_REQUESTS is a number of requests")
        })
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("ORC_BENCH_KEEP").map(PathBuf::from);
    let out = keep.as_deref().unwrap_or(dir.path());
    std::fs::create_dir_all(out).unwrap();
    let host = NetnsHost::new();
    host.enter(|| {
        let backends = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        backends.block_on(async {
            for address in BACKENDS {
                tokio::spawn(shared::backend(address.parse().unwrap()));
            }
        });
        let peers = [
            ("orc-ingress", Peer::Orc),
            ("nginx", Peer::Nginx(dir.path())),
        ];
        let mut per_request = Vec::new();
        for (name, peer) in &peers {
            let few = peer.count(
                &host,
                &backends,
                WARM,
                &out.join(format!("{name}.warm.out")),
            );
            let file = out.join(format!("{name}.out"));
            let many = peer.count(&host, &backends, WARM + requests, &file);
            per_request.push((many - few) as f64 / requests as f64);
        }
        println!(
            "\ninstructions per request (callgrind Ir; plain HTTP/1.1, one keep-alive connection, \
             ({WARM} + {requests}) - {WARM} requests, two backends, round robin)"
        );
        for ((name, _), ir) in peers.iter().zip(&per_request) {
            println!("{name:<14}{ir:>12.0}");
        }
        println!(
            "{:<14}{:>12.2}",
            "orc/nginx",
            per_request[0] / per_request[1]
        );
        if keep.is_some() {
            println!("callgrind files in {}", out.display());
        }
        drop(backends);
    });
}

/// A proxy to count.
enum Peer<'a> {
    Orc,
    /// nginx, its configuration and files in this directory.
    Nginx(&'a Path),
}

impl Peer<'_> {
    /// Instructions the proxy executed, start to exit, to answer
    /// `requests` requests.
    fn count(
        &self,
        host: &NetnsHost,
        runtime: &tokio::runtime::Runtime,
        requests: u64,
        file: &Path,
    ) -> u64 {
        let mut valgrind = host.command("valgrind");
        valgrind
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", file.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (mut child, port) = match self {
            Peer::Orc => {
                let exe = std::env::current_exe().unwrap();
                valgrind.arg(exe).env(CHILD, "1").stdin(Stdio::piped());
                (valgrind.spawn().expect("valgrind starts"), ORC_PORT)
            }
            Peer::Nginx(dir) => {
                let conf = nginx_conf(dir);
                valgrind.args(["nginx", "-p"]).arg(dir).arg("-c").arg(conf);
                (valgrind.spawn().expect("valgrind starts"), NGINX_PORT)
            }
        };
        runtime.block_on(get_many(port, requests));
        self.stop(&mut child);
        let status = child.wait().unwrap();
        assert!(status.success(), "{} under valgrind: {status}", self.name());
        total_instructions(file)
    }

    fn name(&self) -> &'static str {
        match self {
            Peer::Orc => "orc-ingress",
            Peer::Nginx(_) => "nginx",
        }
    }

    /// Ends the proxy the way it exits cleanly, so that callgrind writes
    /// its counts: orc's copy when its standard input closes, nginx on
    /// SIGQUIT (its graceful shutdown).
    fn stop(&self, child: &mut Child) {
        match self {
            Peer::Orc => drop(child.stdin.take()),
            Peer::Nginx(_) => {
                // `ip netns exec` execs valgrind in place: the child is it.
                let status = Command::new("kill")
                    .args(["-QUIT", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(status.success(), "kill -QUIT nginx");
            }
        }
    }
}

/// nginx's configuration: the nginx bench's reverse proxy, plain HTTP
/// only, as one process. `keepalive_requests` lifts nginx's default of
/// 1000 requests per client connection, after which it closes the one
/// connection this bench sends every request on.
fn nginx_conf(dir: &Path) -> PathBuf {
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000;\n{upstream}\
         server {{\n    listen 127.0.0.1:{NGINX_PORT};\n    {location}\n  }}\n}}\n",
        dir = dir.display(),
        upstream = shared::nginx_upstream(),
        location = shared::NGINX_LOCATION,
    );
    let file = dir.join("nginx-one-process.conf");
    std::fs::write(&file, conf).unwrap();
    file
}

/// `requests` GETs one after the other on one keep-alive connection to
/// `127.0.0.1:port`, each answered 200; waits (at most a minute) for the
/// proxy, slow to start under valgrind, to accept.
async fn get_many(port: u16, requests: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let stream = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => break stream,
            // valgrind takes seconds to start the proxy, which opens its
            // port only then: try again a little later.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("nothing accepts on port {port} after a minute: {e}"),
        }
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    for _ in 0..requests {
        sender.ready().await.unwrap();
        let request = Request::get("/")
            .header("host", "bench.test")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
    }
    drop(sender);
    let _ = connection.await;
}

/// The `summary:` line of a callgrind file: every instruction executed.
fn total_instructions(file: &Path) -> u64 {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("reading callgrind's {}: {e}", file.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("summary:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary line in {}", file.display()))
}

/// The copy of this program that valgrind runs: orc's proxy alone, one
/// worker, until its standard input closes.
fn serve_proxy() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = Config {
            workers: 1,
            ..Config::default()
        };
        let (_tables, table) = watch::channel(Arc::new(shared::table()));
        let proxy = Proxy::new(config, table);
        let address = format!("127.0.0.1:{ORC_PORT}").parse().unwrap();
        let listener = Listener::bind(address, 1).await.unwrap();
        let _ = proxy.serve(listener, None).await;
    });
}
