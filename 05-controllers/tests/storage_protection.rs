//! Storage object in use protection against a real API server and every
//! controller: a claim deleted while a pod uses it stays `Terminating`
//! until the pod goes; a volume deleted while bound stays until its
//! claim goes.

mod common;

use common::{Cluster, Kubectl};
use serde_json::{Value, json};

const PVS: &str = "/api/v1/persistentvolumes";
const CLAIMS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn claim(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
            "resources": {"requests": {"storage": "1Gi"}}}})
}

fn volume(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual",
            "hostPath": {"path": format!("/srv/{name}")}}})
}

/// A pod placed on node `n1` (no scheduler needed) that mounts `claim`.
fn pod_using(name: &str, claim: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": "n1",
            "containers": [{"name": "app", "image": "busybox",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}})
}

fn finalizers(obj: &Value) -> Vec<&str> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn deleting(obj: Option<&Value>) -> bool {
    obj.is_some_and(|o| !o["metadata"]["deletionTimestamp"].is_null())
}

#[tokio::test]
async fn a_claim_in_use_stays_terminating_until_its_pod_goes() {
    let c = Cluster::start().await;
    let k = Kubectl::new(&c);
    let used = c.create(CLAIMS, &claim("used")).await;
    assert_eq!(
        finalizers(&used),
        ["kubernetes.io/pvc-protection"],
        "{used}"
    );
    c.create(CLAIMS, &claim("idle")).await;
    c.create(PODS, &pod_using("app", "used")).await;

    // The claim in use is deleted first, the idle one after: the
    // controller's one worker takes keys in order, so once `idle` is gone
    // `used` has been judged too, and kept.
    k.run(&["delete", "pvc", "used", "--wait=false"]).await;
    c.until(&format!("{CLAIMS}/used"), "marked deleted", deleting)
        .await;
    k.run(&["delete", "pvc", "idle", "--wait=false"]).await;
    c.until_gone(&format!("{CLAIMS}/idle")).await;
    let kept = c.get(&format!("{CLAIMS}/used")).await;
    assert!(deleting(kept.as_ref()), "{kept:?}");
    let table = k.run(&["get", "pvc", "used"]).await;
    assert!(table.contains("Terminating"), "{table}");

    // The pod goes (no agent here to end it gracefully): so does the claim.
    let now = json!({"gracePeriodSeconds": 0});
    assert_eq!(c.delete(&format!("{PODS}/app"), now).await, 200);
    c.until_gone(&format!("{CLAIMS}/used")).await;
}

#[tokio::test]
async fn a_bound_volume_stays_terminating_until_its_claim_goes() {
    let c = Cluster::start().await;
    let pv = c.create(PVS, &volume("disk")).await;
    assert_eq!(finalizers(&pv), ["kubernetes.io/pv-protection"], "{pv}");
    c.create(CLAIMS, &claim("data")).await;
    let phase = |o: Option<&Value>| o.map_or(String::new(), |o| o["status"]["phase"].to_string());
    c.until(&format!("{PVS}/disk"), "Bound", |v| phase(v) == "\"Bound\"")
        .await;

    assert_eq!(c.delete(&format!("{PVS}/disk"), json!({})).await, 200);
    c.until(&format!("{PVS}/disk"), "marked deleted", deleting)
        .await;
    // The claim is unused: it goes, the binder releases the volume
    // (Retain), and only then may the volume go. Seeing it Released
    // before gone shows the order.
    assert_eq!(c.delete(&format!("{CLAIMS}/data"), json!({})).await, 200);
    c.until_gone(&format!("{CLAIMS}/data")).await;
    c.until_gone(&format!("{PVS}/disk")).await;
}
