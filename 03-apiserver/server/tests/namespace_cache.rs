//! The namespace cache creates consult (Kubernetes' `NamespaceLifecycle`):
//! it follows namespaces created and deleted through any API server,
//! recovers when its history is compacted away, and creates stay correct
//! whatever it knows.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use orc_apiserver::namespace_lifecycle::{Lifecycle, NamespaceCache};
use orc_apiserver::storage::{self, Store};
use orc_apiserver::watch::{WatchHub, WatchLimits};
use orc_client::resources::lookup;
use serde_json::json;

/// A cache of its own on the test server's etcd, as a second API server
/// would have, and the hub that feeds it.
async fn cache_on(s: &TestServer, limits: WatchLimits) -> (NamespaceCache, WatchHub) {
    let store = Store::connect(&s.etcd.endpoint()).await.unwrap();
    let namespaces = lookup("", "v1", "namespaces").unwrap();
    let hub = WatchHub::new(store.clone(), limits);
    let feed = hub.feed(&storage::prefix(namespaces, None)).await.unwrap();
    (NamespaceCache::start(store, namespaces, feed), hub)
}

/// Waits up to 10 s for the cache to say `want` about `name`.
async fn eventually(cache: &NamespaceCache, name: &str, want: Lifecycle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.lifecycle(name) != want {
        assert!(
            Instant::now() < deadline,
            "the cache still says {name} is {:?}, not {want:?}",
            cache.lifecycle(name)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn namespace(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

#[tokio::test]
async fn follows_namespaces_made_and_deleted_elsewhere() {
    let s = TestServer::start().await;
    let (cache, _hub) = cache_on(&s, WatchLimits::default()).await;
    eventually(&cache, "default", Lifecycle::Active).await;
    assert_eq!(cache.lifecycle("team-a"), Lifecycle::Unknown);

    assert_eq!(
        s.post("/api/v1/namespaces", &namespace("team-a")).await.0,
        201
    );
    eventually(&cache, "team-a", Lifecycle::Active).await;
    assert_eq!(s.delete("/api/v1/namespaces/team-a").await.0, 200);
    eventually(&cache, "team-a", Lifecycle::Terminating).await;
    assert_eq!(s.finalize_namespace("team-a").await.0, 200);
    eventually(&cache, "team-a", Lifecycle::Unknown).await;
}

#[tokio::test]
async fn a_tiny_feed_and_a_compaction_lose_no_namespace() {
    let s = TestServer::start().await;
    // A tiny buffer and channel: the feed forgets quickly and a burst can
    // outrun the cache, which must then re-list rather than guess.
    let limits = WatchLimits {
        buffer: 2,
        window: 2,
        channel: 2,
        ..WatchLimits::default()
    };
    let (cache, _hub) = cache_on(&s, limits).await;
    eventually(&cache, "kube-system", Lifecycle::Active).await;
    for name in ["n1", "n2", "n3", "n4"] {
        assert_eq!(s.post("/api/v1/namespaces", &namespace(name)).await.0, 201);
    }
    let (_, list) = s.get("/api/v1/namespaces").await;
    let latest = list["metadata"]["resourceVersion"].as_str().unwrap();
    s.etcdctl(&["compact", latest]);
    assert_eq!(
        s.post("/api/v1/namespaces", &namespace("after")).await.0,
        201
    );
    eventually(&cache, "after", Lifecycle::Active).await;
    for name in ["n1", "n2", "n3", "n4", "default"] {
        assert_eq!(
            cache.lifecycle(name),
            Lifecycle::Active,
            "{name} known after the relist"
        );
    }
}

/// Through the server: a create in a brand-new namespace works at once
/// (the cache may not know it yet: the transaction checks), right after
/// the server deleted a namespace creates in it are refused (403 while it
/// terminates, 404 once it is gone).
#[tokio::test]
async fn creates_are_right_whatever_the_cache_knows() {
    let s = TestServer::start().await;
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    for round in 0..5 {
        let name = format!("fresh-{round}");
        assert_eq!(s.post("/api/v1/namespaces", &namespace(&name)).await.0, 201);
        let path = format!("/api/v1/namespaces/{name}/configmaps");
        assert_eq!(s.post(&path, &configmap).await.0, 201, "round {round}");
        assert_eq!(s.delete(&format!("/api/v1/namespaces/{name}")).await.0, 200);
        // This server doubted the namespace as it deleted it: no window.
        let late = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}});
        assert_eq!(s.post(&path, &late).await.0, 403, "round {round}");
        let leftover = format!("{path}/c");
        assert_eq!(s.delete(&leftover).await.0, 200);
        assert_eq!(s.finalize_namespace(&name).await.0, 200);
        assert_eq!(s.post(&path, &late).await.0, 404, "round {round}");
    }
    let (code, _) = s
        .post("/api/v1/namespaces/never/configmaps", &configmap)
        .await;
    assert_eq!(code, 404, "an unknown namespace is still refused");
}
