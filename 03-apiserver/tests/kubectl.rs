//! The installed kubectl against orc, and bearer-token authentication.
//!
//! kubectl's tests run without a token file: orc serves plain HTTP, and
//! kubectl only sends a kubeconfig's token to TLS servers.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;

const TOKEN: &str = "orc-test-token";

/// Starts a server that requires `TOKEN`, and writes its token file.
async fn server_with_token(dir: &Path) -> TestServer {
    let token_file = dir.join("tokens.csv");
    std::fs::write(&token_file, format!("{TOKEN},admin,1\n")).unwrap();
    TestServer::start_with(|c| c.token_file = Some(token_file)).await
}

/// A kubeconfig for `server` with `token`, as a user would write it.
fn kubeconfig(dir: &Path, server: &TestServer, token: &str) -> std::path::PathBuf {
    let path = dir.join(format!("kubeconfig-{token}"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: http://{}\n\
         users:\n- name: me\n  user:\n    token: {token}\ncontexts:\n- name: orc\n  context:\n    \
         cluster: orc\n    user: me\n    namespace: default\ncurrent-context: orc\n",
        server.addr
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs kubectl off the async runtime, with its own discovery cache.
async fn kubectl(dir: &Path, config: &Path, args: &[&str]) -> (bool, String) {
    let kubectl = orc_testkit::require_command("kubectl");
    let mut command = Command::new(kubectl);
    command
        .arg(format!("--kubeconfig={}", config.display()))
        .arg(format!("--cache-dir={}", dir.join("cache").display()))
        .args(args);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
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
        ["coordination.k8s.io", "apps", "batch", "networking.k8s.io"]
    );
}
