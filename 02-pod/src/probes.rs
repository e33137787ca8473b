//! Startup, liveness and readiness probes, and the `Unhealthy` event each
//! failed check writes.
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
//! A startup probe comes first: until it passes once, the container is
//! not `started`, its liveness and readiness probes do not run (the agent
//! does not ask for them) and it is not ready. It stops once it has
//! decided: passed (the container has started, for good), or failed
//! `failureThreshold` times, and then the container is killed like one
//! that failed its liveness probe. A restarted container is a new run,
//! with a new startup probe.
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

use crate::agent::events::{self as agent_events, EventSink};
use crate::agent::wake::SyncWaker;
use crate::pod_spec::{Container, Pod, Probe};
use crate::runtime::RuntimeClient;

/// Which of a container's three probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
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
    /// The pod, which a failed check's `Unhealthy` event is about.
    pub pod: Arc<Pod>,
    /// What is left of `initialDelaySeconds` when the worker starts: the
    /// delay counts from the container's start, as the kubelet counts it,
    /// also for a liveness probe that waited for the startup probe.
    pub initial_delay: Duration,
}

/// Consecutive results, and the verdict they add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCounter {
    pub successes: u32,
    pub failures: u32,
    /// The current verdict: healthy (liveness), ready (readiness) or
    /// started (startup).
    pub passing: bool,
    /// Whether a threshold has been reached at least once. A startup probe
    /// that has not decided yet is neither passed nor failed.
    pub decided: bool,
}

impl ProbeCounter {
    /// A liveness probe starts passing (the container is presumed alive);
    /// readiness and startup probes start failing (not ready, not started
    /// until proven).
    pub fn new(kind: ProbeKind) -> ProbeCounter {
        ProbeCounter {
            successes: 0,
            failures: 0,
            passing: kind == ProbeKind::Liveness,
            decided: false,
        }
    }

    /// A startup probe's verdict: `None` while it has not decided.
    pub fn started(&self) -> Option<bool> {
        self.decided.then_some(self.passing)
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
            counter.decided = true;
        }
    } else {
        counter.failures += 1;
        counter.successes = 0;
        if counter.failures >= probe.failure_threshold.max(1) {
            counter.passing = false;
            counter.decided = true;
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
    /// Woken when a verdict changes, so the agent reports a container
    /// Ready (or restarts a failing one) without waiting for its tick, as
    /// the kubelet's sync loop reads its probe managers' update channels.
    waker: SyncWaker,
}

impl Prober {
    /// A prober whose verdict changes wake `waker`.
    pub fn waking(waker: SyncWaker) -> Prober {
        Prober {
            waker,
            ..Prober::default()
        }
    }

    /// The verdict for `key`; `None` while no worker has been started.
    pub fn passing(&self, key: &ProbeKey) -> Option<bool> {
        self.counter(key).map(|c| c.passing)
    }

    /// The counter behind `key`'s verdict; `None` while no worker has
    /// been started.
    pub fn counter(&self, key: &ProbeKey) -> Option<ProbeCounter> {
        let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.get(key).copied()
    }

    /// Makes the running workers exactly `wanted`.
    /// New workers record their failures in `events`.
    pub fn sync(
        &self,
        runtime: &RuntimeClient,
        wanted: Vec<(ProbeKey, ProbeTarget)>,
        events: &Arc<dyn EventSink>,
    ) {
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
                Arc::clone(events),
                self.waker.clone(),
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
    events: Arc<dyn EventSink>,
    waker: SyncWaker,
) {
    let probe = &target.probe;
    tokio::time::sleep(target.initial_delay).await;
    let mut tick = tokio::time::interval(Duration::from_secs(probe.period_seconds.max(1)));
    loop {
        tick.tick().await;
        let result = run_probe(&key, &target, &runtime).await;
        // Every failure is an event, as the kubelet records one per failed
        // check; the event recorder folds the repeats into one count.
        if let Err(output) = &result {
            let event = agent_events::unhealthy(key.kind, output)
                .about(target.pod.field_path(&key.container));
            events.pod_event(&target.pod, event);
        }
        let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
        let Some(counter) = results.get_mut(&key) else {
            return;
        };
        let before = counter.passing;
        record_result(counter, result.is_ok(), probe);
        if before != counter.passing {
            tracing::info!(pod = %key.pod_uid, container = %key.container, kind = ?key.kind,
                passing = counter.passing, "probe verdict changed");
            waker.wake();
        }
        // A startup probe's work ends with its verdict, which stays for
        // the agent to read until the run is gone.
        if key.kind == ProbeKind::Startup && counter.decided {
            return;
        }
    }
}

// ANCHOR: run_probe
/// Runs one check: `Ok` on success, else what went wrong in the kubelet's
/// words (the exec's output, `HTTP probe failed with statuscode: 500`,
/// `dial tcp 10.244.0.5:80: connect: connection refused`), which the
/// `Unhealthy` event quotes.
pub async fn run_probe(
    key: &ProbeKey,
    target: &ProbeTarget,
    runtime: &RuntimeClient,
) -> Result<(), String> {
    let probe = &target.probe;
    let timeout = Duration::from_secs(probe.timeout_seconds.max(1));
    if let Some(exec) = &probe.exec {
        return match runtime
            .exec(&key.container_id, &exec.command, timeout)
            .await
        {
            Ok(Some((0, _))) => Ok(()),
            Ok(Some((_, output))) => Err(output.trim_end().to_string()),
            Ok(None) => Err(format!("command {:?} timed out", exec.command.join(" "))),
            Err(e) => Err(e.to_string()),
        };
    }
    let Some(ip) = target.pod_ip else {
        return Err("the pod has no IP address yet".into());
    };
    let port = target.port.clone()?;
    let http_path = probe.http_get.as_ref().map(|http| http.path.clone());
    let netns = target.node_netns.clone();
    let check = move || -> Result<(), String> {
        // The socket is created in the node's namespace (this thread's),
        // where the pod IP is reachable through the bridge.
        crate::netns::run_in(&netns, || {
            let addr = SocketAddr::from((ip, port));
            let connected = TcpStream::connect_timeout(&addr, timeout)
                .map_err(|e| format!("dial tcp {addr}: {}", dial_error(&e)));
            let Some(path) = http_path else {
                return connected.map(drop);
            };
            let url = format!("http://{addr}{path}");
            let mut stream = connected.map_err(|e| format!("Get {url:?}: {e}"))?;
            let _ = stream.set_read_timeout(Some(timeout));
            let request = format!(
                "GET {path} HTTP/1.0\r\nHost: {ip}:{port}\r\nUser-Agent: orc-probe\r\n\r\n"
            );
            stream
                .write_all(request.as_bytes())
                .map_err(|e| format!("Get {url:?}: {e}"))?;
            let mut head = [0u8; 16];
            let n = stream.read(&mut head).unwrap_or(0);
            match http_status(&head[..n]) {
                Some(code) if (200..400).contains(&code) => Ok(()),
                Some(code) => Err(format!("HTTP probe failed with statuscode: {code}")),
                None => Err(format!("Get {url:?}: no HTTP response")),
            }
        })
        .unwrap_or_else(|e| Err(e.to_string()))
    };
    tokio::task::spawn_blocking(check)
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}
// ANCHOR_END: run_probe

/// A failed connect as Go's dialer words it, which is what a Kubernetes
/// user sees in probe events.
pub(crate) fn dial_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "i/o timeout".into(),
        _ => format!("connect: {error}"),
    }
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

/// The status code of an HTTP response's first bytes; Kubernetes counts
/// 200 to 399 as success.
pub fn http_status(head: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(head);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok())
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
    fn a_startup_probe_decides_once() {
        let p = probe(2, 1);
        let mut c = ProbeCounter::new(ProbeKind::Startup);
        assert_eq!(c.started(), None, "undecided until a threshold is met");
        record_result(&mut c, false, &p);
        assert_eq!(c.started(), None, "one failure of two");
        record_result(&mut c, false, &p);
        assert_eq!(c.started(), Some(false), "failed: the run is killed");
        let mut c = ProbeCounter::new(ProbeKind::Startup);
        record_result(&mut c, false, &p);
        record_result(&mut c, true, &p);
        assert_eq!(c.started(), Some(true));
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
        assert_eq!(http_status(b"HTTP/1.0 200 OK"), Some(200));
        assert_eq!(http_status(b"HTTP/1.1 302 Found"), Some(302));
        assert_eq!(http_status(b"HTTP/1.0 404 Not"), Some(404));
        assert_eq!(http_status(b""), None);
    }

    #[test]
    fn dial_errors_read_as_go_writes_them() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(dial_error(&refused), "connect: connection refused");
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(dial_error(&timeout), "i/o timeout");
    }
}
