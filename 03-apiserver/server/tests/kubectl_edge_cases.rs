//! Edge cases kubectl users hit, each checked the way Kubernetes answers:
//!
//! - scaling to zero: client-go drops `spec.replicas: 0` from a Scale
//!   (Go's `omitempty`), and a missing count means zero;
//! - headless Services (`clusterIP: None`) and ExternalName Services need
//!   no ports;
//! - a Secret written without `type` reads back as `Opaque`;
//! - a JSON patch that cannot be applied is a 422 `Invalid` with
//!   Kubernetes' generic text, not a cause with an empty field name;
//! - `apply --server-side`, which orc does not implement, is refused with a
//!   415 that kubectl reports cleanly.

mod common;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl};
use serde_json::{Value, json};

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}
            }
        }
    })
}

fn replica_set(name: &str, replicas: i64) -> Value {
    let mut rs = deployment(name, replicas);
    rs["kind"] = json!("ReplicaSet");
    rs
}

#[tokio::test]
async fn kubectl_scales_deployments_and_replica_sets_to_zero() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");
    let cases = [
        ("deployments", "deployment", deployment("web", 3)),
        ("replicasets", "replicaset", replica_set("cache", 2)),
    ];
    for (plural, singular, obj) in cases {
        let collection = format!("/apis/apps/v1/namespaces/default/{plural}");
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        assert_eq!(s.post(&collection, &obj).await.0, 201);

        let target = format!("{singular}/{name}");
        let (ok, out) = kubectl(dir.path(), &config, &["scale", &target, "--replicas=0"]).await;
        assert!(ok, "kubectl scale {target} --replicas=0: {out}");
        assert_eq!(out.trim(), format!("{singular}.apps/{name} scaled"));

        let (code, stored) = s.get(&format!("{collection}/{name}")).await;
        assert_eq!(code, 200);
        assert_eq!(stored["spec"]["replicas"], 0, "{stored}");
    }
}

#[tokio::test]
async fn a_scale_without_replicas_means_zero() {
    let s = TestServer::start().await;
    let collection = "/apis/apps/v1/namespaces/default/deployments";
    assert_eq!(s.post(collection, &deployment("web", 2)).await.0, 201);
    let scale_url = format!("{collection}/web/scale");
    let (_, mut scale) = s.get(&scale_url).await;
    assert_eq!(scale["spec"]["replicas"], 2);

    // What client-go sends for replicas 0: a spec with nothing in it.
    scale["spec"] = json!({});
    let (code, answer) = s.put(&scale_url, &scale).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["spec"]["replicas"], 0);
    let (_, stored) = s.get(&format!("{collection}/web")).await;
    assert_eq!(stored["spec"]["replicas"], 0);

    // A negative count is still refused, naming the field.
    scale["spec"] = json!({"replicas": -1});
    scale["metadata"]["resourceVersion"] = answer["metadata"]["resourceVersion"].clone();
    let (code, answer) = s.put(&scale_url, &scale).await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["details"]["causes"][0]["field"], "spec.replicas");
}

#[tokio::test]
async fn headless_and_external_name_services_need_no_ports() {
    let s = TestServer::start().await;
    let collection = "/api/v1/namespaces/default/services";
    let headless = json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "selector": {"app": "db"}}});
    let (code, answer) = s.post(collection, &headless).await;
    assert_eq!(code, 201, "{answer}");
    let external = json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.com"}});
    let (code, answer) = s.post(collection, &external).await;
    assert_eq!(code, 201, "{answer}");

    // A ClusterIP service that is not headless still needs a port.
    let portless = json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}});
    let (code, answer) = s.post(collection, &portless).await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["details"]["causes"][0]["field"], "spec.ports");
    let node_port =
        json!({"metadata": {"name": "np"}, "spec": {"type": "NodePort", "clusterIP": "None"}});
    let (code, answer) = s.post(collection, &node_port).await;
    assert_eq!(code, 422, "{answer}");
}

#[tokio::test]
async fn kubectl_creates_a_headless_service_without_ports() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");
    let args = ["create", "service", "clusterip", "db", "--clusterip=None"];
    let (ok, out) = kubectl(dir.path(), &config, &args).await;
    assert!(
        ok,
        "kubectl create service clusterip --clusterip=None: {out}"
    );
    assert_eq!(out.trim(), "service/db created");
    let (code, svc) = s.get("/api/v1/namespaces/default/services/db").await;
    assert_eq!(code, 200);
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert!(
        svc["spec"]
            .get("ports")
            .is_none_or(|p| p.as_array().is_some_and(Vec::is_empty))
    );

    // kubectl's table shows it as Kubernetes does: no cluster IP, no ports.
    let (ok, out) = kubectl(dir.path(), &config, &["get", "service", "db"]).await;
    assert!(ok, "{out}");
    let row = first_row(&out);
    assert_eq!(
        row.get(..5),
        Some(&["db", "ClusterIP", "None", "<none>", "<none>"][..]),
        "{out}"
    );
}

#[tokio::test]
async fn secrets_default_to_opaque() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");
    let collection = "/api/v1/namespaces/default/secrets";
    let secret = json!({"metadata": {"name": "creds"}, "data": {"password": "aHVudGVyMg=="}});
    let (code, created) = s.post(collection, &secret).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["type"], "Opaque");
    let (_, stored) = s.get(&format!("{collection}/creds")).await;
    assert_eq!(stored["type"], "Opaque");

    // A type the user chose is kept.
    let basic = json!({"metadata": {"name": "basic"}, "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "u"}});
    let (code, created) = s.post(collection, &basic).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["type"], "kubernetes.io/basic-auth");

    let (ok, out) = kubectl(dir.path(), &config, &["get", "secret", "creds"]).await;
    assert!(ok, "{out}");
    let row = first_row(&out);
    assert_eq!(row.get(..3), Some(&["creds", "Opaque", "1"][..]), "{out}");
}

/// Kubernetes' answer to a JSON patch it cannot apply (a failed `test`, a
/// missing path): 422, reason Invalid, its generic text, empty details.
const PATCH_REJECTED: &str = "the server rejected our request due to an error in our request";

#[tokio::test]
async fn a_json_patch_that_cannot_apply_is_invalid_like_kubernetes() {
    let s = TestServer::start().await;
    let url = "/api/v1/namespaces/default/configmaps/settings";
    let cm = json!({"metadata": {"name": "settings"}, "data": {"mode": "fast"}});
    assert_eq!(
        s.post("/api/v1/namespaces/default/configmaps", &cm).await.0,
        201
    );
    let failing = [
        r#"[{"op":"test","path":"/data/mode","value":"slow"}]"#,
        r#"[{"op":"replace","path":"/data/missing/deeper","value":"x"}]"#,
        r#"[{"op":"remove","path":"/data/absent"}]"#,
    ];
    for patch in failing {
        let (code, status) = s.patch(url, "application/json-patch+json", patch).await;
        assert_eq!(code, 422, "{patch}: {status}");
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(status["message"], PATCH_REJECTED);
        assert_eq!(status["details"], json!({}), "{status}");
    }
    let (_, stored) = s.get(url).await;
    assert_eq!(stored["data"], json!({"mode": "fast"}), "nothing applied");

    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");
    let args = [
        "patch",
        "configmap",
        "settings",
        "--type=json",
        "-p",
        failing[0],
    ];
    let (ok, out) = kubectl(dir.path(), &config, &args).await;
    assert!(!ok, "{out}");
    assert_eq!(
        out.trim(),
        format!("The request is invalid: {PATCH_REJECTED}")
    );
}

/// The cells of a kubectl table's first row (after the header).
fn first_row(table: &str) -> Vec<&str> {
    table
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

/// Server-side apply is not built: kubectl's `apply --server-side` gets a
/// 415 naming the patch types orc accepts, prints it as Kubernetes' own
/// message for a server without it, and nothing is written.
#[tokio::test]
async fn kubectl_apply_server_side_is_refused_cleanly() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");
    let manifest = dir.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: b}\n",
    )
    .unwrap();
    let file = manifest.to_str().unwrap();
    let (ok, out) = kubectl(dir.path(), &config, &["apply", "--server-side", "-f", file]).await;
    assert!(!ok, "{out}");
    assert!(
        out.starts_with("error: Server-side apply not available on the server:")
            && out.contains("application/strategic-merge-patch+json"),
        "{out}"
    );
    let (code, _) = s.get("/api/v1/namespaces/default/configmaps/ssa").await;
    assert_eq!(code, 404, "nothing was created");
}

/// A kind orc does not serve gets kubectl's own "no matches for kind",
/// not "failed to download openapi": the empty `/openapi/v2` document lets
/// kubectl skip its client-side schema check and ask discovery.
#[tokio::test]
async fn unserved_kinds_are_no_matches_for_kind() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");
    for (api_version, kind) in [
        ("storage.k8s.io/v1", "CSIDriver"),
        ("example.com/v1", "Widget"),
    ] {
        let file = dir.path().join(format!("{kind}.yaml"));
        let manifest =
            format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: web}}\n");
        std::fs::write(&file, manifest).unwrap();
        let path = file.to_str().unwrap();
        let (ok, out) = kubectl(dir.path(), &config, &["apply", "-f", path]).await;
        assert!(!ok, "{out}");
        let want = format!("no matches for kind \"{kind}\" in version \"{api_version}\"");
        assert!(out.contains(&want), "kubectl apply of a {kind}: {out}");
        assert!(!out.contains("openapi"), "{out}");
    }
}
