//! etcd keys as kube-apiserver lays them out, and the one-time move of a
//! data directory written in orc's first layout (`storage/key_migration.rs`).

mod common;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl};
use orc_apiserver::storage::Store;
use orc_apiserver::storage::key_migration::{self, MARKER, Moved};
use orc_testkit::Etcd;
use serde_json::{Value, json};

/// Whether `key` exists in the test's etcd.
fn exists(s: &TestServer, key: &str) -> bool {
    s.etcdctl(&["get", key, "--keys-only"]).contains(key)
}

/// The keys under `prefix`.
fn keys(s: &TestServer, prefix: &str) -> Vec<String> {
    s.etcdctl(&["get", prefix, "--prefix", "--keys-only"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The Kubernetes the Hard Way check: a Secret made with kubectl is at
/// `/registry/secrets/<namespace>/<name>`; a node at
/// `/registry/minions/<name>`; a Service at `/registry/services/specs/...`
/// and its Endpoints at `/registry/services/endpoints/...`.
#[tokio::test]
async fn objects_are_where_kubernetes_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, "unused");
    let (ok, out) = kubectl(
        dir.path(),
        &config,
        &["create", "secret", "generic", "s1", "--from-literal=a=b"],
    )
    .await;
    assert!(ok, "{out}");
    let stored = s.etcdctl(&["get", "/registry/secrets/default/s1", "--print-value-only"]);
    let stored: Value = serde_json::from_str(stored.trim()).unwrap();
    assert_eq!(stored["data"]["a"], "Yg==", "{stored}");

    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}});
    assert_eq!(s.post("/api/v1/nodes", &node).await.0, 201);
    assert!(exists(&s, "/registry/minions/n1"));

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let (code, created) = s.post("/api/v1/namespaces/default/services", &svc).await;
    assert_eq!(code, 201, "{created}");
    assert!(exists(&s, "/registry/services/specs/default/web"));
    // The `kubernetes` Service's Endpoints, which the server writes itself.
    assert!(exists(
        &s,
        "/registry/services/endpoints/default/kubernetes"
    ));

    // Nothing in orc's first layout, and nothing under a group's name.
    for old in ["/registry/core/", "/registry/rbac.authorization.k8s.io/"] {
        assert_eq!(keys(&s, old), Vec::<String>::new(), "{old}");
    }
    assert!(exists(&s, "/registry/clusterroles/cluster-admin"));
    assert!(exists(&s, MARKER), "a new cluster is marked as migrated");
}

/// A key and a JSON value as orc's first layout wrote them.
fn old_objects() -> Vec<(&'static str, Value)> {
    let meta = |name: &str, ns: Option<&str>| {
        let mut meta = json!({"name": name, "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-01-01T00:00:00Z"});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        meta
    };
    let namespace = |name| {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, None),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    };
    vec![
        ("/registry/core/namespaces/default", namespace("default")),
        ("/registry/core/namespaces/shop", namespace("shop")),
        (
            "/registry/core/nodes/n1",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": meta("n1", None)}),
        ),
        (
            "/registry/core/pods/shop/web",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("web", Some("shop")),
                "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}),
        ),
        (
            "/registry/core/secrets/shop/db",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("db", Some("shop")),
                "type": "Opaque", "data": {"password": "aHVudGVyMg=="}}),
        ),
        (
            "/registry/apps/deployments/shop/web",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", Some("shop")),
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}}}),
        ),
        (
            "/registry/rbac.authorization.k8s.io/clusterroles/shop-reader",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": meta("shop-reader", None),
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        ),
    ]
}

/// An etcd holding `objects` at their (old) keys, written directly.
fn etcd_with(objects: &[(&str, Value)]) -> Etcd {
    let etcd = Etcd::start();
    for (key, value) in objects {
        let out = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", etcd.endpoint()))
            .args(["put", key, &value.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    etcd
}

#[tokio::test]
async fn an_old_data_directory_moves_once_on_start() {
    let s = TestServer::start_on(etcd_with(&old_objects()), |_| {}).await;

    // Everything readable through the API, as it was.
    for (path, uid) in [
        ("/api/v1/namespaces/default", "uid-default"),
        ("/api/v1/namespaces/shop", "uid-shop"),
        ("/api/v1/nodes/n1", "uid-n1"),
        ("/api/v1/namespaces/shop/pods/web", "uid-web"),
        ("/api/v1/namespaces/shop/secrets/db", "uid-db"),
        ("/apis/apps/v1/namespaces/shop/deployments/web", "uid-web"),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/shop-reader",
            "uid-shop-reader",
        ),
    ] {
        let (code, got) = s.get(path).await;
        assert_eq!(code, 200, "{path}: {got}");
        assert_eq!(got["metadata"]["uid"], uid, "{path}");
    }
    let (_, secret) = s.get("/api/v1/namespaces/shop/secrets/db").await;
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    let (_, pods) = s.get("/api/v1/namespaces/shop/pods").await;
    assert_eq!(pods["items"].as_array().unwrap().len(), 1, "{pods}");

    // At Kubernetes' keys, and no old key left.
    for key in [
        "/registry/namespaces/shop",
        "/registry/minions/n1",
        "/registry/pods/shop/web",
        "/registry/secrets/shop/db",
        "/registry/deployments/shop/web",
        "/registry/clusterroles/shop-reader",
    ] {
        assert!(exists(&s, key), "{key}");
    }
    for (old, _) in old_objects() {
        assert!(!exists(&s, old), "{old} is left");
    }
    assert_eq!(
        s.etcdctl(&["get", MARKER, "--print-value-only"]).trim(),
        "kubernetes"
    );

    // The second start does nothing: a key written in the old layout now
    // stays where it is, and moved objects keep their resourceVersion.
    let (_, before) = s.get("/api/v1/namespaces/shop/pods/web").await;
    let late = "/registry/core/configmaps/shop/late";
    s.etcdctl(&["put", late, r#"{"apiVersion":"v1","kind":"ConfigMap"}"#]);
    let mut s = s;
    s.restart().await;
    let (_, after) = s.get("/api/v1/namespaces/shop/pods/web").await;
    assert_eq!(
        after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
        "the pod was not moved again"
    );
    assert!(exists(&s, late), "the marker stopped a second move");
    assert!(!exists(&s, "/registry/configmaps/shop/late"));
}

#[tokio::test]
async fn migrate_reports_moves_and_keeps_an_occupied_key() {
    let etcd = etcd_with(&[
        ("/registry/core/configmaps/a/one", json!({"n": 1})),
        ("/registry/core/configmaps/b/two", json!({"n": 2})),
        ("/registry/core/services/a/web", json!({"n": 3})),
        ("/registry/core/endpoints/a/web", json!({"n": 4})),
        // Both layouts hold this one: the new key wins, the old one stays.
        ("/registry/core/configmaps/a/both", json!({"layout": "old"})),
        ("/registry/configmaps/a/both", json!({"layout": "new"})),
    ]);
    let store = Store::connect(&etcd.endpoint()).await.unwrap();
    let report = key_migration::migrate(&store).await.unwrap();
    assert!(!report.already_done);
    let moved = |from: &str, to: &str, count| Moved {
        from: from.into(),
        to: to.into(),
        count,
    };
    assert_eq!(
        report.moved,
        [
            moved("/registry/core/services/", "/registry/services/specs/", 1),
            moved(
                "/registry/core/endpoints/",
                "/registry/services/endpoints/",
                1
            ),
            moved("/registry/core/configmaps/", "/registry/configmaps/", 2),
        ]
    );
    assert_eq!(report.kept, ["/registry/core/configmaps/a/both"]);
    let get = |key: &'static str| store.get(key);
    assert_eq!(
        get("/registry/configmaps/b/two").await.unwrap(),
        json!({"n": 2})
    );
    assert_eq!(
        get("/registry/services/endpoints/a/web").await.unwrap(),
        json!({"n": 4})
    );
    assert_eq!(
        get("/registry/configmaps/a/both").await.unwrap(),
        json!({"layout": "new"})
    );
    assert_eq!(
        get("/registry/core/configmaps/a/both").await.unwrap(),
        json!({"layout": "old"})
    );
    assert!(get("/registry/core/configmaps/a/one").await.is_err());

    // Run again: the marker answers at once.
    let again = key_migration::migrate(&store).await.unwrap();
    assert!(again.already_done && again.moved.is_empty());
}
