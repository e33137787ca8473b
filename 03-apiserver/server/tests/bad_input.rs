//! Bad input gets a clear Status and leaves nothing behind in etcd.

mod common;

use common::{TestServer, pod};
use reqwest::Method;
use serde_json::json;

const PODS: &str = "/api/v1/namespaces/default/pods";

/// No pod key at all may exist after a refused request.
fn assert_no_pods(s: &TestServer) {
    let keys = s.etcdctl(&["get", "/registry/core/pods/", "--prefix", "--keys-only"]);
    assert!(keys.trim().is_empty(), "partial write: {keys}");
}

#[tokio::test]
async fn malformed_bodies_name_line_and_column() {
    let s = TestServer::start().await;
    let (code, status) = s
        .raw(
            Method::POST,
            PODS,
            "application/json",
            b"{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"x\"\n}".to_vec(),
        )
        .await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("malformed_json", status);
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: {}\n";
    let (code, status) = s
        .raw(Method::POST, PODS, "application/yaml", yaml.into())
        .await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("malformed_yaml", status);
    assert_no_pods(&s);
}

#[tokio::test]
async fn wrong_kind_and_invalid_names_are_refused() {
    let s = TestServer::start().await;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}});
    let (code, status) = s.post(PODS, &svc).await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("wrong_kind", status);
    let (code, status) = s.post(PODS, &pod("UPPER")).await;
    assert_eq!(code, 422);
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    let mut bad_label = pod("ok");
    bad_label["metadata"]["labels"] = json!({"app": "-nope-"});
    let (code, status) = s.post(PODS, &bad_label).await;
    assert_eq!(code, 422, "{status}");
    let (code, _) = s
        .post(
            PODS,
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty"}}),
        )
        .await;
    assert_eq!(code, 422, "a pod needs containers");
    assert_no_pods(&s);
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let s = TestServer::start().await;
    let mut p = pod("big");
    p["metadata"]["annotations"] = json!({"blob": "x".repeat(4 * 1024 * 1024)});
    let (code, status) = s
        .raw(
            Method::POST,
            PODS,
            "application/json",
            serde_json::to_vec(&p).unwrap(),
        )
        .await;
    assert_eq!(code, 413);
    insta::assert_json_snapshot!("too_large", status);
    assert_no_pods(&s);
}

#[tokio::test]
async fn bad_selectors_are_400() {
    let s = TestServer::start().await;
    let (code, status) = s.get(&format!("{PODS}?labelSelector=app%20in%20(a")).await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("bad_label_selector", status);
    let (code, status) = s
        .get(&format!("{PODS}?fieldSelector=spec.colour%3Dred"))
        .await;
    assert_eq!(code, 400);
    assert_eq!(status["message"], "field label not supported: spec.colour");
}

#[tokio::test]
async fn invalid_deployment_names_every_field() {
    let s = TestServer::start().await;
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c"}]}}}});
    let (code, status) = s
        .post("/apis/apps/v1/namespaces/default/deployments", &d)
        .await;
    assert_eq!(code, 422);
    insta::assert_json_snapshot!("invalid_deployment", status);
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 70000}]}});
    let (code, status) = s.post("/api/v1/namespaces/default/services", &svc).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.ports[0].port"
    );
}
