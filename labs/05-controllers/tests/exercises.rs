//! Lab 05's tasks: one test per function in `src/student.rs`.

use lab_05::{
    CalculationError, FOREGROUND, Node, ORPHAN, OwnerState, OwnerVerdict, PodSample, PodState,
    Propagation, Replicas, Share, Target, Verdict, backoff_delay, daemon_placement, deleting_owner,
    dependent, finalizers, hpa_desired_replicas, new_replicas, next_fire, proportional,
    scale_down_old,
};
use serde_json::json;

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn owners(states: &[(&str, OwnerState)]) -> Vec<(String, OwnerState)> {
    states.iter().map(|(u, s)| (u.to_string(), *s)).collect()
}

/// A ConfigMap node being deleted, with `finalizers`, referencing each
/// `(owner uid, blockOwnerDeletion)`.
fn node(uid: &str, finalizers: &[&str], refs: &[(&str, bool)]) -> Node {
    let refs: Vec<_> = refs
        .iter()
        .map(|(owner, block)| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": owner,
                "blockOwnerDeletion": block})
        })
        .collect();
    let obj = json!({"metadata": {"name": uid, "namespace": "default", "uid": uid,
        "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": finalizers,
        "ownerReferences": refs}});
    let configmaps = orc_client::resources::by_kind("v1", "ConfigMap").unwrap();
    Node::of(configmaps, &obj).unwrap()
}

#[test]
fn task_1_record_the_propagation_choice() {
    let theirs = strings(&["example.com/backup", ORPHAN, "example.com/audit"]);
    assert_eq!(
        finalizers(&theirs, Some(Propagation::Foreground)),
        strings(&["example.com/backup", "example.com/audit", FOREGROUND]),
        "the collector's finalizers are exclusive; others keep their order"
    );
    assert_eq!(
        finalizers(&theirs, Some(Propagation::Background)),
        strings(&["example.com/backup", "example.com/audit"])
    );
    assert_eq!(
        finalizers(&strings(&[FOREGROUND]), Some(Propagation::Orphan)),
        strings(&[ORPHAN])
    );
    assert_eq!(
        finalizers(&theirs, None),
        theirs,
        "no choice: nothing changes"
    );
    assert_eq!(
        finalizers(&[], Some(Propagation::Foreground)),
        strings(&[FOREGROUND])
    );
}

#[test]
fn task_2_judge_a_dependent() {
    use OwnerState::*;
    assert_eq!(dependent(&[], &[]), Verdict::Keep, "nobody's dependent");
    assert_eq!(dependent(&[], &owners(&[("a", Solid)])), Verdict::Keep);
    assert_eq!(
        dependent(
            &[],
            &owners(&[("w", Waiting), ("a", Solid), ("d", Dangling)])
        ),
        Verdict::RemoveReferences(strings(&["d", "w"])),
        "a solid owner holds it; dangling references go first, then waiting ones"
    );
    assert_eq!(
        dependent(&[], &owners(&[("x", Unresolvable), ("d", Dangling)])),
        Verdict::RemoveReferences(strings(&["d"])),
        "an owner that cannot be looked up is never taken for gone"
    );
    assert_eq!(
        dependent(&[], &owners(&[("x", Unresolvable)])),
        Verdict::Keep
    );
    assert_eq!(
        dependent(&[], &owners(&[("d", Dangling), ("w", Waiting)])),
        Verdict::Delete(Propagation::Foreground),
        "a foreground owner's dependents go in the foreground"
    );
    assert_eq!(
        dependent(&[], &owners(&[("d", Dangling), ("e", Dangling)])),
        Verdict::Delete(Propagation::Background)
    );
    assert_eq!(
        dependent(&strings(&[FOREGROUND]), &owners(&[("d", Dangling)])),
        Verdict::Delete(Propagation::Foreground),
        "its own finalizer's choice is passed on"
    );
    assert_eq!(
        dependent(&strings(&[FOREGROUND, ORPHAN]), &owners(&[("d", Dangling)])),
        Verdict::Delete(Propagation::Orphan),
        "orphaning wins: it loses nothing"
    );
}

#[test]
fn task_3_judge_a_deleting_owner() {
    let foreground = node("p", &[FOREGROUND], &[]);
    let blocking = node("a", &[], &[("p", true)]);
    let loose = node("b", &[], &[("p", false)]);
    let blocks_another = node("c", &[], &[("p", false), ("q", true)]);
    assert_eq!(
        deleting_owner(&foreground, &[&loose, &blocking]),
        OwnerVerdict::Wait
    );
    assert_eq!(
        deleting_owner(&foreground, &[&loose, &blocks_another]),
        OwnerVerdict::RemoveFinalizer(FOREGROUND),
        "only a reference to *this* owner can block it"
    );
    assert_eq!(
        deleting_owner(&foreground, &[]),
        OwnerVerdict::RemoveFinalizer(FOREGROUND)
    );
    let orphaning = node("p", &[ORPHAN], &[]);
    assert_eq!(
        deleting_owner(&orphaning, &[&blocking, &loose]),
        OwnerVerdict::Orphan(strings(&["a", "b"]))
    );
    assert_eq!(
        deleting_owner(&orphaning, &[]),
        OwnerVerdict::RemoveFinalizer(ORPHAN)
    );
    let both = node("p", &[FOREGROUND, ORPHAN], &[]);
    assert_eq!(
        deleting_owner(&both, &[&blocking]),
        OwnerVerdict::Orphan(strings(&["a"])),
        "orphaning wins"
    );
}

#[test]
fn task_4_grow_the_new_replicaset() {
    // 10 wanted, surge 3: the first step makes 3 new pods beside 10 old.
    assert_eq!(new_replicas(10, 3, 10, 0), 3);
    assert_eq!(
        new_replicas(10, 3, 13, 3),
        3,
        "no room until old ones shrink"
    );
    assert_eq!(new_replicas(10, 3, 11, 3), 5);
    assert_eq!(new_replicas(10, 3, 2, 1), 10, "never past desired");
    assert_eq!(new_replicas(10, 0, 10, 0), 0, "no surge: wait for room");
    assert_eq!(new_replicas(3, 1, 8, 5), 3, "scaled down to desired");
    assert_eq!(new_replicas(0, 1, 0, 0), 0);
}

#[test]
fn task_5_shrink_the_old_replicasets() {
    let rs = |wanted, available| Replicas { wanted, available };
    // 10 wanted, 2 may be unavailable; 3 new pods not ready yet.
    assert_eq!(scale_down_old(10, 2, rs(3, 0), &[rs(10, 10)]), vec![8]);
    // Unavailable old pods go first, within max_scaled_down (2 here) ...
    assert_eq!(scale_down_old(10, 2, rs(3, 0), &[rs(10, 6)]), vec![8]);
    // ... (5 here: the new pods are available), then 1 available one.
    assert_eq!(scale_down_old(10, 2, rs(3, 3), &[rs(10, 6)]), vec![5]);
    // Oldest first across old ReplicaSets.
    assert_eq!(
        scale_down_old(10, 2, rs(6, 6), &[rs(2, 2), rs(4, 4)]),
        vec![0, 2]
    );
    // Nothing may go while too few are available.
    assert_eq!(scale_down_old(4, 0, rs(1, 0), &[rs(4, 4)]), vec![4]);
    assert_eq!(scale_down_old(4, 1, rs(4, 4), &[rs(0, 0)]), vec![0]);
}

#[test]
fn task_6_share_a_resize_out() {
    let rs = |replicas, max_before| Share {
        replicas,
        max_before: Some(max_before),
    };
    // 8 old and 5 new pods fill the 13 allowed; 20 replicas allow 25.
    assert_eq!(
        proportional(20, 5, &[rs(8, 13), rs(5, 13)], 13),
        vec![15, 10]
    );
    assert_eq!(
        proportional(10, 3, &[rs(15, 25), rs(10, 25)], 25),
        vec![8, 5]
    );
    assert_eq!(
        proportional(0, 0, &[rs(15, 25), rs(10, 25)], 25),
        vec![0, 0]
    );
    assert_eq!(
        proportional(20, 5, &[rs(15, 25), rs(10, 25)], 25),
        vec![15, 10],
        "nothing to add"
    );
    // Equals: the newest grows first, the oldest shrinks first.
    assert_eq!(proportional(4, 1, &[rs(2, 4), rs(2, 4)], 4), vec![2, 3]);
    assert_eq!(proportional(2, 1, &[rs(2, 4), rs(2, 4)], 4), vec![1, 2]);
    // A missing max-replicas: the fallback; no fallback either: the
    // biggest takes it all.
    let bare = |replicas| Share {
        replicas,
        max_before: None,
    };
    assert_eq!(proportional(20, 5, &[bare(8), bare(5)], 13), vec![15, 10]);
    assert_eq!(proportional(20, 5, &[bare(8), bare(5)], 0), vec![20, 5]);
}

#[test]
fn task_7_back_off_after_failures() {
    let delays: Vec<String> = [0, 1, 2, 3, 4, 5, 6, 7, 100, u32::MAX]
        .iter()
        .map(|&n| format!("{n:>10} failures: {:?}", backoff_delay(n)))
        .collect();
    insta::assert_snapshot!(delays.join("\n"), @r"
             0 failures: 0ns
             1 failures: 10s
             2 failures: 20s
             3 failures: 40s
             4 failures: 80s
             5 failures: 160s
             6 failures: 320s
             7 failures: 360s
           100 failures: 360s
    4294967295 failures: 360s
    ");
}

#[test]
fn task_8_next_cron_fire_time() {
    let after: jiff::Timestamp = "2024-03-09T23:30:00Z".parse().unwrap();
    let cases = [
        ("*/15 * * * *", Some("UTC")),
        ("@hourly", Some("UTC")),
        ("0 9 * * *", Some("Asia/Tokyo")),
        ("0 9 * * *", Some("America/New_York")),
        // The 1st, or a Monday: whichever comes first (Vixie cron's OR).
        ("0 0 1 * MON", Some("UTC")),
        ("0 0 30 2 *", Some("UTC")),
        ("61 * * * *", Some("UTC")),
        ("* * * * *", Some("Mars/Olympus")),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|(s, z)| {
            format!(
                "{s:<14} {:<18} {:?}",
                z.unwrap_or("-"),
                next_fire(s, *z, after).map(|t| t.to_string())
            )
        })
        .collect();
    // New York's 9:00 on 2024-03-10 is already daylight time (UTC-4).
    insta::assert_snapshot!(lines.join("\n"), @r#"
    */15 * * * *   UTC                Some("2024-03-09T23:45:00Z")
    @hourly        UTC                Some("2024-03-10T00:00:00Z")
    0 9 * * *      Asia/Tokyo         Some("2024-03-10T00:00:00Z")
    0 9 * * *      America/New_York   Some("2024-03-10T13:00:00Z")
    0 0 1 * MON    UTC                Some("2024-03-11T00:00:00Z")
    0 0 30 2 *     UTC                None
    61 * * * *     UTC                None
    * * * * *      Mars/Olympus       None
    "#);
}

#[test]
fn task_9_daemonset_node_eligibility() {
    // A DaemonSet for SSD nodes outside zone b, tolerating `gpu`, with
    // the tolerations every DaemonSet pod gets.
    let spec = json!({
        "nodeSelector": {"disk": "ssd"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions":
                [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}]}}},
        "tolerations": [
            {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
        ],
    });
    let node = |name: &str, labels: serde_json::Value, taints: serde_json::Value| json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}});
    let ssd = json!({"disk": "ssd", "zone": "a"});
    let cases = [
        node("plain-ssd", ssd.clone(), json!([])),
        node("hdd", json!({"disk": "hdd", "zone": "a"}), json!([])),
        node("zone-b", json!({"disk": "ssd", "zone": "b"}), json!([])),
        node(
            "gpu",
            ssd.clone(),
            json!([{"key": "gpu", "effect": "NoSchedule"}]),
        ),
        node(
            "dedicated",
            ssd.clone(),
            json!([{"key": "team", "value": "db", "effect": "NoSchedule"}]),
        ),
        node(
            "draining",
            ssd.clone(),
            json!([{"key": "drain", "effect": "NoExecute"}]),
        ),
        node(
            "unreachable",
            ssd.clone(),
            json!([
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        ),
        node(
            "soft",
            ssd.clone(),
            json!([{"key": "x", "effect": "PreferNoSchedule"}]),
        ),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|n| {
            let verdict = match daemon_placement(&spec, n) {
                Ok(p) => format!("run {:<5} stay {}", p.should_run, p.should_continue_running),
                Err(e) => e,
            };
            format!("{:<12} {verdict}", n["metadata"]["name"].as_str().unwrap())
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"), @r"
    plain-ssd    run true  stay true
    hdd          run false stay false
    zone-b       run false stay false
    gpu          run true  stay true
    dedicated    run false stay true
    draining     run false stay false
    unreachable  run true  stay true
    soft         run true  stay true
    ");
    let pinned = json!({"nodeName": "elsewhere"});
    let verdict = daemon_placement(&pinned, &cases[0]).unwrap();
    assert!(!verdict.should_run && !verdict.should_continue_running);
    let broken = json!({"affinity": {"nodeAffinity":
        {"requiredDuringSchedulingIgnoredDuringExecution": {}}}});
    assert!(
        daemon_placement(&broken, &cases[0])
            .unwrap_err()
            .contains("nodeSelectorTerms")
    );
}

#[test]
fn task_10_hpa_desired_replicas() {
    let pod = |state, request, usage| PodSample {
        state,
        request,
        usage,
    };
    let ready = |usage| pod(PodState::Ready, 100, Some(usage));
    let missing = pod(PodState::Ready, 100, None);
    let starting = pod(PodState::NotReady, 100, Some(900));
    let failed = pod(PodState::Ignored, 100, Some(900));
    let cases: Vec<(&str, i64, Vec<PodSample>, Target)> = vec![
        (
            "3x the target",
            1,
            vec![ready(150)],
            Target::Utilization(50),
        ),
        (
            "the chapter's example",
            4,
            vec![ready(90), ready(70), ready(80), ready(60)],
            Target::Utilization(50),
        ),
        (
            "within tolerance",
            2,
            vec![ready(54), ready(54)],
            Target::Utilization(50),
        ),
        (
            "just outside",
            2,
            vec![ready(56), ready(56)],
            Target::Utilization(50),
        ),
        (
            "idle",
            4,
            vec![ready(5), ready(5), ready(5), ready(5)],
            Target::Utilization(50),
        ),
        (
            "missing, scale-up",
            2,
            vec![ready(300), missing],
            Target::Utilization(100),
        ),
        (
            "missing, scale-down",
            2,
            vec![ready(10), missing],
            Target::Utilization(100),
        ),
        (
            "starting, scale-up",
            3,
            vec![ready(300), missing, starting],
            Target::Utilization(100),
        ),
        (
            "starting, scale-down",
            3,
            vec![ready(10), ready(10), starting],
            Target::Utilization(100),
        ),
        (
            "failed pods ignored",
            2,
            vec![ready(100), failed],
            Target::Utilization(50),
        ),
        (
            "average value",
            2,
            vec![ready(300), ready(100)],
            Target::AverageValue(100),
        ),
        ("no pods", 1, vec![], Target::Utilization(50)),
        (
            "no metrics",
            1,
            vec![missing, starting],
            Target::Utilization(50),
        ),
        (
            "no requests",
            1,
            vec![pod(PodState::Ready, 0, Some(10))],
            Target::Utilization(50),
        ),
    ];
    let lines: Vec<String> = cases
        .into_iter()
        .map(|(name, current, pods, target)| {
            let result = match hpa_desired_replicas(current, &pods, target) {
                Ok(p) => format!(
                    "{} replicas ({}%, average {})",
                    p.replicas, p.utilization, p.average
                ),
                Err(CalculationError::NoPods) => "error: no pods".into(),
                Err(CalculationError::NoMetrics) => "error: no metrics".into(),
                Err(CalculationError::NoRequests) => "error: no requests".into(),
            };
            format!("{name:<22} from {current}: {result}")
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"), @r"
    3x the target          from 1: 3 replicas (150%, average 150)
    the chapter's example  from 4: 6 replicas (75%, average 75)
    within tolerance       from 2: 2 replicas (54%, average 54)
    just outside           from 2: 3 replicas (56%, average 56)
    idle                   from 4: 1 replicas (5%, average 5)
    missing, scale-up      from 2: 3 replicas (300%, average 300)
    missing, scale-down    from 2: 2 replicas (10%, average 10)
    starting, scale-up     from 3: 3 replicas (300%, average 300)
    starting, scale-down   from 3: 1 replicas (10%, average 10)
    failed pods ignored    from 2: 2 replicas (100%, average 100)
    average value          from 2: 4 replicas (0%, average 200)
    no pods                from 1: error: no pods
    no metrics             from 1: error: no metrics
    no requests            from 1: error: no requests
    ");
}
