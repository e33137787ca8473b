//! The DaemonSet controller against a real API server, chapter 04's
//! scheduler and several registered nodes, driven with the real kubectl
//! where it has a verb (`rollout status|history|undo`, `set image`).
//!
//! No agent runs on the nodes. A stand-in kubelet, [`kubelet`], does the
//! two things the controller waits for: it marks each pod bound to a node
//! Running and Ready, and it finishes the deletion of a bound pod (an
//! agent stops the containers, then removes the object).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Cluster, Kubectl};
use orc_client::conditions::is_ready;
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";
const NODES: &str = "/api/v1/nodes";
const DAEMONSETS: &str = "/apis/apps/v1/namespaces/default/daemonsets";
const REVISIONS: &str = "/apis/apps/v1/namespaces/default/controllerrevisions";

/// A cluster with the scheduler running beside the controllers.
async fn cluster() -> Cluster {
    let mut c = Cluster::start().await;
    let config = orc_scheduler::Config::new(format!("http://{}", c.addr));
    c.spawn(async move {
        let _ = orc_scheduler::run(config).await;
    });
    c
}

/// A stand-in kubelet for every node: bound pods become Running and
/// Ready; bound pods marked for deletion are removed, as an agent does
/// once their containers stopped.
fn kubelet(c: &Cluster) -> tokio::task::JoinHandle<()> {
    let (http, base) = (c.http.clone(), c.url(""));
    tokio::spawn(async move {
        loop {
            let list: Value = match http.get(format!("{base}{PODS}")).send().await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            for pod in list["items"].as_array().into_iter().flatten() {
                if !pod["spec"]["nodeName"].is_string() {
                    continue;
                }
                let name = pod["metadata"]["name"].as_str().unwrap_or("");
                let url = format!("{base}{PODS}/{name}");
                if pod["metadata"]["deletionTimestamp"].is_string() {
                    let options = json!({"gracePeriodSeconds": 0,
                        "preconditions": {"uid": pod["metadata"]["uid"]}});
                    let _ = http.delete(&url).json(&options).send().await;
                } else if !is_ready(pod) {
                    let status = json!({"status": {"phase": "Running", "conditions": [
                        {"type": "Ready", "status": "True",
                         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                    let _ = http
                        .patch(format!("{url}/status"))
                        .header("content-type", "application/merge-patch+json")
                        .body(status.to_string())
                        .send()
                        .await;
                }
            }
            // A node's status loop, not a wait: the tests wait on what
            // they assert (the DaemonSet's status, rollout status).
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn node(name: &str, labels: Value, spec: Value) -> Value {
    let resources = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    let mut labels = labels;
    labels["kubernetes.io/hostname"] = json!(name);
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels}, "spec": spec,
        "status": {"capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn daemonset(name: &str, image: &str, spec: Value) -> Value {
    let mut ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}}}});
    if let (Value::Object(target), Value::Object(extra)) = (&mut ds["spec"], spec) {
        target.extend(extra);
    }
    ds
}

/// The pods of the DaemonSet `app`, not being deleted, by the node they
/// are bound to.
async fn pods_by_node(c: &Cluster, app: &str) -> BTreeMap<String, Vec<Value>> {
    let mut by_node: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for pod in c.list(PODS).await {
        if pod["metadata"]["labels"]["app"] != app
            || pod["metadata"]["deletionTimestamp"].is_string()
        {
            continue;
        }
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("").to_string();
        by_node.entry(node).or_default().push(pod);
    }
    by_node
}

/// Waits until the DaemonSet `name`'s status has observed its generation
/// and every count equals `want` (desired, current, ready, updated,
/// available, misscheduled).
async fn until_counts(c: &Cluster, name: &str, want: [i64; 6]) -> Value {
    let fields = [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberMisscheduled",
    ];
    let path = format!("{DAEMONSETS}/{name}");
    c.until(&path, &format!("counting {want:?}"), |ds| {
        ds.is_some_and(|ds| {
            let status = &ds["status"];
            status["observedGeneration"] == ds["metadata"]["generation"]
                && fields
                    .iter()
                    .zip(want)
                    .all(|(f, n)| status[f].as_i64().unwrap_or(0) == n)
        })
    })
    .await
    .unwrap()
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or("")
}

fn pinned_node(pod: &Value) -> &str {
    pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn names(by_node: &BTreeMap<String, Vec<Value>>) -> BTreeSet<&str> {
    by_node.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn one_pod_per_eligible_node_follows_the_nodes() {
    let c = cluster().await;
    let _kubelet = kubelet(&c);
    let ssd = json!({"disk": "ssd"});
    c.create(NODES, &node("n1", ssd.clone(), json!({}))).await;
    let tainted =
        json!({"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]});
    c.create(NODES, &node("n2", ssd.clone(), tainted)).await;
    c.create(NODES, &node("n3", json!({"disk": "hdd"}), json!({})))
        .await;
    // Cordoned: a DaemonSet pod tolerates that.
    c.create(
        NODES,
        &node("n4", ssd.clone(), json!({"unschedulable": true})),
    )
    .await;
    let selector = json!({"template": {"metadata": {"labels": {"app": "logs"}}, "spec": {
        "nodeSelector": {"disk": "ssd"},
        "containers": [{"name": "c", "image": "busybox"}]}}});
    c.create(DAEMONSETS, &daemonset("logs", "busybox", selector))
        .await;

    let ds = until_counts(&c, "logs", [2, 2, 2, 2, 2, 0]).await;
    assert_eq!(ds["status"]["observedGeneration"], 1);
    let by_node = pods_by_node(&c, "logs").await;
    assert_eq!(names(&by_node), BTreeSet::from(["n1", "n4"]));
    let revisions = c.list(REVISIONS).await;
    assert_eq!(revisions.len(), 1);
    let hash = revisions[0]["metadata"]["labels"]["controller-revision-hash"]
        .as_str()
        .unwrap();
    for (node, pods) in &by_node {
        let pod = &pods[0];
        assert_eq!(pods.len(), 1, "{node}: {pods:?}");
        // Pinned by the controller, bound by the scheduler.
        assert_eq!(pinned_node(pod), node);
        assert_eq!(pod["metadata"]["labels"]["controller-revision-hash"], hash);
        assert_eq!(pod["metadata"]["labels"]["pod-template-generation"], "1");
        let unreachable = pod["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "node.kubernetes.io/unreachable")
            .unwrap();
        assert_eq!(
            unreachable,
            &json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"})
        );
    }
    let k = Kubectl::new(&c);
    let table = k.run(&["get", "ds", "logs"]).await;
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..7],
        ["logs", "2", "2", "2", "2", "2", "disk=ssd"],
        "{table}"
    );

    // A new node gets its pod; a relabelled one too.
    c.create(NODES, &node("n5", ssd.clone(), json!({}))).await;
    assert_eq!(
        c.merge_patch(
            &format!("{NODES}/n3"),
            &json!({"metadata": {"labels": {"disk": "ssd"}}})
        )
        .await,
        200
    );
    until_counts(&c, "logs", [4, 4, 4, 4, 4, 0]).await;
    let by_node = pods_by_node(&c, "logs").await;
    assert_eq!(names(&by_node), BTreeSet::from(["n1", "n3", "n4", "n5"]));

    // A NoExecute taint the pod does not tolerate throws it off; a node
    // that goes takes its pod along.
    let evict = json!({"spec": {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}});
    assert_eq!(c.merge_patch(&format!("{NODES}/n1"), &evict).await, 200);
    assert_eq!(c.delete(&format!("{NODES}/n5"), json!({})).await, 200);
    until_counts(&c, "logs", [2, 2, 2, 2, 2, 0]).await;
    let by_node = pods_by_node(&c, "logs").await;
    assert_eq!(names(&by_node), BTreeSet::from(["n3", "n4"]));
    let described = k.run(&["describe", "ds", "logs"]).await;
    assert!(
        described.contains("daemonset-controller  Created pod: logs-")
            && described.contains("daemonset-controller  Deleted pod: logs-"),
        "{described}"
    );
}

/// The smallest number of ready pods not being deleted seen while `done`
/// runs: a DaemonSet's availability during a rollout.
async fn min_ready_during(
    c: &Cluster,
    app: &str,
    done: tokio::task::JoinHandle<String>,
) -> (usize, String) {
    let mut least = usize::MAX;
    while !done.is_finished() {
        let ready = pods_by_node(c, app)
            .await
            .values()
            .flatten()
            .filter(|p| is_ready(p))
            .count();
        least = least.min(ready);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (least, done.await.unwrap())
}

fn kubectl_in_background(
    k: &Kubectl,
    args: &'static [&'static str],
) -> tokio::task::JoinHandle<String> {
    let mut command = orc_testkit::kubectl::command(k.dir.path(), &k.config);
    command.args(args);
    tokio::task::spawn_blocking(move || {
        let (ok, out) = orc_testkit::kubectl::output(command);
        assert!(ok, "kubectl {args:?}: {out}");
        out
    })
}

fn revision_of<'a>(revisions: &'a [Value], image_name: &str) -> &'a Value {
    revisions
        .iter()
        .find(|r| r["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == image_name)
        .unwrap_or_else(|| panic!("no revision runs {image_name}: {revisions:?}"))
}

#[tokio::test]
async fn a_rolling_update_with_rollout_status_history_and_undo() {
    let c = cluster().await;
    let _kubelet = kubelet(&c);
    for name in ["n1", "n2", "n3"] {
        c.create(NODES, &node(name, json!({}), json!({}))).await;
    }
    let k = Kubectl::new(&c);
    c.create(DAEMONSETS, &daemonset("web", "busybox:1.36", json!({})))
        .await;
    let out = k
        .run(&["rollout", "status", "ds/web", "--timeout=30s"])
        .await;
    assert!(
        out.ends_with("daemon set \"web\" successfully rolled out\n"),
        "{out}"
    );
    until_counts(&c, "web", [3, 3, 3, 3, 3, 0]).await;

    // A new image rolls one node at a time (maxUnavailable 1).
    k.run(&["set", "image", "ds/web", "c=busybox:1.37"]).await;
    k.run(&["annotate", "ds/web", "kubernetes.io/change-cause=new image"])
        .await;
    let status = kubectl_in_background(&k, &["rollout", "status", "ds/web", "--timeout=60s"]);
    let (least, out) = min_ready_during(&c, "web", status).await;
    assert!(
        out.ends_with("daemon set \"web\" successfully rolled out\n"),
        "{out}"
    );
    assert!(
        least >= 2,
        "more than one node lost its pod at once: {least} ready"
    );
    let by_node = pods_by_node(&c, "web").await;
    assert_eq!(by_node.len(), 3);
    assert!(
        by_node
            .values()
            .flatten()
            .all(|p| image(p) == "busybox:1.37")
    );
    assert!(by_node.values().all(|pods| pods.len() == 1));

    let revisions = c.list(REVISIONS).await;
    assert_eq!(revisions.len(), 2);
    assert_eq!(revision_of(&revisions, "busybox:1.36")["revision"], 1);
    assert_eq!(revision_of(&revisions, "busybox:1.37")["revision"], 2);
    let history = k.run(&["rollout", "history", "ds/web"]).await;
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert_eq!(rows[0][0], "1", "{history}");
    assert_eq!(rows[1][0], "2", "{history}");
    let one = k
        .run(&["rollout", "history", "ds/web", "--revision=1"])
        .await;
    assert!(one.contains("busybox:1.36"), "{one}");
    let listed = k.run(&["get", "controllerrevisions"]).await;
    assert!(listed.contains("daemonset.apps/web"), "{listed}");

    // Undo: the first template comes back, and its revision becomes 3.
    let out = k.run(&["rollout", "undo", "ds/web"]).await;
    assert_eq!(out.trim(), "daemonset.apps/web rolled back");
    k.run(&["rollout", "status", "ds/web", "--timeout=60s"])
        .await;
    let by_node = pods_by_node(&c, "web").await;
    assert!(
        by_node
            .values()
            .flatten()
            .all(|p| image(p) == "busybox:1.36")
    );
    let revisions = c.list(REVISIONS).await;
    assert_eq!(revisions.len(), 2, "the old revision is reused, not copied");
    assert_eq!(revision_of(&revisions, "busybox:1.36")["revision"], 3);
    let ds = c.get(&format!("{DAEMONSETS}/web")).await.unwrap();
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.36"
    );
}

#[tokio::test]
async fn on_delete_waits_and_a_surge_keeps_every_node_served() {
    let c = cluster().await;
    let _kubelet = kubelet(&c);
    for name in ["n1", "n2"] {
        c.create(NODES, &node(name, json!({}), json!({}))).await;
    }
    let k = Kubectl::new(&c);
    let on_delete = json!({"updateStrategy": {"type": "OnDelete"}});
    c.create(DAEMONSETS, &daemonset("agent", "busybox:1.36", on_delete))
        .await;
    until_counts(&c, "agent", [2, 2, 2, 2, 2, 0]).await;
    let (ok, out) = k.try_run(&["rollout", "status", "ds/agent"]).await;
    assert!(
        !ok && out.contains("only available for RollingUpdate strategy type"),
        "{out}"
    );

    // OnDelete: a new template changes no pod until one is deleted.
    let new_image = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "busybox:1.37"}]}}}});
    assert_eq!(
        c.merge_patch(&format!("{DAEMONSETS}/agent"), &new_image)
            .await,
        200
    );
    until_counts(&c, "agent", [2, 2, 2, 0, 2, 0]).await;
    let victim = pods_by_node(&c, "agent")
        .await
        .remove("n1")
        .unwrap()
        .remove(0);
    let path = format!("{PODS}/{}", victim["metadata"]["name"].as_str().unwrap());
    assert_eq!(c.delete(&path, json!({})).await, 200);
    until_counts(&c, "agent", [2, 2, 2, 1, 2, 0]).await;
    let by_node = pods_by_node(&c, "agent").await;
    assert_eq!(image(&by_node["n1"][0]), "busybox:1.37");
    assert_eq!(image(&by_node["n2"][0]), "busybox:1.36");

    // RollingUpdate with maxSurge 1, maxUnavailable 0: n2's new pod starts
    // beside the old one, which goes once the new one is available.
    let surge = json!({"spec": {"updateStrategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}});
    assert_eq!(
        c.merge_patch(&format!("{DAEMONSETS}/agent"), &surge).await,
        200
    );
    let status = kubectl_in_background(&k, &["rollout", "status", "ds/agent", "--timeout=60s"]);
    let (least, out) = min_ready_during(&c, "agent", status).await;
    assert!(
        out.ends_with("daemon set \"agent\" successfully rolled out\n"),
        "{out}"
    );
    assert!(
        least >= 2,
        "a node was left without a ready pod: {least} ready"
    );
    until_counts(&c, "agent", [2, 2, 2, 2, 2, 0]).await;
    let by_node = pods_by_node(&c, "agent").await;
    assert!(
        by_node
            .values()
            .all(|pods| pods.len() == 1 && image(&pods[0]) == "busybox:1.37")
    );

    // A RollingUpdate that could never start is refused.
    let stuck = json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxSurge": 0}}}});
    assert_eq!(
        c.merge_patch(&format!("{DAEMONSETS}/agent"), &stuck).await,
        422
    );
}
