//! Authorization with RBAC, as an operator meets it: the real kubectl over
//! HTTPS with token users, a server started with
//! `--authorization-mode=RBAC`, and roles and bindings made with kubectl.
//!
//! The default roles `admin`, `edit` and `view` are filled by chapter 05's
//! aggregation controller; their matrix is tested there
//! (`05-controllers/tests/clusterrole_aggregation.rs`). Here: the default
//! bindings, the 403 in Kubernetes' words, RoleBindings scoped to their
//! namespace and applied without a restart, impersonation, the reviews,
//! validation and the columns kubectl prints.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestServer;
use common::kubectl::{kubectl, self_signed_cert};
use orc_apiserver::authz::{Mode, Modes};

/// The users: `admin` in `system:masters`, `alice` in `dev`, `bob` in none.
const TOKENS: &str =
    "admin-token,admin,1,\"system:masters\"\nalice-token,alice,2,dev\nbob-token,bob,3\n";

/// An RBAC server over HTTPS with the users above, and a kubeconfig each.
struct Cluster {
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed_cert(dir.path());
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).unwrap();
        let server = TestServer::start_with(|c| {
            c.tls = Some((cert, key));
            c.token_file = Some(tokens);
            c.authorization = Modes(vec![Mode::Rbac]);
        })
        .await;
        Cluster { server, dir }
    }

    fn config(&self, user: &str) -> PathBuf {
        let token = format!("{user}-token");
        orc_testkit::kubectl::https_kubeconfig(self.dir.path(), self.server.addr, &token)
    }

    /// kubectl as `user`: whether it succeeded, and what it printed.
    async fn kubectl(&self, user: &str, args: &[&str]) -> (bool, String) {
        kubectl(self.dir.path(), &self.config(user), args).await
    }

    /// Applies a manifest as `admin`.
    async fn apply(&self, manifest: &str) {
        let path = write(self.dir.path(), manifest);
        let (ok, out) = self
            .kubectl("admin", &["apply", "-f", path.to_str().unwrap()])
            .await;
        assert!(ok, "{out}");
    }

    /// `kubectl auth can-i` as `user`: "yes" (exit 0) or "no" (exit 1).
    async fn can_i(&self, user: &str, args: &[&str]) -> bool {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        let (ok, out) = self.kubectl(user, &all).await;
        assert_eq!(ok, out.starts_with("yes"), "{out}");
        ok
    }

    /// Waits until `can_i` answers `want`: a binding reaches the
    /// authorizer through a watch, so its effect follows its creation by
    /// an event, not at once. Ten seconds is far beyond that.
    async fn await_can_i(&self, user: &str, args: &[&str], want: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.can_i(user, args).await != want {
            assert!(
                Instant::now() < deadline,
                "can-i {args:?} never became {want}"
            );
        }
    }
}

fn write(dir: &Path, manifest: &str) -> PathBuf {
    let path = dir.join(format!("m{}.yaml", orc_testkit::unique_name("")));
    std::fs::write(&path, manifest).unwrap();
    path
}

const POD_READER: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: pod-reader\n\
rules:\n- apiGroups: [\"\"]\n  resources: [pods, pods/log]\n  verbs: [get, list, watch]\n";

const ALICE_READS_PODS_IN_A: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: alice-reads\n  namespace: a\n\
roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: pod-reader\n\
subjects:\n- kind: User\n  name: alice\n  apiGroup: rbac.authorization.k8s.io\n";

#[tokio::test]
async fn a_user_without_bindings_is_refused_in_kubernetes_words() {
    let c = Cluster::start().await;
    let (ok, out) = c.kubectl("alice", &["get", "secrets"]).await;
    assert!(!ok);
    assert!(
        out.contains("Error from server (Forbidden): secrets is forbidden: User \"alice\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""),
        "{out}"
    );
    let (_, out) = c.kubectl("alice", &["get", "nodes"]).await;
    assert!(
        out.contains("nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"),
        "{out}"
    );
    let (_, out) = c
        .kubectl("alice", &["get", "secret", "db", "-n", "a"])
        .await;
    assert!(
        out.contains("secrets \"db\" is forbidden: User \"alice\" cannot get resource \"secrets\" in API group \"\" in the namespace \"a\""),
        "{out}"
    );
    let (_, out) = c.kubectl("alice", &["get", "--raw", "/metrics"]).await;
    assert!(
        out.contains("User \"alice\" cannot get path \"/metrics\""),
        "{out}"
    );
    // The default bindings: discovery and can-i for everyone, all for masters.
    let (ok, out) = c
        .kubectl(
            "alice",
            &["api-resources", "--api-group=rbac.authorization.k8s.io"],
        )
        .await;
    assert!(ok && out.contains("clusterrolebindings"), "{out}");
    assert!(!c.can_i("alice", &["create", "pods"]).await);
    assert!(c.can_i("admin", &["delete", "nodes"]).await);
    assert!(c.can_i("admin", &["get", "/metrics"]).await);
}

#[tokio::test]
async fn a_role_binding_grants_in_its_namespace_only_and_at_once() {
    let c = Cluster::start().await;
    for ns in ["a", "b"] {
        let (ok, out) = c.kubectl("admin", &["create", "namespace", ns]).await;
        assert!(ok, "{out}");
    }
    c.apply(POD_READER).await;
    assert!(!c.can_i("alice", &["list", "pods", "-n", "a"]).await);
    // No restart: the binding reaches the authorizer through its watch.
    c.apply(ALICE_READS_PODS_IN_A).await;
    c.await_can_i("alice", &["list", "pods", "-n", "a"], true)
        .await;
    assert!(
        c.can_i("alice", &["get", "pods", "--subresource=log", "-n", "a"])
            .await
    );
    assert!(!c.can_i("alice", &["delete", "pods", "-n", "a"]).await);
    assert!(!c.can_i("alice", &["list", "pods", "-n", "b"]).await);
    assert!(
        !c.can_i("alice", &["list", "pods", "--all-namespaces"])
            .await
    );
    let (ok, out) = c.kubectl("alice", &["get", "pods", "-n", "a"]).await;
    assert!(ok, "{out}");
    let (ok, out) = c
        .kubectl("alice", &["auth", "can-i", "--list", "-n", "a"])
        .await;
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("pods ") && l.contains("[get list watch]")),
        "{out}"
    );
    assert!(
        out.contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{out}"
    );
    // Deleting the binding takes the right away, just as fast.
    let (ok, out) = c
        .kubectl(
            "admin",
            &["delete", "rolebinding", "alice-reads", "-n", "a"],
        )
        .await;
    assert!(ok, "{out}");
    c.await_can_i("alice", &["list", "pods", "-n", "a"], false)
        .await;
}

const CONFIGMAP_DELETER: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: cm-deleter\n  namespace: a\n\
rules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list, delete]\n---\n\
apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: alice-deletes\n  namespace: a\n\
roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: cm-deleter\n\
subjects:\n- kind: User\n  name: alice\n  apiGroup: rbac.authorization.k8s.io\n";

#[tokio::test]
async fn deleting_a_collection_needs_the_deletecollection_verb_not_delete() {
    let c = Cluster::start().await;
    let (ok, out) = c.kubectl("admin", &["create", "namespace", "a"]).await;
    assert!(ok, "{out}");
    let (ok, out) = c
        .kubectl("admin", &["create", "configmap", "cm", "-n", "a"])
        .await;
    assert!(ok, "{out}");
    c.apply(CONFIGMAP_DELETER).await;
    c.await_can_i("alice", &["delete", "configmaps", "-n", "a"], true)
        .await;
    assert!(
        !c.can_i("alice", &["deletecollection", "configmaps", "-n", "a"])
            .await
    );
    let collection = "/api/v1/namespaces/a/configmaps";
    let (ok, out) = c.kubectl("alice", &["delete", "--raw", collection]).await;
    assert!(!ok);
    assert!(
        out.contains("configmaps is forbidden: User \"alice\" cannot deletecollection resource \"configmaps\" in API group \"\" in the namespace \"a\""),
        "{out}"
    );
    let (ok, out) = c
        .kubectl("alice", &["get", "configmap", "cm", "-n", "a"])
        .await;
    assert!(ok, "refused, so nothing was deleted: {out}");
    // Granted the verb, the same request deletes the collection.
    let (ok, out) = c
        .kubectl(
            "admin",
            &[
                "patch",
                "role",
                "cm-deleter",
                "-n",
                "a",
                "--type=json",
                "-p",
                r#"[{"op":"add","path":"/rules/0/verbs/-","value":"deletecollection"}]"#,
            ],
        )
        .await;
    assert!(ok, "{out}");
    c.await_can_i(
        "alice",
        &["deletecollection", "configmaps", "-n", "a"],
        true,
    )
    .await;
    let (ok, out) = c.kubectl("alice", &["delete", "--raw", collection]).await;
    assert!(ok && out.contains("ConfigMapList"), "{out}");
    let (ok, out) = c
        .kubectl("alice", &["get", "configmap", "cm", "-n", "a"])
        .await;
    assert!(!ok && out.contains("NotFound"), "{out}");
}

#[tokio::test]
async fn impersonation_needs_the_impersonate_verb() {
    let c = Cluster::start().await;
    let (ok, out) = c.kubectl("admin", &["create", "namespace", "a"]).await;
    assert!(ok, "{out}");
    c.apply(POD_READER).await;
    c.apply(ALICE_READS_PODS_IN_A).await;
    // admin may act as anyone: kubectl --as sends Impersonate-User.
    c.await_can_i("admin", &["list", "pods", "-n", "a", "--as", "alice"], true)
        .await;
    assert!(
        !c.can_i("admin", &["list", "pods", "-n", "a", "--as", "bob"])
            .await
    );
    // A group given with --as-group counts for the impersonated user.
    c.apply(
        &ALICE_READS_PODS_IN_A
            .replace("alice-reads", "devs-read")
            .replace("kind: User\n  name: alice", "kind: Group\n  name: dev"),
    )
    .await;
    c.await_can_i(
        "admin",
        &[
            "list",
            "pods",
            "-n",
            "a",
            "--as",
            "bob",
            "--as-group",
            "dev",
        ],
        true,
    )
    .await;
    let (ok, out) = c
        .kubectl("alice", &["get", "pods", "-n", "a", "--as", "bob"])
        .await;
    assert!(!ok);
    assert!(
        out.contains("users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
        "{out}"
    );
}

#[tokio::test]
async fn subject_access_reviews_answer_for_another_user() {
    let c = Cluster::start().await;
    c.apply(POD_READER).await;
    c.apply(
        &ALICE_READS_PODS_IN_A
            .replace("kind: RoleBinding", "kind: ClusterRoleBinding")
            .replace("  namespace: a\n", ""),
    )
    .await;
    let review = "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: alice\n  groups: [dev]\n  resourceAttributes: {verb: list, resource: pods, namespace: x}\n";
    let path = write(c.dir.path(), review);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = c
            .kubectl(
                "admin",
                &["create", "-f", path.to_str().unwrap(), "-o", "json"],
            )
            .await;
        assert!(ok, "{out}");
        let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
        if answer["status"]["allowed"] == true {
            assert_eq!(
                answer["status"]["reason"],
                "RBAC: allowed by ClusterRoleBinding \"alice-reads\" of ClusterRole \"pod-reader\" to User \"alice\""
            );
            break;
        }
        assert!(Instant::now() < deadline, "{out}");
    }
    // Asking about others is a privileged question.
    let (ok, out) = c
        .kubectl("alice", &["create", "-f", path.to_str().unwrap()])
        .await;
    assert!(!ok);
    assert!(out.contains("subjectaccessreviews.authorization.k8s.io is forbidden: User \"alice\" cannot create resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope"), "{out}");
}

#[tokio::test]
async fn bindings_are_validated_and_their_role_ref_is_fixed() {
    let c = Cluster::start().await;
    let bad = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: bad\n\
               roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: x\n\
               subjects:\n- kind: Robot\n  name: r2\n";
    let path = write(c.dir.path(), bad);
    let (ok, out) = c
        .kubectl("admin", &["create", "-f", path.to_str().unwrap()])
        .await;
    assert!(!ok);
    assert!(
        out.contains(
            "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""
        ),
        "{out}"
    );
    assert!(
        out.contains("subjects[0].kind: Unsupported value: \"Robot\""),
        "{out}"
    );
    c.apply(POD_READER).await;
    let (ok, out) = c
        .kubectl(
            "admin",
            &[
                "create",
                "clusterrolebinding",
                "readers",
                "--clusterrole=pod-reader",
                "--group=dev",
            ],
        )
        .await;
    assert!(ok, "{out}");
    let (ok, out) = c
        .kubectl(
            "admin",
            &[
                "patch",
                "clusterrolebinding",
                "readers",
                "--type=merge",
                "-p",
                "{\"roleRef\":{\"name\":\"view\"}}",
            ],
        )
        .await;
    assert!(!ok);
    assert!(out.contains("cannot change roleRef"), "{out}");
}

#[tokio::test]
async fn rbac_kinds_print_kubectl_columns() {
    let c = Cluster::start().await;
    let (ok, out) = c
        .kubectl("admin", &["get", "clusterrole", "cluster-admin"])
        .await;
    assert!(ok, "{out}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "CREATED", "AT"], "{out}");
    let (ok, out) = c
        .kubectl(
            "admin",
            &["get", "clusterrolebinding", "cluster-admin", "-o", "wide"],
        )
        .await;
    assert!(ok, "{out}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        "{out}"
    );
    assert!(
        out.contains("ClusterRole/cluster-admin") && out.contains("system:masters"),
        "{out}"
    );
}

/// Without a token file every request is `system:anonymous`: RBAC gives it
/// the public information (`/version`, `/healthz`) and nothing else.
#[tokio::test]
async fn anonymous_requests_get_only_public_information() {
    let s = TestServer::start_with(|c| c.authorization = Modes(vec![Mode::Rbac])).await;
    let (code, status) = s.get("/api/v1/namespaces/default/pods").await;
    assert_eq!(code, 403, "{status}");
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(status["reason"], "Forbidden");
    let (code, _) = s.get("/version").await;
    assert_eq!(code, 200);
}

/// A user who may write Roles still cannot grant what they lack: the
/// escalation check of Kubernetes' RBAC storage.
#[tokio::test]
async fn nobody_grants_rights_they_do_not_hold() {
    let c = Cluster::start().await;
    let (ok, out) = c.kubectl("admin", &["create", "namespace", "a"]).await;
    assert!(ok, "{out}");
    c.apply(POD_READER).await;
    c.apply(ALICE_READS_PODS_IN_A).await;
    let role_writer = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: role-writer\n  namespace: a\n\
                       rules:\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles, rolebindings]\n  verbs: [create, get]\n";
    c.apply(role_writer).await;
    let (ok, out) = c
        .kubectl(
            "admin",
            &[
                "create",
                "rolebinding",
                "alice-writes",
                "--role=role-writer",
                "--user=alice",
                "-n",
                "a",
            ],
        )
        .await;
    assert!(ok, "{out}");
    c.await_can_i("alice", &["create", "roles", "-n", "a"], true)
        .await;
    // Pods she may read: she may give that away.
    let (ok, out) = c
        .kubectl(
            "alice",
            &[
                "create",
                "role",
                "pods",
                "--verb=get,list",
                "--resource=pods",
                "-n",
                "a",
            ],
        )
        .await;
    assert!(ok, "{out}");
    let (ok, out) = c
        .kubectl(
            "alice",
            &[
                "create",
                "role",
                "secrets",
                "--verb=get",
                "--resource=secrets",
                "-n",
                "a",
            ],
        )
        .await;
    assert!(!ok);
    assert!(
        out.contains("roles.rbac.authorization.k8s.io \"secrets\" is forbidden: user \"alice\" (groups=[\"dev\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"),
        "{out}"
    );
    // Nor bind a role richer than her own rights.
    let (ok, out) = c
        .kubectl(
            "alice",
            &[
                "create",
                "rolebinding",
                "bob-admin",
                "--clusterrole=cluster-admin",
                "--user=bob",
                "-n",
                "a",
            ],
        )
        .await;
    assert!(!ok);
    assert!(
        out.contains(
            "rolebindings.rbac.authorization.k8s.io \"bob-admin\" is forbidden: user \"alice\""
        ),
        "{out}"
    );
    let (ok, out) = c
        .kubectl(
            "alice",
            &[
                "create",
                "rolebinding",
                "bob-pods",
                "--clusterrole=pod-reader",
                "--user=bob",
                "-n",
                "a",
            ],
        )
        .await;
    assert!(ok, "{out}");
}

/// Each component's user against the bootstrap policy (`orc up` runs them
/// under RBAC): what its Kubernetes role allows, and a sample of what it
/// does not. Asked as the admin impersonating them.
#[tokio::test]
async fn every_component_has_its_kubernetes_role_and_no_more() {
    let c = Cluster::start().await;
    // RBAC names are path segments: a `system:` name is one kubectl may
    // write too (a default binding deleted by mistake is put back so).
    c.apply("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:example\"}\nrules: []\n")
        .await;
    let node = ["--as", "system:node:n1", "--as-group", "system:nodes"];
    let cases: &[(&[&str], &[&str], bool)] = &[
        (
            &["--as", "system:kube-scheduler"],
            &["create", "pods", "--subresource=binding"],
            true,
        ),
        (
            &["--as", "system:kube-scheduler"],
            &["patch", "pods", "--subresource=status"],
            true,
        ),
        (
            &["--as", "system:kube-scheduler"],
            &["create", "pods"],
            false,
        ),
        // The scheduler's recorder writes the newer Event API.
        (
            &["--as", "system:kube-scheduler"],
            &["create", "events.events.k8s.io"],
            true,
        ),
        (
            &["--as", "system:kube-controller-manager"],
            &["create", "pods"],
            true,
        ),
        (
            &["--as", "system:kube-controller-manager"],
            &["patch", "replicasets.apps", "--subresource=status"],
            true,
        ),
        (
            &["--as", "system:kube-controller-manager"],
            &["update", "namespaces", "--subresource=finalize"],
            true,
        ),
        (
            &["--as", "system:kube-controller-manager"],
            &["escalate", "clusterroles"],
            true,
        ),
        (
            &["--as", "system:kube-controller-manager"],
            &["create", "clusterrolebindings"],
            false,
        ),
        (
            &["--as", "system:kube-proxy"],
            &["watch", "endpointslices.discovery.k8s.io"],
            true,
        ),
        (&["--as", "system:kube-proxy"], &["create", "pods"], false),
        // `system:node` is bound to nobody (as in Kubernetes since 1.8):
        // under RBAC alone a node's credential may do none of its work;
        // the Node authorizer grants it, for its own objects only
        // (tests/node_authorizer.rs).
        (&node, &["patch", "nodes", "--subresource=status"], false),
        (&node, &["get", "secrets"], false),
        (
            &node,
            &["create", "serviceaccounts", "--subresource=token"],
            false,
        ),
        (&node, &["delete", "nodes"], false),
        (
            &["--as", "orc:node-dns"],
            &[
                "create",
                "endpointslices.discovery.k8s.io",
                "-n",
                "kube-system",
            ],
            true,
        ),
        (
            &["--as", "orc:node-dns"],
            &["list", "pods", "--all-namespaces"],
            true,
        ),
        (&["--as", "orc:node-dns"], &["delete", "pods"], false),
        (
            &["--as", "orc:ingress"],
            &[
                "patch",
                "ingresses.networking.k8s.io",
                "--subresource=status",
            ],
            true,
        ),
        (
            &["--as", "orc:ingress"],
            &["watch", "secrets", "--all-namespaces"],
            true,
        ),
        (
            &["--as", "orc:ingress"],
            &["patch", "ingresses.networking.k8s.io"],
            false,
        ),
        (&["--as", "orc:ingress"], &["get", "secrets"], false),
        (&["--as", "orc:ingress"], &["watch", "nodes"], true),
        (&["--as", "orc:ingress"], &["patch", "nodes"], false),
    ];
    for (who, what, want) in cases {
        let args: Vec<&str> = what.iter().chain(who.iter()).copied().collect();
        assert_eq!(c.can_i("admin", &args).await, *want, "{who:?} {what:?}");
    }
}
