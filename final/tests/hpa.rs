//! The HorizontalPodAutoscaler end to end: a real etcd, the API server
//! with its Metrics API scraping every second, `orc agent` on a test node
//! running a Deployment whose pods burn CPU, the scheduler and the
//! controller manager with a 1 s HPA loop (set through
//! kube-controller-manager's flags), and the installed kubectl making the
//! HPA (`kubectl autoscale`) and reading it (`kubectl get hpa`).
//!
//! The autoscaler scales the Deployment out while its pods burn; once the
//! pods idle it scales it back in after the (shortened) scale-down
//! stabilization window. Every wait is on a watch of the object.
//!
//! Root only. Everything is removed at the end: the HPA and the Deployment
//! through the API (its pods with it), the agent by its pid, the cgroups
//! and directories by the fixtures.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::time::{Duration, Instant};

use agent_node::Node;
use clap::Parser;
use cluster::{AgentProcess, ApiServer, agent_node_ready, kubeconfig, kubectl, tear_down};
use orc_client::resources::{Resource, by_kind};
use serde_json::{Value, json};

const NODE: &str = "node-hpa";
const LONG: Duration = Duration::from_secs(120);
/// The Metrics API's scrape interval in this test (15 s by default).
const RESOLUTION: Duration = Duration::from_secs(1);

/// The controller manager's HPA flags in this test: a 1 s loop instead of
/// 15 s, and a 5 s scale-down window instead of five minutes (long enough
/// to ride out a dip in a busy machine's readings, short enough to watch).
const HPA_FLAGS: [&str; 2] = [
    "--horizontal-pod-autoscaler-sync-period=1s",
    "--horizontal-pod-autoscaler-downscale-stabilization=5s",
];

/// The flags, parsed as `orc-controllers` and `orc server` parse them.
#[derive(Parser)]
struct ControllerManager {
    #[command(flatten)]
    hpa: orc_controllers::hpa::flags::HpaFlags,
}

/// Tasks of this process (controllers, scheduler) aborted when dropped.
struct Aborting(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Aborting {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The Deployment `burn`: one pod whose container runs `script`, asking
/// for 50m of CPU (the HPA's utilization is usage over this request).
fn deployment(script: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "burn", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "burn"}},
            "template": {
                "metadata": {"labels": {"app": "burn"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "main", "image": "busybox",
                        "command": ["sh", "-c", script],
                        "resources": {"requests": {"cpu": "50m"}}}],
                },
            },
        },
    })
}

fn resource(api_version: &str, kind: &str) -> &'static Resource {
    by_kind(api_version, kind).expect("the resource table serves it")
}

/// Waits until `done` holds for the object `name` of `resource` in
/// `default`: reads it once, then follows a watch from that read (a new
/// watch from the last version seen if the server ends one). Panics with
/// the last version seen after [`LONG`].
async fn watch_until(
    api: &ApiServer,
    resource: &'static Resource,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + LONG;
    let path = orc_client::path(resource, Some("default"), Some(name));
    let mut last = api.get(&path).await.unwrap_or(Value::Null);
    let fields = format!("metadata.name={name}");
    loop {
        if done(&last) {
            return last;
        }
        let from = last
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("0")
            .to_string();
        let mut stream = api
            .client
            .watch_selected(resource, Some("default"), "", &fields, &from, 60)
            .await
            .unwrap_or_else(|e| panic!("watching {path}: {e}"));
        loop {
            let next = tokio::time::timeout_at(deadline, stream.next()).await;
            let Ok(event) = next else {
                panic!(
                    "{path}: never as expected in {LONG:?}; last:\n{}",
                    serde_json::to_string_pretty(&last).unwrap()
                );
            };
            match event {
                Some(Ok((kind, object))) if kind == "ADDED" || kind == "MODIFIED" => {
                    last = object;
                    if done(&last) {
                        return last;
                    }
                }
                Some(Ok(_)) => {} // bookmarks
                _ => break,       // the watch ended: open another
            }
        }
    }
}

/// The Deployment's `spec.replicas`.
fn replicas(deployment: &Value) -> i64 {
    deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

/// The cells of a `kubectl get` table by column name: each cell is the
/// text under its header, up to the next header (TARGETS holds a space:
/// `cpu: 250%/50%`, so splitting on whitespace would not do).
fn cells(table: &str) -> Vec<Vec<(String, String)>> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or("");
    let mut starts: Vec<(usize, &str)> = Vec::new();
    let mut at = 0;
    for word in header.split_whitespace() {
        let start = at + header[at..].find(word).unwrap();
        starts.push((start, word));
        at = start + word.len();
    }
    lines
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(i, (start, name))| {
                    let end = starts
                        .get(i + 1)
                        .map_or(line.len(), |s| s.0.min(line.len()));
                    let cell = line.get(*start..end).unwrap_or("").trim();
                    (name.to_string(), cell.to_string())
                })
                .collect()
        })
        .collect()
}

/// The cell under `column`.
fn cell<'a>(row: &'a [(String, String)], column: &str) -> &'a str {
    row.iter()
        .find(|(name, _)| name == column)
        .map(|(_, cell)| cell.as_str())
        .unwrap_or_else(|| panic!("no column {column} in {row:?}"))
}

/// Whether `text` is `cpu: N%/50%`, Kubernetes' TARGETS cell of a CPU
/// utilization target that has been measured.
fn measured_cpu_target(text: &str) -> bool {
    text.strip_prefix("cpu: ")
        .and_then(|t| t.strip_suffix("%/50%"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burning_deployment_scales_out_and_back_in_when_it_idles() {
    let node = Node::new();
    let api = ApiServer::start_with(|c| c.metric_resolution = RESOLUTION).await;
    let port = orc_testkit::ports::free_port();
    let mut agent = AgentProcess::start(&node, NODE, &api, port, "agent.log");
    api.wait_for(&format!("/api/v1/nodes/{NODE}"), LONG, agent_node_ready)
        .await;
    let config = kubeconfig(node.dir.path(), &api);
    let flags = ControllerManager::try_parse_from(std::iter::once("orc").chain(HPA_FLAGS))
        .expect("the HPA flags parse");
    let controllers = orc_controllers::Config {
        hpa: flags.hpa.tuning(),
        ..orc_controllers::Config::new(&api.url)
    };
    let scheduler = orc_scheduler::Config::new(&api.url);
    let components = Aborting(vec![
        tokio::spawn(orc_controllers::run(controllers)),
        tokio::spawn(async move {
            let _ = orc_scheduler::run(scheduler).await;
        }),
    ]);
    let deployments = resource("apps/v1", "Deployment");
    let hpas = resource("autoscaling/v2", "HorizontalPodAutoscaler");

    api.post(
        "/apis/apps/v1/namespaces/default/deployments",
        deployment("while :; do :; done"),
    )
    .await;
    kubectl(
        &config,
        &[
            "autoscale",
            "deployment",
            "burn",
            "--cpu-percent=50",
            "--min=1",
            "--max=4",
        ],
    )
    .await;
    let started = Instant::now();

    // Out: one pod burning a busy loop uses far more than half its 50m.
    let out = watch_until(&api, deployments, "burn", |d| replicas(d) > 1).await;
    println!(
        "scaled out to {} after {:?}",
        replicas(&out),
        started.elapsed()
    );
    assert!(replicas(&out) <= 4, "past --max: {out}");

    // `kubectl get hpa`: Kubernetes' columns, the measured utilization over
    // the target, the bounds, and the replicas the controller saw.
    let hpa = watch_until(&api, hpas, "burn", |h| {
        h.pointer("/status/currentReplicas")
            .and_then(Value::as_i64)
            .is_some_and(|n| n > 1)
            && h.pointer("/status/currentMetrics/0/resource/current/averageUtilization")
                .is_some()
    })
    .await;
    let table = kubectl(&config, &["get", "hpa", "burn"]).await;
    // The header's words, not its spacing: the column widths follow the
    // figures, which change from run to run.
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ],
        "{table}"
    );
    let rows = cells(&table);
    assert_eq!(rows.len(), 1, "{table}");
    let row = &rows[0];
    assert_eq!(cell(row, "NAME"), "burn", "{table}");
    assert_eq!(cell(row, "REFERENCE"), "Deployment/burn", "{table}");
    assert!(measured_cpu_target(cell(row, "TARGETS")), "{table}");
    assert_eq!(
        (cell(row, "MINPODS"), cell(row, "MAXPODS")),
        ("1", "4"),
        "{table}"
    );
    let shown: i64 = cell(row, "REPLICAS").parse().expect("a count");
    assert!((2..=4).contains(&shown), "{table}\n{hpa}");

    // In: the pods stop burning (a new template rolls them over to idle
    // ones); once the 5 s window has passed, one pod is enough.
    kubectl(
        &config,
        &[
            "patch",
            "deployment",
            "burn",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"main","command":["sh","-c","exec sleep 3600"]}]}}}}"#,
        ],
    )
    .await;
    let idled = Instant::now();
    watch_until(&api, deployments, "burn", |d| replicas(d) == 1).await;
    println!("scaled in to 1 {:?} after the pods idled", idled.elapsed());
    let hpa = watch_until(&api, hpas, "burn", |h| {
        h.pointer("/status/desiredReplicas") == Some(&json!(1))
    })
    .await;
    let ready = hpa["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "ScalingActive");
    assert_eq!(
        ready.map(|c| c["reason"].clone()),
        Some(json!("ValidMetricFound")),
        "{hpa}"
    );

    // Gone: the HPA first (so it scales nothing back), then the Deployment
    // and, through the garbage collector, its ReplicaSets and pods.
    kubectl(&config, &["delete", "hpa", "burn"]).await;
    kubectl(
        &config,
        &[
            "delete",
            "deployment",
            "burn",
            "--cascade=foreground",
            "--timeout=120s",
        ],
    )
    .await;
    let pods = "/api/v1/namespaces/default/pods?labelSelector=app%3Dburn";
    api.wait_for(pods, LONG, |list| {
        list["items"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    drop(components);
    tear_down(&node, &api, &mut agent, &[]).await;
}
