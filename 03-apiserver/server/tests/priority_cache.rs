//! PriorityClasses at pod admission come from a cache fed by the watch
//! hub (`priority_cache.rs`), and pods see every class write at once: a
//! class created a moment ago resolves, a class deleted a moment ago
//! refuses the next pod, on this server and, once its event arrives, on
//! another one.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, pod};
use orc_apiserver::priority_cache::{ClassCache, Known};
use orc_apiserver::storage::Store;
use orc_apiserver::watch::{WatchHub, WatchLimits};
use serde_json::{Value, json};

const CLASSES: &str = "/apis/scheduling.k8s.io/v1/priorityclasses";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn class(name: &str, value: i64, global_default: bool) -> Value {
    json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": name}, "value": value, "globalDefault": global_default})
}

fn pod_of(name: &str, class: Option<&str>) -> Value {
    let mut pod = pod(name);
    if let Some(class) = class {
        pod["spec"]["priorityClassName"] = json!(class);
    }
    pod
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_writes_apply_to_the_very_next_pod() {
    let s = TestServer::start().await;
    for i in 0..10 {
        let name = format!("class-{i}");
        let (code, _) = s.post(CLASSES, &class(&name, 100 + i, false)).await;
        assert_eq!(code, 201);
        // Created a moment ago: the pod gets its value.
        let (code, created) = s
            .post(PODS, &pod_of(&format!("with-{i}"), Some(&name)))
            .await;
        assert_eq!(code, 201, "{created}");
        assert_eq!(created["spec"]["priority"], 100 + i);
        // Deleted a moment ago: the next pod naming it is refused.
        let (code, _) = s.delete(&format!("{CLASSES}/{name}")).await;
        assert_eq!(code, 200);
        let (code, refused) = s
            .post(PODS, &pod_of(&format!("after-{i}"), Some(&name)))
            .await;
        assert_eq!(code, 403, "{refused}");
        assert_eq!(
            refused["message"],
            format!("pods \"after-{i}\" is forbidden: no PriorityClass with name {name} was found")
        );
    }
    // The global default, the same: on at once, off at once.
    assert_eq!(s.post(CLASSES, &class("everyday", 7, true)).await.0, 201);
    let (_, defaulted) = s.post(PODS, &pod_of("defaulted", None)).await;
    assert_eq!(defaulted["spec"]["priority"], 7);
    assert_eq!(defaulted["spec"]["priorityClassName"], "everyday");
    assert_eq!(s.delete(&format!("{CLASSES}/everyday")).await.0, 200);
    let (_, plain) = s.post(PODS, &pod_of("plain", None)).await;
    assert_eq!(plain["spec"]["priority"], 0);
    assert!(plain["spec"]["priorityClassName"].is_null(), "{plain}");
}

/// Waits up to 10 s for `cache` to answer `want` for `name`.
async fn eventually(cache: &ClassCache, name: &str, want: impl Fn(&Known) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let known = cache.class(name);
        if want(&known) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cache still says {known:?} of {name}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_follows_classes_written_by_another_server() {
    let s = TestServer::start().await;
    // The cache a second API server on this etcd would have.
    let store = Store::connect(&s.etcd.endpoint()).await.unwrap();
    let hub = WatchHub::new(store.clone(), WatchLimits::default());
    let feed = hub.feed(&orc_apiserver::priority::prefix()).await.unwrap();
    let cache = ClassCache::start(store, feed);
    // The system's classes, from the first list.
    eventually(
        &cache,
        "system-node-critical",
        |k| matches!(k, Known::Answer(Some(c)) if c["value"] == 2_000_001_000),
    )
    .await;
    assert_eq!(cache.class("gold"), Known::Ask, "unknown: ask etcd");

    assert_eq!(s.post(CLASSES, &class("gold", 50, true)).await.0, 201);
    eventually(
        &cache,
        "gold",
        |k| matches!(k, Known::Answer(Some(c)) if c["value"] == 50),
    )
    .await;
    assert!(
        matches!(cache.global_default(), Known::Answer(Some(c)) if c["metadata"]["name"] == "gold")
    );
    assert_eq!(s.delete(&format!("{CLASSES}/gold")).await.0, 200);
    eventually(&cache, "gold", |k| *k == Known::Ask).await;
    assert_eq!(cache.global_default(), Known::Answer(None));
}
