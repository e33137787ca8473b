//! Events that expire (`--event-ttl`): each Event is written with an etcd
//! lease, etcd deletes it when the lease runs out, and watchers, GETs,
//! LISTs and `kubectl get events` see it gone. Events written together
//! share one lease; no other object is ever written with one
//! (`storage/leases.rs`).

mod common;

use std::time::Duration;

use common::kubectl::{kubeconfig, kubectl};
use common::{TestServer, WatchReader, summary};
use serde_json::{Value, json};

/// Core v1 Events of the namespace `default`.
const EVENTS: &str = "/api/v1/namespaces/default/events";

/// A TTL etcd keeps to (its shortest lease is about two seconds).
const SHORT_TTL: Duration = Duration::from_secs(2);

/// How long a test waits for etcd's lease expiry to reach a watch: far
/// beyond the TTL, for a loaded machine; a passing test waits only as
/// long as etcd takes.
const EXPIRY_WAIT: Duration = Duration::from_secs(60);

/// An Event about the pod `web`, named `name`.
fn event(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container",
        "type": "Warning",
        "count": 1,
    })
}

/// A server whose Events live `ttl`.
async fn server_with_event_ttl(ttl: Duration) -> TestServer {
    TestServer::start_with(|config| config.event_ttl = ttl).await
}

/// A client of the test's etcd, to look at keys and leases as etcd has them.
async fn etcd(s: &TestServer) -> etcd_client::Client {
    etcd_client::Client::connect([s.etcd.endpoint()], None)
        .await
        .unwrap()
}

/// The lease the key is attached to (0: none).
async fn lease_of(etcd: &mut etcd_client::Client, key: &str) -> i64 {
    let response = etcd.get(key, None).await.unwrap();
    let kv = response
        .kvs()
        .first()
        .unwrap_or_else(|| panic!("{key} exists"));
    kv.lease()
}

/// Every lease etcd holds.
async fn leases(etcd: &mut etcd_client::Client) -> Vec<i64> {
    let response = etcd.leases().await.unwrap();
    response.leases().iter().map(|l| l.id()).collect()
}

/// Waits on `watch` until `name` is DELETED; every other event is skipped.
async fn until_deleted(watch: &mut WatchReader, name: &str) -> Value {
    loop {
        let Some(event) = watch.next(EXPIRY_WAIT).await else {
            panic!("no DELETED for {name} within {EXPIRY_WAIT:?}");
        };
        if summary(&event) == ("DELETED".to_string(), name.to_string()) {
            return event;
        }
    }
}

#[tokio::test]
async fn an_event_is_deleted_by_etcd_when_its_ttl_runs_out() {
    let s = server_with_event_ttl(SHORT_TTL).await;
    let mut watch = WatchReader::open(&s, &format!("{EVENTS}?watch=true")).await;
    let (code, created) = s.post(EVENTS, &event("backoff")).await;
    assert_eq!(code, 201, "{created}");

    // Nobody deletes it: etcd does, and the watch says so.
    let deleted = until_deleted(&mut watch, "backoff").await;
    assert_eq!(deleted["object"]["reason"], "BackOff", "{deleted}");
    let (code, _) = s.get(&format!("{EVENTS}/backoff")).await;
    assert_eq!(code, 404);
    let (code, list) = s.get(EVENTS).await;
    assert_eq!(code, 200);
    assert_eq!(common::names(&list), Vec::<&str>::new());

    // kubectl, the user's view, shows nothing either.
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");
    let (ok, out) = kubectl(dir.path(), &config, &["get", "events", "-o", "name"]).await;
    assert!(ok, "{out}");
    assert!(!out.contains("backoff"), "{out}");
}

#[tokio::test]
async fn an_update_puts_an_event_on_a_lease_again() {
    let s = server_with_event_ttl(SHORT_TTL).await;
    let mut etcd = etcd(&s).await;
    // An Event on no lease, as an orc without `--event-ttl` wrote them:
    // only the update below can make it expire.
    let key = "/registry/events/default/repeat";
    let mut stored = event("repeat");
    stored["metadata"]["namespace"] = json!("default");
    stored["metadata"]["uid"] = json!("0b7e7a4e-0000-4000-8000-000000000001");
    stored["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    etcd.put(key, stored.to_string(), None).await.unwrap();
    assert_eq!(lease_of(&mut etcd, key).await, 0);

    let path = format!("{EVENTS}/repeat");
    let (code, mut current) = s.get(&path).await;
    assert_eq!(code, 200, "{current}");
    let from = common::rv(&current);
    let mut watch =
        WatchReader::open(&s, &format!("{EVENTS}?watch=true&resourceVersion={from}")).await;
    // The recorder's count bump: a PUT of the same Event, which gets the
    // whole TTL from now, as every write of an Event does.
    current["count"] = json!(2);
    let (code, updated) = s.put(&path, &current).await;
    assert_eq!(code, 200, "{updated}");
    let deleted = until_deleted(&mut watch, "repeat").await;
    assert_eq!(deleted["object"]["count"], 2, "{deleted}");
}

#[tokio::test]
async fn events_written_together_share_one_lease() {
    let s = server_with_event_ttl(Duration::from_secs(60 * 60)).await;
    let mut etcd = etcd(&s).await;
    let names: Vec<String> = (0..20).map(|i| format!("event-{i}")).collect();
    for name in &names {
        let (code, body) = s.post(EVENTS, &event(name)).await;
        assert_eq!(code, 201, "{body}");
    }
    // An hour's TTL has a minute's reuse window: one lease for all,
    // granted for the hour plus that minute.
    let all = leases(&mut etcd).await;
    assert_eq!(all.len(), 1, "{all:?}");
    for name in &names {
        let key = format!("/registry/events/default/{name}");
        assert_eq!(lease_of(&mut etcd, &key).await, all[0], "{key}");
    }
    let granted = etcd.lease_time_to_live(all[0], None).await.unwrap();
    assert_eq!(granted.granted_ttl(), 60 * 60 + 60);

    // An update (the count bump) keeps the Event on a lease.
    let path = format!("{EVENTS}/event-0");
    let (_, mut current) = s.get(&path).await;
    current["count"] = json!(2);
    let (code, body) = s.put(&path, &current).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        lease_of(&mut etcd, "/registry/events/default/event-0").await,
        all[0]
    );
    // A JSON merge patch is an update too.
    let (code, body) = s
        .patch(
            &format!("{EVENTS}/event-1"),
            "application/merge-patch+json",
            r#"{"count": 3}"#,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        lease_of(&mut etcd, "/registry/events/default/event-1").await,
        all[0]
    );
}

#[tokio::test]
async fn a_lease_gone_from_etcd_before_its_time_is_replaced() {
    let s = server_with_event_ttl(Duration::from_secs(60 * 60)).await;
    let mut etcd = etcd(&s).await;
    let (code, body) = s.post(EVENTS, &event("first")).await;
    assert_eq!(code, 201, "{body}");
    let first = lease_of(&mut etcd, "/registry/events/default/first").await;
    // Revoked by hand: etcd deletes `first` with it, and the server's
    // book still names it as the lease to reuse.
    etcd.lease_revoke(first).await.unwrap();

    let (code, body) = s.post(EVENTS, &event("second")).await;
    assert_eq!(code, 201, "the write after the revoke: {body}");
    let second = lease_of(&mut etcd, "/registry/events/default/second").await;
    assert_ne!(second, first);
    assert_eq!(leases(&mut etcd).await, [second]);
    // The book moved on: the next Event shares the new lease.
    let (code, body) = s.post(EVENTS, &event("third")).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        lease_of(&mut etcd, "/registry/events/default/third").await,
        second
    );
}

#[tokio::test]
async fn no_other_object_is_written_with_a_lease() {
    let s = server_with_event_ttl(SHORT_TTL).await;
    let mut etcd = etcd(&s).await;
    let (code, body) = s
        .post(
            common::CMS,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, mut cm) = s.get(&format!("{}/settings", common::CMS)).await;
    assert_eq!(code, 200);
    cm["data"] = json!({"a": "b"});
    let (code, body) = s.put(&format!("{}/settings", common::CMS), &cm).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = s
        .post("/api/v1/namespaces/default/pods", &common::pod("web"))
        .await;
    assert_eq!(code, 201, "{body}");

    for key in [
        "/registry/configmaps/default/settings",
        "/registry/pods/default/web",
        "/registry/namespaces/default",
    ] {
        assert_eq!(lease_of(&mut etcd, key).await, 0, "{key}");
    }
    assert_eq!(leases(&mut etcd).await, Vec::<i64>::new());
}

#[tokio::test]
async fn a_dry_run_event_takes_no_lease() {
    let s = server_with_event_ttl(Duration::from_secs(60 * 60)).await;
    let mut etcd = etcd(&s).await;
    let (code, body) = s
        .post(&format!("{EVENTS}?dryRun=All"), &event("rehearsal"))
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(leases(&mut etcd).await, Vec::<i64>::new());
}

#[tokio::test]
async fn a_zero_ttl_keeps_events_until_deleted() {
    let s = server_with_event_ttl(Duration::ZERO).await;
    let mut etcd = etcd(&s).await;
    let (code, body) = s.post(EVENTS, &event("forever")).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        lease_of(&mut etcd, "/registry/events/default/forever").await,
        0
    );
    assert_eq!(leases(&mut etcd).await, Vec::<i64>::new());
}

/// The names of the next `n` DELETED events on `watch` (others skipped).
async fn deleted_names(watch: &mut WatchReader, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    while names.len() < n {
        let Some(event) = watch.next(EXPIRY_WAIT).await else {
            panic!(
                "{} DELETED of {n} within {EXPIRY_WAIT:?}: {names:?}",
                names.len()
            );
        };
        let (kind, name) = summary(&event);
        if kind == "DELETED" {
            names.push(name);
        }
    }
    names.sort();
    names
}

#[tokio::test]
async fn every_event_a_lease_takes_with_it_is_deleted_for_watchers() {
    // Events written together share a lease, so its end deletes them all
    // in one etcd revision: a watcher that kept only the newest revision
    // it had sent took the second of them for a repeat, and an informer
    // kept every other one forever.
    let s = server_with_event_ttl(Duration::from_secs(60 * 60)).await;
    let mut etcd = etcd(&s).await;
    let names: Vec<String> = (0..20).map(|i| format!("shared-{i:02}")).collect();
    for name in &names {
        let (code, body) = s.post(EVENTS, &event(name)).await;
        assert_eq!(code, 201, "{body}");
    }
    let (code, list) = s.get(EVENTS).await;
    assert_eq!(code, 200, "{list}");
    let from = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let watch_from = |path: &str| format!("{path}?watch=true&resourceVersion={from}");
    const NEW_EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
    let mut core = WatchReader::open(&s, &watch_from(EVENTS)).await;
    let mut new_group = WatchReader::open(&s, &watch_from(NEW_EVENTS)).await;

    let all = leases(&mut etcd).await;
    assert_eq!(all.len(), 1, "one lease for all: {all:?}");
    etcd.lease_revoke(all[0]).await.unwrap();

    assert_eq!(deleted_names(&mut core, names.len()).await, names);
    assert_eq!(deleted_names(&mut new_group, names.len()).await, names);
    // A watch opened afterwards from the same version replays the
    // revision from the feed's history: every Event once.
    let mut replay = WatchReader::open(&s, &watch_from(EVENTS)).await;
    assert_eq!(deleted_names(&mut replay, names.len()).await, names);
    let (code, list) = s.get(EVENTS).await;
    assert_eq!(code, 200);
    assert_eq!(common::names(&list), Vec::<&str>::new());
}
