//! `orc explain`'s two cases, snapshot-tested through the scheduler's
//! `/explain/pods/{namespace}/{name}` endpoint and the CLI's renderer: a
//! placed pod (every node's verdict and scores, the winner) and a pending
//! one (why not, and the smallest changes that would let it fit).

mod common;

use common::*;
use orc_scheduler::explain::{Explanation, render};
use serde_json::json;

async fn explain(c: &Cluster, name: &str) -> String {
    let addr = c.scheduler.metrics_addr.expect("the scheduler serves HTTP");
    let answer = orc_testkit::http_client()
        .get(format!("http://{addr}/explain/pods/default/{name}"))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{name}: {}", answer.status());
    let explanation: Explanation = answer.json().await.unwrap();
    render(&explanation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_a_placed_pod_and_a_pending_one() {
    let c = Cluster::start().await;
    c.node(node("node-1", "2", "4Gi", json!({}))).await;
    c.node(node("node-2", "2", "4Gi", json!({}))).await;
    let mut gpu = node("node-3", "4", "4Gi", json!({}));
    gpu["spec"]["taints"] = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    c.node(gpu).await;
    let mut busy = pod("busy", Some(("1", "1Gi")));
    busy["spec"]["nodeName"] = json!("node-2");
    c.pod(busy).await;

    c.pod(pod("web", Some(("500m", "64Mi")))).await;
    assert_eq!(c.scheduled("web").await, "node-1");
    insta::assert_snapshot!("placed", explain(&c, "web").await);

    c.pod(pod("big", Some(("1800m", "64Mi")))).await;
    c.unschedulable("big").await;
    insta::assert_snapshot!("pending", explain(&c, "big").await);

    // A pod the scheduler never decided about: a 404 that says why.
    let addr = c.scheduler.metrics_addr.unwrap();
    let missing = orc_testkit::http_client()
        .get(format!("http://{addr}/explain/pods/default/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("no decision about pod default/nobody")
    );
}
