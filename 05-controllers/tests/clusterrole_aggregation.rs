//! The default roles `admin`, `edit` and `view` as users meet them: filled
//! by the aggregation controller, bound with kubectl, checked with
//! `kubectl auth can-i` over HTTPS with token users.
//!
//! Two API servers share one etcd, as in an HA control plane: users reach
//! the HTTPS one, which authenticates tokens and authorizes with RBAC; the
//! controller reaches a plain-HTTP one on loopback (orc-client speaks
//! plain HTTP only).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orc_apiserver::authz::{Mode, Modes};
use orc_apiserver::{Config, Server};
use orc_controllers::ClusterRoleAggregationController;
use orc_testkit::Etcd;
use orc_testkit::kubectl as kube;

/// `admin` is in `system:masters`; the others get a default role in `team`.
const TOKENS: &str =
    "admin-token,admin,1,\"system:masters\"\nann-token,ann,2\ned-token,ed,3\nvic-token,vic,4\n";

struct Cluster {
    _etcd: Etcd,
    dir: tempfile::TempDir,
    https: std::net::SocketAddr,
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
        let mut users = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        users.tls = Some((cert, key));
        users.token_file = Some(tokens);
        users.authorization = Modes(vec![Mode::Rbac]);
        let (https, serving) = serve(users).await;
        let components = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let (plain, serving_plain) = serve(components).await;
        let client = orc_client::Client::new(format!("http://{plain}"));
        let aggregating = tokio::spawn(ClusterRoleAggregationController::run(client));
        Cluster {
            _etcd: etcd,
            dir,
            https,
            tasks: vec![serving, serving_plain, aggregating],
        }
    }

    fn config(&self, user: &str) -> PathBuf {
        kube::https_kubeconfig(self.dir.path(), self.https, &format!("{user}-token"))
    }

    async fn kubectl(&self, user: &str, args: &[&str]) -> (bool, String) {
        let mut command = kube::command(self.dir.path(), &self.config(user));
        command.args(args);
        tokio::task::spawn_blocking(move || kube::output(command))
            .await
            .unwrap()
    }

    async fn can_i(&self, user: &str, args: &[&str]) -> bool {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        let (ok, out) = self.kubectl(user, &all).await;
        assert_eq!(ok, out.starts_with("yes"), "{out}");
        ok
    }

    /// Waits until `user` may do `args`: aggregation and bindings reach
    /// the authorizer through watches, a few milliseconds after the write.
    async fn await_can_i(&self, user: &str, args: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.can_i(user, args).await {
            assert!(Instant::now() < deadline, "{user} never may {args:?}");
        }
    }
}

/// (can-i arguments, then cluster-admin, admin, edit, view).
#[rustfmt::skip]
const MATRIX: &[(&[&str], [bool; 4])] = &[
    (&["list", "pods", "-n", "team"],                   [true, true, true, true]),
    (&["get", "pods", "--subresource=log", "-n", "team"], [true, true, true, true]),
    (&["create", "deployments.apps", "-n", "team"],     [true, true, true, false]),
    (&["get", "secrets", "-n", "team"],                 [true, true, true, false]),
    (&["create", "pods", "--subresource=exec", "-n", "team"], [true, true, true, false]),
    (&["create", "rolebindings", "-n", "team"],         [true, true, false, false]),
    (&["list", "pods", "-n", "elsewhere"],              [true, false, false, false]),
    (&["delete", "nodes"],                              [true, false, false, false]),
    (&["create", "clusterroles"],                       [true, false, false, false]),
];

#[tokio::test]
async fn default_roles_grant_what_kubernetes_grants() {
    let c = Cluster::start().await;
    let (ok, out) = c.kubectl("admin", &["create", "namespace", "team"]).await;
    assert!(ok, "{out}");
    for (user, role) in [("ann", "admin"), ("ed", "edit"), ("vic", "view")] {
        let name = format!("{user}-{role}");
        let user_flag = format!("--user={user}");
        let role_flag = format!("--clusterrole={role}");
        let args = [
            "create",
            "rolebinding",
            &name,
            &role_flag,
            &user_flag,
            "-n",
            "team",
        ];
        let (ok, out) = c.kubectl("admin", &args).await;
        assert!(ok, "{out}");
    }
    // view's rules come from aggregation, then the bindings' watch.
    c.await_can_i("vic", &["list", "pods", "-n", "team"]).await;
    c.await_can_i("ann", &["create", "rolebindings", "-n", "team"])
        .await;
    for (args, expected) in MATRIX {
        for (user, want) in ["admin", "ann", "ed", "vic"].iter().zip(expected) {
            assert_eq!(c.can_i(user, args).await, *want, "{user} can-i {args:?}");
        }
    }
    let (ok, out) = c.kubectl("vic", &["get", "secrets", "-n", "team"]).await;
    assert!(!ok);
    assert!(
        out.contains("Error from server (Forbidden): secrets is forbidden: User \"vic\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team\""),
        "{out}"
    );
}

#[tokio::test]
async fn a_labelled_cluster_role_adds_its_rules_to_view_and_edit() {
    let c = Cluster::start().await;
    let (ok, out) = c.kubectl("admin", &["create", "namespace", "team"]).await;
    assert!(ok, "{out}");
    for (user, role) in [("vic", "view"), ("ed", "edit")] {
        let args = [
            "create",
            "rolebinding",
            user,
            &format!("--clusterrole={role}"),
            &format!("--user={user}"),
            "-n",
            "team",
        ];
        let (ok, out) = c.kubectl("admin", &args).await;
        assert!(ok, "{out}");
    }
    let leases = ["list", "leases.coordination.k8s.io", "-n", "team"];
    c.await_can_i("vic", &["list", "pods", "-n", "team"]).await;
    assert!(!c.can_i("vic", &leases).await);
    let manifest = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: lease-viewer\n  labels:\n    \
                    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:\n- apiGroups: [coordination.k8s.io]\n  \
                    resources: [leases]\n  verbs: [get, list, watch]\n";
    let path = c.dir.path().join("lease-viewer.yaml");
    std::fs::write(&path, manifest).unwrap();
    let (ok, out) = c
        .kubectl("admin", &["apply", "-f", path.to_str().unwrap()])
        .await;
    assert!(ok, "{out}");
    c.await_can_i("vic", &leases).await;
    // edit gathers view's rules, one reconcile later.
    c.await_can_i("ed", &leases).await;
    let (ok, out) = c
        .kubectl(
            "admin",
            &[
                "get",
                "clusterrole",
                "view",
                "-o",
                "jsonpath={.rules[*].resources}",
            ],
        )
        .await;
    assert!(ok && out.contains("leases"), "{out}");
    // Removing the label takes the rules away again.
    let (ok, out) = c
        .kubectl(
            "admin",
            &[
                "label",
                "clusterrole",
                "lease-viewer",
                "rbac.authorization.k8s.io/aggregate-to-view-",
            ],
        )
        .await;
    assert!(ok, "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.can_i("vic", &leases).await {
        assert!(Instant::now() < deadline, "view kept the lease rules");
    }
}
