//! The agent's HTTP server over a state directory laid out as the agent
//! lays it out: real files, a real server on 127.0.0.1:0, a real client.
//! No root needed: no container runs, the shim's outputs are written here.
//!
//! The server speaks TLS, as `orc agent` serves it, with certificates from
//! a CA of the test's own ([`Pki`]); the client is the API server's
//! (`kube-apiserver-kubelet-client`). Anyone else is refused: 401 without
//! a certificate, 403 with another user's.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use orc_pod::agent::layout::{StateLayout, write_atomic};
use orc_pod::agent::server;
use orc_pod::agent::tls::AgentTls;
use orc_pod::pod_spec::Pod;
use orc_pod::shim::{ExitRecord, exit_file};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::rustls;

const UID: &str = "3f2a-uid";

/// A node's state directory with pod `default/web` (containers `app` and
/// `sidecar`): `app` ran twice (run 0 crashed), `sidecar` never started.
struct Node {
    _dir: tempfile::TempDir,
    layout: StateLayout,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path());
        let pod: Pod = serde_yaml::from_str(
            "metadata: {name: web, namespace: default, uid: 3f2a-uid}\n\
             spec:\n  containers:\n  - {name: app, image: busybox}\n  - {name: sidecar, image: busybox}\n",
        )
        .unwrap();
        std::fs::create_dir_all(layout.pod(UID)).unwrap();
        write_atomic(&layout.pod_spec(UID), &serde_json::to_vec(&pod).unwrap()).unwrap();
        std::fs::create_dir_all(layout.log_dir(UID, "app")).unwrap();
        std::fs::write(layout.log(UID, "app", 0), "starting\npanic: no config\n").unwrap();
        std::fs::write(layout.log(UID, "app", 1), "one\ntwo\nthree\n").unwrap();
        let node = Node { _dir: dir, layout };
        node.end_run("app", 0);
        node
    }

    /// What the shim does when a container's run ends.
    fn end_run(&self, container: &str, attempt: u32) {
        let bundle = self.layout.bundle(UID, container, attempt);
        std::fs::create_dir_all(&bundle).unwrap();
        let record = ExitRecord {
            exit_code: 1,
            oom_killed: false,
            finished_at: jiff::Timestamp::UNIX_EPOCH,
        };
        std::fs::write(exit_file(&bundle), serde_json::to_vec(&record).unwrap()).unwrap();
    }

    fn append(&self, container: &str, attempt: u32, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.layout.log(UID, container, attempt))
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }
}

/// A CA of the test's own, the agent's serving certificate for 127.0.0.1,
/// and what clients present.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_der: rustls::pki_types::CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), cert.pem()).unwrap();
        Pki {
            dir,
            ca_der: cert.der().clone(),
            ca: rcgen::Issuer::new(params, key),
        }
    }

    /// The agent's TLS: a serving certificate for 127.0.0.1, clients
    /// checked against this CA.
    fn agent_tls(&self) -> AgentTls {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (cert_file, key_file) = (
            self.dir.path().join("agent.crt"),
            self.dir.path().join("agent.key"),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        AgentTls::from_files(&cert_file, &key_file, Some(&self.dir.path().join("ca.crt"))).unwrap()
    }

    /// An HTTPS client trusting this CA, presenting a certificate for
    /// `user` (CN) when given one.
    fn client(&self, user: Option<&str>) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match user {
            None => builder.with_no_client_auth(),
            Some(user) => {
                let key = rcgen::KeyPair::generate().unwrap();
                let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, user);
                params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
                let cert = params.signed_by(&key, &self.ca).unwrap();
                let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
                builder
                    .with_client_auth_cert(vec![cert.der().clone()], key)
                    .unwrap()
            }
        };
        orc_testkit::http_client(); // installs ring for reqwest
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build()
            .unwrap()
    }
}

/// The API server's user on the agent's port.
const API_SERVER: &str = orc_pod::agent::auth::API_SERVER_CLIENT;

/// The agent's server over TLS on a free loopback port, and the API
/// server's client; stopped when dropped.
struct Agent {
    base: String,
    http: reqwest::Client,
    pki: Pki,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Agent {
    async fn start(node: &Node) -> Agent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel();
        let pki = Pki::new();
        let task = tokio::spawn(server::serve_tls(
            listener,
            pki.agent_tls(),
            std::sync::Arc::new(orc_pod::agent::auth::FixedRule),
            node.layout.clone(),
            "orc-container".into(),
            async {
                let _ = stopped.await;
            },
        ));
        Agent {
            base,
            http: pki.client(Some(API_SERVER)),
            pki,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.get_as(&self.http, path).await
    }

    async fn get_as(&self, client: &reqwest::Client, path: &str) -> (u16, String) {
        let response = client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let code = response.status().as_u16();
        (code, response.text().await.unwrap())
    }

    async fn open_streams(&self) -> u64 {
        let (_, text) = self.get("/metrics").await;
        orc_testkit::metrics::sample(&text, "orc_agent_log_streams").expect("the gauge is served")
            as u64
    }

    /// Polls the gauge until it reads `want`, for at most 10 s.
    async fn wait_open_streams(&self, want: u64) {
        for _ in 0..100 {
            if self.open_streams().await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the server still streams {} logs, expected {want}",
            self.open_streams().await
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

const APP: &str = "/containerLogs/default/web/app";

#[tokio::test]
async fn serves_health_and_the_current_run() {
    let node = Node::new();
    let agent = Agent::start(&node).await;
    assert_eq!(agent.get("/healthz").await, (200, "ok".into()));
    assert_eq!(agent.get(APP).await, (200, "one\ntwo\nthree\n".into()));
    assert_eq!(agent.open_streams().await, 0);
}

#[tokio::test]
async fn only_the_api_server_is_served() {
    let node = Node::new();
    let agent = Agent::start(&node).await;
    let anonymous = agent.pki.client(None);
    assert_eq!(
        agent.get_as(&anonymous, APP).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        agent.get_as(&anonymous, "/healthz").await,
        (200, "ok".into())
    );
    let node_user = agent.pki.client(Some("system:node:n1"));
    assert_eq!(
        agent.get_as(&node_user, "/metrics").await,
        (
            403,
            "Forbidden (user=system:node:n1, verb=get, resource=nodes, subresource=metrics)".into()
        )
    );
    // The client checks the agent too: one trusting another CA refuses it.
    let wary = Pki::new().client(None);
    assert!(
        wary.get(format!("{}/healthz", agent.base))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tail_previous_and_limit_bytes() {
    let node = Node::new();
    let agent = Agent::start(&node).await;
    let get = |query: &str| {
        let path = format!("{APP}?{query}");
        let agent = &agent;
        async move { agent.get(&path).await }
    };
    assert_eq!(get("tailLines=2").await, (200, "two\nthree\n".into()));
    assert_eq!(get("tailLines=0").await, (200, "".into()));
    assert_eq!(get("tailLines=99").await, (200, "one\ntwo\nthree\n".into()));
    assert_eq!(
        get("previous=true").await,
        (200, "starting\npanic: no config\n".into())
    );
    assert_eq!(
        get("previous=true&tailLines=1").await,
        (200, "panic: no config\n".into())
    );
    assert_eq!(get("limitBytes=5").await, (200, "one\nt".into()));
    // Tail first, then the limit, as the kubelet applies them.
    assert_eq!(get("tailLines=1&limitBytes=3").await, (200, "thr".into()));
}

#[tokio::test]
async fn refusals_in_the_kubelets_words() {
    let node = Node::new();
    let agent = Agent::start(&node).await;
    assert_eq!(
        agent.get("/containerLogs/default/nope/app").await,
        (404, "pod \"nope\" does not exist".into())
    );
    assert_eq!(
        agent.get("/containerLogs/other/web/app").await,
        (404, "pod \"web\" does not exist".into())
    );
    assert_eq!(
        agent.get("/containerLogs/default/web/db").await,
        (404, "container \"db\" not found in pod \"web\"".into())
    );
    assert_eq!(
        agent
            .get("/containerLogs/default/web/sidecar?previous=true")
            .await,
        (
            400,
            "previous terminated container \"sidecar\" in pod \"web\" not found".into()
        )
    );
    assert_eq!(
        agent.get("/containerLogs/default/web/sidecar").await,
        (
            400,
            "container \"sidecar\" in pod \"web\" is waiting to start: ContainerCreating".into()
        )
    );
    let (code, text) = agent.get(&format!("{APP}?sinceSeconds=60")).await;
    assert_eq!(code, 400);
    assert!(text.contains("sinceSeconds"), "{text}");
    let (code, text) = agent.get(&format!("{APP}?timestamps=true")).await;
    assert_eq!(code, 400);
    assert!(text.contains("timestamps are not supported"), "{text}");
    let (code, text) = agent.get(&format!("{APP}?tailLines=-1")).await;
    assert_eq!(code, 422);
    assert!(text.contains("tailLines"), "{text}");
    let (code, _) = agent.get(&format!("{APP}?limitBytes=x")).await;
    assert_eq!(code, 400);
}

/// Reads from `response` until the text received ends with `want`.
async fn read_until(response: &mut reqwest::Response, received: &mut String, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !received.ends_with(want) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} within 10 s; got {received:?}"))
            .unwrap()
            .expect("the stream is still open");
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn follow_streams_appends_and_ends_when_the_client_leaves() {
    let node = Node::new();
    let agent = Agent::start(&node).await;
    let mut response = agent
        .http
        .get(format!("{}{APP}?follow=true&tailLines=1", agent.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = String::new();
    read_until(&mut response, &mut received, "three\n").await;
    assert_eq!(received, "three\n");
    node.append("app", 1, "four\n");
    read_until(&mut response, &mut received, "four\n").await;
    node.append("app", 1, "five\n");
    read_until(&mut response, &mut received, "five\n").await;
    assert_eq!(received, "three\nfour\nfive\n");
    assert_eq!(agent.open_streams().await, 1);

    // The client goes away while nothing is being written: the server's
    // stream must end all the same.
    drop(response);
    agent.wait_open_streams(0).await;
}

#[tokio::test]
async fn follow_ends_with_the_run_and_with_limit_bytes() {
    let node = Node::new();
    let agent = Agent::start(&node).await;
    let mut response = agent
        .http
        .get(format!("{}{APP}?follow=true", agent.base))
        .send()
        .await
        .unwrap();
    let mut received = String::new();
    read_until(&mut response, &mut received, "three\n").await;
    node.append("app", 1, "last words\n");
    node.end_run("app", 1);
    // Everything written before the run ended, then the end of the body.
    let rest = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends when the run ends")
        .unwrap();
    assert_eq!(format!("{received}{rest}"), "one\ntwo\nthree\nlast words\n");

    // A followed previous run has ended already: the whole file, then the end.
    let (code, text) = agent.get(&format!("{APP}?previous=true&follow=true")).await;
    assert_eq!((code, text.as_str()), (200, "starting\npanic: no config\n"));

    // The byte limit ends a follow too, counting the followed bytes.
    std::fs::write(node.layout.log(UID, "app", 2), "ab").unwrap();
    let mut response = agent
        .http
        .get(format!("{}{APP}?follow=true&limitBytes=5", agent.base))
        .send()
        .await
        .unwrap();
    let mut received = String::new();
    read_until(&mut response, &mut received, "ab").await;
    node.append("app", 2, "cdefgh");
    let rest = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends at the limit")
        .unwrap();
    assert_eq!(format!("{received}{rest}"), "abcde");
    agent.wait_open_streams(0).await;
}

#[tokio::test]
async fn shutdown_ends_followers() {
    let node = Node::new();
    let mut agent = Agent::start(&node).await;
    let mut response = agent
        .http
        .get(format!("{}{APP}?follow=true", agent.base))
        .send()
        .await
        .unwrap();
    let mut received = String::new();
    read_until(&mut response, &mut received, "three\n").await;
    agent.stop.take().unwrap().send(()).unwrap();
    let task = agent.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("a graceful shutdown does not wait for followers forever")
        .unwrap()
        .unwrap();
    let rest = response.text().await.unwrap();
    assert_eq!(rest, "");
}

/// `orc-agent logs` reads the same files with the same choices, no server needed.
#[test]
fn orc_agent_logs_reads_the_files_directly() {
    let node = Node::new();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orc-agent"))
            .arg("--state")
            .arg(&node.layout.root)
            .arg("logs")
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let text = if out.status.success() {
            out.stdout
        } else {
            out.stderr
        };
        (out.status.success(), String::from_utf8(text).unwrap())
    };
    assert_eq!(
        cli(&["web", "-c", "app"]),
        (true, "one\ntwo\nthree\n".into())
    );
    assert_eq!(
        cli(&["default/web", "-c", "app", "--tail", "1"]),
        (true, "three\n".into())
    );
    assert_eq!(
        cli(&["web", "-c", "app", "--previous", "--tail", "1"]),
        (true, "panic: no config\n".into())
    );
    // The run ended: -f prints everything, then returns.
    node.end_run("app", 1);
    assert_eq!(
        cli(&["web", "-c", "app", "-f"]),
        (true, "one\ntwo\nthree\n".into())
    );
    assert_eq!(
        cli(&["web", "-c", "sidecar", "-p"]),
        (
            false,
            "Error: previous terminated container \"sidecar\" in pod \"web\" not found\n".into()
        )
    );
    let (ok, text) = cli(&["web"]);
    assert!(
        !ok && text.contains("choose one with -c (app, sidecar)"),
        "{text}"
    );
}
