//! `kubectl port-forward` end to end: the installed kubectl, a real API
//! server, the real `orc agent` and a busybox httpd in a real pod.
//!
//! kubectl v1.32 tunnels SPDY through a WebSocket
//! (`SPDY/3.1+portforward.k8s.io`); with
//! `KUBECTL_PORT_FORWARD_WEBSOCKETS=false` it upgrades to SPDY itself.
//! Both reach the agent through the API server's relay, and the agent
//! dials the port inside the pod's network namespace. The test's own
//! traffic goes only to kubectl's listener on loopback. Root only;
//! everything is removed at the end as in `node_agent.rs`.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use agent_node::Node;
use cluster::{AgentProcess, ApiServer, delete_pods, kubeconfig, kubectl_command, running};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NODE: &str = "node-pf";
const LONG: Duration = Duration::from_secs(60);
/// The page httpd serves, and a bigger file to check bytes end to end.
const PAGE: &str = "hello from web\n";
const BLOB_BYTES: usize = 2_000_000;

/// A running `kubectl port-forward`, killed (by its pid) when dropped.
struct PortForward {
    child: Child,
    /// What kubectl printed on stderr, gathered by a thread.
    stderr: std::thread::JoinHandle<String>,
}

impl PortForward {
    /// Starts `kubectl port-forward ARGS` and waits for its
    /// "Forwarding from" line: from then on the local port listens.
    fn start(config: &Path, args: &[&str], env: &[(&str, &str)]) -> PortForward {
        let command = kubectl_command(config, &[&["port-forward"], args].concat());
        Self::spawn(command, args, env)
    }

    /// `orc port-forward ARGS`, which prints the same first line.
    fn orc(config: &Path, args: &[&str]) -> PortForward {
        Self::orc_env(config, args, &[])
    }

    /// [`PortForward::orc`] with variables `env` set for orc.
    fn orc_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> PortForward {
        Self::spawn(orc_command(config, args), args, env)
    }

    fn spawn(
        mut command: std::process::Command,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> PortForward {
        command
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("kubectl starts");
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("Forwarding from 127.0.0.1:"),
            "port-forward {args:?} printed {line:?}"
        );
        // The rest of stdout (the [::1] line, "Handling connection for")
        // is drained so kubectl never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        PortForward { child, stderr }
    }

    /// Waits (off the runtime) for kubectl to exit by itself; answers its
    /// exit code and stderr.
    async fn exited(mut self) -> (Option<i32>, String) {
        let mut child = std::mem::replace(&mut self.child, dummy_child());
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        tokio::task::spawn_blocking(move || {
            let status = child.wait().unwrap();
            (status.code(), stderr.join().unwrap())
        })
        .await
        .unwrap()
    }
}

/// `orc port-forward ARGS` against the cluster of `config`.
fn orc_command(config: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_orc"));
    command
        .arg("port-forward")
        .arg(format!("--kubeconfig={}", config.display()))
        .args(args);
    command
}

/// `orc port-forward ARGS` that is expected to fail before it forwards
/// anything: its exit code and stderr.
async fn orc_refused(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut command = orc_command(config, args);
    command.stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `n` GETs of [`PAGE`] at once through `port`; each must be answered
/// whole (`who` names the client in a failure).
async fn all_answered(port: u16, n: usize, who: &str) {
    let mut gets = tokio::task::JoinSet::new();
    for _ in 0..n {
        gets.spawn(http_get(port, "/index.html"));
    }
    for answer in gets.join_all().await {
        let (status, body) = answer.unwrap_or_else(|e| panic!("{who}: GET: {e}"));
        assert!(status.contains("200"), "{who}: {status}");
        assert_eq!(String::from_utf8_lossy(&body), PAGE, "{who}");
    }
}

/// A finished child to leave behind in a [`PortForward`] given away.
fn dummy_child() -> Child {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let _ = child.wait();
    child
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` over HTTP/1.0 to `127.0.0.1:port`; answers the status line
/// and the body.
async fn http_get(port: u16, path: &str) -> std::io::Result<(String, Vec<u8>)> {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: web\r\n\r\n").as_bytes())
        .await?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {answer:?}")))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head.lines().next().unwrap_or("").to_string();
    Ok((status, answer[split + 4..].to_vec()))
}

/// The blob httpd serves: bytes no text transformation leaves alone.
fn blob() -> Vec<u8> {
    (0..BLOB_BYTES as u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect()
}

/// A cluster of one node running pod `web` (labels `app: web`): busybox
/// httpd on port 80 (named `http`) serving [`PAGE`] and the blob, and
/// Service `web` (port 8080, named `web`, → `http`) selecting it.
async fn cluster_with_httpd() -> (Node, ApiServer, AgentProcess, std::path::PathBuf) {
    let node = Node::new();
    let api = ApiServer::start().await;
    let port = orc_testkit::ports::free_port();
    let agent = AgentProcess::start(&node, NODE, &api, port, "agent.log");
    // The blob is made inside the pod (busybox has no way to receive it
    // otherwise before the test); the test computes the same bytes.
    let script = format!(
        "mkdir -p /www && printf '{}' > /www/index.html && \
         awk 'BEGIN {{ for (i = 0; i < {BLOB_BYTES}; i++) printf \"%c\", (i * 31) % 251 }}' \
         > /www/blob.bin && exec httpd -f -p 80 -h /www",
        PAGE.replace('\n', "\\n")
    );
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "httpd", "image": "busybox",
                "command": ["sh", "-c", script],
                "ports": [{"containerPort": 80, "name": "http"}],
                "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
            }],
        },
    });
    api.post("/api/v1/namespaces/default/pods", pod).await;
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "web", "port": 8080, "targetPort": "http"}]},
    });
    api.post("/api/v1/namespaces/default/services", service)
        .await;
    api.wait_for("/api/v1/namespaces/default/pods/web", LONG, |p| {
        running(p) && p.pointer("/status/containerStatuses/0/ready") == Some(&json!(true))
    })
    .await;
    let config = kubeconfig(node.dir.path(), &api);
    (node, api, agent, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_reaches_the_pods_port_and_ends_with_the_pod() {
    let (_node, api, _agent, config) = cluster_with_httpd().await;
    let expected_blob = blob();

    // The default: SPDY tunnelled in a WebSocket. 30 connections at once
    // share the one session, each its own pair of streams.
    let local = orc_testkit::ports::free_port();
    let forward = PortForward::start(&config, &["pod/web", &format!("{local}:80")], &[]);
    let mut gets = tokio::task::JoinSet::new();
    for i in 0..30 {
        let path = if i % 10 == 0 {
            "/blob.bin"
        } else {
            "/index.html"
        };
        gets.spawn(async move { (path, http_get(local, path).await) });
    }
    for (path, answer) in gets.join_all().await {
        let (status, body) = answer.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(status.contains("200"), "GET {path}: {status}");
        if path == "/blob.bin" {
            assert!(
                body == expected_blob,
                "the blob came back changed ({} bytes)",
                body.len()
            );
        } else {
            assert_eq!(String::from_utf8_lossy(&body), PAGE);
        }
    }

    // orc's own client, the same protocol: bytes intact, many at once.
    let orc_local = orc_testkit::ports::free_port();
    let orc_forward = PortForward::orc(&config, &["pod/web", &format!("{orc_local}:80")]);
    let mut gets = tokio::task::JoinSet::new();
    for i in 0..20 {
        let path = if i % 5 == 0 {
            "/blob.bin"
        } else {
            "/index.html"
        };
        gets.spawn(async move { (path, http_get(orc_local, path).await) });
    }
    for (path, answer) in gets.join_all().await {
        let (status, body) = answer.unwrap_or_else(|e| panic!("orc: GET {path}: {e}"));
        assert!(status.contains("200"), "orc: GET {path}: {status}");
        let expected = if path == "/blob.bin" {
            &expected_blob[..]
        } else {
            PAGE.as_bytes()
        };
        assert!(
            body == expected,
            "orc: {path} came back changed ({} bytes)",
            body.len()
        );
    }

    // The SPDY upgrade, as kubectl falls back to it, and svc/NAME, which
    // kubectl resolves itself to a pod and the Service's target port
    // (here a name: `http`, the pod's port 80).
    let spdy_local = orc_testkit::ports::free_port();
    let spdy = PortForward::start(
        &config,
        &["svc/web", &format!("{spdy_local}:8080")],
        &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")],
    );
    all_answered(spdy_local, 50, "kubectl svc/web over SPDY").await;
    drop(spdy);
    let kubectl_svc_local = orc_testkit::ports::free_port();
    let kubectl_svc = PortForward::start(
        &config,
        &["svc/web", &format!("{kubectl_svc_local}:8080")],
        &[],
    );
    all_answered(kubectl_svc_local, 50, "kubectl svc/web").await;
    drop(kubectl_svc);

    // orc resolves svc/NAME as kubectl does: the Service's pod, the
    // target port through its name; over the WebSocket, and over SPDY.
    for (env, who) in [
        (&[][..], "orc svc/web"),
        (
            &[("ORC_PORT_FORWARD_WEBSOCKETS", "false")][..],
            "orc svc/web over SPDY",
        ),
    ] {
        let local = orc_testkit::ports::free_port();
        let forward = PortForward::orc_env(&config, &["svc/web", &format!("{local}:8080")], env);
        all_answered(local, 50, who).await;
        drop(forward);
    }
    // The Service port by its name, and a workload's selector.
    let local = orc_testkit::ports::free_port();
    let named = PortForward::orc(&config, &["service/web", &format!("{local}:web")]);
    all_answered(local, 5, "orc service/web by port name").await;
    drop(named);
    // (No controllers run here: the Deployment only lends its selector.)
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "httpd", "image": "busybox"}]},
            },
        },
    });
    api.post("/apis/apps/v1/namespaces/default/deployments", deployment)
        .await;
    let local = orc_testkit::ports::free_port();
    let workload = PortForward::orc(&config, &["deploy/web", &format!("{local}:http")]);
    all_answered(local, 5, "orc deploy/web by container port name").await;
    drop(workload);

    // What cannot be forwarded is said, before anything listens.
    let (code, stderr) = orc_refused(&config, &["svc/nothere", "8080"]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "Error from server (NotFound): services \"nothere\" not found\n"
    );
    let (code, stderr) = orc_refused(&config, &["svc/web", "9999"]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: Service web does not have a service port 9999: its ports are 8080 (web)\n"
    );
    let lonely = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "lonely", "namespace": "default"},
        "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
    });
    api.post("/api/v1/namespaces/default/services", lonely)
        .await;
    let (code, stderr) = orc_refused(&config, &["svc/lonely", "80"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("error: no pod to forward to: Service default/lonely selects none"),
        "{stderr}"
    );

    // A port nothing listens on: the connection is closed without an
    // answer, and kubectl reports the node's reason.
    let closed_local = orc_testkit::ports::free_port();
    let closed = PortForward::start(&config, &["pod/web", &format!("{closed_local}:81")], &[]);
    let answer = http_get(closed_local, "/").await;
    assert!(answer.is_err(), "port 81 answered: {answer:?}");
    let mut closed = closed;
    let _ = closed.child.kill();
    let (_, stderr) = closed.exited().await;
    assert!(
        stderr.contains("error forwarding port 81 to pod default/web")
            && stderr.contains("localhost:81"),
        "{stderr}"
    );

    // The pod goes: the session ends and kubectl exits by itself.
    delete_pods(&api, &["web"]).await;
    let (code, stderr) = tokio::time::timeout(LONG, forward.exited())
        .await
        .expect("kubectl port-forward ends when the pod is deleted");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("lost connection to pod"), "{stderr}");
    let (code, stderr) = tokio::time::timeout(LONG, orc_forward.exited())
        .await
        .expect("orc port-forward ends when the pod is deleted");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("lost connection to pod default/web"),
        "{stderr}"
    );
}
