//! The namespace controller with a real API server: a deleted namespace
//! is emptied, waits for its content's finalizers, and then goes; creates
//! racing with the delete leave nothing behind for a namespace of the
//! same name to inherit.

mod common;

use common::Cluster;
use serde_json::{Value, json};

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn configmap(name: &str, finalizers: &[&str]) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "finalizers": finalizers}, "data": {"a": "b"}})
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

/// `kubectl delete namespace` returns once the namespace is gone, which
/// is once the controller has emptied it; an object's finalizer holds it
/// `Terminating`, with a condition saying why.
#[tokio::test]
async fn a_deleted_namespace_is_emptied_then_removed() {
    let cluster = Cluster::start().await;
    cluster
        .create("/api/v1/namespaces", &namespace("team"))
        .await;
    let (_, ns) = cluster
        .send(cluster.http.get(cluster.url("/api/v1/namespaces/team")))
        .await;
    assert_eq!(ns["status"]["phase"], "Active");
    cluster
        .create("/api/v1/namespaces/team/pods", &pod("p"))
        .await;
    cluster
        .create(
            "/api/v1/namespaces/team/configmaps",
            &configmap("plain", &[]),
        )
        .await;
    cluster
        .create(
            "/api/v1/namespaces/team/configmaps",
            &configmap("held", &["example.com/hold"]),
        )
        .await;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    cluster
        .create("/apis/apps/v1/namespaces/team/deployments", &deployment)
        .await;

    assert_eq!(
        cluster.delete("/api/v1/namespaces/team", json!({})).await,
        200
    );
    let waiting = cluster
        .until(
            "/api/v1/namespaces/team",
            "waiting for the held ConfigMap",
            |ns| {
                let conditions = ns.and_then(|ns| ns.pointer("/status/conditions")).cloned();
                conditions.is_some_and(|c| {
                    c.as_array().unwrap().iter().any(|c| {
                        c["type"] == "NamespaceFinalizersRemaining" && c["status"] == "True"
                    })
                })
            },
        )
        .await
        .unwrap();
    assert_eq!(waiting["status"]["phase"], "Terminating");
    let remaining = waiting["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "NamespaceFinalizersRemaining")
        .unwrap()
        .clone();
    assert_eq!(
        remaining["message"],
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    cluster.until_gone("/api/v1/namespaces/team/pods/p").await;
    cluster
        .until_gone("/api/v1/namespaces/team/configmaps/plain")
        .await;
    cluster
        .until_gone("/apis/apps/v1/namespaces/team/deployments/web")
        .await;
    // As Kubernetes' controller does, it emptied each resource with one
    // DELETE of the collection (the verb RBAC grants it by).
    let metrics = cluster
        .http
        .get(cluster.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for resource in ["pods", "configmaps", "deployments"] {
        let sample = format!(
            "apiserver_request_total{{verb=\"deletecollection\",resource=\"{resource}\",code=\"200\"}}"
        );
        assert!(
            metrics.contains(&sample),
            "{sample} missing from:\n{metrics}"
        );
    }
    let (code, refused) = cluster
        .send(
            cluster
                .http
                .post(cluster.url("/api/v1/namespaces/team/pods"))
                .json(&pod("late")),
        )
        .await;
    assert_eq!(code, 403, "{refused}");

    // Releasing the finalizer lets everything go, the namespace last.
    let patch = json!({"metadata": {"finalizers": null}});
    assert_eq!(
        cluster
            .merge_patch("/api/v1/namespaces/team/configmaps/held", &patch)
            .await,
        200
    );
    cluster.until_gone("/api/v1/namespaces/team").await;
    cluster
        .create("/api/v1/namespaces", &namespace("team"))
        .await;
    assert!(
        cluster
            .list("/api/v1/namespaces/team/configmaps")
            .await
            .is_empty()
    );
    assert!(
        cluster
            .list("/api/v1/namespaces/team/pods")
            .await
            .is_empty()
    );
}

/// Issue 15's finding: with writers creating in a namespace while it is
/// deleted, objects used to outlive it (548 over ten deletions) and a
/// namespace of the same name inherited them. Now every create either
/// lands before the controller's last look (and is deleted) or is refused.
#[tokio::test]
async fn creates_racing_a_delete_leave_no_orphans() {
    let cluster = Cluster::start().await;
    for round in 0..3 {
        let name = format!("race-{round}");
        cluster
            .create("/api/v1/namespaces", &namespace(&name))
            .await;
        let url = cluster.url(&format!("/api/v1/namespaces/{name}/configmaps"));
        let mut writers = Vec::new();
        for w in 0..8 {
            let (http, url) = (cluster.http.clone(), url.clone());
            writers.push(tokio::spawn(async move {
                let mut created = 0;
                for i in 0.. {
                    let cm = configmap(&format!("w{w}-{i}"), &[]);
                    match http
                        .post(&url)
                        .json(&cm)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                    {
                        201 => created += 1,
                        403 => continue,
                        404 => break,
                        other => panic!("create answered {other}"),
                    }
                }
                created
            }));
        }
        // Let the writers get going: the first create of each is in.
        cluster
            .until(
                &format!("/api/v1/namespaces/{name}/configmaps"),
                "filling",
                |list| list.is_some_and(|l| l["items"].as_array().unwrap().len() >= 8),
            )
            .await;
        let path = format!("/api/v1/namespaces/{name}");
        assert_eq!(cluster.delete(&path, json!({})).await, 200);
        cluster.until_gone(&path).await;
        let mut created = 0;
        for writer in writers {
            created += writer.await.unwrap();
        }
        assert!(created >= 8, "round {round}: {created} created");
        cluster
            .create("/api/v1/namespaces", &namespace(&name))
            .await;
        let orphans = cluster
            .list(&format!("/api/v1/namespaces/{name}/configmaps"))
            .await;
        assert!(
            orphans.is_empty(),
            "round {round}: {} orphans",
            orphans.len()
        );
    }
}
