//! Pods that fit nowhere wait, and move back when the cluster changes in
//! a way that could let them fit.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn an_unschedulable_pod_moves_back_when_a_node_is_added() {
    let c = Cluster::start().await;
    c.node(node("small", "1", "1Gi", json!({}))).await;
    c.pod(pod("big", Some(("4", "1Gi")))).await;
    c.unschedulable("big").await;
    c.until_metric("scheduler_pending_pods{queue=\"unschedulable\"}", 1.0)
        .await;
    // A new node wakes it; it still does not fit, and parks again.
    c.node(node("other", "1", "1Gi", json!({}))).await;
    c.until_metric(
        "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"unschedulable\"}",
        2.0,
    )
    .await;
    // A node it fits on: placed, without waiting for the 5 minutes.
    c.node(node("large", "8", "8Gi", json!({}))).await;
    assert_eq!(c.scheduled("big").await, "large");
    c.until_metric("scheduler_pending_pods{queue=\"unschedulable\"}", 0.0)
        .await;
}

#[tokio::test]
async fn a_pod_waits_for_the_first_node() {
    let c = Cluster::start().await;
    c.pod(pod("early", Some(("100m", "64Mi")))).await;
    assert_eq!(
        c.unschedulable("early").await,
        "no nodes available to schedule pods"
    );
    c.node(node("n1", "1", "1Gi", json!({}))).await;
    assert_eq!(c.scheduled("early").await, "n1");
}

#[tokio::test]
async fn a_deleted_pod_frees_room_for_a_waiting_one() {
    let c = Cluster::start().await;
    c.node(node("n1", "1", "1Gi", json!({}))).await;
    c.pod(pod("first", Some(("800m", "64Mi")))).await;
    c.scheduled("first").await;
    c.pod(pod("second", Some(("800m", "64Mi")))).await;
    c.unschedulable("second").await;
    // No agent runs the node, so delete at once (`--grace-period=0`): a
    // pod in its grace period still holds its room, as in Kubernetes.
    let now = json!({"gracePeriodSeconds": 0});
    let path = "/api/v1/namespaces/default/pods/first";
    c.send(orc_client::Method::DELETE, path, Some(&now))
        .await
        .unwrap();
    assert_eq!(c.scheduled("second").await, "n1");
}
