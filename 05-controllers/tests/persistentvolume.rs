//! The PersistentVolume controller against a real API server: static
//! binding by class, modes and size; reclaim by policy when the claim
//! goes; the default `local-path` class and a volume provisioned on the
//! node the scheduler chose.

mod common;

use common::{Cluster, Kubectl};
use serde_json::{Value, json};

const PVS: &str = "/api/v1/persistentvolumes";
const CLAIMS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";

fn volume(name: &str, size: &str, policy: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": policy, "storageClassName": "manual",
            "hostPath": {"path": format!("/srv/{name}")}}})
}

fn claim(name: &str, size: &str, class: Option<&str>) -> Value {
    let mut c = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}});
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    c
}

fn phase(obj: Option<&Value>) -> &str {
    obj.and_then(|o| o.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[tokio::test]
async fn a_claim_binds_the_smallest_fitting_volume_and_reclaim_follows_policy() {
    let c = Cluster::start().await;
    c.create(PVS, &volume("big", "10Gi", "Retain")).await;
    c.create(PVS, &volume("right", "2Gi", "Retain")).await;
    c.create(PVS, &volume("deleted-with-claim", "1Gi", "Delete"))
        .await;
    for name in ["big", "right", "deleted-with-claim"] {
        c.until(&format!("{PVS}/{name}"), "Available", |v| {
            phase(v) == "Available"
        })
        .await;
    }
    c.create(CLAIMS, &claim("data", "1500Mi", Some("manual")))
        .await;
    let bound = c
        .until(&format!("{CLAIMS}/data"), "Bound", |v| phase(v) == "Bound")
        .await
        .unwrap();
    assert_eq!(bound["spec"]["volumeName"], "right", "{bound}");
    assert_eq!(bound["status"]["capacity"]["storage"], "2Gi");
    let pv = c
        .until(&format!("{PVS}/right"), "Bound", |v| phase(v) == "Bound")
        .await
        .unwrap();
    assert_eq!(pv["spec"]["claimRef"]["name"], "data");
    assert_eq!(pv["spec"]["claimRef"]["uid"], bound["metadata"]["uid"]);

    // kubectl shows both halves of the pair.
    let kubectl = Kubectl::new(&c);
    let pvs = kubectl.run(&["get", "pv", "right"]).await;
    assert!(
        pvs.contains("default/data") && pvs.contains("Bound"),
        "{pvs}"
    );

    // Retain: the claim goes, the volume stays, Released.
    assert_eq!(c.delete(&format!("{CLAIMS}/data"), json!({})).await, 200);
    c.until(&format!("{PVS}/right"), "Released", |v| {
        phase(v) == "Released"
    })
    .await;

    // Delete: the volume goes with its claim.
    c.create(CLAIMS, &claim("scratch", "1Gi", Some("manual")))
        .await;
    let scratch = c
        .until(&format!("{CLAIMS}/scratch"), "Bound", |v| {
            phase(v) == "Bound"
        })
        .await
        .unwrap();
    assert_eq!(scratch["spec"]["volumeName"], "deleted-with-claim");
    assert_eq!(c.delete(&format!("{CLAIMS}/scratch"), json!({})).await, 200);
    c.until_gone(&format!("{PVS}/deleted-with-claim")).await;
    assert!(
        c.get(&format!("{PVS}/big")).await.is_some(),
        "an unclaimed volume stays"
    );
}

/// A claim that found nothing binds when a fitting volume appears later:
/// the volume's turning Available is what the claim waits for, and
/// nothing else (no resync) would wake it.
#[tokio::test]
async fn a_waiting_claim_binds_the_volume_created_after_it() {
    let c = Cluster::start().await;
    c.create(CLAIMS, &claim("early", "1Gi", Some("manual")))
        .await;
    // The controller has looked at the claim and found nothing to bind
    // (no volume, and no class "manual" to provision one: its event says
    // so, as Kubernetes' does).
    c.until(
        "/api/v1/namespaces/default/events",
        "an event for the claim",
        |list| {
            list.and_then(|l| l["items"].as_array())
                .is_some_and(|items| items.iter().any(|e| e["involvedObject"]["name"] == "early"))
        },
    )
    .await;
    c.create(PVS, &volume("late", "1Gi", "Retain")).await;
    let bound = c
        .until(&format!("{CLAIMS}/early"), "Bound", |v| phase(v) == "Bound")
        .await
        .unwrap();
    assert_eq!(bound["spec"]["volumeName"], "late", "{bound}");
}

#[tokio::test]
async fn local_path_claims_wait_for_their_node_then_get_a_volume_there() {
    let c = Cluster::start().await;
    // The default class exists, and a claim without a class is given it.
    let class = c
        .until(
            "/apis/storage.k8s.io/v1/storageclasses/local-path",
            "created",
            |v| v.is_some(),
        )
        .await
        .unwrap();
    assert_eq!(class["volumeBindingMode"], "WaitForFirstConsumer");
    c.create(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-2", "annotations": {"orc.dev/state-dir": "/var/lib/orc-test"}}}),
    )
    .await;
    let created = c.create(CLAIMS, &claim("web-data", "1Gi", None)).await;
    assert_eq!(created["spec"]["storageClassName"], "local-path");

    // No pod placed yet: the claim waits, and says so.
    let events = "/api/v1/namespaces/default/events";
    let waiting = |list: &[Value]| {
        list.iter().any(|e| {
            e["reason"] == "WaitForFirstConsumer" && e["involvedObject"]["name"] == "web-data"
        })
    };
    for _ in 0..300 {
        if waiting(&c.list(events).await) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        waiting(&c.list(events).await),
        "a WaitForFirstConsumer event"
    );
    assert_eq!(
        phase(c.get(&format!("{CLAIMS}/web-data")).await.as_ref()),
        "Pending"
    );

    // The scheduler placed the claim's pod on node-2.
    let patch =
        json!({"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "node-2"}}});
    assert_eq!(
        c.merge_patch(&format!("{CLAIMS}/web-data"), &patch).await,
        200
    );
    let bound = c
        .until(&format!("{CLAIMS}/web-data"), "Bound", |v| {
            phase(v) == "Bound"
        })
        .await
        .unwrap();
    let pv_path = format!("{PVS}/{}", bound["spec"]["volumeName"].as_str().unwrap());
    let pv = c.get(&pv_path).await.unwrap();
    let uid = bound["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        pv["spec"]["local"]["path"],
        format!("/var/lib/orc-test/local-path/pvc-{uid}_default_web-data")
    );
    assert_eq!(
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
        json!(["node-2"])
    );
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");

    // The claim goes: the volume is deleted, held by the node's cleanup
    // finalizer until that node's agent has removed the directory.
    assert_eq!(
        c.delete(&format!("{CLAIMS}/web-data"), json!({})).await,
        200
    );
    let held = c
        .until(&pv_path, "being deleted", |v| {
            v.is_some_and(|v| v.pointer("/metadata/deletionTimestamp").is_some())
        })
        .await
        .unwrap();
    // (Beside `kubernetes.io/pv-protection` while it is still Bound.)
    let finalizers = held["metadata"]["finalizers"].as_array().unwrap();
    assert!(
        finalizers.contains(&json!("orc.dev/local-path-cleanup")),
        "{held}"
    );
}
