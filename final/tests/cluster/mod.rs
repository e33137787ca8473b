//! The pieces of a cluster the `orc` end-to-end tests share: an API server
//! on its own etcd, `orc agent` processes for chapter 02's test nodes, and
//! the installed kubectl against them.

#![allow(dead_code)] // Each test file uses a different part.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orc_apiserver::agent_client::AgentClientFiles;
use orc_apiserver::pki::{PkiDir, Subject, Usage};
use orc_apiserver::{Config, Server};
use orc_client::{Client, Method};
use orc_testkit::{Etcd, require_command};
use serde_json::{Value, json};

use crate::agent_node::Node;

/// An API server on its own etcd. Its clients speak plain HTTP on
/// loopback, but its hop to the agents is what `orc up` makes it: TLS with
/// a certificate from a CA of the test's own, which the agents trust.
pub struct ApiServer {
    pub url: String,
    pub client: Client,
    /// The CA the agents' and the API server's hop certificates come from.
    pub pki: PkiDir,
    task: tokio::task::JoinHandle<()>,
    _etcd: Etcd,
    _pki_dir: tempfile::TempDir,
}

impl ApiServer {
    pub async fn start() -> ApiServer {
        Self::start_with(|_| {}).await
    }

    /// [`start`](Self::start) with `configure` applied to the server's
    /// configuration first (a shorter metric resolution, ...).
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> ApiServer {
        require_command("etcd");
        let etcd = Etcd::start();
        let pki_dir = tempfile::tempdir().unwrap();
        let pki = PkiDir::open(pki_dir.path()).unwrap();
        let ca = pki.ca().unwrap();
        let subject = Subject::new("kube-apiserver-kubelet-client");
        let (certificate, key) = pki
            .write(
                "apiserver-kubelet-client",
                &ca.issue(&subject, &Usage::Client).unwrap(),
            )
            .unwrap();
        let mut config = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        config.agent_client = Some(AgentClientFiles {
            certificate,
            key,
            certificate_authority: pki.path("ca.crt"),
        });
        configure(&mut config);
        let server = Server::bind(config).await.expect("server binds");
        let url = format!("http://{}", server.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        ApiServer {
            client: Client::new(&url),
            url,
            pki,
            task,
            _etcd: etcd,
            _pki_dir: pki_dir,
        }
    }

    pub async fn get(&self, path: &str) -> Option<Value> {
        self.client
            .send_path(Method::GET, path, None, None)
            .await
            .ok()
    }

    /// POSTs `body` (JSON) to `path` and returns the created object;
    /// panics with the API's answer when it is refused.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.client
            .send_path(
                Method::POST,
                path,
                None,
                Some(("application/json", body.to_string())),
            )
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Polls `path` until `done` holds for the object; panics after `limit`
    /// with the last answer.
    pub async fn wait_for(
        &self,
        path: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.get(path).await;
            if let Some(obj) = got.as_ref().filter(|o| done(o)) {
                return obj.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{path}: condition not met in {limit:?}; last: {}",
                serde_json::to_string_pretty(&got).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `orc agent` process; stopped with SIGTERM (by pid) when dropped,
/// and its log printed when the test failed.
pub struct AgentProcess {
    child: Child,
    log: std::path::PathBuf,
}

impl AgentProcess {
    /// Starts `orc agent` for `node`, its HTTP port on `port` (a free one:
    /// tests run in parallel, so not the kubelet's 10250).
    pub fn start(
        node: &Node,
        name: &str,
        api: &ApiServer,
        port: u16,
        log_name: &str,
    ) -> AgentProcess {
        Self::start_at(node, name, api, port, log_name, Ipv4Addr::LOCALHOST)
    }

    /// [`start`](Self::start) for a node whose address (its Node's
    /// InternalIP, where the other nodes route its pods) is `node_ip`, on an
    /// underlay inside the node's namespace. The agent's HTTP server still
    /// listens on loopback, in the agent's own namespace: the API server
    /// cannot reach it there, so `kubectl logs` does not work on such a node.
    pub fn start_at(
        node: &Node,
        name: &str,
        api: &ApiServer,
        port: u16,
        log_name: &str,
        node_ip: Ipv4Addr,
    ) -> AgentProcess {
        Self::spawn(node, name, api, port, log_name, node_ip, None, &[])
    }

    /// [`start`](Self::start) logged in with the kubeconfig `login` (a
    /// node's credential, for an API server that authorizes), with
    /// `extra` flags.
    pub fn start_as(
        node: &Node,
        name: &str,
        api: &ApiServer,
        port: u16,
        login: &Path,
        extra: &[&str],
    ) -> AgentProcess {
        let localhost = Ipv4Addr::LOCALHOST;
        Self::spawn(
            node,
            name,
            api,
            port,
            "agent.log",
            localhost,
            Some(login),
            extra,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        node: &Node,
        name: &str,
        api: &ApiServer,
        port: u16,
        log_name: &str,
        node_ip: Ipv4Addr,
        login: Option<&Path>,
        extra: &[&str],
    ) -> AgentProcess {
        let log = node.dir.path().join(log_name);
        let out = std::fs::File::create(&log).unwrap();
        let c = &node.config;
        // The node's DNS forwards names outside the cluster to loopback
        // only: tests send nothing to the machine's real resolvers.
        let resolv_conf = node.dir.path().join("host-resolv.conf");
        std::fs::write(&resolv_conf, "nameserver 127.0.0.1\n").unwrap();
        // Its port serves TLS for its addresses, to the API server alone.
        let names = vec!["127.0.0.1".to_string(), node_ip.to_string()];
        let serving = api
            .pki
            .ca()
            .unwrap()
            .issue(
                &Subject::new(&format!("system:node:{name}")),
                &Usage::Server { names },
            )
            .unwrap();
        let (cert, key) = api.pki.write(&format!("agent-{name}"), &serving).unwrap();
        let login = match login {
            Some(kubeconfig) => ["--kubeconfig".into(), kubeconfig.display().to_string()],
            None => ["--server".into(), api.url.clone()],
        };
        let child = Command::new(env!("CARGO_BIN_EXE_orc"))
            .arg("agent")
            .args(login)
            .args([
                "--node-name",
                name,
                "--node-ip",
                &node_ip.to_string(),
                "--address",
                "127.0.0.1",
            ])
            .args(["--pod-cidr", &c.pod_cidr.to_string()])
            .args(["--cluster-cidr", &c.cluster_cidr.to_string()])
            .arg("--state-dir")
            .arg(&c.state_dir)
            .arg("--images")
            .arg(node.dir.path().join("images"))
            .arg("--node-netns")
            .arg(&c.node_netns)
            .args(["--cgroup-root", &c.cgroup_root, "--bridge", &c.bridge])
            .args(["--port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-private-key-file")
            .arg(&key)
            .arg("--client-ca-file")
            .arg(api.pki.path("ca.crt"))
            .args(["--sync-period", "200ms", "--lease-period", "1s"])
            .args(["--iptables-min-sync-period", "200ms"])
            // Tests run in parallel, several agents on loopback: the
            // ingress's ports 80 and 443 would be taken by the first.
            .arg("--disable=ingress")
            .arg("--resolv-conf")
            .arg(&resolv_conf)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("orc agent starts");
        AgentProcess { child, log }
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- orc agent log ({}) ----\n{log}", self.log.display());
        }
    }
}

/// A cluster of one node `name`: an API server, `orc agent` on a test
/// node (its Node Ready), and a kubeconfig for the installed kubectl.
pub async fn one_node(name: &str) -> (Node, ApiServer, AgentProcess, std::path::PathBuf) {
    let node = Node::new();
    let api = ApiServer::start().await;
    let port = orc_testkit::ports::free_port();
    let agent = AgentProcess::start(&node, name, &api, port, "agent.log");
    let limit = Duration::from_secs(60);
    api.wait_for(&format!("/api/v1/nodes/{name}"), limit, agent_node_ready)
        .await;
    let config = kubeconfig(node.dir.path(), &api);
    (node, api, agent, config)
}

/// Deletes pods `names` of `default` and waits until their node has
/// stopped them and the objects are gone.
pub async fn delete_pods(api: &ApiServer, names: &[&str]) {
    for name in names {
        let path = format!("/api/v1/namespaces/default/pods/{name}");
        let _ = api
            .client
            .send_path(Method::DELETE, &path, None, None)
            .await;
    }
    for name in names {
        let path = format!("/api/v1/namespaces/default/pods/{name}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.get(&path).await.is_some() {
            assert!(Instant::now() < deadline, "{name} not deleted by its node");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The end of a one-node test: pods `names` deleted through the API, the
/// agent stopped, and nothing of theirs left on the node (no container,
/// no mount).
pub async fn tear_down(node: &Node, api: &ApiServer, agent: &mut AgentProcess, names: &[&str]) {
    delete_pods(api, names).await;
    agent.stop();
    assert_eq!(node.containers(), vec![], "containers left");
    assert_eq!(
        node.mounts_left(),
        Vec::<std::path::PathBuf>::new(),
        "mounts left"
    );
}

/// Whether the pod runs (its first container too).
pub fn running(pod: &Value) -> bool {
    pod.pointer("/status/phase") == Some(&json!("Running"))
        && pod
            .pointer("/status/containerStatuses/0/state/running")
            .is_some()
}

/// A kubeconfig for `api` in `dir`.
pub fn kubeconfig(dir: &Path, api: &ApiServer) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: {}\n\
             users:\n- name: orc\n  user: {{}}\ncontexts:\n- name: orc\n  context: {{cluster: orc, user: orc}}\n\
             current-context: orc\n",
            api.url
        ),
    )
    .unwrap();
    path
}

/// Runs the installed kubectl off the async runtime; insists it succeeds
/// and answers what it printed.
pub async fn kubectl(config: &Path, args: &[&str]) -> String {
    let (success, text) = kubectl_status(config, args).await;
    assert!(success, "kubectl {args:?}: {text}");
    text
}

/// Runs the installed kubectl; answers whether it succeeded and what it
/// printed (stdout, then stderr).
pub async fn kubectl_status(config: &Path, args: &[&str]) -> (bool, String) {
    let mut command = kubectl_command(config, args);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The installed kubectl with `args`, against the cluster of `config`
/// (its discovery cache beside it).
pub fn kubectl_command(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(require_command("kubectl"));
    command
        .arg(format!("--kubeconfig={}", config.display()))
        .arg(format!(
            "--cache-dir={}",
            config.with_file_name("kube-cache").display()
        ))
        .args(args);
    command
}

/// Whether a Node object says its agent is ready.
pub fn agent_node_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == "Ready" && c["status"] == "True" && c["reason"] == "KubeletReady"
            })
        })
}
