//! Lab 04's tasks: one test per function in `src/student.rs`. The
//! expected values are what kube-scheduler computes for the same inputs.

use lab_04::{
    Effect, Insufficient, Operator, ResourceName, Resources, Taint, Toleration, balanced_score,
    default_normalize, insufficient, least_allocated, skew, tolerates, untolerated, weighted_score,
};

fn taint(key: &str, value: &str, effect: Effect) -> Taint {
    Taint {
        key: key.into(),
        value: value.into(),
        effect,
    }
}

fn toleration(key: &str, operator: Operator, value: &str, effect: Option<Effect>) -> Toleration {
    Toleration {
        key: key.into(),
        operator,
        value: value.into(),
        effect,
    }
}

/// Millicores, bytes and a pod count.
fn res(milli_cpu: i64, memory: i64, pods: i64) -> Resources {
    Resources {
        milli_cpu,
        memory,
        pods,
        ..Resources::default()
    }
}

fn lacks(resource: ResourceName, unresolvable: bool) -> Insufficient {
    Insufficient {
        resource,
        unresolvable,
    }
}

#[test]
fn task_1_match_a_toleration_to_a_taint() {
    use Effect::*;
    use Operator::*;
    let gpu = taint("dedicated", "gpu", NoSchedule);
    assert!(tolerates(
        &toleration("dedicated", Equal, "gpu", None),
        &gpu
    ));
    assert!(
        !tolerates(&toleration("dedicated", Equal, "db", None), &gpu),
        "Equal compares the value"
    );
    assert!(tolerates(
        &toleration("dedicated", Exists, "", Some(NoSchedule)),
        &gpu
    ));
    assert!(
        !tolerates(&toleration("dedicated", Exists, "", Some(NoExecute)), &gpu),
        "a toleration for another effect"
    );
    assert!(
        !tolerates(&toleration("team", Exists, "", None), &gpu),
        "another key"
    );
    assert!(
        tolerates(&toleration("", Exists, "", None), &gpu),
        "an empty key with Exists tolerates everything"
    );
    assert!(tolerates(
        &toleration("", Exists, "", Some(NoSchedule)),
        &gpu
    ));
    assert!(!tolerates(
        &toleration("", Exists, "", Some(PreferNoSchedule)),
        &gpu
    ));
    let empty = taint("spot", "", NoExecute);
    assert!(
        tolerates(&toleration("spot", Equal, "", None), &empty),
        "an empty value equals an empty value"
    );
}

#[test]
fn task_2_find_the_taint_that_keeps_a_pod_off() {
    use Effect::*;
    let taints = [
        taint("soft", "", PreferNoSchedule),
        taint("a", "1", NoSchedule),
        taint("b", "2", NoExecute),
    ];
    let hard = |e: Effect| e != PreferNoSchedule;
    assert_eq!(
        untolerated(&taints, &[], hard),
        Some(&taints[1]),
        "PreferNoSchedule never keeps a pod off: the first hard taint does"
    );
    let tolerate_a = [toleration("a", Operator::Equal, "1", None)];
    assert_eq!(untolerated(&taints, &tolerate_a, hard), Some(&taints[2]));
    let tolerate_both = [
        toleration("a", Operator::Exists, "", None),
        toleration("b", Operator::Equal, "2", Some(NoExecute)),
    ];
    assert_eq!(untolerated(&taints, &tolerate_both, hard), None);
    assert_eq!(
        untolerated(&taints, &tolerate_both, |_| true),
        Some(&taints[0]),
        "asked about every effect, the soft taint counts too"
    );
    assert_eq!(untolerated(&[], &[], hard), None, "no taints");
}

#[test]
fn task_3_fit_the_requests_in_what_is_free() {
    use ResourceName::*;
    let node = res(1000, 1000, 10);
    assert_eq!(
        insufficient(&res(500, 500, 0), &res(500, 500, 2), &node),
        vec![],
        "exactly what is free fits"
    );
    assert_eq!(
        insufficient(&res(600, 600, 0), &res(500, 500, 2), &node),
        vec![lacks(Cpu, false), lacks(Memory, false)],
        "an emptier node would do: resolvable"
    );
    assert_eq!(
        insufficient(&res(2000, 100, 0), &res(0, 0, 0), &node),
        vec![lacks(Cpu, true)],
        "more than the whole node: unresolvable"
    );
    assert_eq!(
        insufficient(&res(0, 0, 0), &res(1000, 1000, 10), &node),
        vec![lacks(Pods, false)],
        "a pod asking nothing still needs a pod slot"
    );
    assert_eq!(
        insufficient(&res(0, 0, 0), &res(1000, 1000, 2), &node),
        vec![],
        "a pod asking nothing fits a full node"
    );
    let disk = Resources {
        ephemeral_storage: 5,
        ..res(100, 0, 0)
    };
    let full_disk = Resources {
        ephemeral_storage: 8,
        ..res(0, 0, 1)
    };
    let with_disk = Resources {
        ephemeral_storage: 10,
        ..node
    };
    assert_eq!(
        insufficient(&disk, &full_disk, &with_disk),
        vec![lacks(EphemeralStorage, false)]
    );
    assert_eq!(
        insufficient(&res(100, 0, 0), &res(0, 0, 10), &res(50, 0, 10)),
        vec![lacks(Pods, false), lacks(Cpu, true)],
        "pods first, then cpu"
    );
}

#[test]
fn task_4_score_the_share_left_free() {
    assert_eq!(least_allocated(250, 1000), 75);
    assert_eq!(least_allocated(0, 1000), 100, "an empty node");
    assert_eq!(least_allocated(1000, 1000), 0, "a full one");
    assert_eq!(least_allocated(1, 3), 66, "rounded down");
    assert_eq!(least_allocated(1500, 1000), 0, "over-full");
    assert_eq!(least_allocated(0, 0), 0, "none of it");
    // Chapter 04's worked example: node-a, 2.5 of 4 CPUs and 2.5 of 8 GiB
    // requested with the pod; node-b, 0.5 of 2 CPUs and 0.5 of 8 GiB.
    const MIB: i64 = 1 << 20;
    assert_eq!(least_allocated(2500, 4000), 37);
    assert_eq!(least_allocated(2560 * MIB, 8192 * MIB), 68);
    assert_eq!(least_allocated(500, 2000), 75);
    assert_eq!(least_allocated(512 * MIB, 8192 * MIB), 93);
}

#[test]
fn task_5_average_the_resources_with_their_weights() {
    // The share in use, so this task does not depend on task 4.
    let used = |requested: i64, allocatable: i64| requested * 100 / allocatable;
    assert_eq!(
        weighted_score(used, &res(250, 500, 0), &res(1000, 1000, 0)),
        37,
        "(25 + 50) / 2, rounded down"
    );
    assert_eq!(
        weighted_score(used, &res(250, 500, 0), &res(1000, 0, 0)),
        25,
        "a node with no memory is scored on cpu alone"
    );
    assert_eq!(
        weighted_score(used, &res(1, 1, 0), &res(0, 0, 0)),
        0,
        "nothing to score"
    );
    assert_eq!(
        weighted_score(used, &res(0, 0, 1000), &res(1000, 1000, 1)),
        0,
        "only cpu and memory count"
    );
}

#[test]
fn task_6_score_the_balance() {
    assert_eq!(balanced_score(&[0.5, 0.5]), 100);
    assert_eq!(balanced_score(&[0.8, 0.2]), 70);
    assert_eq!(balanced_score(&[0.2, 0.8]), 70, "the order does not matter");
    assert_eq!(balanced_score(&[1.0, 0.0]), 50);
    assert_eq!(balanced_score(&[0.3]), 100, "one resource is balanced");
    assert_eq!(balanced_score(&[]), 100);
    // Mean 0.5, deviation sqrt(2/3 × 0.09) ≈ 0.245.
    assert_eq!(balanced_score(&[0.2, 0.5, 0.8]), 75);
    // Chapter 04's worked example: node-a, then node-b.
    assert_eq!(balanced_score(&[2500.0 / 4000.0, 2560.0 / 8192.0]), 84);
    assert_eq!(balanced_score(&[500.0 / 2000.0, 512.0 / 8192.0]), 90);
}

#[test]
fn task_7_bring_the_scores_to_0_to_100() {
    let normalized = |scores: &[i64], reverse: bool| {
        let mut scores = scores.to_vec();
        default_normalize(&mut scores, reverse);
        scores
    };
    assert_eq!(normalized(&[0, 3, 6], false), [0, 50, 100]);
    assert_eq!(normalized(&[1, 3], false), [33, 100], "rounded down");
    assert_eq!(
        normalized(&[0, 1, 2], true),
        [100, 50, 0],
        "reversed: the fewest untolerated taints score best"
    );
    assert_eq!(normalized(&[1, 3], true), [67, 0]);
    assert_eq!(normalized(&[0, 0], false), [0, 0]);
    assert_eq!(
        normalized(&[0, 0], true),
        [100, 100],
        "nothing bad anywhere: every node is best"
    );
    assert_eq!(normalized(&[], true), Vec::<i64>::new());
}

#[test]
fn task_8_measure_the_skew() {
    // Zones holding 2 and 1 matching pods: a third pod in the first zone
    // makes a skew of 2, in the second a skew of 1.
    assert_eq!(skew(2, true, 1, 2, 1), 2);
    assert_eq!(skew(1, true, 1, 2, 1), 1);
    assert_eq!(
        skew(1, false, 1, 2, 1),
        0,
        "a pod its selector does not match adds nothing"
    );
    assert_eq!(
        skew(1, true, 1, 2, 3),
        2,
        "fewer domains than minDomains: the minimum is 0"
    );
    assert_eq!(skew(1, true, 1, 3, 3), 1, "enough domains");
    assert_eq!(skew(0, true, 0, 3, 1), 1);
}
