//! The garbage collector against a real etcd and a real API server: owners
//! and dependents are ConfigMaps (any kind works the same), deleted with
//! each propagation policy through HTTP, as kubectl sends them, and through
//! the installed kubectl itself.

mod common;

use common::Cluster;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str) -> String {
    format!("{CMS}/{name}")
}

/// Creates ConfigMap `name` with `finalizers`, owned by `owners` (each with
/// its blockOwnerDeletion flag).
async fn configmap(
    c: &Cluster,
    name: &str,
    owners: &[(&Owned, bool)],
    finalizers: &[&str],
) -> Owned {
    let refs: Vec<Value> = owners
        .iter()
        .map(|(owner, block)| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner.name,
                "uid": owner.uid, "blockOwnerDeletion": block})
        })
        .collect();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": refs, "finalizers": finalizers}});
    let created = c.create(CMS, &body).await;
    Owned {
        name: name.to_string(),
        uid: created["metadata"]["uid"].as_str().unwrap().to_string(),
    }
}

/// An object as an owner reference names it.
struct Owned {
    name: String,
    uid: String,
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}

fn references(obj: &Value) -> usize {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn background_deletion_collects_dependents_after_their_owner() {
    let c = Cluster::start().await;
    let owner = configmap(&c, "owner", &[], &[]).await;
    let child = configmap(&c, "child", &[(&owner, true)], &[]).await;
    configmap(&c, "grandchild", &[(&child, false)], &[]).await;
    // kubectl's default: propagationPolicy Background. The owner goes at once.
    assert_eq!(
        c.delete(&cm("owner"), json!({"propagationPolicy": "Background"}))
            .await,
        200
    );
    assert!(
        c.get(&cm("owner")).await.is_none(),
        "no finalizer holds the owner"
    );
    c.until_gone(&cm("child")).await;
    c.until_gone(&cm("grandchild")).await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let c = Cluster::start().await;
    let owner = configmap(&c, "owner", &[], &[]).await;
    // A dependent that something else holds (its own finalizer), and one
    // that does not block its owner.
    configmap(&c, "held", &[(&owner, true)], &["example.com/hold"]).await;
    configmap(&c, "loose", &[(&owner, false)], &[]).await;
    assert_eq!(
        c.delete(&cm("owner"), json!({"propagationPolicy": "Foreground"}))
            .await,
        200
    );
    // The collector deletes the dependents; the held one is only marked.
    c.until(&cm("held"), "marked", |o| {
        o.is_some_and(|o| o["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
    let marked = c
        .get(&cm("owner"))
        .await
        .expect("the owner waits for `held`");
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(finalizers(&marked), ["foregroundDeletion"]);
    // Let `held` go: the owner follows.
    let release = json!({"metadata": {"finalizers": null}});
    assert_eq!(c.merge_patch(&cm("held"), &release).await, 200);
    c.until_gone(&cm("held")).await;
    c.until_gone(&cm("owner")).await;
    c.until_gone(&cm("loose")).await;
}

#[tokio::test]
async fn orphaning_keeps_dependents_without_their_reference() {
    let c = Cluster::start().await;
    let owner = configmap(&c, "owner", &[], &[]).await;
    let other = configmap(&c, "other-owner", &[], &[]).await;
    configmap(&c, "a", &[(&owner, true)], &[]).await;
    configmap(&c, "b", &[(&owner, true), (&other, false)], &[]).await;
    assert_eq!(
        c.delete(&cm("owner"), json!({"propagationPolicy": "Orphan"}))
            .await,
        200
    );
    c.until_gone(&cm("owner")).await;
    let a = c.get(&cm("a")).await.expect("an orphan lives on");
    assert_eq!(references(&a), 0);
    let b = c.get(&cm("b")).await.expect("an orphan lives on");
    assert_eq!(
        b["metadata"]["ownerReferences"][0]["uid"],
        other.uid.as_str()
    );
    assert_eq!(references(&b), 1, "only the deleted owner's reference goes");
}

#[tokio::test]
async fn a_reference_to_an_older_incarnation_or_a_missing_owner_dangles() {
    let c = Cluster::start().await;
    let first = configmap(&c, "owner", &[], &[]).await;
    assert_eq!(c.delete(&cm("owner"), json!({})).await, 200);
    let second = configmap(&c, "owner", &[], &[]).await;
    assert_ne!(first.uid, second.uid);
    // Same name, old uid: not this owner's dependent.
    configmap(&c, "of-the-old-one", &[(&first, false)], &[]).await;
    // One solid owner keeps it; the dangling reference is dropped.
    configmap(&c, "shared", &[(&second, false), (&first, false)], &[]).await;
    // A kind orc does not serve can never be looked up: never collected.
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unknown-owner",
        "ownerReferences": [{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "w-1"}]}});
    c.create(CMS, &body).await;
    c.until_gone(&cm("of-the-old-one")).await;
    c.until(&cm("shared"), "down to one reference", |o| {
        o.is_some_and(|o| references(o) == 1)
    })
    .await;
    let shared = c.get(&cm("shared")).await.unwrap();
    assert_eq!(
        shared["metadata"]["ownerReferences"][0]["uid"],
        second.uid.as_str()
    );
    assert!(c.get(&cm("owner")).await.is_some());
    assert!(c.get(&cm("unknown-owner")).await.is_some());
}

/// Kubernetes' rule for an owner in the wrong place: a namespaced owner
/// lives in its dependent's namespace, so a dependent in `other` that
/// names (by uid) a ConfigMap of `default` has no owner there: it gets an
/// `OwnerRefInvalidNamespace` warning and is collected; a cluster-scoped
/// dependent naming it gets the warning too, and, its owner never
/// resolvable, is kept.
#[tokio::test]
async fn an_owner_in_another_namespace_is_reported_and_not_an_owner() {
    let c = Cluster::start().await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}});
    c.create("/api/v1/namespaces", &ns).await;
    let owner = configmap(&c, "owner", &[], &[]).await;
    let reference = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
        "uid": owner.uid}]);
    let stray = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "stray", "ownerReferences": reference}});
    let stray_path = "/api/v1/namespaces/other/configmaps/stray";
    let stray_uid = c
        .create("/api/v1/namespaces/other/configmaps", &stray)
        .await["metadata"]["uid"]
        .clone();
    let cluster_scoped = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "scoped", "ownerReferences": reference}});
    c.create("/api/v1/namespaces", &cluster_scoped).await;
    c.until_gone(stray_path).await;
    let message = |ns: &str| {
        format!(
            "ownerRef [v1/ConfigMap, namespace: {ns}, name: owner, uid: {}] \
             does not exist in namespace \"{ns}\"",
            owner.uid
        )
    };
    let warned = |events: &[Value], name: &str, ns: &str| {
        events.iter().any(|e| {
            e["reason"] == "OwnerRefInvalidNamespace"
                && e["type"] == "Warning"
                && e["involvedObject"]["name"] == name
                && e["message"] == message(ns)
                && e["source"]["component"] == "garbage-collector-controller"
        })
    };
    let events = c.list("/api/v1/namespaces/other/events").await;
    assert!(warned(&events, "stray", "other"), "{events:?}");
    let on_stray = events
        .iter()
        .find(|e| e["involvedObject"]["name"] == "stray")
        .unwrap();
    assert_eq!(on_stray["involvedObject"]["uid"], stray_uid);
    // The cluster-scoped dependent's warning (its events live in
    // `default`, as a Node's do); it stays.
    c.until("/api/v1/namespaces/default/events", "warned", |list| {
        let items = list.and_then(|l| l["items"].as_array());
        items.is_some_and(|items| warned(items, "scoped", ""))
    })
    .await;
    assert!(c.get("/api/v1/namespaces/scoped").await.is_some());
    assert!(
        c.get(&cm("owner")).await.is_some(),
        "the owner is untouched"
    );
}

#[tokio::test]
async fn kubectl_delete_cascades_as_asked() {
    let c = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = orc_testkit::kubectl::kubeconfig(dir.path(), c.addr, "any");
    let kubectl = |args: &[&str]| {
        let mut command = orc_testkit::kubectl::command(dir.path(), &config);
        command.args(args);
        tokio::task::spawn_blocking(move || orc_testkit::kubectl::output(command))
    };
    let owner = configmap(&c, "fg", &[], &[]).await;
    configmap(&c, "fg-child", &[(&owner, true)], &[]).await;
    let (ok, out) = kubectl(&["delete", "configmap", "fg", "--cascade=foreground"])
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "configmap \"fg\" deleted");
    // kubectl waited for the owner, and the owner waited for its child.
    assert!(c.get(&cm("fg")).await.is_none());
    assert!(c.get(&cm("fg-child")).await.is_none());

    let owner = configmap(&c, "keep", &[], &[]).await;
    configmap(&c, "keep-child", &[(&owner, true)], &[]).await;
    let (ok, out) = kubectl(&["delete", "configmap", "keep", "--cascade=orphan"])
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(c.get(&cm("keep")).await.is_none());
    let child = c
        .get(&cm("keep-child"))
        .await
        .expect("orphaned, not deleted");
    assert_eq!(references(&child), 0);

    let (ok, out) = kubectl(&["delete", "configmap", "keep-child", "--cascade=sideways"])
        .await
        .unwrap();
    assert!(!ok, "kubectl refuses an unknown cascade itself: {out}");
}

#[tokio::test]
async fn bad_delete_options_are_refused_and_nothing_changes() {
    let c = Cluster::start().await;
    configmap(&c, "owner", &[], &[]).await;
    let url = c.url(&cm("owner"));
    let sideways = json!({"propagationPolicy": "Sideways"});
    let (code, status) = c.send(c.http.delete(&url).json(&sideways)).await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["causes"][0]["field"], "propagationPolicy");
    let both = json!({"propagationPolicy": "Orphan", "orphanDependents": true});
    assert_eq!(c.send(c.http.delete(&url).json(&both)).await.0, 422);
    let owner = c.get(&cm("owner")).await.expect("nothing was deleted");
    assert!(owner["metadata"]["deletionTimestamp"].is_null());
}
