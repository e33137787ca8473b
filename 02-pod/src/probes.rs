//! Liveness and readiness probes.
//!
//! The kubelet runs one worker per probe of each running container: wait
//! `initialDelaySeconds`, then every `periodSeconds` run the check (exec a
//! command in the container, `GET` a URL on the pod IP, or open a TCP
//! connection), and flip the result only after `failureThreshold`
//! consecutive failures (or `successThreshold` successes). A failed
//! liveness probe gets the container killed and restarted by its restart
//! policy; readiness decides the container's `ready` flag, and so the pod's
//! `Ready` condition (which is what takes a pod out of a Service).
//!
//! [`Prober::sync`] is level-triggered like the rest of the agent: given the
//! probes that should run, it starts the missing workers and stops the rest.
//! HTTP and TCP probes connect from the node's network namespace, where
//! the pod IP is routed, from a thread that entered it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pod_spec::{Container, Probe};
use crate::runtime::RuntimeClient;

/// Liveness or readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Liveness,
    Readiness,
}

/// One probe of one run of one container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeKey {
    pub pod_uid: String,
    pub container: String,
    /// The runtime id of the run: a restarted container gets fresh probes.
    pub container_id: String,
    pub kind: ProbeKind,
}

/// What a probe worker needs.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub probe: Probe,
    /// The httpGet or tcpSocket port as a number, resolved from the
    /// container's named `ports` ([`Container::resolve_port`]); the error
    /// when the name is not there, which fails every check, as in the kubelet.
    pub port: Result<u16, String>,
    pub pod_ip: Option<Ipv4Addr>,
    pub node_netns: PathBuf,
}

/// Consecutive results, and the verdict they add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCounter {
    pub successes: u32,
    pub failures: u32,
    /// The current verdict: healthy (liveness) or ready (readiness).
    pub passing: bool,
}

impl ProbeCounter {
    /// A liveness probe starts passing (the container is presumed alive);
    /// a readiness probe starts failing (not ready until proven).
    pub fn new(kind: ProbeKind) -> ProbeCounter {
        ProbeCounter {
            successes: 0,
            failures: 0,
            passing: kind == ProbeKind::Liveness,
        }
    }
}

// ANCHOR: record_result
/// Adds one probe result: the verdict changes only after
/// `failure_threshold` failures in a row, or `success_threshold` successes
/// in a row, so one slow response does not restart a container.
pub fn record_result(counter: &mut ProbeCounter, success: bool, probe: &Probe) {
    if success {
        counter.successes += 1;
        counter.failures = 0;
        if counter.successes >= probe.success_threshold.max(1) {
            counter.passing = true;
        }
    } else {
        counter.failures += 1;
        counter.successes = 0;
        if counter.failures >= probe.failure_threshold.max(1) {
            counter.passing = false;
        }
    }
}
// ANCHOR_END: record_result

/// The probe workers and their latest verdicts.
#[derive(Default)]
pub struct Prober {
    /// A std `Mutex`: each lock is a map lookup or insert, never held
    /// across an `.await`.
    results: Arc<Mutex<HashMap<ProbeKey, ProbeCounter>>>,
    workers: Mutex<HashMap<ProbeKey, tokio::task::JoinHandle<()>>>,
}

impl Prober {
    /// The verdict for `key`; `None` while no worker has been started.
    pub fn passing(&self, key: &ProbeKey) -> Option<bool> {
        let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.get(key).map(|c| c.passing)
    }

    /// Makes the running workers exactly `wanted`.
    pub fn sync(&self, runtime: &RuntimeClient, wanted: Vec<(ProbeKey, ProbeTarget)>) {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let keep: std::collections::HashSet<&ProbeKey> = wanted.iter().map(|(k, _)| k).collect();
        workers.retain(|key, worker| {
            let kept = keep.contains(key);
            if !kept {
                worker.abort();
                self.results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(key);
            }
            kept
        });
        for (key, target) in wanted {
            if workers.contains_key(&key) {
                continue;
            }
            self.results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone(), ProbeCounter::new(key.kind));
            let worker = tokio::spawn(probe_worker(
                key.clone(),
                target,
                runtime.clone(),
                Arc::clone(&self.results),
            ));
            workers.insert(key, worker);
        }
    }
}

async fn probe_worker(
    key: ProbeKey,
    target: ProbeTarget,
    runtime: RuntimeClient,
    results: Arc<Mutex<HashMap<ProbeKey, ProbeCounter>>>,
) {
    let probe = &target.probe;
    tokio::time::sleep(Duration::from_secs(probe.initial_delay_seconds)).await;
    let mut tick = tokio::time::interval(Duration::from_secs(probe.period_seconds.max(1)));
    loop {
        tick.tick().await;
        let success = run_probe(&key, &target, &runtime).await;
        let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
        let Some(counter) = results.get_mut(&key) else {
            return;
        };
        let before = counter.passing;
        record_result(counter, success, probe);
        if before != counter.passing {
            tracing::info!(pod = %key.pod_uid, container = %key.container, kind = ?key.kind,
                passing = counter.passing, "probe verdict changed");
        }
    }
}

/// Runs one check; `true` is success.
pub async fn run_probe(key: &ProbeKey, target: &ProbeTarget, runtime: &RuntimeClient) -> bool {
    let probe = &target.probe;
    let timeout = Duration::from_secs(probe.timeout_seconds.max(1));
    if let Some(exec) = &probe.exec {
        return matches!(
            runtime
                .exec(&key.container_id, &exec.command, timeout)
                .await,
            Ok(Some(0))
        );
    }
    let Some(ip) = target.pod_ip else {
        return false;
    };
    let http_path = probe.http_get.as_ref().map(|http| http.path.clone());
    let port = match &target.port {
        Ok(port) => *port,
        Err(e) => {
            tracing::warn!(pod = %key.pod_uid, container = %key.container, "probe failed: {e}");
            return false;
        }
    };
    let netns = target.node_netns.clone();
    let check = move || -> bool {
        // The socket is created in the node's namespace (this thread's),
        // where the pod IP is reachable through the bridge.
        crate::netns::run_in(&netns, || {
            let addr = SocketAddr::from((ip, port));
            let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
                return false;
            };
            let Some(path) = http_path else {
                return true;
            };
            let _ = stream.set_read_timeout(Some(timeout));
            let request = format!(
                "GET {path} HTTP/1.0\r\nHost: {ip}:{port}\r\nUser-Agent: orc-probe\r\n\r\n"
            );
            if stream.write_all(request.as_bytes()).is_err() {
                return false;
            }
            let mut head = [0u8; 16];
            let n = stream.read(&mut head).unwrap_or(0);
            http_status_ok(&head[..n])
        })
        .unwrap_or(false)
    };
    tokio::task::spawn_blocking(check).await.unwrap_or(false)
}

/// The port `probe`'s httpGet or tcpSocket handler names, as a number
/// (`0` for an exec probe, which has none).
pub fn probe_port(probe: &Probe, container: &Container) -> Result<u16, String> {
    let port = match (&probe.http_get, &probe.tcp_socket) {
        (Some(http), _) => &http.port,
        (None, Some(tcp)) => &tcp.port,
        (None, None) => return Ok(0),
    };
    container.resolve_port(port)
}

/// Kubernetes counts 200 to 399 as success.
pub fn http_status_ok(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let code: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (200..400).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(failure: u32, success: u32) -> Probe {
        let mut p: Probe = serde_yaml::from_str("tcpSocket: {port: 80}").unwrap();
        p.failure_threshold = failure;
        p.success_threshold = success;
        p
    }

    #[test]
    fn liveness_fails_after_the_threshold() {
        let p = probe(3, 1);
        let mut c = ProbeCounter::new(ProbeKind::Liveness);
        for _ in 0..2 {
            record_result(&mut c, false, &p);
            assert!(c.passing);
        }
        record_result(&mut c, false, &p);
        assert!(!c.passing);
        record_result(&mut c, true, &p);
        assert!(c.passing);
    }

    #[test]
    fn readiness_starts_not_ready() {
        let p = probe(1, 2);
        let mut c = ProbeCounter::new(ProbeKind::Readiness);
        record_result(&mut c, true, &p);
        assert!(!c.passing);
        record_result(&mut c, true, &p);
        assert!(c.passing);
        record_result(&mut c, false, &p);
        assert!(!c.passing);
    }

    #[test]
    fn named_ports_come_from_the_container() {
        let yaml = "{name: web, image: i, ports: [{name: http, containerPort: 8080}, {containerPort: 9000}]}";
        let c: Container = serde_yaml::from_str(yaml).unwrap();
        let probe = |handler: &str| serde_yaml::from_str::<Probe>(handler).unwrap();
        assert_eq!(probe_port(&probe("httpGet: {port: http}"), &c), Ok(8080));
        assert_eq!(probe_port(&probe("tcpSocket: {port: 9000}"), &c), Ok(9000));
        assert_eq!(
            probe_port(&probe("tcpSocket: {port: '9001'}"), &c),
            Ok(9001)
        );
        assert_eq!(probe_port(&probe("exec: {command: [true]}"), &c), Ok(0));
        let e = probe_port(&probe("httpGet: {port: metrics}"), &c).unwrap_err();
        assert!(e.contains("couldn't find port: metrics"), "{e}");
    }

    #[test]
    fn http_codes() {
        assert!(http_status_ok(b"HTTP/1.0 200 OK"));
        assert!(http_status_ok(b"HTTP/1.1 302 Found"));
        assert!(!http_status_ok(b"HTTP/1.0 404 Not"));
        assert!(!http_status_ok(b""));
    }
}
