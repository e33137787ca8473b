//! An independent client: kube-rs, with the k8s-openapi types, against orc.
//!
//! kubectl is one client; kube-rs is written by other people from the same
//! API conventions, so what it expects (typed objects that round-trip,
//! `Status` errors it can decode, watch events, each patch content type)
//! checks orc from a second side. It speaks JSON, as it does by default.

mod common;

use common::TestServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::json;

/// A kube client for the test server, on plain HTTP.
fn client(s: &TestServer) -> Client {
    let config = Config::new(s.url("").parse().expect("the server's URL parses"));
    Client::try_from(config).expect("a kube client")
}

fn pod(name: &str, app: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }))
    .unwrap()
}

/// The code and reason of a kube error that came from the server.
fn api_error(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_pods_create_get_list_replace_delete() {
    let s = TestServer::start().await;
    let pods: Api<Pod> = Api::namespaced(client(&s), "default");
    let pp = PostParams::default();

    let created = pods.create(&pp, &pod("web", "web")).await.unwrap();
    assert!(
        created.metadata.uid.is_some(),
        "the server filled in the uid"
    );
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    pods.create(&pp, &pod("worker", "batch")).await.unwrap();
    let (code, reason) = api_error(pods.create(&pp, &pod("web", "web")).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let got = pods.get("web").await.unwrap();
    assert_eq!(
        got.spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some("busybox:1.36")
    );
    let web: Vec<String> = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    assert_eq!(web, ["web"]);

    // Replace with the resourceVersion read: accepted once; the second
    // replace carries a stale version and is a Conflict.
    let mut changed = got.clone();
    changed
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("tier".into(), "front".into());
    let replaced = pods.replace("web", &pp, &changed).await.unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        got.metadata.resource_version
    );
    let (code, reason) = api_error(pods.replace("web", &pp, &changed).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    pods.delete("worker", &DeleteParams::default())
        .await
        .unwrap();
    let (code, reason) = api_error(pods.get("worker").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert!(pods.get_opt("worker").await.unwrap().is_none());
}

#[tokio::test]
async fn typed_config_maps_and_deployments() {
    let s = TestServer::start().await;
    let client = client(&s);
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "settings", "labels": {"app": "web"}}, "data": {"MODE": "production"}})).unwrap();
    maps.create(&pp, &cm).await.unwrap();
    let listed = maps
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].data.as_ref().unwrap()["MODE"], "production");

    let deployments: Api<Deployment> = Api::default_namespaced(client);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}}}))
    .unwrap();
    let created = deployments.create(&pp, &d).await.unwrap();
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(2));
    let mut stale = created.clone();
    let mut fresh = deployments.get("web").await.unwrap();
    fresh.spec.as_mut().unwrap().replicas = Some(3);
    deployments.replace("web", &pp, &fresh).await.unwrap();
    stale.spec.as_mut().unwrap().replicas = Some(5);
    let (code, _) = api_error(deployments.replace("web", &pp, &stale).await.unwrap_err());
    assert_eq!(code, 409);
    assert_eq!(
        deployments
            .get_scale("web")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(3)
    );
    let listed = deployments
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    maps.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        maps.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// kube-rs's `delete_collection` decodes the answer as Kubernetes sends
/// it: the typed list of what was deleted (`Left`), not a `Status`.
#[tokio::test]
async fn delete_collection_answers_the_typed_list() {
    let s = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(client(&s));
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}},
        }))
        .unwrap();
        maps.create(&PostParams::default(), &cm).await.unwrap();
    }
    let deleted = maps
        .delete_collection(
            &DeleteParams::background(),
            &ListParams::default().labels("app=web"),
        )
        .await
        .unwrap();
    let list = deleted.left().expect("a ConfigMapList, not a Status");
    let mut names: Vec<String> = list
        .items
        .iter()
        .map(|cm| cm.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    let left = maps
        .list(&ListParams::default().labels("app"))
        .await
        .unwrap();
    let names: Vec<String> = left
        .items
        .iter()
        .map(|cm| cm.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["c"]);
}

#[tokio::test]
async fn every_patch_type() {
    let s = TestServer::start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(client(&s));
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox:1.36"}]}}}})).unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let images = |d: &Deployment| -> Vec<String> {
        let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        spec.containers
            .iter()
            .map(|c| format!("{}={}", c.name, c.image.as_deref().unwrap_or("")))
            .collect()
    };
    let pp = PatchParams::default();

    // Strategic merge: containers merge by name, the other one stays.
    let strategic = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]}}}});
    let d = deployments
        .patch("web", &pp, &Patch::Strategic(&strategic))
        .await
        .unwrap();
    assert_eq!(images(&d), ["nginx=nginx:1.26", "log=busybox:1.36"]);

    // JSON merge patch: the list is replaced.
    let merge = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}});
    let d = deployments
        .patch("web", &pp, &Patch::Merge(&merge))
        .await
        .unwrap();
    assert_eq!(images(&d), ["nginx=nginx:1.27"]);
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(3));

    // JSON patch: operations; a failed `test` changes nothing.
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 4}]))
    .unwrap();
    let d = deployments
        .patch("web", &pp, &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(4));
    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/replicas", "value": 1}]))
    .unwrap();
    let (code, _) = api_error(
        deployments
            .patch("web", &pp, &Patch::Json::<()>(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);

    // Server-side apply: orc does not implement it, and says so with a
    // Status kube decodes (415 UnsupportedMediaType), not a broken body.
    let apply = PatchParams::apply("orc-test");
    let (code, reason) = api_error(deployments.patch("web", &apply, &Patch::Apply(&json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}})))
        .await
        .unwrap_err());
    assert_eq!((code, reason.as_str()), (415, "UnsupportedMediaType"));
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(4)
    );
}

/// The raw watch stream and kube-runtime's watcher (list, then watch, with
/// its own bookkeeping of resourceVersions) both see every change.
#[tokio::test]
async fn watch_and_watcher_see_added_modified_deleted() {
    use std::time::Duration;
    let s = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(client(&s));
    let pp = PostParams::default();
    let cm = |name: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
    };
    maps.create(&pp, &cm("before")).await.unwrap();
    let rv = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    let mut raw = maps
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    let mut runtime = watcher(maps.clone(), watcher::Config::default()).boxed();
    // The watcher starts with a list: `before` arrives as part of it.
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), runtime.try_next()).await {
            Ok(Ok(Some(watcher::Event::InitApply(o)))) => initial.push(o.metadata.name.unwrap()),
            Ok(Ok(Some(watcher::Event::InitDone))) => break,
            Ok(Ok(Some(watcher::Event::Init))) => {}
            other => panic!("watcher's initial list: {other:?}"),
        }
    }
    assert_eq!(initial, ["before"]);

    maps.create(&pp, &cm("during")).await.unwrap();
    let patch = json!({"data": {"k": "v"}});
    maps.patch("during", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    maps.delete("during", &DeleteParams::default())
        .await
        .unwrap();

    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(10), raw.try_next()).await;
        match event.expect("an event in time").unwrap().unwrap() {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => seen.push(format!(
                "MODIFIED {} {:?}",
                o.metadata.name.unwrap(),
                o.data.unwrap_or_default()
            )),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.metadata.name.unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            "ADDED during",
            "MODIFIED during {\"k\": \"v\"}",
            "DELETED during"
        ]
    );

    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(10), runtime.try_next()).await;
        match event.expect("an event in time").unwrap().unwrap() {
            watcher::Event::Apply(o) => seen.push(format!("Apply {}", o.metadata.name.unwrap())),
            watcher::Event::Delete(o) => seen.push(format!("Delete {}", o.metadata.name.unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["Apply during", "Apply during", "Delete during"]);
}
