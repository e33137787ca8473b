//! Graceful pod deletion against a real etcd: a pod bound to a node is
//! marked, not removed, until its node deletes it with grace 0; the
//! grace period comes from DeleteOptions, then the pod spec, then 30 s;
//! a uid precondition protects a newer pod of the same name; and
//! `kubectl delete pod` waits until the node has deleted it.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl};
use orc_client::{Client, Method};
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn bound_pod(name: &str, grace: Option<i64>) -> Value {
    let mut pod = common::pod(name);
    pod["spec"]["nodeName"] = json!("node-1");
    if let Some(g) = grace {
        pod["spec"]["terminationGracePeriodSeconds"] = json!(g);
    }
    pod
}

async fn delete_with(s: &TestServer, name: &str, options: Value) -> (u16, Value) {
    common::send(
        s.http
            .delete(s.url(&format!("{PODS}/{name}")))
            .json(&options),
    )
    .await
}

#[tokio::test]
async fn a_bound_pod_is_marked_and_its_node_deletes_it() {
    let s = TestServer::start().await;
    let (code, created) = s.post(PODS, &bound_pod("web", None)).await;
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();

    let before = jiff::Timestamp::now().as_second();
    let (code, marked) = s.delete(&format!("{PODS}/web")).await;
    assert_eq!(code, 200, "{marked}");
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
    let deadline =
        orc_client::time::parse(marked["metadata"]["deletionTimestamp"].as_str().unwrap())
            .unwrap()
            .as_second();
    assert!(
        (before + 30..=before + 32).contains(&deadline),
        "deletionTimestamp is now + 30 s: {deadline} vs {before}"
    );
    let (code, still) = s.get(&format!("{PODS}/web")).await;
    assert_eq!(code, 200, "the pod stays while its node stops it");

    // The node's status updates during the grace period keep it.
    let (code, _) = s
        .patch(
            &format!("{PODS}/web/status"),
            "application/merge-patch+json",
            r#"{"status":{"phase":"Running"}}"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(s.get(&format!("{PODS}/web")).await.0, 200);

    // A longer grace period changes nothing; a shorter one moves the deadline.
    let (code, same) = delete_with(&s, "web", json!({"gracePeriodSeconds": 60})).await;
    assert_eq!(code, 200);
    assert_eq!(
        same["metadata"]["deletionTimestamp"],
        still["metadata"]["deletionTimestamp"]
    );
    let (code, shorter) = s.delete(&format!("{PODS}/web?gracePeriodSeconds=5")).await;
    assert_eq!(code, 200);
    assert_eq!(shorter["metadata"]["deletionGracePeriodSeconds"], 5);

    // The node's final delete, with a stale uid: refused.
    let stale = json!({"gracePeriodSeconds": 0, "preconditions": {"uid": "not-the-uid"}});
    let (code, status) = delete_with(&s, "web", stale).await;
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("Precondition failed: UID in precondition: not-the-uid"),
        "{message}"
    );
    // With the right uid: gone.
    let final_delete = json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
    let (code, _) = delete_with(&s, "web", final_delete).await;
    assert_eq!(code, 200);
    assert_eq!(s.get(&format!("{PODS}/web")).await.0, 404);
}

#[tokio::test]
async fn unbound_or_zero_grace_pods_go_at_once_and_the_spec_sets_the_grace() {
    let s = TestServer::start().await;
    s.post(PODS, &common::pod("pending")).await;
    let (code, _) = s.delete(&format!("{PODS}/pending")).await;
    assert_eq!(code, 200);
    assert_eq!(
        s.get(&format!("{PODS}/pending")).await.0,
        404,
        "no node runs it"
    );

    s.post(PODS, &bound_pod("quick", Some(3))).await;
    let (_, marked) = s.delete(&format!("{PODS}/quick")).await;
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 3);
    let (code, _) = s
        .delete(&format!("{PODS}/quick?gracePeriodSeconds=0"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        s.get(&format!("{PODS}/quick")).await.0,
        404,
        "grace 0 deletes"
    );

    s.post(PODS, &bound_pod("forced", None)).await;
    let (code, _) = delete_with(
        &s,
        "forced",
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(s.get(&format!("{PODS}/forced")).await.0, 404);

    let (code, status) = s
        .delete(&format!("{PODS}/nope?gracePeriodSeconds=soon"))
        .await;
    assert_eq!(code, 400, "{status}");
}

#[tokio::test]
async fn kubectl_delete_waits_for_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, "unused");
    let (code, created) = s.post(PODS, &bound_pod("web", Some(5))).await;
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();

    // A stand-in for the node: once the pod is marked, it "stops the
    // containers" (waits a second) and deletes the object as an agent does.
    let client = Client::new(s.url(""));
    let node = tokio::spawn(async move {
        let path = format!("{PODS}/web");
        loop {
            if let Ok(pod) = client.send_path(Method::GET, &path, None, None).await {
                if pod["metadata"]["deletionTimestamp"].is_string() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let options = json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
        client
            .send_path(
                Method::DELETE,
                &path,
                None,
                Some(("application/json", options.to_string())),
            )
            .await
            .unwrap();
        Instant::now()
    });
    let (ok, out) = kubectl(
        dir.path(),
        &config,
        &["delete", "pod", "web", "--timeout=20s"],
    )
    .await;
    let returned = Instant::now();
    assert!(ok, "{out}");
    assert!(out.contains("pod \"web\" deleted"), "{out}");
    let deleted = node.await.unwrap();
    assert!(
        returned >= deleted,
        "kubectl returned before the node deleted the pod"
    );
    assert_eq!(s.get(&format!("{PODS}/web")).await.0, 404);
}
