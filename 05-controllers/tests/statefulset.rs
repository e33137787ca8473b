//! The StatefulSet controller (with the garbage collector beside it)
//! against a real etcd and API server, driven with the installed kubectl:
//! ordered creation with stable names and identity labels, Parallel
//! creation, scale-down in reverse order with `kubectl scale`, a rolling
//! update with a partition, `kubectl rollout status|history|undo`,
//! OnDelete, `minReadySeconds` on an injected clock, cascading deletion,
//! and `volumeClaimTemplates`: a claim per pod made before it, kept on
//! scale-down and reused, owned as `persistentVolumeClaimRetentionPolicy`
//! says and removed by the garbage collector when it says Delete.
//!
//! No node runs the pods. Either the test marks a pod Running and Ready
//! itself (to hold the next one back), or a stand-in node does it for
//! every pod ([`common::stand_in_node`]).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Cluster, Kubectl};
use orc_controllers::clock::{Clock, ManualClock};
use serde_json::{Value, json};

const SETS: &str = "/apis/apps/v1/namespaces/default/statefulsets";
const REVISIONS: &str = "/apis/apps/v1/namespaces/default/controllerrevisions";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// A StatefulSet manifest: `replicas` busybox pods behind Service `web`.
fn manifest(name: &str, replicas: u32, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
spec:
  serviceName: web
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: busybox
        image: busybox:1.36
{extra}"
    )
}

impl Kubectl {
    /// `kubectl apply -f` of `yaml`; answers what kubectl printed.
    async fn apply(&self, yaml: &str) -> (bool, String) {
        let file = self.dir.path().join("sts.yaml");
        std::fs::write(&file, yaml).unwrap();
        self.try_run(&["apply", "-f", file.to_str().unwrap()]).await
    }
}

/// Marks pod `name` Running and Ready since `at`, as a node would.
async fn mark_ready(c: &Cluster, name: &str, at: &str) {
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": at}]}});
    let code = c
        .merge_patch(&format!("{PODS}/{name}/status"), &status)
        .await;
    assert_eq!(code, 200, "marking {name} ready");
}

fn names(pods: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = pods
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    names
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or("")
}

fn label<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj["metadata"]["labels"][key].as_str().unwrap_or("")
}

/// Every pod event (`ADDED web-0`, `DELETED web-2`) from now on, in the
/// order the API server sent them.
struct PodLog(Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>);

impl PodLog {
    async fn start(c: &Cluster) -> PodLog {
        let client = orc_client::Client::new(c.url(""));
        let pods = orc_client::resources::by_kind("v1", "Pod").unwrap();
        let list = c.get(PODS).await.unwrap();
        let from = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let mut stream = client
            .watch(pods, Some("default"), "", &from, 120)
            .await
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = log.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok((kind, pod))) = stream.next().await {
                let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
                writer.lock().unwrap().push(format!("{kind} {name}"));
            }
        });
        PodLog(log, task)
    }

    /// The events of `kind` (`ADDED`, `DELETED`), in order.
    fn of(&self, kind: &str) -> Vec<String> {
        let prefix = format!("{kind} ");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| e.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }
}

impl Drop for PodLog {
    fn drop(&mut self) {
        self.1.abort();
    }
}

async fn until_pods(c: &Cluster, want: &[&str]) -> Vec<Value> {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    let list = c
        .until(PODS, &format!("pods {want:?}"), |l| {
            let items = l
                .and_then(|l| l["items"].as_array())
                .cloned()
                .unwrap_or_default();
            names(&items) == want
        })
        .await
        .unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn ordered_ready_makes_pods_one_by_one_with_stable_identities() {
    let c = Cluster::start().await;
    let k = Kubectl::new(&c);
    let (ok, out) = k.apply(&manifest("web", 3, "")).await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "statefulset.apps/web created");

    // web-1 waits for web-0 to be Running and Ready, web-2 for web-1.
    for (i, ready) in [(0, vec!["web-0"]), (1, vec!["web-0", "web-1"])] {
        let mut want = ready.clone();
        until_pods(&c, &want).await;
        let sts = c
            .until(&format!("{SETS}/web"), "counted", |s| {
                s.is_some_and(|s| s["status"]["replicas"] == i + 1)
            })
            .await
            .unwrap();
        assert_eq!(sts["status"]["readyReplicas"], i);
        assert_eq!(
            names(&c.list(PODS).await),
            want,
            "nothing past the unready pod"
        );
        mark_ready(&c, &format!("web-{i}"), "2026-01-01T00:00:00Z").await;
        want.push(if i == 0 { "web-1" } else { "web-2" });
        until_pods(&c, &want).await;
    }
    mark_ready(&c, "web-2", "2026-01-01T00:00:00Z").await;
    let out = k
        .run(&["rollout", "status", "statefulset/web", "--timeout=30s"])
        .await;
    // With a `rollingUpdate` (the default sets partition 0), kubectl
    // reports the partitioned form, as against Kubernetes.
    assert_eq!(
        out.lines().last().unwrap(),
        "partitioned roll out complete: 3 new pods have been updated..."
    );
    let sts = c.get(&format!("{SETS}/web")).await.unwrap();
    let revision = sts["status"]["updateRevision"].as_str().unwrap();
    for field in [
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
        "availableReplicas",
    ] {
        assert_eq!(sts["status"][field], 3, "{field}: {}", sts["status"]);
    }
    assert_eq!(sts["status"]["currentRevision"], revision);
    assert_eq!(
        sts["status"]["observedGeneration"],
        sts["metadata"]["generation"]
    );

    // Each pod: its own name as host name, the Service as subdomain (so
    // the cluster DNS answers web-1.web.default.svc.cluster.local), and
    // the identity labels.
    let pods = c.list(PODS).await;
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert_eq!(pod["spec"]["hostname"], name);
        assert_eq!(pod["spec"]["subdomain"], "web");
        assert_eq!(label(pod, "statefulset.kubernetes.io/pod-name"), name);
        assert_eq!(label(pod, "apps.kubernetes.io/pod-index"), &name[4..]);
        assert_eq!(label(pod, "controller-revision-hash"), revision);
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    }
    let got = k.run(&["get", "statefulsets"]).await;
    let mut lines = got.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "READY", "AGE"]
    );
    assert!(lines.next().unwrap().starts_with("web    3/3"), "{got}");
    let revisions = k.run(&["get", "controllerrevisions"]).await;
    assert!(
        revisions.contains(&format!("{revision}   statefulset.apps/web   1 ")),
        "{revisions}"
    );
    let described = k.run(&["describe", "statefulset", "web"]).await;
    assert!(
        described.contains("create Pod web-2 in StatefulSet web successful"),
        "{described}"
    );

    // Deleting the set takes its pods and revisions with it.
    k.run(&["delete", "statefulset", "web"]).await;
    until_pods(&c, &[]).await;
    c.until(REVISIONS, "empty", |l| {
        l.is_some_and(|l| l["items"].as_array().is_some_and(Vec::is_empty))
    })
    .await;
}

#[tokio::test]
async fn parallel_makes_every_pod_at_once_and_kubectl_scale_removes_from_the_top() {
    let c = Cluster::start().await;
    let k = Kubectl::new(&c);
    let (ok, out) = k
        .apply(&manifest("db", 3, "  podManagementPolicy: Parallel\n"))
        .await;
    assert!(ok, "{out}");
    // None is ready, and all three exist.
    until_pods(&c, &["db-0", "db-1", "db-2"]).await;

    // OrderedReady scale-down: one at a time, highest ordinal first.
    let c2 = Cluster::start().await;
    let _node = common::stand_in_node::ready_every_pod(c2.http.clone(), c2.url(""));
    let k2 = Kubectl::new(&c2);
    let (ok, out) = k2.apply(&manifest("web", 4, "")).await;
    assert!(ok, "{out}");
    k2.run(&["rollout", "status", "sts/web", "--timeout=30s"])
        .await;
    let log = PodLog::start(&c2).await;
    let out = k2.run(&["scale", "sts", "web", "--replicas=1"]).await;
    assert_eq!(out.trim(), "statefulset.apps/web scaled");
    until_pods(&c2, &["web-0"]).await;
    assert_eq!(log.of("DELETED"), ["web-3", "web-2", "web-1"]);
    let scale = c2.get(&format!("{SETS}/web/scale")).await.unwrap();
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], "app=web");
}

#[tokio::test]
async fn a_partitioned_rolling_update_then_history_and_undo() {
    let c = Cluster::start().await;
    let _node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    let k = Kubectl::new(&c);
    k.apply(&manifest("web", 3, "")).await;
    k.run(&["rollout", "status", "sts/web", "--timeout=30s"])
        .await;
    let first = c.get(&format!("{SETS}/web")).await.unwrap()["status"]["currentRevision"]
        .as_str()
        .unwrap()
        .to_string();

    // Partition 2: only web-2 gets the new template.
    let partition = json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}}});
    assert_eq!(c.merge_patch(&format!("{SETS}/web"), &partition).await, 200);
    k.run(&["set", "image", "sts/web", "busybox=busybox:1.37"])
        .await;
    let out = k
        .run(&["rollout", "status", "sts/web", "--timeout=30s"])
        .await;
    assert_eq!(
        out.lines().last().unwrap(),
        "partitioned roll out complete: 1 new pods have been updated..."
    );
    let pods = c.list(PODS).await;
    let images: Vec<&str> = pods.iter().map(image).collect();
    assert_eq!(images, ["busybox:1.36", "busybox:1.36", "busybox:1.37"]);
    let sts = c.get(&format!("{SETS}/web")).await.unwrap();
    assert_eq!(sts["status"]["currentRevision"], first.as_str());
    assert_eq!(
        (
            &sts["status"]["updatedReplicas"],
            &sts["status"]["currentReplicas"]
        ),
        (&json!(1), &json!(2))
    );

    // Partition 0: the rest, from the top down, one at a time.
    let log = PodLog::start(&c).await;
    let partition = json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}});
    assert_eq!(c.merge_patch(&format!("{SETS}/web"), &partition).await, 200);
    let out = k
        .run(&["rollout", "status", "sts/web", "--timeout=30s"])
        .await;
    assert_eq!(
        out.lines().last().unwrap(),
        "partitioned roll out complete: 3 new pods have been updated..."
    );
    assert_eq!(log.of("DELETED"), ["web-1", "web-0"]);
    assert!(
        c.list(PODS)
            .await
            .iter()
            .all(|p| image(p) == "busybox:1.37")
    );
    let history = k.run(&["rollout", "history", "sts/web"]).await;
    insta::assert_snapshot!("sts_rollout_history", history);

    // Undo: the first template back, recorded as revision 3.
    let out = k.run(&["rollout", "undo", "sts/web"]).await;
    assert_eq!(out.trim(), "statefulset.apps/web rolled back");
    k.run(&["rollout", "status", "sts/web", "--timeout=30s"])
        .await;
    c.until(PODS, "all back on busybox:1.36", |l| {
        l.and_then(|l| l["items"].as_array())
            .is_some_and(|p| p.len() == 3 && p.iter().all(|p| image(p) == "busybox:1.36"))
    })
    .await;
    let sts = c.get(&format!("{SETS}/web")).await.unwrap();
    assert_eq!(sts["status"]["currentRevision"], first.as_str());
    let history = k.run(&["rollout", "history", "sts/web"]).await;
    insta::assert_snapshot!("sts_rollout_history_after_undo", history);
    let revisions = c.list(REVISIONS).await;
    assert_eq!(
        revisions.len(),
        2,
        "the first revision is reused, not copied"
    );
    let reused = revisions
        .iter()
        .find(|r| r["metadata"]["name"] == first.as_str())
        .unwrap();
    assert_eq!(reused["revision"], 3);
}

#[tokio::test]
async fn on_delete_replaces_only_the_pods_someone_deletes() {
    let c = Cluster::start().await;
    let _node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    let k = Kubectl::new(&c);
    k.apply(&manifest("web", 2, "  updateStrategy: {type: OnDelete}\n"))
        .await;
    until_pods(&c, &["web-0", "web-1"]).await;
    c.until(&format!("{SETS}/web"), "ready", |s| {
        s.is_some_and(|s| s["status"]["readyReplicas"] == 2)
    })
    .await;
    k.run(&["set", "image", "sts/web", "busybox=busybox:1.37"])
        .await;
    let sts = c
        .until(&format!("{SETS}/web"), "observed", |s| {
            s.is_some_and(|s| s["status"]["observedGeneration"] == 2)
        })
        .await
        .unwrap();
    assert_ne!(
        sts["status"]["updateRevision"],
        sts["status"]["currentRevision"]
    );
    assert_eq!(sts["status"]["updatedReplicas"], 0);
    let (ok, out) = k.try_run(&["rollout", "status", "sts/web"]).await;
    assert!(
        !ok && out.contains("only available for RollingUpdate strategy type"),
        "{out}"
    );
    assert!(
        c.list(PODS)
            .await
            .iter()
            .all(|p| image(p) == "busybox:1.36")
    );

    k.run(&["delete", "pod", "web-1"]).await;
    c.until(&format!("{PODS}/web-1"), "made again", |p| {
        p.is_some_and(|p| image(p) == "busybox:1.37")
    })
    .await;
    assert_eq!(
        image(&c.get(&format!("{PODS}/web-0")).await.unwrap()),
        "busybox:1.36"
    );
}

#[tokio::test]
async fn min_ready_seconds_holds_the_next_pod_until_the_clock_passes_it() {
    let clock = ManualClock::new();
    let c = Cluster::start_with_clock(clock.clone()).await;
    let k = Kubectl::new(&c);
    k.apply(&manifest("web", 2, "  minReadySeconds: 30\n"))
        .await;
    until_pods(&c, &["web-0"]).await;
    let now = clock.now().to_string();
    mark_ready(&c, "web-0", &now).await;
    let sts = c
        .until(&format!("{SETS}/web"), "ready", |s| {
            s.is_some_and(|s| s["status"]["readyReplicas"] == 1)
        })
        .await
        .unwrap();
    assert_eq!(sts["status"]["availableReplicas"], 0);
    assert_eq!(
        names(&c.list(PODS).await),
        ["web-0"],
        "web-1 waits for web-0 to be available"
    );
    clock.advance(Duration::from_secs(31));
    until_pods(&c, &["web-0", "web-1"]).await;
    c.until(&format!("{SETS}/web"), "web-0 available", |s| {
        s.is_some_and(|s| s["status"]["availableReplicas"] == 1)
    })
    .await;
}

const CLAIMS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";

/// A claim template `data` asking for 1Gi, and the retention policy.
fn claim_template(when_deleted: &str, when_scaled: &str) -> String {
    format!(
        "  persistentVolumeClaimRetentionPolicy: {{whenDeleted: {when_deleted}, whenScaled: {when_scaled}}}
  volumeClaimTemplates:
  - metadata:
      name: data
      labels: {{tier: storage}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"
    )
}

/// The names and uids of the claims, by name.
async fn claims(c: &Cluster) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = c
        .list(CLAIMS)
        .await
        .iter()
        .map(|c| {
            let meta = &c["metadata"];
            let text = |k: &str| meta[k].as_str().unwrap_or("").to_string();
            (text("name"), text("uid"))
        })
        .collect();
    out.sort();
    out
}

async fn until_claims(c: &Cluster, want: &[&str]) -> Vec<(String, String)> {
    c.until(CLAIMS, &format!("claims {want:?}"), |l| {
        let mut got: Vec<&str> = l
            .and_then(|l| l["items"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|c| c["metadata"]["name"].as_str())
            .collect();
        got.sort();
        got == want
    })
    .await;
    claims(c).await
}

fn owner_uids(obj: &Value) -> Vec<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
        .collect()
}

#[tokio::test]
async fn each_pod_gets_its_claims_which_outlive_it_and_come_back_with_its_name() {
    let c = Cluster::start().await;
    let _node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    let k = Kubectl::new(&c);
    // A template the claims could not be made from is refused up front.
    let no_modes = "  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {resources: {requests: {storage: 1Gi}}}
";
    let (ok, out) = k.apply(&manifest("web", 1, no_modes)).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("spec.volumeClaimTemplates[0].spec.accessModes: Required value"),
        "{out}"
    );

    let (ok, out) = k
        .apply(&manifest("web", 2, &claim_template("Retain", "Retain")))
        .await;
    assert!(ok, "{out}");
    k.run(&["rollout", "status", "sts/web", "--timeout=30s"])
        .await;
    let made = until_claims(&c, &["data-web-0", "data-web-1"]).await;
    for (i, (name, _)) in made.iter().enumerate() {
        let claim = c.get(&format!("{CLAIMS}/{name}")).await.unwrap();
        assert_eq!(label(&claim, "app"), "web", "the selector's labels");
        assert_eq!(label(&claim, "tier"), "storage", "the template's labels");
        assert!(owner_uids(&claim).is_empty(), "Retain: no owner: {claim}");
        // The default class was filled in by the API server.
        assert_eq!(claim["spec"]["storageClassName"], "local-path");
        let pod = c.get(&format!("{PODS}/web-{i}")).await.unwrap();
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        assert!(
            volumes
                .contains(&json!({"name": "data", "persistentVolumeClaim": {"claimName": name}})),
            "{volumes:?}"
        );
    }
    let described = k.run(&["describe", "statefulset", "web"]).await;
    assert!(
        described.contains("create Claim data-web-1 Pod web-1 in StatefulSet web success"),
        "{described}"
    );

    // A deleted pod comes back on the same claim.
    let old = c.get(&format!("{PODS}/web-0")).await.unwrap();
    k.run(&["delete", "pod", "web-0"]).await;
    c.until(&format!("{PODS}/web-0"), "made again", |p| {
        p.is_some_and(|p| p["metadata"]["uid"] != old["metadata"]["uid"])
    })
    .await;
    assert_eq!(claims(&c).await, made);

    // Scaled to none and back: the same claims, kept and reused.
    k.run(&["scale", "sts", "web", "--replicas=0"]).await;
    until_pods(&c, &[]).await;
    assert_eq!(claims(&c).await, made, "claims outlive a scale-down");
    k.run(&["scale", "sts", "web", "--replicas=2"]).await;
    until_pods(&c, &["web-0", "web-1"]).await;
    assert_eq!(claims(&c).await, made, "and are reused on scale-up");

    // Deleting the set (whenDeleted: Retain) keeps them too.
    k.run(&["delete", "statefulset", "web"]).await;
    until_pods(&c, &[]).await;
    assert_eq!(claims(&c).await, made);
}

#[tokio::test]
async fn delete_policies_make_the_set_or_the_scaled_away_pod_the_claims_owner() {
    let c = Cluster::start().await;
    let _node = common::stand_in_node::ready_every_pod(c.http.clone(), c.url(""));
    let k = Kubectl::new(&c);
    let extra = format!(
        "  podManagementPolicy: Parallel\n{}",
        claim_template("Delete", "Delete")
    );
    let (ok, out) = k.apply(&manifest("db", 3, &extra)).await;
    assert!(ok, "{out}");
    k.run(&["rollout", "status", "sts/db", "--timeout=30s"])
        .await;
    until_claims(&c, &["data-db-0", "data-db-1", "data-db-2"]).await;
    let sts = c.get(&format!("{SETS}/db")).await.unwrap();
    let set_uid = sts["metadata"]["uid"].as_str().unwrap();
    for i in 0..3 {
        let claim = c.get(&format!("{CLAIMS}/data-db-{i}")).await.unwrap();
        assert_eq!(owner_uids(&claim), [set_uid], "{claim}");
        assert_eq!(claim["metadata"]["ownerReferences"][0]["controller"], true);
    }

    // whenScaled: Delete: the pods scaled away take their claims along;
    // the claim of the pod that stays keeps the set as its owner.
    k.run(&["scale", "sts", "db", "--replicas=1"]).await;
    until_pods(&c, &["db-0"]).await;
    until_claims(&c, &["data-db-0"]).await;
    let kept = c.get(&format!("{CLAIMS}/data-db-0")).await.unwrap();
    assert_eq!(owner_uids(&kept), [set_uid]);

    // whenDeleted: Delete: the set's deletion takes the last one.
    k.run(&["delete", "statefulset", "db"]).await;
    until_pods(&c, &[]).await;
    until_claims(&c, &[]).await;

    // Retain on deletion, Delete on scaling: no owner while wanted.
    let extra = format!(
        "  podManagementPolicy: Parallel\n{}",
        claim_template("Retain", "Delete")
    );
    k.apply(&manifest("db", 2, &extra)).await;
    until_claims(&c, &["data-db-0", "data-db-1"]).await;
    k.run(&["rollout", "status", "sts/db", "--timeout=30s"])
        .await;
    for i in 0..2 {
        let claim = c.get(&format!("{CLAIMS}/data-db-{i}")).await.unwrap();
        assert!(owner_uids(&claim).is_empty(), "{claim}");
    }
    k.run(&["scale", "sts", "db", "--replicas=1"]).await;
    until_claims(&c, &["data-db-0"]).await;
    k.run(&["delete", "statefulset", "db"]).await;
    until_pods(&c, &[]).await;
    assert_eq!(
        claims(&c).await.len(),
        1,
        "whenDeleted: Retain keeps data-db-0"
    );
}

#[tokio::test]
async fn only_the_mutable_spec_fields_change() {
    let c = Cluster::start().await;
    let k = Kubectl::new(&c);
    k.apply(&manifest("db", 1, "")).await;
    let patch = json!({"spec": {"serviceName": "other"}});
    assert_eq!(c.merge_patch(&format!("{SETS}/db"), &patch).await, 422);
}
