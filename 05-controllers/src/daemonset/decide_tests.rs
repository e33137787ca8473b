use super::*;

const RUN: Option<Placement> = Some(Placement {
    should_run: true,
    should_continue_running: true,
});
const KEEP: Option<Placement> = Some(Placement {
    should_run: false,
    should_continue_running: true,
});
const NOWHERE: Option<Placement> = Some(Placement {
    should_run: false,
    should_continue_running: false,
});

fn now() -> Timestamp {
    time::parse("2026-01-01T00:10:00Z").unwrap()
}

fn ds() -> Value {
    json!({"metadata": {"name": "logs", "generation": 2}, "spec": {"minReadySeconds": 0}})
}

/// A pod of revision `hash`, created at minute `minute`, ready or not.
fn pod(name: &str, hash: &str, minute: u32, ready: bool) -> Value {
    let conditions = if ready {
        json!([{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}])
    } else {
        json!([])
    };
    json!({"metadata": {"name": name, "labels": {"controller-revision-hash": hash},
            "creationTimestamp": format!("2026-01-01T00:{minute:02}:00Z")},
        "spec": {"nodeName": "n"},
        "status": {"phase": "Running", "conditions": conditions}})
}

fn node<'a>(name: &str, placement: Option<Placement>, pods: &[&'a Value]) -> NodePods<'a> {
    NodePods {
        node: name.into(),
        placement,
        pods: pods.to_vec(),
    }
}

fn deleted(plan: &Plan) -> Vec<(String, Why)> {
    plan.delete
        .iter()
        .map(|(p, why)| (p["metadata"]["name"].as_str().unwrap().to_string(), *why))
        .collect()
}

#[test]
fn each_node_gets_one_pod_and_loses_what_it_should_not_have() {
    let (a, b) = (pod("a", "h1", 1, true), pod("b", "h1", 2, true));
    let mut failed = pod("failed", "h1", 1, false);
    failed["status"]["phase"] = json!("Failed");
    let (kept, off, orphan) = (
        pod("kept", "h1", 1, true),
        pod("off", "h1", 1, true),
        pod("orphan", "h1", 1, true),
    );
    let nodes = [
        node("empty", RUN, &[]),
        node("two", RUN, &[&b, &a]),
        node("failed", RUN, &[&failed]),
        node("tainted", KEEP, &[&kept]),
        node("untainted-no-pod", KEEP, &[]),
        node("unselected", NOWHERE, &[&off]),
        node("gone", None, &[&orphan]),
    ];
    let plan = manage(&nodes, &ds(), "h1", false, now());
    assert_eq!(plan.create_on, ["empty"]);
    assert_eq!(
        deleted(&plan),
        [
            ("b".to_string(), Why::Excess),
            ("failed".to_string(), Why::Failed),
            ("off".to_string(), Why::NotEligible),
            ("orphan".to_string(), Why::NodeGone),
        ]
    );
}

#[test]
fn a_node_whose_pod_is_still_terminating_waits_for_it() {
    let mut going = pod("going", "h0", 1, true);
    going["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:09:00Z");
    let plan = manage(&[node("n", RUN, &[&going])], &ds(), "h1", false, now());
    assert_eq!(plan, Plan::default());
}

#[test]
fn a_surge_keeps_the_old_pod_until_the_new_one_is_available() {
    let old = pod("old", "h0", 1, true);
    let starting = pod("new", "h1", 5, false);
    let plan = manage(
        &[node("n", RUN, &[&old, &starting])],
        &ds(),
        "h1",
        true,
        now(),
    );
    assert!(plan.delete.is_empty());
    let up = pod("new", "h1", 5, true);
    let plan = manage(&[node("n", RUN, &[&old, &up])], &ds(), "h1", true, now());
    assert_eq!(deleted(&plan), [("old".to_string(), Why::Excess)]);
}

#[test]
fn a_rolling_update_replaces_at_most_max_unavailable_at_once() {
    let olds: Vec<Value> = (0..3)
        .map(|i| pod(&format!("old{i}"), "h0", 1, true))
        .collect();
    let nodes: Vec<NodePods> = olds
        .iter()
        .enumerate()
        .map(|(i, p)| node(&format!("n{i}"), RUN, &[p]))
        .collect();
    let plan = rolling_update(&nodes, &ds(), "h1", (1, 0), now());
    assert_eq!(deleted(&plan), [("old0".to_string(), Why::Replaced)]);
    let plan = rolling_update(&nodes, &ds(), "h1", (2, 0), now());
    assert_eq!(plan.delete.len(), 2);
    // A new pod not yet available uses up the one node allowed.
    let starting = pod("new", "h1", 5, false);
    let mut busy = nodes.clone();
    busy[0] = node("n0", RUN, &[&starting]);
    assert_eq!(
        rolling_update(&busy, &ds(), "h1", (1, 0), now()),
        Plan::default()
    );
    // An old pod that is not available is replaced regardless.
    let broken = pod("broken", "h0", 1, false);
    busy[1] = node("n1", RUN, &[&broken]);
    let plan = rolling_update(&busy, &ds(), "h1", (1, 0), now());
    assert_eq!(deleted(&plan), [("broken".to_string(), Why::Replaced)]);
}

#[test]
fn a_surging_update_starts_new_pods_beside_old_ones() {
    let (old0, old1) = (pod("old0", "h0", 1, true), pod("old1", "h0", 1, true));
    let nodes = [node("n0", RUN, &[&old0]), node("n1", RUN, &[&old1])];
    let plan = rolling_update(&nodes, &ds(), "h1", (0, 1), now());
    assert_eq!(
        (plan.create_on, plan.delete),
        (vec!["n0".to_string()], vec![])
    );
    // The new pod on n0 is available: its old pod goes, n1 may surge.
    let up = pod("new0", "h1", 5, true);
    let nodes = [node("n0", RUN, &[&old0, &up]), node("n1", RUN, &[&old1])];
    let plan = rolling_update(&nodes, &ds(), "h1", (0, 1), now());
    assert_eq!(deleted(&plan), [("old0".to_string(), Why::Replaced)]);
    assert_eq!(plan.create_on, ["n1"]);
}

#[test]
fn the_status_counts_nodes_by_their_oldest_pod() {
    let d = ds();
    let (fresh, old, stray) = (
        pod("fresh", "h1", 1, true),
        pod("old", "h0", 1, false),
        pod("stray", "h1", 1, true),
    );
    let nodes = [
        node("n0", RUN, &[&fresh]),
        node("n1", RUN, &[&old]),
        node("n2", RUN, &[]),
        node("n3", NOWHERE, &[&stray]),
    ];
    let counts = count(&nodes, &d, "h1", now());
    let expected = Counts {
        desired: 3,
        current: 2,
        misscheduled: 1,
        ready: 1,
        available: 1,
        updated: 1,
    };
    assert_eq!(counts, expected);
    let wanted = status(&d, &counts);
    assert_eq!(
        wanted,
        json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 2,
            "numberMisscheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1,
            "numberAvailable": 1, "numberUnavailable": 2, "observedGeneration": 2})
    );
    let none = status(&d, &Counts::default());
    assert_eq!(
        none,
        json!({"desiredNumberScheduled": 0, "currentNumberScheduled": 0,
            "numberMisscheduled": 0, "numberReady": 0, "observedGeneration": 2})
    );
    let patch = status_patch(Some(&wanted), &none).unwrap();
    assert_eq!(patch["status"]["numberAvailable"], Value::Null);
    assert_eq!(status_patch(Some(&none), &none), None);
}
