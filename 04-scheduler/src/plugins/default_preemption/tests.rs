//! Preemption decided on snapshots: who is evicted, where, and what the
//! user reads when nobody can be.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{Decision, NextStart, Outcome, schedule};
use crate::objects::{Node, PodInfo};
use crate::plugins::{ScoringStrategy, default_profile};

fn node(name: &str, cpu: &str, pods: &[PodInfo], extra: Value) -> NodeInfo {
    let mut object = json!({"metadata": {"name": name},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}});
    if let Some(taints) = extra.get("taints") {
        object["spec"] = json!({"taints": taints});
    }
    let mut info = NodeInfo::new(Arc::new(Node::parse(&object)));
    for pod in pods {
        info.add_pod(Arc::new(PodInfo {
            node_name: name.into(),
            ..pod.clone()
        }));
    }
    info
}

fn pod(name: &str, priority: i64, cpu: &str) -> PodInfo {
    PodInfo::parse(&json!({
        "metadata": {"namespace": "d", "name": name, "uid": name},
        "spec": {"schedulerName": "default-scheduler", "priority": priority,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {"startTime": "2026-01-01T00:00:00Z"},
    }))
}

fn decide(pod: &PodInfo, nodes: Vec<NodeInfo>) -> Decision {
    let profile = default_profile(ScoringStrategy::LeastAllocated, 0);
    schedule(
        &profile,
        pod,
        &Snapshot::of_nodes(nodes),
        &mut NextStart::default(),
        1,
    )
}

#[test]
fn the_fewest_least_important_victims_on_the_cheapest_node() {
    let a = node(
        "a",
        "1",
        &[pod("low", 1, "600m"), pod("mid", 5, "300m")],
        json!({}),
    );
    let b = node("b", "1", &[pod("mid2", 5, "900m")], json!({}));
    let decision = decide(&pod("urgent", 10, "500m"), vec![a, b]);
    let nomination = decision.nomination.expect("a nomination");
    assert_eq!(nomination.node, "a", "a's top victim has priority 1, b's 5");
    let names: Vec<&str> = nomination.victims.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["low"], "mid fits beside the pod and is spared");
    // Made room, but not placed yet: the message has no `preemption:` part.
    assert_eq!(
        decision.outcome,
        Outcome::Unschedulable("0/2 nodes are available: 2 Insufficient cpu.".into())
    );
}

#[test]
fn says_what_kubernetes_says_without_victims() {
    let full = node("a", "1", &[pod("same", 0, "1")], json!({}));
    let tainted = node(
        "b",
        "8",
        &[],
        json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
    );
    let decision = decide(&pod("p", 0, "500m"), vec![full, tainted]);
    assert!(decision.nomination.is_none());
    assert_eq!(
        decision.outcome,
        Outcome::Unschedulable(
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
             {dedicated: gpu}. preemption: 0/2 nodes are available: 1 No preemption victims \
             found for incoming pod, 1 Preemption is not helpful for scheduling."
                .into()
        )
    );
}

#[test]
fn evicting_everything_lower_must_be_enough() {
    // Without the low pod, the high one still leaves too little.
    let a = node(
        "a",
        "1",
        &[pod("low", 1, "300m"), pod("high", 20, "600m")],
        json!({}),
    );
    let decision = decide(&pod("mid", 10, "500m"), vec![a]);
    assert!(decision.nomination.is_none());
    assert!(
        decision
            .post_filter
            .unwrap()
            .message()
            .ends_with("preemption: 0/1 nodes are available: 1 Insufficient cpu."),
    );
}

#[test]
fn never_and_terminating_victims_stop_preemption() {
    let a = || node("a", "1", &[pod("low", 1, "1")], json!({}));
    let mut never = pod("n", 10, "500m");
    never.never_preempts = true;
    let decision = decide(&never, vec![a()]);
    assert_eq!(
        decision.post_filter.unwrap().message(),
        "preemption: not eligible due to preemptionPolicy=Never."
    );
    let mut going = pod("low", 1, "1");
    going.terminating = true;
    let mut again = pod("again", 10, "500m");
    again.nominated_node = "a".into();
    let decision = decide(&again, vec![node("a", "1", &[going], json!({}))]);
    assert_eq!(
        decision.post_filter.unwrap().message(),
        "preemption: not eligible due to a terminating pod on the nominated node."
    );
}

#[test]
fn room_freed_for_a_nominated_pod_is_held_against_lower_priorities() {
    // node a is empty now: its victims are gone, and `urgent` (priority
    // 10) is nominated there, waiting for its next attempt.
    let mut nominated = pod("urgent", 10, "500m");
    nominated.nominated_node = "a".into();
    let mut snapshot = Snapshot::of_nodes(vec![node("a", "1", &[], json!({}))]);
    snapshot.nominated = Arc::new([("a".to_string(), vec![Arc::new(nominated.clone())])].into());
    let profile = default_profile(ScoringStrategy::LeastAllocated, 0);
    let decide = |pod: &PodInfo| schedule(&profile, pod, &snapshot, &mut NextStart::default(), 1);

    // A lower (or equal) priority pod that would fit the empty node does
    // not: the nominated pod counts there. Nor can it preempt its way in.
    for (name, priority) in [("latecomer", 0), ("peer", 10)] {
        let decision = decide(&pod(name, priority, "600m"));
        assert_eq!(
            decision.outcome,
            Outcome::Unschedulable(
                "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are \
                 available: 1 No preemption victims found for incoming pod."
                    .into()
            ),
            "{name}"
        );
        assert!(decision.nomination.is_none(), "{name}");
    }
    // Beside it, a small one still fits; a higher priority pod is not held
    // back; the nominated pod itself takes its room.
    assert_eq!(decide(&pod("small", 0, "400m")).selected(), Some("a"));
    assert_eq!(decide(&pod("vip", 11, "600m")).selected(), Some("a"));
    assert_eq!(decide(&nominated).selected(), Some("a"));
}
