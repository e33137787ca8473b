//! A StatefulSet's storage end to end, on a real node: `web` with a claim
//! template on the default `local-path` class. The scheduler places
//! `web-0` and selects the node for its claim, the provisioner makes a
//! directory volume there, the agent mounts it; `web-0` writes a file,
//! the test deletes the pod, and the replacement `web-0` reads the same
//! file. Scaled to 0 and back, the claim (and the file) stays. Deleted
//! with `whenDeleted: Delete`, the set takes its claim, the claim its
//! volume (reclaim `Delete`), and the agent the directory.
//!
//! A real etcd, API server, controller manager and scheduler (in this
//! process), `orc agent` and the installed kubectl. Root only; the pod
//! network lives in a throwaway namespace (chapter 02's test node), and
//! everything is removed at the end.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cluster::{ApiServer, kubectl, one_node, running};
use serde_json::Value;

const NODE: &str = "node-sts";
const LONG: Duration = Duration::from_secs(120);
const NS: &str = "/api/v1/namespaces/default";

/// The set: one busybox pod whose `data` volume is its own claim, which
/// the set's deletion deletes (and a scale-down keeps).
const WEB: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 1
  selector: {matchLabels: {app: web}}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 64Mi}}
";

/// Tasks of this process (controllers, scheduler) aborted when dropped.
struct Aborting(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Aborting {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Waits until pod `web-0` other than `not` (a uid) runs; answers it.
async fn until_web_0_runs(api: &ApiServer, not: &str) -> Value {
    api.wait_for(&format!("{NS}/pods/web-0"), LONG, |p| {
        running(p) && p["metadata"]["uid"] != not
    })
    .await
}

/// What `cat /data/greeting` prints in `web-0`.
async fn greeting(config: &Path) -> String {
    kubectl(config, &["exec", "web-0", "--", "cat", "/data/greeting"]).await
}

fn uid(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or("")
}

/// Polls until `path` no longer exists on the node.
async fn until_removed(path: &Path) {
    let deadline = Instant::now() + LONG;
    while path.exists() {
        assert!(Instant::now() < deadline, "{} still exists", path.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_follows_web_0_through_deletion_and_scaling_then_goes_with_the_set() {
    let (node, api, _agent, config) = one_node(NODE).await;
    let scheduler = orc_scheduler::Config::new(&api.url);
    let controllers = orc_controllers::Config::new(&api.url);
    let _components = Aborting(vec![
        tokio::spawn(orc_controllers::run(controllers)),
        tokio::spawn(async move {
            let _ = orc_scheduler::run(scheduler).await;
        }),
    ]);
    // The default class exists once the controller manager has made it.
    api.wait_for(
        "/apis/storage.k8s.io/v1/storageclasses/local-path",
        LONG,
        |_| true,
    )
    .await;
    let manifest = node.dir.path().join("web.yaml");
    std::fs::write(&manifest, WEB).unwrap();
    kubectl(&config, &["apply", "-f", manifest.to_str().unwrap()]).await;

    // web-0 runs on its claim, bound to a volume on this node.
    let first = until_web_0_runs(&api, "").await;
    let claim = api
        .wait_for(
            &format!("{NS}/persistentvolumeclaims/data-web-0"),
            LONG,
            |c| c["status"]["phase"] == "Bound",
        )
        .await;
    let volume_name = claim["spec"]["volumeName"].as_str().unwrap();
    let volume = api
        .get(&format!("/api/v1/persistentvolumes/{volume_name}"))
        .await
        .unwrap();
    let dir = PathBuf::from(volume["spec"]["local"]["path"].as_str().unwrap());
    assert!(
        dir.starts_with(node.dir.path()),
        "the volume lives in the node's state directory: {}",
        dir.display()
    );

    // Written by web-0, read by its replacement.
    kubectl(
        &config,
        &[
            "exec",
            "web-0",
            "--",
            "sh",
            "-c",
            "echo kept > /data/greeting",
        ],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(dir.join("greeting")).unwrap(),
        "kept\n",
        "the file is in the volume's directory on the node"
    );
    // kubectl waits for this web-0 (by uid) to be gone; the set has made
    // the next one of the same name by then, or soon.
    kubectl(&config, &["delete", "pod", "web-0", "--timeout=120s"]).await;
    let second = until_web_0_runs(&api, uid(&first)).await;
    assert_eq!(greeting(&config).await, "kept\n");

    // Scaled to none and back: the same claim, the same file.
    kubectl(&config, &["scale", "sts", "web", "--replicas=0"]).await;
    let pod = format!("{NS}/pods/web-0");
    let deadline = Instant::now() + LONG;
    while api.get(&pod).await.is_some() {
        assert!(Instant::now() < deadline, "web-0 not scaled away");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept = api
        .get(&format!("{NS}/persistentvolumeclaims/data-web-0"))
        .await
        .expect("whenScaled: Retain keeps the claim");
    assert_eq!(uid(&kept), uid(&claim));
    kubectl(&config, &["scale", "sts", "web", "--replicas=1"]).await;
    until_web_0_runs(&api, uid(&second)).await;
    assert_eq!(greeting(&config).await, "kept\n");

    // Deleting the set deletes the claim (its owner is the set), the
    // volume (reclaim Delete), and the agent removes the directory.
    kubectl(
        &config,
        &[
            "delete",
            "sts",
            "web",
            "--cascade=foreground",
            "--timeout=120s",
        ],
    )
    .await;
    let claim_path = format!("{NS}/persistentvolumeclaims/data-web-0");
    let volume_path = format!("/api/v1/persistentvolumes/{volume_name}");
    let deadline = Instant::now() + LONG;
    while api.get(&claim_path).await.is_some() || api.get(&volume_path).await.is_some() {
        assert!(Instant::now() < deadline, "the claim or its volume stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until_removed(&dir).await;
}
