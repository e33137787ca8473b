//! Lifecycle hooks: `postStart` and `preStop`, as the kubelet runs them.
//!
//! - `postStart` runs right after the container's process started
//!   ([`super::actions`]'s `start_container`). Until it returns the
//!   container is not reported Running and its probes do not start: the
//!   agent keeps its id in [`RunningHooks`], which the status and the
//!   probes read. A hook that fails gets a `FailedPostStartHook` event and
//!   the container is killed; the restart policy decides what follows.
//! - `preStop` runs before the SIGTERM whenever the agent stops a running
//!   container (pod deletion, a failed liveness probe, a failed
//!   `postStart`). It eats into the grace period: what is left after it
//!   is the SIGTERM's, and never less than 2 s. A hook that fails gets a
//!   `FailedPreStopHook` event and the stop goes on.
//!
//! Three handlers run: `exec` (a command inside the container, as
//! `kubectl exec` does), `httpGet` (a GET to the pod's IP unless `host`
//! says otherwise) and `sleep`. `tcpSocket` is deprecated; the API server
//! accepts it, as Kubernetes' does, and the hook fails here with the
//! kubelet's "Cannot run handler", as it does on a real node.
//!
//! The kubelet's events deliberately say no more than `PostStartHook
//! failed` (a hook's output could hold a secret); the details go to the
//! agent's log and, for `postStart`, to the container's waiting message
//! (`PostStartHookError`).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::pod_spec::{Container, HookHttpGet, LifecycleHandler, Pod};
use crate::runtime::RuntimeClient;

/// The container ids whose `postStart` hook is running. A std `Mutex`:
/// held only to insert, remove or look, never across an `.await`.
#[derive(Debug, Default)]
pub struct RunningHooks(Mutex<BTreeSet<String>>);

impl RunningHooks {
    /// Whether container `id`'s `postStart` hook has not returned yet.
    pub fn post_start_running(&self, id: &str) -> bool {
        self.lock().contains(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `id`'s `postStart` as running until the guard is dropped, so
    /// that a hook that panics or is cancelled does not hold the
    /// container back for ever.
    pub fn mark(&self, id: &str) -> HookGuard<'_> {
        self.lock().insert(id.to_string());
        HookGuard {
            hooks: self,
            id: id.to_string(),
        }
    }
}

/// Removes its container id from [`RunningHooks`] when dropped.
pub struct HookGuard<'a> {
    hooks: &'a RunningHooks,
    id: String,
}

impl Drop for HookGuard<'_> {
    fn drop(&mut self) {
        self.hooks.lock().remove(&self.id);
    }
}

/// Where a hook runs: the container's runtime id, and how to reach the
/// pod's address for an `httpGet`.
pub struct HookTarget<'a> {
    pub runtime: &'a RuntimeClient,
    pub container_id: &'a str,
    pub pod_ip: Option<Ipv4Addr>,
    /// The node's network namespace, where the pod IP is routed.
    pub node_netns: PathBuf,
}

// ANCHOR: run_hook
/// Runs `handler` for `container` of `pod`, for at most `limit`. `Err`
/// holds the kubelet's message for a failed hook (`Exec lifecycle hook
/// ([sh -c exit 3]) for Container "web" in Pod "web_default(uid)" failed -
/// error: ..., message: "..."`).
pub async fn run_hook(
    target: &HookTarget<'_>,
    pod: &Pod,
    container: &Container,
    handler: &LifecycleHandler,
    limit: Duration,
) -> Result<(), String> {
    let who = format!(
        "for Container {:?} in Pod {:?}",
        container.name,
        pod_ref(pod)
    );
    if let Some(exec) = &handler.exec {
        let ran = target
            .runtime
            .exec(target.container_id, &exec.command, limit)
            .await;
        let (error, output) = match ran {
            Ok(Some((0, _))) => return Ok(()),
            Ok(Some((code, output))) => (
                format!(
                    "command '{}' exited with {code}: {}",
                    exec.command.join(" "),
                    output.trim_end()
                ),
                output,
            ),
            Ok(None) => (format!("command timed out after {limit:?}"), String::new()),
            Err(e) => (e.to_string(), String::new()),
        };
        return Err(format!(
            "Exec lifecycle hook ([{}]) {who} failed - error: {error}, message: {output:?}",
            exec.command.join(" ")
        ));
    }
    if let Some(http) = &handler.http_get {
        return http_get(target, container, http, limit)
            .await
            .map_err(|error| {
                format!(
                    "HTTP lifecycle hook ({}) {who} failed - error: {error}",
                    http.path
                )
            });
    }
    if let Some(sleep) = &handler.sleep {
        // The caller's limit (a preStop's grace period) cuts a long sleep.
        tokio::time::sleep(Duration::from_secs(sleep.seconds).min(limit)).await;
        return Ok(());
    }
    Err("Cannot run handler: invalid handler: tcpSocket is deprecated and no kubelet runs it: use exec, httpGet or sleep".into())
}
// ANCHOR_END: run_hook

/// `name_namespace(uid)`: how the kubelet names a pod in messages.
fn pod_ref(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!("{}_{}({})", m.name, m.namespace, m.uid)
}

// ANCHOR: http_get
/// The hook's GET. As the kubelet's lifecycle handler (unlike its probe),
/// any HTTP answer counts as done, whatever its status code: only a
/// request that gets no answer fails the hook.
async fn http_get(
    target: &HookTarget<'_>,
    container: &Container,
    http: &HookHttpGet,
    limit: Duration,
) -> Result<(), String> {
    let port = container.resolve_port(&http.port)?;
    let host = match (&http.host, target.pod_ip) {
        (Some(host), _) if !host.is_empty() => host.clone(),
        (_, Some(ip)) => ip.to_string(),
        (_, None) => return Err("the pod has no IP address yet".into()),
    };
    let url = format!("http://{host}:{port}{}", http.path);
    let mut request = format!("GET {} HTTP/1.1\r\nHost: {host}:{port}\r\n", http.path);
    // The kubelet's own headers first; the hook's may replace them.
    let own = [
        ("User-Agent", "kube-lifecycle/1.32"),
        ("Accept", "*/*"),
        ("Connection", "close"),
    ];
    for (name, value) in own {
        if !http
            .http_headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
        {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    for h in &http.http_headers {
        request.push_str(&format!("{}: {}\r\n", h.name, h.value));
    }
    request.push_str("\r\n");
    let netns = target.node_netns.clone();
    // Connecting and reading block: a blocking thread, inside the node's
    // network namespace, where the pod IP is reachable through the bridge.
    let get = move || -> Result<(), String> {
        crate::netns::run_in(&netns, || {
            let fail = |e: String| format!("Get {url:?}: {e}");
            let addr: SocketAddr = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| fail(format!("dial tcp: lookup {host}: {e}")))?
                .next()
                .ok_or_else(|| fail(format!("dial tcp: lookup {host}: no such host")))?;
            let mut stream = TcpStream::connect_timeout(&addr, limit).map_err(|e| {
                fail(format!(
                    "dial tcp {addr}: {}",
                    crate::probes::dial_error(&e)
                ))
            })?;
            let _ = stream.set_read_timeout(Some(limit));
            stream
                .write_all(request.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
            let mut head = [0u8; 16];
            match stream.read(&mut head) {
                Ok(n) if crate::probes::http_status(&head[..n]).is_some() => Ok(()),
                Ok(_) => Err(fail("EOF".into())),
                Err(e) => Err(fail(e.to_string())),
            }
        })
        .unwrap_or_else(|e| Err(e.to_string()))
    };
    tokio::task::spawn_blocking(get)
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}
// ANCHOR_END: http_get

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_hook_is_forgotten_when_its_guard_goes() {
        let hooks = RunningHooks::default();
        {
            let _guard = hooks.mark("c1");
            assert!(hooks.post_start_running("c1"));
            assert!(!hooks.post_start_running("c2"));
        }
        assert!(!hooks.post_start_running("c1"));
    }
}
