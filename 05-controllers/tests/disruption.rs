//! PodDisruptionBudgets on a real etcd, API server and controller
//! manager: `kubectl create pdb` and its columns, the disruption
//! controller's status, the eviction subresource spending the budget and
//! refusing with a 429 once it is spent, evictions granted but never
//! carried out expiring after two minutes (on a manual clock), and
//! `kubectl drain` evicting a node's pods down to the budget, waiting, and
//! finishing once replacements are ready elsewhere.

mod common;

use std::time::Duration;

use common::{Cluster, Kubectl};
use orc_controllers::clock::{Clock, ManualClock};
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";
const PDBS: &str = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 5,
                    "containers": [{"name": "c", "image": "busybox"}]}}}})
}

/// The budget's status once the controller has counted `healthy` ready
/// pods and allows `allowed` disruptions.
async fn status_when(c: &Cluster, name: &str, healthy: i64, allowed: i64) -> Value {
    let path = format!("{PDBS}/{name}");
    let pdb = c
        .until(
            &path,
            &format!("{healthy} healthy, {allowed} allowed"),
            |p| {
                p.is_some_and(|p| {
                    p["status"]["currentHealthy"] == healthy
                        && p["status"]["disruptionsAllowed"] == allowed
                        && p["status"]["observedGeneration"] == p["metadata"]["generation"]
                })
            },
        )
        .await;
    pdb.unwrap()["status"].clone()
}

/// The names of the pods of `app`, not being deleted.
async fn live_pods(c: &Cluster, app: &str) -> Vec<String> {
    c.list(&format!("{PODS}?labelSelector=app%3D{app}"))
        .await
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

async fn evict(c: &Cluster, pod: &str, query: &str) -> (u16, Value) {
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": "default"}});
    let url = c.url(&format!("{PODS}/{pod}/eviction{query}"));
    c.send(c.http.post(url).json(&eviction)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_spend_the_budget_the_controller_keeps() {
    let c = Cluster::start().await;
    let node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    let k = Kubectl::new(&c);
    k.run(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=3",
    ])
    .await;
    let out = k
        .run(&[
            "create",
            "pdb",
            "web",
            "--selector=app=web",
            "--min-available=2",
        ])
        .await;
    assert_eq!(out.trim(), "poddisruptionbudget.policy/web created");

    // The controller counts 3 ready pods of a Deployment of 3; 2 must stay.
    let status = status_when(&c, "web", 3, 1).await;
    assert_eq!(
        (&status["expectedPods"], &status["desiredHealthy"]),
        (&json!(3), &json!(2))
    );
    let condition = &status["conditions"][0];
    assert_eq!(
        (
            &condition["type"],
            &condition["status"],
            &condition["reason"]
        ),
        (
            &json!("DisruptionAllowed"),
            &json!("True"),
            &json!("SufficientPods")
        )
    );
    let table = k.run(&["get", "pdb"]).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAME",
            "MIN",
            "AVAILABLE",
            "MAX",
            "UNAVAILABLE",
            "ALLOWED",
            "DISRUPTIONS",
            "AGE"
        ]
    );
    assert_eq!(lines[1][..4], ["web", "2", "N/A", "1"], "{table}");

    // No pod becomes ready from here until said: a replacement cannot
    // refill the budget behind the test's back.
    node.abort();
    // A dry run answers as an eviction would, and spends nothing.
    let pods = live_pods(&c, "web").await;
    let (code, _) = evict(&c, &pods[0], "?dryRun=All").await;
    assert_eq!(code, 201);
    assert_eq!(live_pods(&c, "web").await.len(), 3);
    let pdb = c.get(&format!("{PDBS}/web")).await.unwrap();
    assert_eq!(pdb["status"]["disruptionsAllowed"], 1);

    // The one disruption allowed is spent: the pod goes, its name is
    // recorded, and at once the next eviction is refused.
    let (code, body) = evict(&c, &pods[0], "").await;
    assert_eq!((code, &body["status"]), (201, &json!("Success")), "{body}");
    let (code, refused) = evict(&c, &pods[1], "").await;
    assert_eq!(code, 429, "{refused}");
    assert_eq!(
        refused["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(refused["reason"], "TooManyRequests");
    let cause = &refused["details"]["causes"][0];
    assert_eq!(cause["reason"], "DisruptionBudget");
    assert!(
        cause["message"]
            .as_str()
            .unwrap()
            .starts_with("The disruption budget web needs 2 healthy pods"),
        "{cause}"
    );
    status_when(&c, "web", 2, 0).await;

    // The Deployment replaces the pod; once the new one is ready the
    // budget allows one disruption again.
    let _node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    status_when(&c, "web", 3, 1).await;
    let (code, body) = evict(&c, &pods[1], "").await;
    assert_eq!(code, 201, "{body}");

    // Two budgets over one pod: Kubernetes' 500.
    k.run(&[
        "create",
        "pdb",
        "web-too",
        "--selector=app=web",
        "--max-unavailable=1",
    ])
    .await;
    let (code, body) = evict(&c, &pods[2], "").await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body["message"],
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );

    // What kubectl create pdb refuses, and the server too.
    let (ok, out) = k
        .try_run(&[
            "create",
            "pdb",
            "bad",
            "--selector=app=web",
            "--min-available=150%",
        ])
        .await;
    assert!(!ok);
    assert!(
        out.contains("spec.minAvailable: Invalid value: \"150%\": must not be greater than 100%"),
        "{out}"
    );
    let both = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "both"}, "spec": {"minAvailable": 1, "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "Never"}});
    let (code, body) = c.send(c.http.post(c.url(PDBS)).json(&both)).await;
    assert_eq!(code, 422);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("minAvailable and maxUnavailable cannot be both set"),
        "{message}"
    );
    assert!(
        message.contains(
            r#"spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: "AlwaysAllow", "IfHealthyBudget""#
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_not_carried_out_expire_after_two_minutes() {
    let clock = ManualClock::new();
    let c = Cluster::start_with_clock(clock.clone()).await;
    let _node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    c.create(
        "/apis/apps/v1/namespaces/default/deployments",
        &deployment("db", 2),
    )
    .await;
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "db"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "db"}}}});
    c.create(PDBS, &pdb).await;
    status_when(&c, "db", 2, 1).await;

    // An eviction granted (as the API server records it) whose pod was
    // never deleted: the pod does not count as healthy meanwhile.
    let pod = live_pods(&c, "db").await.remove(0);
    let granted = json!({"status": {"disruptedPods": {
        &pod: orc_client::time::format(clock.now())}}});
    assert_eq!(
        c.merge_patch(&format!("{PDBS}/db/status"), &granted).await,
        200
    );
    let status = status_when(&c, "db", 1, 0).await;
    assert!(status["disruptedPods"][&pod].is_string(), "{status}");

    // Two minutes later it counts again, and a warning says why.
    clock.advance(Duration::from_secs(121));
    let status = status_when(&c, "db", 2, 1).await;
    assert!(status["disruptedPods"].get(&pod).is_none(), "{status}");
    let mut noted = false;
    for _ in 0..300 {
        let list = c.list("/api/v1/namespaces/default/events").await;
        if list
            .iter()
            .any(|e| e["reason"] == "NotDeleted" && e["involvedObject"]["name"] == *pod)
        {
            noted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(noted, "a NotDeleted event on {pod}");
}

/// A stand-in for the nodes of the drain test: binds every pending pod to
/// the first node of `nodes` that is not cordoned, marks it Running and
/// Ready, and finishes the deletion of pods marked for deletion, as an
/// agent does once their containers stopped.
fn stand_in_nodes(c: &Cluster, nodes: &'static [&'static str]) -> tokio::task::JoinHandle<()> {
    let (http, base) = (c.http.clone(), c.url(""));
    tokio::spawn(async move {
        let send = |r: reqwest::RequestBuilder| async move {
            match r.send().await {
                Ok(response) => response.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        };
        loop {
            let pods = send(http.get(format!("{base}{PODS}"))).await;
            let cordoned = send(http.get(format!("{base}/api/v1/nodes"))).await;
            let open = nodes.iter().find(|n| {
                cordoned["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|node| {
                        node["metadata"]["name"] == **n && node["spec"]["unschedulable"] != true
                    })
            });
            for pod in pods["items"].as_array().into_iter().flatten() {
                let name = pod["metadata"]["name"].as_str().unwrap_or("");
                let url = format!("{base}{PODS}/{name}");
                if pod["metadata"]["deletionTimestamp"].is_string() {
                    let options = json!({"gracePeriodSeconds": 0,
                        "preconditions": {"uid": pod["metadata"]["uid"]}});
                    send(http.delete(&url).json(&options)).await;
                } else if pod["spec"]["nodeName"].is_null() {
                    if let Some(node) = open {
                        let binding = json!({"apiVersion": "v1", "kind": "Binding",
                            "metadata": {"name": name}, "target": {"kind": "Node", "name": node}});
                        send(http.post(format!("{url}/binding")).json(&binding)).await;
                    }
                } else if pod["status"]["phase"] != "Running" {
                    let status = json!({"status": {"phase": "Running", "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                    let patch = http
                        .patch(format!("{url}/status"))
                        .header("content-type", "application/merge-patch+json")
                        .body(status.to_string());
                    send(patch).await;
                }
            }
            // A node's status loop, not a wait: the test waits on what it
            // asserts, never on this period.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_evicts_down_to_the_budget_and_waits() {
    let mut c = Cluster::start().await;
    for node in ["node-a", "node-b"] {
        let body = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}});
        c.create("/api/v1/nodes", &body).await;
    }
    // Every pod lands on node-a first; node-b gets the replacements.
    let nodes = stand_in_nodes(&c, &["node-a", "node-b"]);
    c.spawn(async move {
        let _ = nodes.await;
    });
    c.create(
        "/apis/apps/v1/namespaces/default/deployments",
        &deployment("web", 3),
    )
    .await;
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}});
    c.create(PDBS, &pdb).await;
    status_when(&c, "web", 3, 1).await;
    let on_a = c
        .list(&format!("{PODS}?fieldSelector=spec.nodeName%3Dnode-a"))
        .await;
    assert_eq!(on_a.len(), 3);

    // kubectl drain evicts one pod, is refused the others (429) and
    // retries every 5 s; each replacement that becomes ready on node-b
    // allows the next eviction.
    let k = Kubectl::new(&c);
    let out = k
        .run(&[
            "drain",
            "node-a",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=120s",
        ])
        .await;
    assert!(out.contains("node/node-a cordoned"), "{out}");
    assert!(
        out.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "the budget held the drain back at least once: {out}"
    );
    assert!(out.contains("node/node-a drained"), "{out}");
    // Drain waits for the evicted pods to be gone, not for their
    // replacements: the last one may still be on its way.
    let mut live = Vec::new();
    for _ in 0..300 {
        live = c
            .list(PODS)
            .await
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect::<Vec<Value>>();
        if live.len() == 3 && live.iter().all(|p| p["spec"]["nodeName"] == "node-b") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live.len(), 3, "{live:?}");
    assert!(
        live.iter().all(|p| p["spec"]["nodeName"] == "node-b"),
        "{live:?}"
    );
}
