//! What `kubectl describe pod` shows of the scheduler's work, as on
//! Kubernetes: the `PodScheduled` condition and the `Scheduled` or
//! `FailedScheduling` events (ages redacted).

mod common;

use common::*;
use orc_testkit::kubectl;
use serde_json::json;

/// The `Conditions:` and `Events:` sections of `kubectl describe pod`,
/// each table row's columns joined by ` | ` (the column widths follow the
/// ages, which change), the Age column replaced.
fn sections(described: &str) -> String {
    let mut out = Vec::new();
    let mut keep = false;
    let gap = regex::Regex::new(r"\s{2,}").unwrap();
    for line in described.lines() {
        if !line.starts_with(' ') {
            keep = line.starts_with("Conditions:") || line.starts_with("Events:");
        }
        if !keep {
            continue;
        }
        let columns: Vec<&str> = gap.split(line.trim()).collect();
        let mut columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        // Events: Type, Reason, Age, From, Message.
        if columns.len() == 5 && !columns[2].starts_with('-') && columns[2] != "Age" {
            columns[2] = "<age>".into();
        }
        out.push(columns.join(" | "));
    }
    out.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_shows_scheduled_and_failed_scheduling() {
    let c = Cluster::start().await;
    c.node(node("node-1", "1", "1Gi", json!({}))).await;
    let mut gpu = node("node-2", "8", "8Gi", json!({}));
    gpu["spec"]["taints"] = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    c.node(gpu).await;
    c.pod(pod("web", Some(("100m", "64Mi")))).await;
    c.scheduled("web").await;
    c.pod(pod("big", Some(("2", "64Mi")))).await;
    c.unschedulable("big").await;

    let dir = tempfile::tempdir().unwrap();
    let config = kubectl::kubeconfig(dir.path(), c.addr, "t");
    let describe = |name: &str| {
        let mut command = kubectl::command(dir.path(), &config);
        command.args(["describe", "pod", name]);
        command
    };
    c.until_event("web", "Scheduled").await;
    c.until_event("big", "FailedScheduling").await;
    // kubectl blocks: off the runtime that serves the API.
    let run = |command| async move {
        tokio::task::spawn_blocking(move || kubectl::output(command))
            .await
            .unwrap()
    };
    let (ok, web) = run(describe("web")).await;
    assert!(ok, "{web}");
    insta::assert_snapshot!("scheduled", sections(&web));
    let (ok, big) = run(describe("big")).await;
    assert!(ok, "{big}");
    insta::assert_snapshot!("failed_scheduling", sections(&big));
}
