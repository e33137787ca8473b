//! The HorizontalPodAutoscaler controller against a real etcd, API server
//! and the Deployment and ReplicaSet controllers, on a [`ManualClock`]:
//! the test moves time over the 15 s loop and the 300 s window instead of
//! waiting. Pod usage comes from a [`FixedMetrics`] table the test writes
//! (the pods are the stand-in node's: Running and Ready, no processes).
//! Driven with the installed kubectl where it has a verb: `autoscale`,
//! `get hpa`, `describe hpa`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, Kubectl};
use orc_controllers::clock::{Clock, ManualClock};
use orc_controllers::hpa::metrics::FixedMetrics;
use serde_json::{Value, json};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
const HPAS_V1: &str = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// A cluster whose HPA controller reads `metrics`, on a manual clock,
/// with the stand-in node making every pod Ready.
async fn cluster() -> (Cluster, Arc<ManualClock>, Arc<FixedMetrics>) {
    let clock = ManualClock::new();
    let metrics = FixedMetrics::new();
    let mut c = Cluster::start_with(clock.clone(), Some(metrics.clone())).await;
    let node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    c.spawn(async move {
        let _ = node.await;
    });
    (c, clock, metrics)
}

/// A Deployment `web` of `replicas` pods, each requesting 100m CPU.
fn deployment(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox",
                    "resources": {"requests": {"cpu": "100m"}}}]}}}})
}

/// An HPA on Deployment `web`: CPU at 50% of requests, 1 to 5 replicas.
fn hpa() -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5, "metrics": [{"type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}})
}

/// The names of `web`'s Ready pods, once there are exactly `n`.
async fn ready_pods(c: &Cluster, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen = c
            .list(&format!("{PODS}?labelSelector=app%3Dweb"))
            .await
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| p["status"]["phase"] == "Running")
            .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect();
        if seen.len() == n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never {n} ready pods of web: {seen:?}");
}

/// Every pod in `pods` used `cpu` millicores in the window ending now.
fn load(metrics: &FixedMetrics, clock: &ManualClock, pods: &[String], cpu: i64) {
    for pod in pods {
        metrics.set_cpu("default", pod, cpu, clock.now());
    }
}

/// The Deployment's `spec.replicas`, once it is `n`.
async fn until_replicas(c: &Cluster, n: i64) {
    c.until(
        &format!("{DEPLOYMENTS}/web"),
        &format!("at {n} replicas"),
        |d| d.is_some_and(|d| d["spec"]["replicas"] == n),
    )
    .await;
}

/// The HPA's condition `kind`.
fn condition<'a>(hpa: &'a Value, kind: &str) -> &'a Value {
    hpa["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

/// The events about `web` with `reason`, their messages.
async fn events(c: &Cluster, reason: &str) -> Vec<String> {
    c.list("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb")
        .await
        .into_iter()
        .filter(|e| {
            e["reason"] == reason && e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
        })
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect()
}

/// `kubectl get` output without its AGE column, which moves.
fn without_age(table: &str) -> String {
    table
        .lines()
        .map(|l| {
            l.trim_end()
                .rsplit_once(' ')
                .map_or(l, |(rest, _)| rest)
                .trim_end()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn scales_out_on_three_times_the_target_and_in_after_the_window() {
    let (c, clock, metrics) = cluster().await;
    let k = Kubectl::new(&c);
    c.create(DEPLOYMENTS, &deployment(1)).await;
    let pods = ready_pods(&c, 1).await;
    // 150m of a 100m request is 150%: three times the 50% target.
    load(&metrics, &clock, &pods, 150);
    c.create(HPAS, &hpa()).await;
    until_replicas(&c, 3).await;
    let reason = "cpu resource utilization (percentage of request) above target";
    let hpa_path = format!("{HPAS}/web");
    let scaled = c
        .until(&hpa_path, "rescaled", |h| {
            h.is_some_and(|h| condition(h, "AbleToScale")["reason"] == "SucceededRescale")
        })
        .await
        .unwrap();
    assert_eq!(scaled["status"]["desiredReplicas"], 3);
    assert_eq!(
        condition(&scaled, "ScalingActive")["reason"],
        "ValidMetricFound"
    );
    assert_eq!(condition(&scaled, "ScalingLimited")["status"], "False");
    assert!(scaled["status"]["lastScaleTime"].is_string());
    let wanted = format!("New size: 3; reason: {reason}");
    for _ in 0..100 {
        if events(&c, "SuccessfulRescale").await.contains(&wanted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(events(&c, "SuccessfulRescale").await.contains(&wanted));

    // The load drops to 10%: the metrics ask for 1, but the last 300 s
    // recommended 3, so the HPA holds at 3.
    let pods = ready_pods(&c, 3).await;
    load(&metrics, &clock, &pods, 10);
    clock.advance(Duration::from_secs(15));
    let held = c
        .until(&hpa_path, "stabilized", |h| {
            h.is_some_and(|h| condition(h, "AbleToScale")["reason"] == "ScaleDownStabilized")
        })
        .await
        .unwrap();
    assert_eq!(held["status"]["currentReplicas"], 3);
    let deployment = c.get(&format!("{DEPLOYMENTS}/web")).await.unwrap();
    assert_eq!(deployment["spec"]["replicas"], 3);
    insta::assert_snapshot!(
        "get_hpa_stabilized",
        without_age(&k.run(&["get", "hpa"]).await)
    );

    // Past the window: down to minReplicas in one step (100% per 15 s).
    clock.advance(Duration::from_secs(300));
    until_replicas(&c, 1).await;
    for _ in 0..100 {
        if !events(&c, "SuccessfulRescale").await.is_empty()
            && events(&c, "SuccessfulRescale")
                .await
                .contains(&"New size: 1; reason: All metrics below target".to_string())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no scale-down event: {:?}",
        events(&c, "SuccessfulRescale").await
    );
}

#[tokio::test]
async fn policies_and_max_replicas_limit_a_scale_out() {
    let (c, clock, metrics) = cluster().await;
    c.create(DEPLOYMENTS, &deployment(2)).await;
    let pods = ready_pods(&c, 2).await;
    // 500% of a 50% target: the metrics ask for 20 pods.
    load(&metrics, &clock, &pods, 500);
    let mut spec = hpa();
    spec["spec"]["maxReplicas"] = json!(4);
    spec["spec"]["behavior"] = json!({"scaleUp": {"policies": [
        {"type": "Pods", "value": 1, "periodSeconds": 60}]}});
    c.create(HPAS, &spec).await;
    // One pod per minute: 3, and ScaleUpLimit says why.
    until_replicas(&c, 3).await;
    let hpa_path = format!("{HPAS}/web");
    let limited = c
        .until(&hpa_path, "limited", |h| {
            h.is_some_and(|h| condition(h, "ScalingLimited")["reason"] == "ScaleUpLimit")
        })
        .await
        .unwrap();
    assert_eq!(condition(&limited, "ScalingLimited")["status"], "True");
    // The server filled the rest of the rules from the defaults, all but
    // the scale-down window: that one is the controller's flag.
    let down = &limited["spec"]["behavior"]["scaleDown"];
    assert_eq!(down["policies"][0]["type"], "Percent");
    assert!(down.get("stabilizationWindowSeconds").is_none(), "{down}");
    // A minute later another pod would be allowed, but maxReplicas is 4,
    // and the next step is held there.
    let pods = ready_pods(&c, 3).await;
    load(&metrics, &clock, &pods, 500);
    clock.advance(Duration::from_secs(61));
    until_replicas(&c, 4).await;
    let pods = ready_pods(&c, 4).await;
    load(&metrics, &clock, &pods, 500);
    clock.advance(Duration::from_secs(61));
    c.until(&hpa_path, "at max", |h| {
        h.is_some_and(|h| condition(h, "ScalingLimited")["reason"] == "TooManyReplicas")
    })
    .await;
    let deployment = c.get(&format!("{DEPLOYMENTS}/web")).await.unwrap();
    assert_eq!(deployment["spec"]["replicas"], 4);
}

#[tokio::test]
async fn kubectl_autoscale_get_and_describe() {
    let (c, _clock, _metrics) = cluster().await;
    let k = Kubectl::new(&c);
    c.create(DEPLOYMENTS, &deployment(1)).await;
    k.run(&[
        "autoscale",
        "deployment",
        "web",
        "--cpu-percent=50",
        "--min=1",
        "--max=5",
    ])
    .await;
    // Stored as v2, served as both.
    let v2 = c.get(&format!("{HPAS}/web")).await.unwrap();
    assert_eq!(v2["apiVersion"], "autoscaling/v2");
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        50
    );
    let v1 = c.get(&format!("{HPAS_V1}/web")).await.unwrap();
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
    // No metrics in the table: ScalingActive False, and the reason says so.
    let failing = c
        .until(&format!("{HPAS}/web"), "failing", |h| {
            h.is_some_and(|h| condition(h, "ScalingActive")["status"] == "False")
        })
        .await
        .unwrap();
    assert_eq!(
        condition(&failing, "ScalingActive")["reason"],
        "FailedGetResourceMetric"
    );
    insta::assert_snapshot!(
        "get_hpa_autoscaled",
        without_age(&k.run(&["get", "hpa"]).await)
    );
    let described = k.run(&["describe", "hpa", "web"]).await;
    for wanted in [
        "Reference:",
        "Deployment/web",
        "Min replicas:",
        "Max replicas:",
        "FailedGetResourceMetric",
        "AbleToScale",
    ] {
        assert!(described.contains(wanted), "{wanted} in {described}");
    }
    // Validation, with Kubernetes' messages.
    let mut bad = hpa();
    bad["metadata"]["name"] = json!("bad");
    bad["spec"]["minReplicas"] = json!(0);
    let (code, status) = c.send(c.http.post(c.url(HPAS)).json(&bad)).await;
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"),
        "{status}"
    );
}
