//! A burst of pods onto tight nodes: every decision counts the pods
//! placed before it (assumed, their bindings still on the way), so no node
//! ends up with more requested than it can give.

mod common;

use std::collections::BTreeMap;

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};

const NODES: usize = 10;
const PODS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_pods_over_commits_no_node() {
    let c = Cluster::start().await;
    // 10 nodes of 1 CPU and 1 GiB; pods of 25m and 16 MiB: 40 pods fit a
    // node by CPU, 64 by memory, so 400 of the 500 fit.
    for i in 0..NODES {
        c.node(node(&format!("n{i}"), "1", "1Gi", json!({}))).await;
    }
    let bodies: Vec<Value> = (0..PODS)
        .map(|i| pod(&format!("p{i:03}"), Some(("25m", "16Mi"))))
        .collect();
    futures::stream::iter(bodies)
        .for_each_concurrent(16, |body| {
            let c = &c;
            async move {
                c.pod(body).await;
            }
        })
        .await;
    let fit = NODES * 1000 / 25;
    let done = |text: &str, result: &str| {
        let name = format!(
            "scheduler_schedule_attempts_total{{profile=\"default-scheduler\",result=\"{result}\"}}"
        );
        orc_testkit::metrics::sample(text, &name).unwrap_or(0.0) as usize
    };
    // Wait until every pod has been tried: the ones that fit bound, the
    // rest parked as unschedulable.
    let unschedulable = "scheduler_pending_pods{queue=\"unschedulable\"}";
    c.until_metric(unschedulable, (PODS - fit) as f64).await;
    c.until_metric(
        "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"}",
        fit as f64,
    )
    .await;
    let text = c.metrics().await;
    assert_eq!(done(&text, "scheduled"), fit, "{text}");
    assert_eq!(done(&text, "error"), 0, "{text}");

    // The conditions are written in the background: wait for them all.
    let list = c
        .until("/api/v1/namespaces/default/pods", "all decided", |list| {
            let items = list.and_then(|l| l["items"].as_array());
            let decided = items
                .into_iter()
                .flatten()
                .filter(|p| node_of(Some(p)).is_some() || unscheduled(Some(p)).is_some());
            decided.count() == PODS
        })
        .await
        .unwrap();
    let mut cpu: BTreeMap<String, i64> = BTreeMap::new();
    let mut pods_bound = 0;
    for p in list["items"].as_array().unwrap() {
        if let Some(node) = node_of(Some(p)) {
            *cpu.entry(node).or_default() += 25;
            pods_bound += 1;
        } else {
            assert!(unscheduled(Some(p)).is_some(), "{p}");
        }
    }
    assert_eq!(pods_bound, fit);
    for (node, millis) in &cpu {
        assert!(
            *millis <= 1000,
            "{node} over-committed: {millis}m requested of 1000m"
        );
    }
    assert_eq!(cpu.len(), NODES, "every node used: {cpu:?}");

    // The events are queued and written one at a time after the
    // bindings: every bound pod gets its `Scheduled` event in the end, and
    // 500 decisions are far from the queue's 1,000, so none is dropped.
    let bound: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| node_of(Some(p)).is_some())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    // One writer, 500 writes one after another: on a loaded machine that
    // takes longer than the common 30 s wait, so this wait is its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let list = c.get("/api/v1/namespaces/default/events").await;
        let items = list.as_ref().and_then(|l| l["items"].as_array());
        let named: std::collections::BTreeSet<&str> = items
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == "Scheduled")
            .filter_map(|e| e["involvedObject"]["name"].as_str())
            .collect();
        let missing: Vec<&String> = bound
            .iter()
            .filter(|n| !named.contains(n.as_str()))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Scheduled event after 180 s for {} bound pods: {missing:?}",
            missing.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let text = c.metrics().await;
    assert_eq!(
        orc_testkit::metrics::sample(&text, "scheduler_events_dropped_total"),
        Some(0.0),
        "{text}"
    );
}
