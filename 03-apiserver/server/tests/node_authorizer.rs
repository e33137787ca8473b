//! The Node authorizer and NodeRestriction, as a stolen node credential
//! meets them: a server started with `--authorization-mode=Node,RBAC`, two
//! nodes' tokens (`system:node:a`, `system:node:b` in `system:nodes`), and
//! the real kubectl for each.
//!
//! Node `a` reads the Secret its pod names but not node `b`'s pod's; it
//! cannot write node `b` nor `b`'s pods; it gets a token only for its own
//! pod's ServiceAccount, bound to that pod; and a pod bound to it later
//! makes its Secret readable with no restart (the graph follows a watch).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestServer;
use common::kubectl::{kubectl, self_signed_cert};
use orc_apiserver::authz::Modes;
use orc_apiserver::pki::PkiDir;

/// The admin, and the two nodes' credentials as their agents hold them.
const TOKENS: &str = "admin-token,admin,1,\"system:masters\"\n\
node-a-token,system:node:a,2,\"system:nodes\"\n\
node-b-token,system:node:b,3,\"system:nodes\"\n";

/// A `Node,RBAC` server over HTTPS with the users above.
struct Cluster {
    _server: TestServer,
    dir: tempfile::TempDir,
    configs: Vec<(&'static str, PathBuf)>,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed_cert(dir.path());
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).unwrap();
        let pki = PkiDir::open(&dir.path().join("pki")).unwrap();
        let signing_key = pki.service_account_key().unwrap();
        let server = TestServer::start_with(|c| {
            c.tls = Some((cert, key));
            c.token_file = Some(tokens);
            c.service_account_key_file = Some(signing_key);
            c.authorization = Modes::node_and_rbac();
        })
        .await;
        let configs = ["admin", "node-a", "node-b"]
            .map(|user| {
                let token = format!("{user}-token");
                let sub = dir.path().join(user);
                std::fs::create_dir_all(&sub).unwrap();
                let config = orc_testkit::kubectl::https_kubeconfig(&sub, server.addr, &token);
                (user, config)
            })
            .to_vec();
        Cluster {
            _server: server,
            dir,
            configs,
        }
    }

    /// kubectl as `user`: whether it succeeded, and what it printed.
    async fn kubectl(&self, user: &str, args: &[&str]) -> (bool, String) {
        let config = &self.configs.iter().find(|(u, _)| *u == user).unwrap().1;
        kubectl(self.dir.path(), config, args).await
    }

    /// kubectl as `admin`, which must succeed.
    async fn admin(&self, args: &[&str]) -> String {
        let (ok, out) = self.kubectl("admin", args).await;
        assert!(ok, "kubectl {args:?}: {out}");
        out
    }

    /// Applies `manifest` as `admin`.
    async fn apply(&self, manifest: &str) {
        let path = write(self.dir.path(), manifest);
        self.admin(&["apply", "-f", path.to_str().unwrap()]).await;
    }
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join(format!("m{}.yaml", orc_testkit::unique_name("")));
    std::fs::write(&path, text).unwrap();
    path
}

/// Secret `s-<node>`, and pod `p-<node>` bound to `<node>` naming it (in
/// an environment variable on `a`, in a volume on `b`) and running as
/// ServiceAccount `web`.
const PODS: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n---\n\
apiVersion: v1\nkind: Secret\nmetadata: {name: s-a}\nstringData: {p: one}\n---\n\
apiVersion: v1\nkind: Secret\nmetadata: {name: s-b}\nstringData: {p: two}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: p-a}\nspec: {nodeName: a, serviceAccountName: web, \
containers: [{name: c, image: busybox, env: [{name: P, valueFrom: {secretKeyRef: {name: s-a, key: p}}}]}]}\n\
---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-b}\nspec: {nodeName: b, serviceAccountName: web, \
containers: [{name: c, image: busybox}], volumes: [{name: s, secret: {secretName: s-b}}]}\n";

#[tokio::test]
async fn a_node_reads_only_the_secrets_its_own_pods_name() {
    let c = Cluster::start().await;
    c.apply(PODS).await;
    let (ok, out) = c.kubectl("node-a", &["get", "secret", "s-a"]).await;
    assert!(ok, "{out}");
    let (ok, out) = c.kubectl("node-a", &["get", "secret", "s-b"]).await;
    assert!(!ok);
    assert!(
        out.contains(
            "secrets \"s-b\" is forbidden: User \"system:node:a\" cannot get resource \"secrets\" \
             in API group \"\" in the namespace \"default\": no relationship found between node 'a' \
             and this object"
        ),
        "{out}"
    );
    // Never the whole list, even of its own namespace.
    let (ok, out) = c.kubectl("node-a", &["get", "secrets"]).await;
    assert!(!ok && out.contains("No Object name found"), "{out}");
    let (ok, _) = c.kubectl("node-b", &["get", "secret", "s-b"]).await;
    assert!(ok);

    // `kubectl auth can-i` as the node answers as Kubernetes does.
    let as_a = ["--as", "system:node:a", "--as-group", "system:nodes"];
    let can_i = |what: &'static str| {
        let mut args = vec!["auth", "can-i", "get", what];
        args.extend(as_a);
        args
    };
    let (ok, out) = c.kubectl("admin", &can_i("secret/s-a")).await;
    assert!(ok && out.trim() == "yes", "{out}");
    let (ok, out) = c.kubectl("admin", &can_i("secret/s-b")).await;
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "no - no relationship found between node 'a' and this object"
    );
}

#[tokio::test]
async fn a_node_writes_only_its_own_node_and_its_own_pods() {
    let c = Cluster::start().await;
    c.apply(PODS).await;
    let node = |name: &str| {
        write(
            c.dir.path(),
            // JSON, which `--raw` sends as it is.
            &format!(r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}"}}}}"#),
        )
    };
    let (ok, out) = c
        .kubectl("node-a", &["create", "-f", node("a").to_str().unwrap()])
        .await;
    assert!(ok, "{out}");
    let (ok, out) = c
        .kubectl("node-a", &["create", "-f", node("b").to_str().unwrap()])
        .await;
    assert!(!ok);
    assert!(
        out.contains("nodes \"b\" is forbidden: node \"a\" is not allowed to modify node \"b\""),
        "{out}"
    );
    c.admin(&["create", "-f", node("b").to_str().unwrap()])
        .await;
    // kubectl reads the Node before patching it: only its own.
    let unschedulable = ["-p", r#"{"spec":{"unschedulable":true}}"#];
    let patch_b = [&["patch", "node", "b"][..], &unschedulable].concat();
    let (ok, out) = c.kubectl("node-a", &patch_b).await;
    assert!(
        !ok && out.contains("node 'a' cannot read 'b', only its own Node object"),
        "{out}"
    );
    // A write without a read: the authorizer lets an update through, and
    // NodeRestriction, with the Node in hand, refuses it.
    let b = node("b");
    let replace_b = [
        "replace",
        "--raw",
        "/api/v1/nodes/b",
        "-f",
        b.to_str().unwrap(),
    ];
    let (ok, out) = c.kubectl("node-a", &replace_b).await;
    assert!(
        !ok && out.contains("node \"a\" is not allowed to modify node \"b\""),
        "{out}"
    );
    // Its own Node, but not the labels that steer workloads to it.
    let (ok, out) = c
        .kubectl(
            "node-a",
            &[
                "label",
                "node",
                "a",
                "node-restriction.kubernetes.io/secure=yes",
            ],
        )
        .await;
    assert!(
        !ok && out
            .contains("is not allowed to modify labels: node-restriction.kubernetes.io/secure"),
        "{out}"
    );
    let (ok, out) = c
        .kubectl("node-a", &["label", "node", "a", "rack=r1"])
        .await;
    assert!(ok, "{out}");

    // Pod status: its own pods only (a PUT of the status, as the agent
    // sends it; kubectl's patch would read `pods/status` first, which a
    // node may not); deletion likewise.
    let status = |pod: &str| format!("/api/v1/namespaces/default/pods/{pod}/status");
    let file = running(&c, "p-a").await;
    let (ok, out) = c
        .kubectl(
            "node-a",
            &[
                "replace",
                "--raw",
                &status("p-a"),
                "-f",
                file.to_str().unwrap(),
            ],
        )
        .await;
    assert!(ok, "{out}");
    let file = running(&c, "p-b").await;
    let (ok, out) = c
        .kubectl(
            "node-a",
            &[
                "replace",
                "--raw",
                &status("p-b"),
                "-f",
                file.to_str().unwrap(),
            ],
        )
        .await;
    assert!(!ok);
    assert!(
        out.contains(
            "pods \"p-b\" is forbidden: node \"a\" can only update pod status for pods with \
             spec.nodeName set to itself"
        ),
        "{out}"
    );
    let (ok, out) = c
        .kubectl("node-a", &["delete", "pod", "p-b", "--wait=false"])
        .await;
    assert!(
        !ok && out.contains("can only delete pods with spec.nodeName set to itself"),
        "{out}"
    );
    let phase = c
        .admin(&["get", "pod", "p-b", "-o", "jsonpath={.status.phase}"])
        .await;
    assert_eq!(phase, "Pending");
}

/// Pod `pod` as stored, with `status.phase` Running, in a file.
async fn running(c: &Cluster, pod: &str) -> PathBuf {
    let json = c.admin(&["get", "pod", pod, "-o", "json"]).await;
    let mut object: serde_json::Value = serde_json::from_str(&json).unwrap();
    object["status"]["phase"] = "Running".into();
    write(c.dir.path(), &object.to_string())
}

/// A TokenRequest for ServiceAccount `account` as `user`, with `spec`.
async fn token(c: &Cluster, user: &str, account: &str, spec: &str) -> (bool, String) {
    let body = format!(
        r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{spec}}}"#
    );
    let file = write(c.dir.path(), &body);
    let path = format!("/api/v1/namespaces/default/serviceaccounts/{account}/token");
    c.kubectl(
        user,
        &["create", "--raw", &path, "-f", file.to_str().unwrap()],
    )
    .await
}

/// A TokenRequest spec bound to `pod` with `uid`.
fn bound_to(pod: &str, uid: &str) -> String {
    format!(
        r#"{{"boundObjectRef":{{"apiVersion":"v1","kind":"Pod","name":"{pod}","uid":"{uid}"}}}}"#
    )
}

#[tokio::test]
async fn a_node_gets_tokens_only_for_its_pods_account_bound_to_its_pod() {
    let c = Cluster::start().await;
    c.apply(PODS).await;
    let uid_a = c
        .admin(&["get", "pod", "p-a", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let uid_b = c
        .admin(&["get", "pod", "p-b", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let (ok, out) = token(&c, "node-a", "web", &bound_to("p-a", &uid_a)).await;
    assert!(ok && out.contains("\"token\""), "{out}");
    // Bound to b's pod: refused, though the account is one a's pod runs as.
    let (ok, out) = token(&c, "node-a", "web", &bound_to("p-b", &uid_b)).await;
    assert!(
        !ok && out.contains("node requested token bound to a pod scheduled on a different node"),
        "{out}"
    );
    let (ok, out) = token(&c, "node-a", "web", "{}").await;
    assert!(
        !ok && out.contains("node requested token not bound to a pod"),
        "{out}"
    );
    // An account no pod of the node runs as: the authorizer refuses.
    c.admin(&["create", "serviceaccount", "other"]).await;
    let (ok, out) = token(&c, "node-a", "other", &bound_to("p-a", &uid_a)).await;
    assert!(
        !ok && out.contains("no relationship found between node 'a' and this object"),
        "{out}"
    );
}

#[tokio::test]
async fn a_pod_bound_later_makes_its_secret_readable_without_a_restart() {
    let c = Cluster::start().await;
    c.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: late}\nstringData: {p: x}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: waiting}\n\
         spec: {containers: [{name: c, image: busybox, envFrom: [{secretRef: {name: late}}]}]}\n",
    )
    .await;
    let (ok, out) = c.kubectl("node-a", &["get", "secret", "late"]).await;
    assert!(!ok && out.contains("no relationship found"), "{out}");
    // The scheduler's step: bind the pod to node a.
    let binding = write(
        c.dir.path(),
        r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"waiting"},"target":{"apiVersion":"v1","kind":"Node","name":"a"}}"#,
    );
    c.admin(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/pods/waiting/binding",
        "-f",
        binding.to_str().unwrap(),
    ])
    .await;
    // The graph learns of the binding through its watch: a moment, not a
    // restart. Ten seconds is far beyond that.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = c.kubectl("node-a", &["get", "secret", "late"]).await;
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "never readable: {out}");
    }
    // And unreadable again once the pod is gone.
    c.admin(&["delete", "pod", "waiting", "--grace-period=0", "--force"])
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = c.kubectl("node-a", &["get", "secret", "late"]).await;
        if !ok {
            assert!(out.contains("no relationship found"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "still readable: {out}");
    }
}
