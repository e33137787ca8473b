//! The Deployment controller (with the ReplicaSet controller and the
//! garbage collector beside it) against a real etcd and API server, driven
//! with the installed kubectl: create, rollout status, set image, rollout
//! history and undo, the Recreate strategy, the rolling update's bounds,
//! a resize in the middle of a rollout, and cascading deletion.
//!
//! No node runs the pods. A stand-in node, [`ready_every_pod`], writes
//! each new pod's status as Running and Ready, as a node agent would once
//! its containers pass their readiness probes.

mod common;

use std::time::Duration;

use common::{Cluster, Kubectl};
use serde_json::{Value, json};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const RS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const PODS: &str = "/api/v1/namespaces/default/pods";

impl Kubectl {
    /// `kubectl create deployment NAME --image=busybox:1.36 --replicas=N`,
    /// then `kubectl rollout status` until it is rolled out; answers what
    /// the latter printed.
    async fn create_and_roll_out(&self, name: &str, replicas: u32) -> String {
        let replicas = format!("--replicas={replicas}");
        self.run(&[
            "create",
            "deployment",
            name,
            "--image=busybox:1.36",
            &replicas,
        ])
        .await;
        let target = format!("deployment/{name}");
        self.run(&["rollout", "status", &target, "--timeout=30s"])
            .await
    }
}

/// Marks every pod Running and Ready, over and over, until aborted.
fn ready_every_pod(c: &Cluster) -> tokio::task::JoinHandle<()> {
    common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""))
}

/// The Deployment's ReplicaSets, oldest revision first.
async fn replicasets(c: &Cluster) -> Vec<Value> {
    let mut rs = c.list(RS).await;
    rs.sort_by_key(revision);
    rs
}

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn spec_replicas(rs: &Value) -> i64 {
    rs["spec"]["replicas"].as_i64().unwrap_or(0)
}

fn image(obj: &Value) -> &str {
    obj["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn rollout_status_set_image_history_and_undo() {
    let c = Cluster::start().await;
    let _node = ready_every_pod(&c);
    let k = Kubectl::new(&c);
    let out = k.create_and_roll_out("web", 3).await;
    assert!(
        out.ends_with("deployment \"web\" successfully rolled out\n"),
        "{out}"
    );
    let first = replicasets(&c).await;
    assert_eq!(first.len(), 1);
    let hash = first[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(first[0]["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(revision(&first[0]), 1);
    assert_eq!(c.list(PODS).await.len(), 3);
    let d = c.get(&format!("{DEPLOYMENTS}/web")).await.unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(d["status"]["availableReplicas"], 3);
    assert_eq!(d["status"]["updatedReplicas"], 3);

    let described = k.run(&["describe", "deployment", "web"]).await;
    assert!(
        described.contains("ScalingReplicaSet  ")
            && described.contains("deployment-controller  Scaled up replica set web-"),
        "{described}"
    );
    // A new image: a second ReplicaSet takes over.
    k.run(&["set", "image", "deployment/web", "busybox=busybox:1.37"])
        .await;
    k.run(&[
        "annotate",
        "deployment/web",
        "kubernetes.io/change-cause=new image",
    ])
    .await;
    k.run(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    let second = replicasets(&c).await;
    assert_eq!(second.len(), 2);
    assert_eq!(
        (spec_replicas(&second[0]), spec_replicas(&second[1])),
        (0, 3)
    );
    assert_eq!(image(&second[1]), "busybox:1.37");
    let history = k.run(&["rollout", "history", "deployment/web"]).await;
    insta::assert_snapshot!("rollout_history", history);

    // Undo: the first template comes back, as revision 3.
    let out = k.run(&["rollout", "undo", "deployment/web"]).await;
    assert_eq!(out.trim(), "deployment.apps/web rolled back");
    k.run(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    let d = c.get(&format!("{DEPLOYMENTS}/web")).await.unwrap();
    assert_eq!(image(&d), "busybox:1.36");
    let history = k.run(&["rollout", "history", "deployment/web"]).await;
    insta::assert_snapshot!("rollout_history_after_undo", history);
    let revision_three = k
        .run(&["rollout", "history", "deployment/web", "--revision=3"])
        .await;
    insta::assert_snapshot!("rollout_history_revision_3", revision_three);
    let third = replicasets(&c).await;
    assert_eq!(third.len(), 2, "the old ReplicaSet is reused, not copied");
    assert_eq!(third[1]["metadata"]["name"], first[0]["metadata"]["name"]);
    assert_eq!(revision(&third[1]), 3);
    assert_eq!(spec_replicas(&third[1]), 3);
    let pods = c.list(PODS).await;
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| image(&json!({"spec": {"template": {"spec": p["spec"]}}})) == "busybox:1.36")
    );
}

/// What was seen of the ReplicaSets during a rollout.
struct Seen {
    /// The largest total of `spec.replicas`.
    max_total: i64,
    /// The smallest total of `status.availableReplicas`.
    min_available: i64,
    /// Whether two ReplicaSets ever both had replicas.
    overlap: bool,
}

/// Watches the ReplicaSets until `done` holds for them.
async fn watch_replicas_during(c: &Cluster, done: impl Fn(&[Value]) -> bool) -> Seen {
    let mut seen = Seen {
        max_total: 0,
        min_available: i64::MAX,
        overlap: false,
    };
    for _ in 0..600 {
        let rs = replicasets(c).await;
        seen.max_total = seen.max_total.max(rs.iter().map(spec_replicas).sum());
        let available = rs
            .iter()
            .filter_map(|r| r["status"]["availableReplicas"].as_i64())
            .sum();
        seen.min_available = seen.min_available.min(available);
        seen.overlap |= rs.iter().filter(|r| spec_replicas(r) > 0).count() > 1;
        if done(&rs) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the rollout never finished: {:?}", replicasets(c).await);
}

fn finished_with(image_name: &'static str) -> impl Fn(&[Value]) -> bool {
    move |rs: &[Value]| {
        rs.len() == 2
            && rs
                .iter()
                .all(|r| (image(r) == image_name) == (spec_replicas(r) == 4))
            && rs
                .iter()
                .any(|r| r["status"]["availableReplicas"] == 4 && image(r) == image_name)
    }
}

#[tokio::test]
async fn a_rolling_update_stays_within_its_surge() {
    let c = Cluster::start().await;
    let _node = ready_every_pod(&c);
    let k = Kubectl::new(&c);
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "api"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
    c.create(DEPLOYMENTS, &d).await;
    k.run(&["rollout", "status", "deployment/api", "--timeout=30s"])
        .await;
    k.run(&["set", "image", "deployment/api", "c=busybox:1.37"])
        .await;
    let seen = watch_replicas_during(&c, finished_with("busybox:1.37")).await;
    assert!(
        seen.max_total <= 5,
        "never more than replicas + maxSurge: {}",
        seen.max_total
    );
    assert!(
        seen.min_available >= 4,
        "never fewer available than replicas - maxUnavailable: {}",
        seen.min_available
    );
    assert!(seen.overlap, "old and new pods ran side by side");
}

#[tokio::test]
async fn recreate_empties_the_old_replicaset_first() {
    let c = Cluster::start().await;
    let _node = ready_every_pod(&c);
    let k = Kubectl::new(&c);
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "db"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "db"}},
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
    c.create(DEPLOYMENTS, &d).await;
    k.run(&["rollout", "status", "deployment/db", "--timeout=30s"])
        .await;
    k.run(&["set", "image", "deployment/db", "c=busybox:1.37"])
        .await;
    let seen = watch_replicas_during(&c, finished_with("busybox:1.37")).await;
    assert!(
        !seen.overlap,
        "old and new ReplicaSets never both had replicas"
    );
    let out = k
        .run(&["rollout", "status", "deployment/db", "--timeout=30s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
}

#[tokio::test]
async fn deleting_a_deployment_deletes_its_replicasets_and_pods() {
    let c = Cluster::start().await;
    let k = Kubectl::new(&c);
    k.run(&[
        "create",
        "deployment",
        "gone",
        "--image=busybox",
        "--replicas=2",
    ])
    .await;
    c.until(&format!("{DEPLOYMENTS}/gone"), "observed", |d| {
        d.is_some_and(|d| d["status"]["replicas"] == 2)
    })
    .await;
    let out = k
        .run(&["delete", "deployment", "gone", "--cascade=foreground"])
        .await;
    assert_eq!(out.trim(), "deployment.apps \"gone\" deleted");
    // kubectl waited for the whole tree: foreground deletion goes leaves first.
    assert!(c.list(RS).await.is_empty());
    assert!(c.list(PODS).await.is_empty());
}

#[tokio::test]
async fn a_paused_deployment_scales_but_does_not_roll_until_resumed() {
    let c = Cluster::start().await;
    let _node = ready_every_pod(&c);
    let k = Kubectl::new(&c);
    k.create_and_roll_out("paused", 2).await;
    k.run(&["rollout", "pause", "deployment/paused"]).await;
    k.run(&["set", "image", "deployment/paused", "busybox=busybox:1.37"])
        .await;
    k.run(&["scale", "deployment/paused", "--replicas=3"]).await;
    // The one ReplicaSet follows the new count; no second one appears.
    for _ in 0..300 {
        let rs = replicasets(&c).await;
        if rs.len() == 1 && rs[0]["status"]["replicas"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rs = replicasets(&c).await;
    assert_eq!(rs.len(), 1, "paused: no rollout");
    assert_eq!((spec_replicas(&rs[0]), image(&rs[0])), (3, "busybox:1.36"));
    // Paused, its progress is not judged, and the condition says so, as
    // Kubernetes' does (no deadline can pass while paused).
    until_progressing(&c, "paused", "DeploymentPaused").await;
    k.run(&["rollout", "resume", "deployment/paused"]).await;
    k.run(&["rollout", "status", "deployment/paused", "--timeout=30s"])
        .await;
    until_progressing(&c, "paused", "NewReplicaSetAvailable").await;
    let rs = replicasets(&c).await;
    assert_eq!(rs.len(), 2);
    assert_eq!((spec_replicas(&rs[1]), image(&rs[1])), (3, "busybox:1.37"));
    assert_eq!(spec_replicas(&rs[0]), 0);
}

/// Scaled in the middle of a rollout, a Deployment grows its old and new
/// ReplicaSets in proportion to their sizes (Kubernetes' proportional
/// scaling), keeping the rollout's mix of versions.
#[tokio::test]
async fn a_deployment_scaled_mid_rollout_grows_both_replicasets_in_proportion() {
    let c = Cluster::start().await;
    let node = ready_every_pod(&c);
    let k = Kubectl::new(&c);
    k.create_and_roll_out("mixed", 10).await;
    // The node goes away: the new version's pods never become ready, and
    // the rollout stops where its bounds hold it.
    node.abort();
    k.run(&["set", "image", "deployment/mixed", "busybox=busybox:1.37"])
        .await;
    // 10 replicas, 25% surge (3) and 25% unavailable (2): 8 old, 5 new.
    until_sizes(&c, &[8, 5]).await;
    k.run(&["scale", "deployment/mixed", "--replicas=20"]).await;
    // 20 replicas allow 25 pods where 13 were allowed: each grows by 25/13.
    until_sizes(&c, &[15, 10]).await;
    let rs = replicasets(&c).await;
    assert_eq!(
        (image(&rs[0]), image(&rs[1])),
        ("busybox:1.36", "busybox:1.37")
    );
    for set in &rs {
        let annotations = &set["metadata"]["annotations"];
        assert_eq!(
            annotations["deployment.kubernetes.io/desired-replicas"],
            "20"
        );
        assert_eq!(annotations["deployment.kubernetes.io/max-replicas"], "25");
    }
}

/// Waits up to 30 s for the ReplicaSets' `spec.replicas`, oldest revision
/// first, to be `want`.
async fn until_sizes(c: &Cluster, want: &[i64]) {
    let mut seen = Vec::new();
    for _ in 0..600 {
        seen = replicasets(c).await.iter().map(spec_replicas).collect();
        if seen == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the ReplicaSets have {seen:?} replicas, not {want:?}");
}

/// Waits until the Deployment `name`'s `Progressing` condition has `reason`.
async fn until_progressing(c: &Cluster, name: &str, reason: &str) {
    let reason_of = |d: &Value| -> Option<String> {
        let conditions = d["status"]["conditions"].as_array()?;
        let progressing = conditions.iter().find(|c| c["type"] == "Progressing")?;
        progressing["reason"].as_str().map(String::from)
    };
    let path = format!("{DEPLOYMENTS}/{name}");
    c.until(&path, reason, |d| {
        d.and_then(reason_of).as_deref() == Some(reason)
    })
    .await;
}
