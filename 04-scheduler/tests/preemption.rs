//! Priority and preemption on a real API server: PriorityClasses resolve
//! into `spec.priority` when a pod is created, a pod that fits nowhere
//! evicts the right lower-priority pod, a pod a PodDisruptionBudget
//! protects is spared when another victim will do, and the room its
//! victims free is held for it against lower-priority pods arriving
//! meanwhile.

mod common;

use common::*;
use orc_client::Method;
use serde_json::{Value, json};

fn class(name: &str, value: i64, global_default: bool) -> Value {
    json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": name}, "value": value, "globalDefault": global_default})
}

const CLASSES: &str = "/apis/scheduling.k8s.io/v1/priorityclasses";

fn with_class(mut pod: Value, class: &str) -> Value {
    pod["spec"]["priorityClassName"] = json!(class);
    pod
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_classes_resolve_at_admission() {
    let c = Cluster::start().await;
    // The system's classes exist from the start, as on Kubernetes.
    let node_critical = c
        .get(&format!("{CLASSES}/system-node-critical"))
        .await
        .expect("system-node-critical exists");
    assert_eq!(node_critical["value"], 2_000_001_000);
    let cluster_critical = c.get(&format!("{CLASSES}/system-cluster-critical")).await;
    assert_eq!(cluster_critical.unwrap()["value"], 2_000_000_000);

    // No class, no default: priority 0.
    let plain = c.pod(pod("plain", None)).await;
    assert_eq!(plain["spec"]["priority"], 0);
    assert_eq!(plain["spec"]["preemptionPolicy"], "PreemptLowerPriority");

    // An unknown class is refused with Kubernetes' words.
    let refused = c
        .send(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            Some(&with_class(pod("lost", None), "missing")),
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("pods \"lost\" is forbidden: no PriorityClass with name missing was found"),
        "{refused}"
    );

    // A user's class may not reach the system's values.
    let too_high = c
        .send(
            Method::POST,
            CLASSES,
            Some(&class("vip", 1_000_000_001, false)),
        )
        .await
        .unwrap_err();
    assert!(
        too_high
            .to_string()
            .contains("maximum allowed value of a user defined priority is 1000000000"),
        "{too_high}"
    );

    // The global default applies to pods naming no class; only one may exist.
    c.create(CLASSES, &class("everyday", 7, true)).await;
    let second = c
        .send(Method::POST, CLASSES, Some(&class("other", 8, true)))
        .await
        .unwrap_err();
    assert!(
        second
            .to_string()
            .contains("PriorityClass everyday is already marked as default"),
        "{second}"
    );
    let defaulted = c.pod(pod("defaulted", None)).await;
    assert_eq!(defaulted["spec"]["priority"], 7);
    assert_eq!(defaulted["spec"]["priorityClassName"], "everyday");
    let critical = c
        .pod(with_class(pod("critical", None), "system-cluster-critical"))
        .await;
    assert_eq!(critical["spec"]["priority"], 2_000_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_evicts_the_right_victim() {
    let c = Cluster::start().await;
    c.create(CLASSES, &class("low", 10, false)).await;
    c.create(CLASSES, &class("mid", 500, false)).await;
    c.create(CLASSES, &class("high", 1000, false)).await;
    c.node(node("node-1", "1", "4Gi", json!({}))).await;
    c.node(node("node-2", "1", "4Gi", json!({}))).await;
    // Each node is mostly full: a low-priority pod on node-1, a
    // mid-priority one on node-2.
    let mut low = with_class(pod("low", Some(("800m", "64Mi"))), "low");
    low["spec"]["nodeName"] = json!("node-1");
    let low = c.pod(low).await;
    let mut mid = with_class(pod("mid", Some(("800m", "64Mi"))), "mid");
    mid["spec"]["nodeName"] = json!("node-2");
    c.pod(mid).await;

    c.pod(with_class(pod("urgent", Some(("500m", "64Mi"))), "high"))
        .await;
    // The cheapest victim is the low pod: it is evicted gracefully (its
    // node agent would finish the delete), with the reason on it.
    let path = "/api/v1/namespaces/default/pods";
    let evicted = c
        .until(&format!("{path}/low"), "terminating", |p| {
            p.is_some_and(|p| p["metadata"]["deletionTimestamp"].is_string())
        })
        .await
        .unwrap();
    let disruption = evicted["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "DisruptionTarget")
        .expect("a DisruptionTarget condition");
    assert_eq!(disruption["reason"], "PreemptionByScheduler");
    let urgent = c
        .until(&format!("{path}/urgent"), "nominated", |p| {
            p.is_some_and(|p| p["status"]["nominatedNodeName"] == "node-1")
        })
        .await
        .unwrap();
    assert!(
        node_of(Some(&urgent)).is_none(),
        "not bound before the room is free"
    );
    let mid = c.get(&format!("{path}/mid")).await.unwrap();
    assert!(
        mid["metadata"]["deletionTimestamp"].is_null(),
        "mid is spared"
    );
    c.until(
        "/api/v1/namespaces/default/events",
        "holding Preempted",
        |list| {
            list.is_some_and(|l| {
                l["items"].as_array().unwrap().iter().any(|e| {
                    e["reason"] == "Preempted"
                        && e["involvedObject"]["name"] == "low"
                        && e["message"]
                            == format!(
                                "Preempted by pod {} on node node-1",
                                urgent["metadata"]["uid"].as_str().unwrap()
                            )
                })
            })
        },
    )
    .await;

    // The node agent's final delete frees the room; the pod lands there.
    let uid = low["metadata"]["uid"].as_str().unwrap();
    let finish = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
        "preconditions": {"uid": uid}});
    c.send(Method::DELETE, &format!("{path}/low"), Some(&finish))
        .await
        .unwrap();
    assert_eq!(c.scheduled("urgent").await, "node-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nominated_pod_holds_the_room_preemption_freed() {
    // A long back-off keeps the preemptor waiting after its victim is
    // gone, so another pod is decided in that window, as on a busy
    // cluster where the preemptor's retry comes after a newcomer's try.
    let backoff = std::time::Duration::from_secs(10);
    let c = Cluster::start_with(|config| {
        config.backoff = orc_scheduler::queue::Backoff {
            initial: backoff,
            max: backoff,
        }
    })
    .await;
    c.create(CLASSES, &class("low", 10, false)).await;
    c.create(CLASSES, &class("high", 1000, false)).await;
    c.node(node("node-1", "1", "4Gi", json!({}))).await;
    c.node(node("node-2", "1", "4Gi", json!({}))).await;
    let mut low = with_class(pod("low", Some(("800m", "64Mi"))), "low");
    low["spec"]["nodeName"] = json!("node-1");
    let low = c.pod(low).await;
    let mut busy = with_class(pod("busy", Some(("800m", "64Mi"))), "high");
    busy["spec"]["nodeName"] = json!("node-2");
    c.pod(busy).await;

    // urgent evicts low and is nominated to node-1.
    c.pod(with_class(pod("urgent", Some(("500m", "64Mi"))), "high"))
        .await;
    let path = "/api/v1/namespaces/default/pods";
    c.until(&format!("{path}/urgent"), "nominated", |p| {
        p.is_some_and(|p| p["status"]["nominatedNodeName"] == "node-1")
    })
    .await;
    // low's node agent finishes its delete: node-1 is empty.
    let uid = low["metadata"]["uid"].as_str().unwrap();
    let finish = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
        "preconditions": {"uid": uid}});
    c.send(Method::DELETE, &format!("{path}/low"), Some(&finish))
        .await
        .unwrap();

    // A pod of priority 0 arrives while urgent backs off. node-1 alone
    // could take it (600m of 1 CPU), but that room is urgent's.
    c.pod(pod("latecomer", Some(("600m", "64Mi")))).await;
    c.until_scheduler("decides about latecomer", || {
        c.scheduler.decisions.last("default/latecomer").is_some()
    })
    .await;
    let (_, decision) = c.scheduler.decisions.last("default/latecomer").unwrap();
    let urgent_now = c.get(&format!("{path}/urgent")).await;
    assert!(
        node_of(urgent_now.as_ref()).is_none(),
        "the latecomer was decided before urgent's retry (within its {backoff:?} back-off)"
    );
    assert_eq!(decision.selected(), None, "{:?}", decision.outcome);
    let node_1 = decision
        .verdicts
        .iter()
        .find(|(node, _)| &**node == "node-1")
        .map(|(_, status)| status)
        .expect("node-1 was filtered");
    assert_eq!(node_1.plugin, "NodeResourcesFit");
    assert_eq!(node_1.message(), "Insufficient cpu");
    assert!(decision.nomination.is_none(), "no preemption for it either");

    // urgent takes its room; the latecomer still fits nowhere.
    assert_eq!(c.scheduled("urgent").await, "node-1");
    let urgent = c.get(&format!("{path}/urgent")).await.unwrap();
    let urgent_uid = urgent["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        c.scheduler.nominated_node(urgent_uid),
        None,
        "placed, it holds no room beside itself"
    );
    let latecomer = c.get(&format!("{path}/latecomer")).await;
    assert!(node_of(latecomer.as_ref()).is_none(), "{latecomer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_spares_the_pod_a_budget_protects() {
    let c = Cluster::start().await;
    c.create(CLASSES, &class("lower", 5, false)).await;
    c.create(CLASSES, &class("low", 10, false)).await;
    c.create(CLASSES, &class("high", 1000, false)).await;
    // A budget allowing no disruption of `app: guarded`, its status as
    // the disruption controller would write it.
    let pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "guarded"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}});
    c.create(pdbs, &pdb).await;
    let status = json!({"status": {"disruptionsAllowed": 0, "currentHealthy": 1,
        "desiredHealthy": 1, "expectedPods": 1, "observedGeneration": 1}});
    c.client
        .send_path(
            Method::PATCH,
            &format!("{pdbs}/guarded/status"),
            None,
            Some(("application/merge-patch+json", status.to_string())),
        )
        .await
        .unwrap();
    c.until_scheduler("sees the budget's status", || {
        c.scheduler
            .budget("default/guarded")
            .is_some_and(|b| b["status"]["disruptionsAllowed"] == 0)
    })
    .await;

    // node-1 has room for one more 500m pod only if one of its two goes.
    // Without the budget, `guarded` (the lower priority) would be the
    // victim; with it, `plain` goes instead.
    c.node(node("node-1", "1", "4Gi", json!({}))).await;
    let mut guarded = with_class(pod("guarded", Some(("400m", "64Mi"))), "lower");
    guarded["metadata"]["labels"] = json!({"app": "guarded"});
    guarded["spec"]["nodeName"] = json!("node-1");
    c.pod(guarded).await;
    let mut plain = with_class(pod("plain", Some(("400m", "64Mi"))), "low");
    plain["spec"]["nodeName"] = json!("node-1");
    c.pod(plain).await;
    c.pod(with_class(pod("urgent", Some(("500m", "64Mi"))), "high"))
        .await;

    let path = "/api/v1/namespaces/default/pods";
    c.until(&format!("{path}/plain"), "terminating", |p| {
        p.is_some_and(|p| p["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
    c.until(&format!("{path}/urgent"), "nominated", |p| {
        p.is_some_and(|p| p["status"]["nominatedNodeName"] == "node-1")
    })
    .await;
    let guarded = c.get(&format!("{path}/guarded")).await.unwrap();
    assert!(
        guarded["metadata"]["deletionTimestamp"].is_null(),
        "the protected pod is spared"
    );
}
