//! Every namespace's `default` ServiceAccount, as a user meets it: made
//! when the namespace is, made again when deleted, and a token of it
//! (`kubectl create token default`) refused until a RoleBinding grants
//! the default role `view`.
//!
//! As in `clusterrole_aggregation.rs`, two API servers share one etcd:
//! users reach the HTTPS one (tokens, service account tokens, RBAC); the
//! controllers reach a plain-HTTP one on loopback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orc_apiserver::authz::{Mode, Modes};
use orc_apiserver::pki::PkiDir;
use orc_apiserver::{Config, Server};
use orc_controllers::{ClusterRoleAggregationController, ServiceAccountsController};
use orc_testkit::Etcd;
use orc_testkit::kubectl as kube;

const TOKENS: &str = "admin-token,admin,1,\"system:masters\"\n";

struct Cluster {
    _etcd: Etcd,
    dir: tempfile::TempDir,
    config: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn serve(config: Config) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let server = Server::bind(config).await.expect("the API server binds");
    let addr = server.local_addr().unwrap();
    (
        addr,
        tokio::spawn(async move { drop(server.serve().await) }),
    )
}

impl Cluster {
    async fn start() -> Cluster {
        let etcd = Etcd::start();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = kube::self_signed_cert(dir.path());
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).unwrap();
        let sa_key = PkiDir::open(&dir.path().join("pki"))
            .unwrap()
            .service_account_key()
            .unwrap();
        let mut users = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        users.tls = Some((cert, key));
        users.token_file = Some(tokens);
        users.service_account_key_file = Some(sa_key);
        users.authorization = Modes(vec![Mode::Rbac]);
        let (https, serving) = serve(users).await;
        let components = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let (plain, serving_plain) = serve(components).await;
        let client = || orc_client::Client::new(format!("http://{plain}"));
        let aggregating = tokio::spawn(ClusterRoleAggregationController::run(client()));
        let accounts = tokio::spawn(ServiceAccountsController::run(client(), 2));
        let config = kube::https_kubeconfig(dir.path(), https, "admin-token");
        Cluster {
            _etcd: etcd,
            dir,
            config,
            tasks: vec![serving, serving_plain, aggregating, accounts],
        }
    }

    async fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let mut command = kube::command(self.dir.path(), &self.config);
        command.args(args);
        tokio::task::spawn_blocking(move || kube::output(command))
            .await
            .unwrap()
    }

    async fn admin(&self, args: &[&str]) -> String {
        let (ok, out) = self.kubectl(args).await;
        assert!(ok, "kubectl {args:?}: {out}");
        out
    }

    /// Waits until `args` succeed (the controller and the authorizer
    /// follow watches: their effect is an event after the write); the
    /// output then.
    async fn await_ok(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (ok, out) = self.kubectl(args).await;
            if ok {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "kubectl {args:?} never passed: {out}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const UID: &str = "jsonpath={.metadata.uid}";

#[tokio::test]
async fn every_namespace_gets_a_default_service_account_back() {
    let c = Cluster::start().await;
    // The namespaces that exist at start have one too.
    c.await_ok(&["get", "sa", "default", "-n", "kube-system"])
        .await;
    c.admin(&["create", "namespace", "team"]).await;
    let first = c
        .await_ok(&["get", "sa", "default", "-n", "team", "-o", UID])
        .await;
    assert!(!first.is_empty());
    c.admin(&["delete", "sa", "default", "-n", "team"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = c
            .await_ok(&["get", "sa", "default", "-n", "team", "-o", UID])
            .await;
        if again != first {
            break;
        }
        assert!(Instant::now() < deadline, "default was never made again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_default_token_is_refused_until_a_rolebinding_grants_view() {
    let c = Cluster::start().await;
    c.admin(&["create", "namespace", "team"]).await;
    c.await_ok(&["get", "sa", "default", "-n", "team"]).await;
    let token = c.admin(&["create", "token", "default", "-n", "team"]).await;
    let token = token.trim().to_string();
    let pods = ["--token", &token, "get", "pods", "-n", "team"];
    let (ok, out) = c.kubectl(&pods).await;
    assert!(!ok);
    assert!(
        out.contains("pods is forbidden: User \"system:serviceaccount:team:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"team\""),
        "{out}"
    );
    c.admin(&[
        "create",
        "rolebinding",
        "default-view",
        "--clusterrole=view",
        "--serviceaccount=team:default",
        "-n",
        "team",
    ])
    .await;
    let out = c.await_ok(&pods).await;
    assert!(
        out.contains("No resources found in team namespace"),
        "{out}"
    );
    // view reads, never Secrets.
    let (ok, out) = c
        .kubectl(&["--token", &token, "get", "secrets", "-n", "team"])
        .await;
    assert!(
        !ok && out.contains("cannot list resource \"secrets\""),
        "{out}"
    );
}
