//! What the installed kubectl v1.32 shows against orc, snapshotted.
//!
//! One small cluster's worth of objects (a node, pods in several states, a
//! deployment and its replica set, services of each type, endpoints,
//! events...) is written through the API with the statuses a running
//! cluster would have given them, then kubectl reads it back: `get` in
//! every output format, `describe`, `version`, `api-resources`, and the
//! errors. The snapshots are what a Kubernetes user would see; ages, uids,
//! resourceVersions and ports are replaced by tokens (see `redact.rs`).

#[path = "kubectl_output/cluster.rs"]
mod cluster;
mod common;
#[path = "kubectl_output/redact.rs"]
mod redact;
#[path = "kubectl_output/watching.rs"]
mod watching;

use cluster::{Cluster, NS, populate};
use common::kubectl::kubectl;
use serde_json::json;
use watching::Watching;

#[tokio::test]
async fn version_cluster_info_and_discovery() {
    let c = Cluster::start().await;
    let (ok, version) = kubectl(c.dir.path(), &c.config, &["version"]).await;
    assert!(ok, "{version}");
    assert!(version.contains("Server Version: v1.32.0-orc"), "{version}");
    assert!(
        !version.contains("WARNING"),
        "no version skew warning: {version}"
    );
    let server_line: String = version
        .lines()
        .filter(|l| l.starts_with("Server"))
        .collect();
    insta::assert_snapshot!("version", server_line);
    insta::assert_snapshot!("cluster_info", c.run(&["cluster-info"]).await);
    insta::assert_snapshot!("api_resources", c.run(&["api-resources"]).await);
    // kubectl keeps what discovery said on disk, per server, and reads it
    // from there for six hours.
    let cache = c
        .dir
        .path()
        .join("cache/discovery")
        .join(format!("127.0.0.1_{}", c.server.addr.port()));
    for document in [
        "servergroups.json",
        "v1/serverresources.json",
        "apps/v1/serverresources.json",
    ] {
        assert!(cache.join(document).is_file(), "{} cached", document);
    }
    insta::assert_snapshot!("api_versions", c.run(&["api-versions"]).await);
    insta::assert_snapshot!(
        "api_resources_namespaced",
        c.run(&["api-resources", "--namespaced=false", "-o", "wide"])
            .await
    );
}

#[tokio::test]
async fn get_shows_kubernetes_columns() {
    let c = Cluster::start().await;
    populate(&c).await;
    for kind in [
        "pods",
        "nodes",
        "namespaces",
        "deployments",
        "replicasets",
        "services",
        "endpoints",
        "configmaps",
        "secrets",
        "events",
        "daemonsets",
        "statefulsets",
        "controllerrevisions",
        "jobs",
        "ingresses",
        "leases",
        "persistentvolumes",
        "persistentvolumeclaims",
        "storageclasses",
    ] {
        let snapshot = c
            .session(&[&["get", kind], &["get", kind, "-o", "wide"]])
            .await;
        insta::assert_snapshot!(format!("get_{kind}"), snapshot);
    }
}

/// Labels as columns, selectors, all namespaces, `get all`, sorting.
#[tokio::test]
async fn get_selects_labels_namespaces_and_sorts() {
    let c = Cluster::start().await;
    populate(&c).await;
    c.create(
        "/api/v1/namespaces/kube-system/pods",
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "coredns", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"containers": [{"name": "coredns", "image": "coredns/coredns:1.11.1"}]},
        }),
    )
    .await;
    let labels = c
        .session(&[
            &["get", "pods", "--show-labels"],
            &["get", "pods", "-L", "app", "-L", "tier"],
            &["get", "pods", "-l", "app=web"],
            &["get", "pods", "-l", "app in (web,crash),tier!=front"],
            &["get", "pods", "--field-selector", "status.phase=Pending"],
        ])
        .await;
    insta::assert_snapshot!("get_labels_and_selectors", labels);
    insta::assert_snapshot!("get_all_namespaces", c.run(&["get", "pods", "-A"]).await);
    insta::assert_snapshot!("get_all", c.run(&["get", "all"]).await);
    let sorted = c
        .session(&[
            &["get", "pods", "--sort-by=.metadata.name"],
            &[
                "get",
                "pods",
                "--sort-by=.status.containerStatuses[0].restartCount",
            ],
            &["get", "events", "--sort-by=.lastTimestamp"],
        ])
        .await;
    insta::assert_snapshot!("get_sorted", sorted);
}

/// The other output formats read whole objects, not Tables.
#[tokio::test]
async fn get_output_formats() {
    let c = Cluster::start().await;
    populate(&c).await;
    insta::assert_snapshot!(
        "get_yaml",
        c.run(&["get", "configmap", "web-config", "-o", "yaml"])
            .await
    );
    insta::assert_snapshot!(
        "get_json",
        c.run(&["get", "service", "web", "-o", "json"]).await
    );
    let formats = c
        .session(&[
            &["get", "pods", "-o", "name"],
            &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
            &["get", "pod", "web", "-o", "jsonpath={.status.podIP}{\"\\n\"}"],
            &["get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.status.phase}{\"\\n\"}{end}"],
            &["get", "pods", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image,NODE:.spec.nodeName"],
            &["get", "deployment", "web", "-o", "go-template={{.spec.replicas}}{{\"\\n\"}}"],
        ])
        .await;
    insta::assert_snapshot!("get_formats", formats);
}

/// `kubectl get -w` prints the list, then one line per change: the first
/// events are the objects that already exist (as ADDED with
/// `--output-watch-events`), read by a list, and the watch starts at the
/// list's resourceVersion so none comes twice. Watching one object by name
/// watches with `metadata.name=<name>`; a deletion prints the last state.
#[tokio::test]
async fn get_watch_prints_changes() {
    let c = Cluster::start().await;
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}});
    c.create(&format!("{NS}/configmaps"), cm("first")).await;
    let mut all = Watching::start(&c, &["get", "configmaps", "-w", "--output-watch-events"]);
    all.take(2).await;
    c.create(&format!("{NS}/configmaps"), cm("second")).await;
    all.take(1).await;
    let mut one = Watching::start(&c, &["get", "configmap", "second", "-w"]);
    one.take(2).await;
    let mut only = Watching::start(&c, &["get", "configmaps", "--watch-only"]);
    // It prints nothing until something changes: wait until the server
    // has seen its watch (after the list whose resourceVersion it resumes
    // from), the third on config maps.
    watchers(&c, 3).await;
    let patch = r#"{"data": {"b": "2", "c": "3"}}"#;
    let path = format!("{NS}/configmaps/second");
    let (code, _) = c
        .server
        .patch(&path, "application/merge-patch+json", patch)
        .await;
    assert_eq!(code, 200);
    all.take(1).await;
    one.take(1).await;
    assert_eq!(
        c.server.delete(&format!("{NS}/configmaps/first")).await.0,
        200
    );
    all.take(1).await;
    assert_eq!(c.server.delete(&path).await.0, 200);
    all.take(1).await;
    one.take(1).await;
    only.take(4).await;
    let transcript = format!("{}\n{}\n{}", all.stop(6), one.stop(4), only.stop(4));
    insta::assert_snapshot!("get_watch", transcript);
}

/// Waits until the server is serving `n` watches of config maps.
async fn watchers(c: &Cluster, n: usize) {
    let line =
        format!(r#"apiserver_longrunning_requests{{verb="watch",resource="configmaps"}} {n}"#);
    for _ in 0..100 {
        let (_, metrics) = c.server.get("/metrics").await;
        if metrics.as_str().unwrap_or_default().contains(&line) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no {n} watches on config maps within ten seconds");
}

/// `kubectl describe` reads the object, then what it needs around it: the
/// events whose `involvedObject` is the object (a field selector on name,
/// namespace, kind and uid), a node's pods, a deployment's replica sets,
/// a service's endpoints.
#[tokio::test]
async fn describe_shows_objects_and_their_events() {
    let c = Cluster::start().await;
    populate(&c).await;
    for (kind, name) in [
        ("pod", "web"),
        ("pod", "crash"),
        ("node", "node-1"),
        ("deployment", "web"),
        ("service", "web"),
    ] {
        let out = c.run(&["describe", kind, name]).await;
        insta::assert_snapshot!(format!("describe_{kind}_{name}"), out);
    }
}

/// Errors read as on Kubernetes: the reason in parentheses, the resource
/// and name, and for invalid objects each field path.
#[tokio::test]
async fn errors_read_like_kubernetes() {
    let c = Cluster::start().await;
    populate(&c).await;
    let file = |name: &str, text: &str| {
        let path = c.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let existing = file(
        "web.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  MODE: test\n",
    );
    let invalid = file(
        "invalid.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: Bad_Name\nspec:\n  replicas: -1\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: b}\n    spec:\n      containers:\n      - name: c\n",
    );
    let unknown = file(
        "unknown.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n    imagePullPolicyy: Always\n  restartPolicyy: Never\n",
    );
    let mut transcript = vec![
        c.fail(&["get", "pod", "nope"]).await,
        c.fail(&["get", "deployment", "nope", "-n", "kube-system"])
            .await,
        c.fail(&["get", "pods", "-n", "nowhere", "nope"]).await,
        c.fail(&["create", "-f", &existing]).await,
        c.fail(&["create", "-f", &invalid]).await,
        c.fail(&["create", "-f", &unknown]).await,
        c.fail(&["apply", "-f", &unknown]).await,
        c.fail(&["get", "pods", "-l", "app=(web"]).await,
        c.fail(&["get", "pods", "--field-selector", "spec.image=nginx"])
            .await,
        c.fail(&["get", "widgets"]).await,
    ];
    // A stale update: read the object, let someone else change it, then
    // replace with the old resourceVersion.
    let (ok, stale) = kubectl(
        c.dir.path(),
        &c.config,
        &["get", "configmap", "web-config", "-o", "yaml"],
    )
    .await;
    assert!(ok, "{stale}");
    let stale = file(
        "stale.yaml",
        &stale.replace("MODE: production", "MODE: stale"),
    );
    c.run(&["label", "configmap", "web-config", "changed=yes"])
        .await;
    transcript.push(c.fail(&["replace", "-f", &stale]).await);
    insta::assert_snapshot!("errors", transcript.join("\n"));
}
