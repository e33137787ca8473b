//! Create, get, list, update, patch and delete against a real etcd, and the
//! exact `Status` of each error.

#[macro_use]
mod common;

use common::{TestServer, pod};
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";

#[tokio::test]
async fn pod_round_trip() {
    let s = TestServer::start().await;
    let (code, created) = s.post(PODS, &pod("web")).await;
    assert_eq!(code, 201, "{created}");
    snapshot!("created_pod", &created);
    let rv: i64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let (code, got) = s.get(&format!("{PODS}/web")).await;
    assert_eq!(code, 200);
    assert_eq!(got, created);

    // etcd holds plain JSON at the Kubernetes-style key, without resourceVersion.
    let raw = s.etcdctl(&["get", "/registry/pods/default/web", "--print-value-only"]);
    let stored: Value = serde_json::from_str(raw.trim()).unwrap();
    assert_eq!(stored["metadata"]["uid"], created["metadata"]["uid"]);
    assert!(stored["metadata"].get("resourceVersion").is_none());

    let (code, list) = s.get(PODS).await;
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let list_rv: i64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(list_rv >= rv);

    // Update with the current resourceVersion: generation bumps for spec changes.
    let mut next = got.clone();
    next["spec"]["containers"][0]["image"] = json!("busybox:1.37");
    let (code, updated) = s.put(&format!("{PODS}/web"), &next).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["metadata"]["generation"], 2);
    // Labels only: generation stays.
    let (code, patched) = s
        .patch(
            &format!("{PODS}/web"),
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"tier":"front"}}}"#,
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["metadata"]["generation"], 2);
    assert_eq!(patched["metadata"]["labels"]["tier"], "front");

    // A stale resourceVersion loses.
    let (code, status) = s.put(&format!("{PODS}/web"), &next).await;
    assert_eq!(code, 409);
    snapshot!("conflict", &status);

    let (code, deleted) = s.delete(&format!("{PODS}/web")).await;
    assert_eq!(code, 200);
    assert_eq!(deleted["metadata"]["name"], "web");
    let (code, status) = s.get(&format!("{PODS}/web")).await;
    assert_eq!(code, 404);
    snapshot!("not_found", &status);
}

#[tokio::test]
async fn errors_are_kubernetes_statuses() {
    let s = TestServer::start().await;
    assert_eq!(s.post(PODS, &pod("web")).await.0, 201);
    let (code, status) = s.post(PODS, &pod("web")).await;
    assert_eq!(code, 409);
    snapshot!("already_exists", &status);

    let (code, status) = s.post("/api/v1/namespaces/nope/pods", &pod("web")).await;
    assert_eq!(code, 404);
    snapshot!("namespace_not_found", &status);

    let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 0}]}]}});
    let (code, status) = s.post(PODS, &bad).await;
    assert_eq!(code, 422);
    snapshot!("invalid_pod", &status);

    let mut elsewhere = pod("x");
    elsewhere["metadata"]["namespace"] = json!("kube-system");
    let (code, status) = s.post(PODS, &elsewhere).await;
    assert_eq!(code, 400);
    snapshot!("namespace_mismatch", &status);

    let (code, status) = s
        .patch(&format!("{PODS}/web"), "application/apply-patch+yaml", "{}")
        .await;
    assert_eq!(code, 415);
    snapshot!("unsupported_patch", &status);

    let (code, _) = s
        .raw(
            reqwest::Method::POST,
            &format!("{PODS}/web"),
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(code, 405);
}

#[tokio::test]
async fn system_namespaces_exist_and_generate_name_works() {
    let s = TestServer::start().await;
    let (_, list) = s.get("/api/v1/namespaces").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );

    let mut p = pod("");
    p["metadata"] = json!({"generateName": "web-"});
    let (code, created) = s.post(PODS, &p).await;
    assert_eq!(code, 201, "{created}");
    let name = created["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
}

#[tokio::test]
async fn finalizers_hold_deletion_until_cleared() {
    let s = TestServer::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "finalizers": ["example.com/hold"]}, "data": {"k": "v"}});
    assert_eq!(
        s.post("/api/v1/namespaces/default/configmaps", &cm).await.0,
        201
    );
    let (code, marked) = s.delete("/api/v1/namespaces/default/configmaps/c").await;
    assert_eq!(code, 200);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        s.get("/api/v1/namespaces/default/configmaps/c").await.0,
        200,
        "still there"
    );
    let (code, _) = s
        .patch(
            "/api/v1/namespaces/default/configmaps/c",
            "application/json-patch+json",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        s.get("/api/v1/namespaces/default/configmaps/c").await.0,
        404,
        "gone with its last finalizer"
    );
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}})
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let s = TestServer::start().await;
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let (code, created) = s.post(base, &deployment()).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        created["spec"]["strategy"]["type"], "RollingUpdate",
        "defaulted"
    );

    // A main update cannot write status...
    let mut with_status = created.clone();
    with_status["status"] = json!({"replicas": 5});
    let (_, after) = s.put(&format!("{base}/d"), &with_status).await;
    assert!(
        after
            .get("status")
            .is_none_or(|st| st.get("replicas").is_none()),
        "{after}"
    );
    // ...the status subresource can, and only status.
    let mut status_update = after.clone();
    status_update["status"] = json!({"replicas": 2});
    status_update["spec"]["replicas"] = json!(9);
    let (code, after) = s.put(&format!("{base}/d/status"), &status_update).await;
    assert_eq!(code, 200, "{after}");
    assert_eq!(after["status"]["replicas"], 2);
    assert_eq!(after["spec"]["replicas"], 2);

    let (code, scale) = s.get(&format!("{base}/d/scale")).await;
    assert_eq!(code, 200);
    snapshot!("scale", &scale);
    let (code, scale) = s
        .patch(
            &format!("{base}/d/scale"),
            "application/merge-patch+json",
            r#"{"spec":{"replicas":4}}"#,
        )
        .await;
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["spec"]["replicas"], 4);
    let (_, d) = s.get(&format!("{base}/d")).await;
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["generation"], 2);
}

/// A write that changes nothing is not written: the same resourceVersion
/// comes back and watchers see no event, for a PUT, a patch and a status
/// update alike (Kubernetes' GuaranteedUpdate skips such writes, so a
/// controller writing back what it read wakes no watcher).
#[tokio::test]
async fn a_write_that_changes_nothing_is_not_stored() {
    let s = TestServer::start().await;
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let (code, created) = s.post(base, &deployment()).await;
    assert_eq!(code, 201, "{created}");
    let rv = created["metadata"]["resourceVersion"].clone();
    let mut watch = common::WatchReader::open(
        &s,
        &format!("{base}?watch=true&resourceVersion={}", rv.as_str().unwrap()),
    )
    .await;

    let (code, same) = s.put(&format!("{base}/d"), &created).await;
    assert_eq!(code, 200, "{same}");
    assert_eq!(same, created, "an unchanged PUT answers the stored object");
    let (code, patched) = s
        .patch(
            &format!("{base}/d"),
            "application/merge-patch+json",
            r#"{"spec":{"replicas":2}}"#,
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["metadata"]["resourceVersion"], rv);
    let (code, status) = s.put(&format!("{base}/d/status"), &created).await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["metadata"]["resourceVersion"], rv);

    // A real change is stored, and it is the first event the watch sees.
    let (code, scaled) = s
        .patch(
            &format!("{base}/d"),
            "application/merge-patch+json",
            r#"{"spec":{"replicas":3}}"#,
        )
        .await;
    assert_eq!(code, 200, "{scaled}");
    assert_ne!(scaled["metadata"]["resourceVersion"], rv);
    let event = watch
        .next(std::time::Duration::from_secs(30))
        .await
        .expect("the change is watched");
    assert_eq!(event["type"], "MODIFIED", "{event}");
    assert_eq!(event["object"]["spec"]["replicas"], 3, "{event}");
}

#[tokio::test]
async fn binding_assigns_a_node_once() {
    let s = TestServer::start().await;
    assert_eq!(s.post(PODS, &pod("web")).await.0, 201);
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "n1"}});
    let (code, status) = s.post(&format!("{PODS}/web/binding"), &binding).await;
    assert_eq!(code, 201, "{status}");
    let (_, p) = s.get(&format!("{PODS}/web")).await;
    assert_eq!(p["spec"]["nodeName"], "n1");
    // The binding marks the pod scheduled, as Kubernetes' binding does.
    let scheduled = &p["status"]["conditions"][0];
    assert_eq!(scheduled["type"], "PodScheduled");
    assert_eq!(scheduled["status"], "True");
    assert!(scheduled["lastTransitionTime"].is_string(), "{scheduled}");
    let (code, status) = s.post(&format!("{PODS}/web/binding"), &binding).await;
    assert_eq!(code, 409);
    snapshot!("already_bound", &status);
}

#[tokio::test]
async fn unknown_fields_are_kept_and_warned_about() {
    let s = TestServer::start().await;
    let mut p = pod("web");
    p["spec"]["contianers"] = json!([]);
    let response = s.http.post(s.url(PODS)).json(&p).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let warning = response
        .headers()
        .get("warning")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(warning, r#"299 - "unknown field \"spec.contianers\"""#);
    let (_, got) = s.get(&format!("{PODS}/web")).await;
    assert_eq!(got["spec"]["contianers"], json!([]), "kept, not dropped");
}

#[tokio::test]
async fn yaml_bodies_are_accepted() {
    let s = TestServer::start().await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: b\n";
    let (code, created) = s
        .raw(
            reqwest::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/yaml",
            yaml.into(),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["data"]["a"], "b");
}

#[tokio::test]
async fn cluster_scoped_nodes() {
    let s = TestServer::start().await;
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}});
    let (code, created) = s.post("/api/v1/nodes", &node).await;
    assert_eq!(code, 201, "{created}");
    assert!(created["metadata"].get("namespace").is_none());
    assert!(
        s.etcdctl(&["get", "/registry/minions/n1", "--keys-only"])
            .contains("/registry/minions/n1")
    );
}

/// Without chapter 05's namespace controller a deleted namespace stays
/// Terminating with what is in it; no create gets in; the controller's
/// last step (`/finalize`) removes it.
#[tokio::test]
async fn deleting_a_namespace_marks_it_terminating_until_finalized() {
    let s = TestServer::start().await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    assert_eq!(s.post("/api/v1/namespaces", &ns).await.0, 201);
    assert_eq!(
        s.post("/api/v1/namespaces/team/pods", &pod("p")).await.0,
        201
    );
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(
        s.post("/api/v1/namespaces/team/configmaps", &cm).await.0,
        201
    );
    let (code, marked) = s.delete("/api/v1/namespaces/team").await;
    assert_eq!(code, 200, "{marked}");
    assert_eq!(marked["status"]["phase"], "Terminating");
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(marked["spec"]["finalizers"], json!(["kubernetes"]));
    let (code, refused) = s.post("/api/v1/namespaces/team/pods", &pod("q")).await;
    assert_eq!(code, 403, "{refused}");
    assert_eq!(
        refused["message"],
        "pods \"q\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );
    // What the controller would do: empty it, then finalize.
    assert_eq!(s.delete("/api/v1/namespaces/team/pods/p").await.0, 200);
    assert_eq!(
        s.delete("/api/v1/namespaces/team/configmaps/c").await.0,
        200
    );
    let (code, finalized) = s.finalize_namespace("team").await;
    assert_eq!(code, 200, "{finalized}");
    assert_eq!(s.get("/api/v1/namespaces/team").await.0, 404);
    let keys = s.etcdctl(&["get", "/registry/", "--prefix", "--keys-only"]);
    assert!(!keys.contains("/team"), "{keys}");
    assert_eq!(
        s.post("/api/v1/namespaces/team/pods", &pod("q")).await.0,
        404
    );

    let (code, status) = s.delete("/api/v1/namespaces/default").await;
    assert_eq!(code, 403);
    snapshot!("immortal_namespace", &status);
}

/// `status.qosClass` is the API server's: computed at creation from the
/// requests and limits (after defaulting, so limits alone make requests),
/// kept when a status write leaves it out, and never changed.
#[tokio::test]
async fn a_pods_qos_class_is_set_at_creation_and_immutable() {
    let s = TestServer::start().await;
    let mut guaranteed = pod("g");
    guaranteed["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "500m", "memory": "64Mi"}});
    // What a client sends in the status does not count.
    guaranteed["status"] = json!({"qosClass": "BestEffort"});
    let (code, created) = s.post(PODS, &guaranteed).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["status"]["qosClass"], "Guaranteed");
    assert_eq!(created["status"]["phase"], "Pending");

    let (_, best_effort) = s.post(PODS, &pod("b")).await;
    assert_eq!(best_effort["status"]["qosClass"], "BestEffort");

    // A node's status write without the field keeps it.
    let mut running = created.clone();
    running["status"] = json!({"phase": "Running"});
    let (code, after) = s.put(&format!("{PODS}/g/status"), &running).await;
    assert_eq!(code, 200, "{after}");
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(after["status"]["qosClass"], "Guaranteed");

    // Changing it is refused, naming the field, as Kubernetes does.
    let (code, status) = s
        .patch(
            &format!("{PODS}/g/status"),
            "application/merge-patch+json",
            r#"{"status":{"qosClass":"BestEffort"}}"#,
        )
        .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        "Pod \"g\" is invalid: status.qosClass: Invalid value: \"BestEffort\": field is immutable"
    );
    assert_eq!(status["details"]["causes"][0]["field"], "status.qosClass");
}
