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
        tuning: &Tuning::default(),
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
        tuning: &Tuning::default(),
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
        tuning: &Tuning::default(),
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

#[test]
fn a_wider_tolerance_holds_what_the_default_one_scales() {
    // 56% of a 50% target: 12% off, outside 0.1 and inside 0.2.
    let (hpa, scale, pods) = (hpa(), scale(2), [pod("a"), pod("b")]);
    let usage = [usage("a", 56), usage("b", 56)];
    let defaults = Tuning::default();
    let observed = Observed {
        hpa: &hpa,
        scale: Ok(&scale),
        pods: &pods,
        usage: Ok(&usage),
        now: at(0),
        tuning: &defaults,
    };
    let d = decide(&observed, &mut History::default());
    assert_eq!(d.rescale.map(|r| r.0), Some(3));
    let wide = Tuning {
        tolerance: 0.2,
        ..Tuning::default()
    };
    let observed = Observed {
        tuning: &wide,
        ..observed
    };
    let d = decide(&observed, &mut History::default());
    assert_eq!(d.rescale, None);
    assert_eq!(d.status["desiredReplicas"], 2);
}

#[test]
fn the_downscale_stabilization_flag_sets_the_window_an_hpa_leaves_out() {
    // Busy at 4 replicas, then idle a minute later: on the clock the
    // decisions are taken at, the default 5 minutes hold the 4, a 30 s
    // window lets them go.
    let (hpa, busy_scale, idle_scale) = (hpa(), scale(4), scale(4));
    let pods = [pod("a"), pod("b"), pod("c"), pod("d")];
    let busy = [
        usage("a", 50),
        usage("b", 50),
        usage("c", 50),
        usage("d", 50),
    ];
    let idle = [usage("a", 5), usage("b", 5), usage("c", 5), usage("d", 5)];
    let decide_at = |hpa: &Value, tuning: &Tuning| {
        let mut history = History::default();
        let observed = Observed {
            hpa,
            scale: Ok(&busy_scale),
            pods: &pods,
            usage: Ok(&busy),
            now: at(0),
            tuning,
        };
        assert_eq!(decide(&observed, &mut history).rescale, None);
        let observed = Observed {
            scale: Ok(&idle_scale),
            usage: Ok(&idle),
            now: at(60),
            ..observed
        };
        decide(&observed, &mut history)
    };
    let held = decide_at(&hpa, &Tuning::default());
    assert_eq!(held.rescale, None);
    assert_eq!(
        condition(&held, "AbleToScale")["reason"],
        "ScaleDownStabilized"
    );
    let short = Tuning {
        downscale_stabilization: std::time::Duration::from_secs(30),
        ..Tuning::default()
    };
    let d = decide_at(&hpa, &short);
    assert_eq!(d.rescale, Some((1, "All metrics below target".to_string())));
    // A behavior as the API server stores it (scaleDown's policies
    // defaulted, its window absent) still takes the window from the flag.
    let mut stored = hpa.clone();
    stored["spec"]["behavior"] = json!({"scaleDown": {"selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}});
    let d = decide_at(&stored, &short);
    assert_eq!(d.rescale, Some((1, "All metrics below target".to_string())));
    assert_eq!(decide_at(&stored, &Tuning::default()).rescale, None);
    // An HPA's own window wins over the flag.
    let mut own = hpa.clone();
    own["spec"]["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 600}});
    let observed = Observed {
        hpa: &own,
        scale: Ok(&idle_scale),
        pods: &pods,
        usage: Ok(&busy),
        now: at(0),
        tuning: &short,
    };
    let mut history = History::default();
    decide(&observed, &mut history);
    let observed = Observed {
        usage: Ok(&idle),
        now: at(60),
        ..observed
    };
    assert_eq!(decide(&observed, &mut history).rescale, None);
}
