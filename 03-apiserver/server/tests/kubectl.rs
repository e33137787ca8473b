//! The installed kubectl against orc, and bearer-token authentication.
//!
//! Most kubectl tests run on plain HTTP without a token file: kubectl only
//! sends a kubeconfig's token to TLS servers. `kubectl_over_https_with_a_token`
//! covers the combination.

mod common;

use std::path::Path;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl, self_signed_cert};

const TOKEN: &str = "orc-test-token";

/// Starts a server that requires `TOKEN`, and writes its token file.
async fn server_with_token(dir: &Path) -> TestServer {
    let token_file = dir.join("tokens.csv");
    std::fs::write(&token_file, format!("{TOKEN},admin,1\n")).unwrap();
    TestServer::start_with(|c| c.token_file = Some(token_file)).await
}

#[tokio::test]
async fn kubectl_lists_creates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, TOKEN);
    let manifest = dir.path().join("pod.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  containers:\n  - name: nginx\n    image: nginx:1.25\n    ports:\n    - containerPort: 80\n",
    )
    .unwrap();
    let manifest = manifest.to_str().unwrap();

    let (ok, out) = kubectl(dir.path(), &config, &["get", "pods"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("No resources found"), "{out}");
    let (ok, out) = kubectl(dir.path(), &config, &["get", "nodes"]).await;
    assert!(ok, "{out}");

    let (ok, out) = kubectl(dir.path(), &config, &["create", "-f", manifest]).await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "pod/web created");
    let (ok, out) = kubectl(
        dir.path(),
        &config,
        &["get", "pods", "-l", "app=web", "-o", "name"],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "pod/web");
    // Server-side Tables: the columns a Kubernetes cluster shows.
    let (ok, out) = kubectl(dir.path(), &config, &["get", "pods"]).await;
    assert!(ok, "{out}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(rows[1][..4], ["web", "0/1", "Pending", "0"]);
    let (ok, out) = kubectl(dir.path(), &config, &["get", "pods", "-o", "wide"]).await;
    assert!(ok && out.lines().next().unwrap().contains("NODE"), "{out}");
    let (ok, out) = kubectl(dir.path(), &config, &["create", "-f", manifest]).await;
    assert!(!ok);
    assert!(out.contains("Error from server (AlreadyExists)"), "{out}");

    let (ok, out) = kubectl(dir.path(), &config, &["delete", "-f", manifest]).await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "pod \"web\" deleted");
    let (ok, out) = kubectl(dir.path(), &config, &["get", "pod", "web"]).await;
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "Error from server (NotFound): pods \"web\" not found"
    );
}

#[tokio::test]
async fn kubectl_strict_validation_names_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, TOKEN);
    let manifest = dir.path().join("typo.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n    imagee: x\n",
    )
    .unwrap();
    let (ok, out) = kubectl(
        dir.path(),
        &config,
        &["create", "-f", manifest.to_str().unwrap()],
    )
    .await;
    assert!(!ok);
    assert!(
        out.contains(r#"strict decoding error: unknown field "spec.containers[0].imagee""#),
        "{out}"
    );
}

#[tokio::test]
async fn wrong_or_missing_tokens_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_token(dir.path()).await;
    let (code, status) = s.get("/api/v1/namespaces/default/pods").await;
    assert_eq!(code, 401);
    insta::assert_json_snapshot!("unauthorized", status);
    let response = s
        .http
        .get(s.url("/api/v1/pods"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = s
        .http
        .get(s.url("/api/v1/pods"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // Health stays open, as on Kubernetes.
    assert_eq!(s.get("/healthz").await.0, 200);

    // kubectl never sends credentials over plain HTTP (client-go reads a
    // kubeconfig's auth only for TLS clusters), so against this server it
    // is refused whatever token its kubeconfig holds.
    let config = kubeconfig(dir.path(), &s, TOKEN);
    let (ok, out) = kubectl(dir.path(), &config, &["get", "pods"]).await;
    assert!(!ok);
    assert!(
        out.contains("the server has asked for the client to provide credentials"),
        "{out}"
    );
}

#[tokio::test]
async fn health_version_metrics_and_discovery() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/readyz").await.0, 200);
    let (_, version) = s.get("/version").await;
    assert_eq!(version["major"], "1");
    s.get("/api/v1/pods").await;
    let (_, metrics) = s.get("/metrics").await;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(r#"apiserver_request_total{verb="list",resource="pods",code="200"} 1"#),
        "{text}"
    );
    let (_, apis) = s.get("/apis").await;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "coordination.k8s.io",
            "scheduling.k8s.io",
            "apps",
            "batch",
            "autoscaling",
            "policy",
            "networking.k8s.io",
            "discovery.k8s.io",
            "events.k8s.io",
            "storage.k8s.io",
            "rbac.authorization.k8s.io",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "metrics.k8s.io"
        ]
    );
}

/// `apply` (a strategic merge patch on the second run), `label`,
/// `annotate`, `patch` and `scale`: the everyday verbs that patch.
#[tokio::test]
async fn kubectl_apply_label_patch_and_scale() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, TOKEN);
    let manifest = dir.path().join("pod.yaml");
    let pod = |image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: nginx\n    image: {image}\n    ports:\n    - containerPort: 80\n"
        )
    };
    let m = manifest.to_str().unwrap();
    let run = |args: Vec<&str>| {
        let (dir, config) = (dir.path().to_path_buf(), config.clone());
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, out) = kubectl(&dir, &config, &args).await;
            assert!(ok, "kubectl {args:?}: {out}");
            out.trim().to_string()
        }
    };
    std::fs::write(&manifest, pod("nginx:1.25")).unwrap();
    assert_eq!(run(vec!["apply", "-f", m]).await, "pod/web created");
    assert_eq!(run(vec!["apply", "-f", m]).await, "pod/web unchanged");
    std::fs::write(&manifest, pod("nginx:1.26")).unwrap();
    assert_eq!(run(vec!["apply", "-f", m]).await, "pod/web configured");
    let (_, got) = s.get("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(got["spec"]["containers"][0]["image"], "nginx:1.26");
    assert_eq!(
        got["spec"]["containers"][0]["ports"][0]["containerPort"], 80,
        "merged by name, not replaced"
    );

    assert_eq!(
        run(vec!["label", "pod", "web", "tier=front"]).await,
        "pod/web labeled"
    );
    assert_eq!(
        run(vec!["annotate", "pod", "web", "note=hi"]).await,
        "pod/web annotated"
    );
    let json_patch = r#"[{"op":"add","path":"/metadata/labels/x","value":"y"}]"#;
    assert_eq!(
        run(vec!["patch", "pod", "web", "--type=json", "-p", json_patch]).await,
        "pod/web patched"
    );
    let (_, got) = s.get("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(got["metadata"]["labels"]["tier"], "front");
    assert_eq!(got["metadata"]["labels"]["x"], "y");
    assert_eq!(got["metadata"]["annotations"]["note"], "hi");

    let deployment = dir.path().join("d.yaml");
    std::fs::write(
        &deployment,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec:\n      containers: [{name: c, image: nginx:1.25}]\n",
    )
    .unwrap();
    assert_eq!(
        run(vec!["apply", "-f", deployment.to_str().unwrap()]).await,
        "deployment.apps/d created"
    );
    assert_eq!(
        run(vec!["scale", "deployment", "d", "--replicas=3"]).await,
        "deployment.apps/d scaled"
    );
    let (_, d) = s
        .get("/apis/apps/v1/namespaces/default/deployments/d")
        .await;
    assert_eq!(d["spec"]["replicas"], 3);
}

/// What `kubectl api-resources` reads: snapshotted for the chapter.
#[tokio::test]
async fn discovery_documents() {
    let s = TestServer::start().await;
    let (_, core) = s.get("/api/v1").await;
    let pods: Vec<&serde_json::Value> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("pods"))
        .collect();
    insta::assert_json_snapshot!("discovery_pods", pods);
    let (_, apis) = s.get("/apis").await;
    insta::assert_json_snapshot!("discovery_groups", apis);
}

/// Over HTTPS kubectl does send its token: the right one lists pods, a
/// wrong one is refused with 401.
#[tokio::test]
async fn kubectl_over_https_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},admin,1\n")).unwrap();
    let s = TestServer::start_with(|c| {
        c.tls = Some((cert, key));
        c.token_file = Some(tokens);
    })
    .await;
    let write_config =
        |token: &str| orc_testkit::kubectl::https_kubeconfig(dir.path(), s.addr, token);
    let (ok, out) = kubectl(
        dir.path(),
        &write_config(TOKEN),
        &["get", "namespaces", "-o", "name"],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("namespace/kube-system"), "{out}");
    let (ok, out) = kubectl(dir.path(), &write_config("wrong"), &["get", "pods"]).await;
    assert!(!ok);
    assert!(
        out.contains("Unauthorized") || out.contains("provide credentials"),
        "{out}"
    );
}
