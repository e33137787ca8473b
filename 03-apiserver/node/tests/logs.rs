//! `pods/{name}/log` end to end: a real etcd and API server, a Node object
//! pointing at a real agent log server (chapter 02's) on loopback, and a
//! pod bound to that node whose log files are laid out as the agent lays
//! them out. Then raw HTTP, and the installed `kubectl logs`.

// The API server fixture the server's own tests use (a real etcd and a real
// orc-apiserver on 127.0.0.1:0), shared rather than copied.
#[path = "../../server/tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl};
use orc_pod::agent::layout::{StateLayout, write_atomic};
use orc_pod::agent::server;
use orc_pod::shim::{ExitRecord, exit_file};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A node: its agent's state directory and log server, and its Node object.
struct Node {
    layout: StateLayout,
    agent: String,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Node {
    /// Starts the agent's server and registers Node `name` the way the
    /// agent does: an InternalIP and the server's port.
    async fn start(api: &TestServer, name: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(server::serve(
            listener,
            layout.clone(),
            "orc-container".into(),
            async {
                let _ = stopped.await;
            },
        ));
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name},
            "status": {
                "addresses": [
                    {"type": "Hostname", "address": name},
                    {"type": "InternalIP", "address": "127.0.0.1"},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            },
        });
        let (code, body) = api.post("/api/v1/nodes", &node).await;
        assert_eq!(code, 201, "{body}");
        Node {
            layout,
            agent: format!("http://127.0.0.1:{port}"),
            _dir: dir,
            _stop: stop,
        }
    }

    /// What the agent writes for a pod it runs: `pod.json`, and for each
    /// `(container, runs)` one log file per run, every run but the last
    /// ended (the shim's exit record).
    fn runs(&self, pod: &Value, logs: &[(&str, &[&str])]) {
        let pod: orc_pod::pod_spec::Pod = serde_json::from_value(pod.clone()).unwrap();
        let uid = &pod.metadata.uid;
        std::fs::create_dir_all(self.layout.pod(uid)).unwrap();
        write_atomic(
            &self.layout.pod_spec(uid),
            &serde_json::to_vec(&pod).unwrap(),
        )
        .unwrap();
        for (container, runs) in logs {
            std::fs::create_dir_all(self.layout.log_dir(uid, container)).unwrap();
            for (attempt, text) in runs.iter().enumerate() {
                let attempt = attempt as u32;
                std::fs::write(self.layout.log(uid, container, attempt), text).unwrap();
                if (attempt as usize) + 1 < runs.len() {
                    let bundle = self.layout.bundle(uid, container, attempt);
                    std::fs::create_dir_all(&bundle).unwrap();
                    let record = ExitRecord {
                        exit_code: 1,
                        oom_killed: false,
                        finished_at: jiff::Timestamp::UNIX_EPOCH,
                    };
                    std::fs::write(exit_file(&bundle), serde_json::to_vec(&record).unwrap())
                        .unwrap();
                }
            }
        }
    }

    fn append(&self, pod: &Value, container: &str, attempt: u32, text: &str) {
        let uid = pod["metadata"]["uid"].as_str().unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.layout.log(uid, container, attempt))
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    /// The agent's count of log responses it is streaming.
    async fn open_streams(&self) -> u64 {
        let text = orc_testkit::http_client()
            .get(format!("{}/metrics", self.agent))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        orc_testkit::metrics::sample(&text, "orc_agent_log_streams").expect("the gauge is served")
            as u64
    }

    /// Waits (at most 10 s) until the agent streams no log any more.
    async fn wait_no_streams(&self) {
        for _ in 0..100 {
            if self.open_streams().await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the agent still streams a log its client left");
    }
}

/// Creates a pod in `default`, bound to `node` when given; returns it as stored.
async fn create_pod(
    api: &TestServer,
    name: &str,
    containers: &[&str],
    node: Option<&str>,
) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "busybox:1.36"}))
        .collect();
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers},
    });
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    let (code, body) = api.post("/api/v1/namespaces/default/pods", &pod).await;
    assert_eq!(code, 201, "{body}");
    body
}

/// `GET` on a pod's log: the code, the content type and the body as text.
async fn log(api: &TestServer, pod: &str, query: &str) -> (u16, String, String) {
    let url = api.url(&format!(
        "/api/v1/namespaces/default/pods/{pod}/log?{query}"
    ));
    let response = api.http.get(url).send().await.unwrap();
    let code = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (code, content_type, response.text().await.unwrap())
}

/// A `Status` body's message (and checks that it is one, with `code`).
fn status_message(code: u16, body: &str) -> String {
    let status: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not a Status: {body}"));
    assert_eq!(status["kind"], "Status", "{body}");
    assert_eq!(status["code"], code, "{body}");
    status["message"].as_str().unwrap().to_string()
}

/// The cluster every test starts from: node `node-1`, and pod `web`
/// (containers `app`, restarted once, and `sidecar`) running on it.
async fn cluster() -> (TestServer, Node, Value) {
    let api = TestServer::start().await;
    let node = Node::start(&api, "node-1").await;
    let web = create_pod(&api, "web", &["app", "sidecar"], Some("node-1")).await;
    node.runs(
        &web,
        &[
            (
                "app",
                &["starting\npanic: no config\n", "one\ntwo\nthree\n"],
            ),
            ("sidecar", &["sidecar up\n"]),
        ],
    );
    (api, node, web)
}

#[tokio::test]
async fn log_forwards_every_parameter_to_the_agent() {
    let (api, node, _web) = cluster().await;
    let ok = |text: &str| (200, "text/plain".to_string(), text.to_string());
    assert_eq!(
        log(&api, "web", "container=app").await,
        ok("one\ntwo\nthree\n")
    );
    assert_eq!(
        log(&api, "web", "container=app&tailLines=2").await,
        ok("two\nthree\n")
    );
    assert_eq!(
        log(&api, "web", "container=app&previous=true").await,
        ok("starting\npanic: no config\n")
    );
    assert_eq!(
        log(&api, "web", "container=app&limitBytes=6").await,
        ok("one\ntw")
    );
    assert_eq!(
        log(
            &api,
            "web",
            "container=sidecar&follow=false&timestamps=false"
        )
        .await,
        ok("sidecar up\n")
    );
    // What the agent cannot honour comes back as its 400, not ignored.
    let (code, _, body) = log(&api, "web", "container=app&sinceSeconds=60").await;
    assert!(
        status_message(code, &body).contains("sinceSeconds"),
        "{body}"
    );
    assert_eq!(code, 400);
    let (code, _, body) = log(&api, "web", "container=app&timestamps=true").await;
    assert_eq!(code, 400);
    assert!(status_message(code, &body).contains("timestamps are not supported"));
    let (code, _, body) = log(&api, "web", "container=app&sinceTime=2024-01-01T00:00:00Z").await;
    assert_eq!(code, 400);
    assert!(status_message(code, &body).contains("sinceTime"));
    assert_eq!(node.open_streams().await, 0);
}

#[tokio::test]
async fn follow_streams_through_the_api_server_and_ends_with_the_client() {
    let (api, node, web) = cluster().await;
    let url =
        api.url("/api/v1/namespaces/default/pods/web/log?container=app&follow=true&tailLines=1");
    let mut response = api.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut received = String::new();
    let mut read_until = async |response: &mut reqwest::Response, want: &str| {
        while !received.ends_with(want) {
            let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {want:?} within 10 s"))
                .unwrap()
                .unwrap();
            received.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        received.clone()
    };
    assert_eq!(read_until(&mut response, "three\n").await, "three\n");
    node.append(&web, "app", 1, "four\n");
    assert_eq!(read_until(&mut response, "four\n").await, "three\nfour\n");
    assert_eq!(node.open_streams().await, 1);
    // The client leaves: the API server drops its upstream, and the agent
    // stops streaming.
    drop(response);
    node.wait_no_streams().await;
}

#[tokio::test]
async fn errors_as_kubernetes_words_them() {
    let (api, _node, _web) = cluster().await;
    let error = |code_and_body: (u16, String, String)| {
        let (code, _, body) = code_and_body;
        (code, status_message(code, &body))
    };
    assert_eq!(
        error(log(&api, "web", "").await),
        (
            400,
            "a container name must be specified for pod web, choose one of: [app sidecar]".into()
        )
    );
    assert_eq!(
        error(log(&api, "web", "container=db").await),
        (400, "container db is not valid for pod web".into())
    );
    assert_eq!(
        error(log(&api, "nope", "").await),
        (404, "pods \"nope\" not found".into())
    );
    assert_eq!(
        error(log(&api, "web", "container=sidecar&previous=true").await),
        (
            400,
            "previous terminated container \"sidecar\" in pod \"web\" not found".into()
        )
    );
    assert_eq!(
        error(log(&api, "web", "container=app&tailLines=-1").await),
        (
            422,
            "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
                .into()
        )
    );
    let (code, _, body) = log(&api, "web", "container=app&limitBytes=lots").await;
    assert_eq!(code, 400, "{body}");

    // A pod no node runs yet has no logs anywhere: Kubernetes answers an
    // empty 204, not an error.
    create_pod(&api, "pending", &["app"], None).await;
    assert_eq!(
        log(&api, "pending", "").await,
        (204, String::new(), String::new())
    );

    // On a node whose agent does not have it: the agent's 404, in
    // Kubernetes' generic words.
    create_pod(&api, "ghost", &["app"], Some("node-1")).await;
    assert_eq!(
        error(log(&api, "ghost", "").await),
        (
            404,
            "the server could not find the requested resource ( pods/log ghost)".into()
        )
    );

    // Bound to a node that was never registered.
    create_pod(&api, "stray", &["app"], Some("node-9")).await;
    assert_eq!(
        error(log(&api, "stray", "").await),
        (404, "nodes \"node-9\" not found".into())
    );
}

#[tokio::test]
async fn an_unreachable_agent_is_a_500_naming_the_node() {
    let api = TestServer::start().await;
    // A port nobody listens on any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-2"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        },
    });
    assert_eq!(api.post("/api/v1/nodes", &node).await.0, 201);
    create_pod(&api, "web", &["app"], Some("node-2")).await;
    let (code, _, body) = log(&api, "web", "").await;
    let message = status_message(code, &body);
    assert_eq!(code, 500);
    assert!(
        message.contains("node \"node-2\"") && message.contains(&format!("127.0.0.1:{port}")),
        "{message}"
    );
}

// Multi-threaded: the test blocks on kubectl's output while the servers run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs() {
    let (api, node, web) = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &api, "any-token");
    let run = async |args: &[&str]| kubectl(dir.path(), &config, args).await;

    assert_eq!(
        run(&["logs", "web", "-c", "app"]).await,
        (true, "one\ntwo\nthree\n".into())
    );
    assert_eq!(
        run(&["logs", "web", "-c", "app", "--tail=1"]).await,
        (true, "three\n".into())
    );
    assert_eq!(
        run(&["logs", "web", "-c", "app", "--previous"]).await,
        (true, "starting\npanic: no config\n".into())
    );
    assert_eq!(
        run(&["logs", "pod/web", "-c", "sidecar", "--limit-bytes=7"]).await,
        (true, "sidecar".into())
    );
    let (ok, text) = run(&["logs", "web", "-c", "sidecar", "--previous"]).await;
    assert!(!ok);
    assert_eq!(
        text,
        "Error from server (BadRequest): previous terminated container \"sidecar\" in pod \"web\" not found\n"
    );
    // Without -c, kubectl itself picks the first container and says so
    // (on stderr, which the helper appends to stdout).
    assert_eq!(
        run(&["logs", "web"]).await,
        (
            true,
            "one\ntwo\nthree\nDefaulted container \"app\" out of: app, sidecar\n".into()
        )
    );
    // A pod no node runs: the 204 prints nothing.
    create_pod(&api, "pending", &["app"], None).await;
    assert_eq!(run(&["logs", "pending"]).await, (true, String::new()));
    let (ok, text) = run(&["logs", "web", "-c", "app", "--since=1h"]).await;
    assert!(!ok);
    assert!(
        text.starts_with("Error from server (BadRequest): sinceSeconds"),
        "{text}"
    );

    // -f: what is appended arrives, until kubectl is stopped.
    let kubectl = orc_testkit::require_command("kubectl");
    let mut child = Command::new(kubectl)
        .arg(format!("--kubeconfig={}", config.display()))
        .arg(format!(
            "--cache-dir={}",
            dir.path().join("cache").display()
        ))
        .args(["logs", "web", "-c", "app", "-f", "--tail=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = stdout_chunks(child.stdout.take().unwrap());
    let mut seen = String::new();
    wait_for(&lines, &mut seen, "three\n").await;
    node.append(&web, "app", 1, "four\n");
    wait_for(&lines, &mut seen, "four\n").await;
    assert_eq!(seen, "three\nfour\n");
    child.kill().unwrap();
    child.wait().unwrap();
    node.wait_no_streams().await;
}

/// Everything a child writes to stdout, chunk by chunk, from a thread.
fn stdout_chunks(mut out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                return;
            }
        }
    });
    rx
}

/// Collects chunks into `seen` until it ends with `want` (at most 20 s).
async fn wait_for(chunks: &mpsc::Receiver<String>, seen: &mut String, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !seen.ends_with(want) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::task::block_in_place(|| chunks.recv_timeout(left)) {
            Ok(chunk) => seen.push_str(&chunk),
            Err(_) => panic!("no {want:?} from kubectl logs -f; got {seen:?}"),
        }
    }
}

/// `GET pods/{name}/exec` with the headers of a WebSocket upgrade, as
/// kubectl sends them; the code and the body as text.
async fn exec(api: &TestServer, pod: &str, query: &str, upgrade: bool) -> (u16, String) {
    let url = api.url(&format!(
        "/api/v1/namespaces/default/pods/{pod}/exec?{query}"
    ));
    let mut request = api.http.get(url);
    if upgrade {
        request = request
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", "v5.channel.k8s.io");
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn exec_is_refused_with_a_reason_before_any_upgrade() {
    let (api, _node, _web) = cluster().await;
    let query = "command=true&stdout=true&container=app";

    // Not an upgrade: nothing to relay.
    let (code, body) = exec(&api, "web", query, false).await;
    assert_eq!(status_message(code, &body), "Upgrade request required");
    assert_eq!(code, 400);

    // A container the pod does not have, and a pod no node runs yet.
    let (code, body) = exec(&api, "web", "command=true&stdout=true&container=db", true).await;
    assert_eq!(code, 400);
    assert_eq!(
        status_message(code, &body),
        "container db is not valid for pod web"
    );
    create_pod(&api, "pending", &["app"], None).await;
    let (code, body) = exec(&api, "pending", query, true).await;
    assert_eq!(
        status_message(code, &body),
        "pod pending does not have a host assigned"
    );

    // The agent's own refusal comes back in its words: `web` has a
    // `pod.json` on the node but no running container.
    let (code, body) = exec(&api, "web", query, true).await;
    let message = status_message(code, &body);
    assert!(
        message.contains("container \"app\" in pod \"web\" is not running"),
        "{code}: {message}"
    );
}
