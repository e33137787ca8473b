use std::collections::HashMap;

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn hpa() -> Value {
    json!({"metadata": {"name": "web", "generation": 1},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5, "metrics": [{"type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}})
}

fn scale(replicas: i64) -> Value {
    json!({"spec": {"replicas": replicas}, "status": {"selector": "app=web"}})
}

fn pod(name: &str) -> Value {
    json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": "Running", "startTime": "2020-01-01T00:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}})
}

fn usage(name: &str, cpu: i64) -> PodUsage {
    PodUsage {
        pod: name.into(),
        usage: HashMap::from([("cpu".to_string(), cpu)]),
        timestamp: at(0),
        window_seconds: 15,
    }
}

fn condition<'a>(d: &'a Decision, kind: &str) -> &'a Value {
    d.status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap()
}

#[test]
fn three_times_the_target_triples_the_pods() {
    let (hpa, scale, pods) = (hpa(), scale(1), [pod("a")]);
    let usage = [usage("a", 150)];
    let observed = Observed {
        hpa: &hpa,
        scale: Ok(&scale),
        pods: &pods,
        usage: Ok(&usage),
        now: at(0),
    };
    let d = decide(&observed, &mut History::default());
    let reason = "cpu resource utilization (percentage of request) above target";
    assert_eq!(d.rescale, Some((3, reason.to_string())));
    assert_eq!(d.status["desiredReplicas"], 3);
    assert_eq!(
        d.status["currentMetrics"][0]["resource"]["current"],
        json!({"averageUtilization": 150, "averageValue": "150m"})
    );
    assert_eq!(condition(&d, "ScalingActive")["reason"], "ValidMetricFound");
    assert_eq!(
        condition(&d, "ScalingLimited")["reason"],
        "DesiredWithinRange"
    );
    assert_eq!(condition(&d, "AbleToScale")["reason"], "ReadyForNewScale");
}

#[test]
fn bounds_come_before_metrics() {
    let (hpa, pods) = (hpa(), [pod("a")]);
    let usage = [usage("a", 10)];
    let big = scale(9);
    let observed = Observed {
        hpa: &hpa,
        scale: Ok(&big),
        pods: &pods,
        usage: Ok(&usage),
        now: at(0),
    };
    let d = decide(&observed, &mut History::default());
    assert_eq!(
        d.rescale,
        Some((
            5,
            "Current number of replicas above Spec.MaxReplicas".into()
        ))
    );
    let zero = scale(0);
    let observed = Observed {
        scale: Ok(&zero),
        ..observed
    };
    let d = decide(&observed, &mut History::default());
    assert_eq!(d.rescale, None);
    assert_eq!(condition(&d, "ScalingActive")["reason"], "ScalingDisabled");
}

#[test]
fn missing_metrics_and_scale_are_conditions_and_events() {
    let (hpa, scale, pods) = (hpa(), scale(2), [pod("a"), pod("b")]);
    let observed = Observed {
        hpa: &hpa,
        scale: Ok(&scale),
        pods: &pods,
        usage: Ok(&[]),
        now: at(0),
    };
    let d = decide(&observed, &mut History::default());
    assert_eq!(d.rescale, None);
    let active = condition(&d, "ScalingActive");
    assert_eq!(
        (active["status"].as_str(), active["reason"].as_str()),
        (Some("False"), Some("FailedGetResourceMetric"))
    );
    assert_eq!(d.events.len(), 2);
    assert!(d.events[1].message.starts_with(
        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu utilization"
    ));
    let observed = Observed {
        scale: Err("deployments.apps \"web\" not found".into()),
        ..observed
    };
    let d = decide(&observed, &mut History::default());
    assert_eq!(condition(&d, "AbleToScale")["reason"], "FailedGetScale");
}
