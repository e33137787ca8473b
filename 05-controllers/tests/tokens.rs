//! Long-lived ServiceAccount tokens, as a user makes one: a Secret of type
//! `kubernetes.io/service-account-token` naming the account is filled by
//! the tokens controller, its token logs in as the account, and deleting
//! the account deletes the Secret and ends the token.
//!
//! One HTTPS API server with tokens, service account tokens and RBAC;
//! the controller logs in as `system:kube-controller-manager`, as in
//! `orc up`, so the bootstrap policy's role for it is tested too.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use orc_apiserver::authz::{Mode, Modes};
use orc_apiserver::pki::{PkiDir, Subject, Usage, serving_names};
use orc_apiserver::{Config, Server};
use orc_controllers::TokensController;
use orc_testkit::Etcd;
use orc_testkit::kubectl as kube;

const TOKENS: &str = "admin-token,admin,1,\"system:masters\"\n\
                      controller-manager-token,system:kube-controller-manager,2\n";

/// How long a controller's effect may take to show.
const WAIT: Duration = Duration::from_secs(20);

struct Cluster {
    _etcd: Etcd,
    dir: tempfile::TempDir,
    config: PathBuf,
    /// The CA bundle the controller writes into each Secret's `ca.crt`.
    ca: String,
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
        // A cluster CA and a serving certificate from it: the CA is what
        // the controller trusts and what it writes into `ca.crt`.
        let pki = PkiDir::open(&dir.path().join("pki")).unwrap();
        let authority = pki.ca().unwrap();
        let names = serving_names(&[], "10.96.0.1".parse().unwrap());
        let serving = authority
            .issue(&Subject::new("kube-apiserver"), &Usage::Server { names })
            .unwrap();
        let (cert, key) = pki.write("apiserver", &serving).unwrap();
        let ca = authority.cert_pem().to_string();
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).unwrap();
        let sa_key = pki.service_account_key().unwrap();
        let mut users = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        users.tls = Some((cert, key));
        users.token_file = Some(tokens);
        users.service_account_key_file = Some(sa_key);
        users.authorization = Modes(vec![Mode::Rbac]);
        let (https, serving) = serve(users).await;
        // The controller logs in as kube-controller-manager does, so its
        // role (the bootstrap policy's) is what lets it work.
        let tls = orc_client::tls::ClientTls::new(ca.as_bytes(), None).unwrap();
        let client = orc_client::Client::new(format!("https://{https}"))
            .with_tls(&tls)
            .with_token("controller-manager-token");
        let controller = tokio::spawn(TokensController::run(client, Some(ca.clone()), 2));
        let config = kube::https_kubeconfig(dir.path(), https, "admin-token");
        Cluster {
            _etcd: etcd,
            dir,
            config,
            ca,
            tasks: vec![serving, controller],
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

    /// `kubectl create -f` of `yaml`.
    async fn create(&self, yaml: &str) -> (bool, String) {
        let file = self.dir.path().join("object.yaml");
        std::fs::write(&file, yaml).unwrap();
        self.kubectl(&["create", "-f", file.to_str().unwrap()])
            .await
    }

    /// Polls `args` until `done` holds of its outcome, within [`WAIT`].
    async fn until(&self, args: &[&str], done: impl Fn(bool, &str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let (ok, out) = self.kubectl(args).await;
            if done(ok, &out) {
                return out;
            }
            assert!(Instant::now() < deadline, "kubectl {args:?}: {out}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Data key `key` of Secret `team/name`, decoded.
    async fn data(&self, name: &str, key: &str) -> String {
        let path = format!("jsonpath={{.data.{}}}", key.replace('.', "\\."));
        let encoded = self
            .admin(&["get", "secret", name, "-n", "team", "-o", &path])
            .await;
        String::from_utf8(STANDARD.decode(encoded.trim()).unwrap()).unwrap()
    }
}

fn token_secret(name: &str, account: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team\n  \
         annotations:\n    kubernetes.io/service-account.name: {account}\n\
         type: kubernetes.io/service-account-token\n"
    )
}

const USERNAME: &str = "jsonpath={.status.userInfo.username}";

#[tokio::test]
async fn a_token_secret_is_filled_logs_in_as_its_account_and_goes_with_it() {
    let c = Cluster::start().await;
    c.admin(&["create", "namespace", "team"]).await;
    c.admin(&["create", "serviceaccount", "robot", "-n", "team"])
        .await;
    let (ok, out) = c.create(&token_secret("robot-token", "robot")).await;
    assert!(ok, "{out}");

    // Filled by the controller: token, CA, namespace, the account's uid.
    let token_path = "jsonpath={.data.token}";
    let secret = [
        "get",
        "secret",
        "robot-token",
        "-n",
        "team",
        "-o",
        token_path,
    ];
    c.until(&secret, |ok, out| ok && !out.trim().is_empty())
        .await;
    let token = c.data("robot-token", "token").await;
    assert_eq!(c.data("robot-token", "ca.crt").await, c.ca);
    assert_eq!(c.data("robot-token", "namespace").await, "team");
    let uid = c
        .admin(&[
            "get",
            "sa",
            "robot",
            "-n",
            "team",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    let recorded = c
        .admin(&[
            "get",
            "secret",
            "robot-token",
            "-n",
            "team",
            "-o",
            "jsonpath={.metadata.annotations.kubernetes\\.io/service-account\\.uid}",
        ])
        .await;
    assert_eq!(recorded, uid);

    // The token logs in as the account.
    let whoami = ["--token", &token, "auth", "whoami", "-o", USERNAME];
    let (ok, user) = c.kubectl(&whoami).await;
    assert!(ok, "{user}");
    assert_eq!(user, "system:serviceaccount:team:robot");

    // The account goes: the Secret goes, and the token stops working.
    c.admin(&["delete", "sa", "robot", "-n", "team"]).await;
    let gone = ["get", "secret", "robot-token", "-n", "team"];
    c.until(&gone, |ok, out| !ok && out.contains("NotFound"))
        .await;
    let (ok, out) = c.kubectl(&whoami).await;
    assert!(!ok && out.contains("Unauthorized"), "{out}");
}

#[tokio::test]
async fn a_token_secret_must_name_an_account_that_exists() {
    let c = Cluster::start().await;
    c.admin(&["create", "namespace", "team"]).await;
    // No annotation: refused by the API server, with the field.
    let unnamed = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: unnamed\n  namespace: team\n\
                   type: kubernetes.io/service-account-token\n";
    let (ok, out) = c.create(unnamed).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("metadata.annotations[kubernetes.io/service-account.name]: Required value"),
        "{out}"
    );
    // Naming an account that does not exist: accepted, then deleted by
    // the controller, as Kubernetes' does.
    let (ok, out) = c.create(&token_secret("ghost-token", "ghost")).await;
    assert!(ok, "{out}");
    let ghost = ["get", "secret", "ghost-token", "-n", "team"];
    c.until(&ghost, |ok, out| !ok && out.contains("NotFound"))
        .await;
}
