//! The watch cache on a real etcd: which LISTs it answers from memory
//! (and that those never reach etcd), read-your-writes, deletes, the 504
//! for a version it never reaches, its fill again after it missed
//! events, and that a transaction shows whole or not at all.

mod common;

use std::time::{Duration, Instant};

use common::{CMS, TestServer, names, rv, send};
use etcd_client::{Txn, TxnOp};
use serde_json::{Value, json};

fn config_map(name: &str, tier: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"tier": tier}},
    })
}

/// The value of one `/metrics` sample (0 when absent).
async fn metric(s: &TestServer, sample: &str) -> i64 {
    let text = orc_testkit::metrics::page(s.url("/metrics")).await;
    orc_testkit::metrics::sample(&text, sample).map_or(0, |v| v as i64)
}

/// LISTs of ConfigMaps etcd was asked for (range reads).
async fn etcd_reads(s: &TestServer) -> i64 {
    metric(
        s,
        "orc_storage_list_requests_total{resource=\"configmaps\"}",
    )
    .await
}

/// LISTs of ConfigMaps the cache answered.
async fn cache_lists(s: &TestServer) -> i64 {
    metric(
        s,
        "apiserver_cache_list_total{resource_prefix=\"/configmaps\",index=\"\"}",
    )
    .await
}

/// Waits until the ConfigMaps' cache has reached `revision`, reading the
/// gauge it publishes (each look is one request; the test's timeout
/// bounds the wait).
async fn cache_reaches(s: &TestServer, revision: i64) {
    let gauge = "apiserver_watch_cache_resource_version{resource=\"configmaps\"}";
    while metric(s, gauge).await < revision {
        tokio::task::yield_now().await;
    }
}

async fn create(s: &TestServer, name: &str, tier: &str) -> i64 {
    let (code, made) = s.post(CMS, &config_map(name, tier)).await;
    assert_eq!(code, 201, "{made}");
    rv(&made)
}

#[tokio::test]
async fn a_list_at_version_zero_is_answered_from_memory() {
    let s = TestServer::start_with(|c| c.watch_cache.enabled = true).await;
    create(&s, "a", "web").await;
    create(&s, "b", "db").await;
    let last = create(&s, "c", "web").await;

    // The first LIST starts the cache and waits for its fill.
    let (code, list) = s.get(&format!("{CMS}?resourceVersion=0")).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(names(&list), ["a", "b", "c"]);
    assert!(rv(&list) >= last, "{list}");
    assert_eq!(cache_lists(&s).await, 1);

    let reads = etcd_reads(&s).await;
    for (query, want) in [
        ("resourceVersion=0", vec!["a", "b", "c"]),
        // Kubernetes' cache answers "any" whole, limit or not.
        ("resourceVersion=0&limit=1", vec!["a", "b", "c"]),
        ("resourceVersion=0&labelSelector=tier%3Dweb", vec!["a", "c"]),
        ("resourceVersion=0&labelSelector=tier%21%3Dweb", vec!["b"]),
        (
            "resourceVersion=0&fieldSelector=metadata.name%3Db",
            vec!["b"],
        ),
    ] {
        let (code, list) = s.get(&format!("{CMS}?{query}")).await;
        assert_eq!(code, 200, "{query}: {list}");
        assert_eq!(names(&list), want, "{query}");
        assert!(
            list["metadata"].get("continue").is_none(),
            "{query}: {list}"
        );
        // Each object carries the resourceVersion it was written at.
        for item in list["items"].as_array().unwrap() {
            assert!(rv(item) > 0 && rv(item) <= last, "{item}");
        }
    }
    assert_eq!(
        etcd_reads(&s).await,
        reads,
        "a LIST from the cache read etcd"
    );
    assert_eq!(cache_lists(&s).await, 6);

    // Another namespace's keys are not this namespace's list.
    let (code, other) = s
        .get("/api/v1/namespaces/kube-system/configmaps?resourceVersion=0")
        .await;
    assert_eq!(code, 200, "{other}");
    assert!(!names(&other).contains(&"a"), "{other}");
    // The cluster-wide list holds every namespace's.
    let (_, all) = s.get("/api/v1/configmaps?resourceVersion=0").await;
    for name in ["a", "b", "c"] {
        assert!(names(&all).contains(&name), "{all}");
    }

    // Pages with a version other than 0, and Exact, still read etcd.
    let (code, page) = s.get(&format!("{CMS}?limit=1")).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(names(&page), ["a"]);
    assert!(page["metadata"]["continue"].is_string(), "{page}");
    let exact = format!("{CMS}?resourceVersion={last}&resourceVersionMatch=Exact");
    let (code, list) = s.get(&exact).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(etcd_reads(&s).await, reads + 2);
}

#[tokio::test]
async fn updates_and_deletes_reach_the_cache() {
    let s = TestServer::start_with(|c| c.watch_cache.enabled = true).await;
    create(&s, "a", "web").await;
    create(&s, "b", "web").await;
    let (code, _) = s.get(&format!("{CMS}?resourceVersion=0")).await;
    assert_eq!(code, 200);

    let (code, gone) = s.delete(&format!("{CMS}/a")).await;
    assert_eq!(code, 200, "{gone}");
    let (code, mut b) = s.get(&format!("{CMS}/b")).await;
    assert_eq!(code, 200);
    b["metadata"]["labels"]["tier"] = json!("db");
    let (code, b) = s.put(&format!("{CMS}/b"), &b).await;
    assert_eq!(code, 200, "{b}");
    let last = create(&s, "c", "web").await;
    cache_reaches(&s, last).await;

    let reads = etcd_reads(&s).await;
    let (_, list) = s.get(&format!("{CMS}?resourceVersion=0")).await;
    assert_eq!(names(&list), ["b", "c"]);
    assert_eq!(list["items"][0]["metadata"]["labels"]["tier"], "db");
    assert_eq!(rv(&list["items"][0]), rv(&b));
    let (_, web) = s
        .get(&format!("{CMS}?resourceVersion=0&labelSelector=tier%3Dweb"))
        .await;
    assert_eq!(names(&web), ["c"]);
    // resourceVersion=N once the cache has seen N: from memory too.
    let (code, list) = s.get(&format!("{CMS}?resourceVersion={last}")).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(names(&list), ["b", "c"]);
    assert_eq!(etcd_reads(&s).await, reads);
}

#[tokio::test]
async fn a_consistent_list_sees_the_write_just_made() {
    let s = TestServer::start_with(|c| c.watch_cache.enabled = true).await;
    let (code, _) = s.get(CMS).await;
    assert_eq!(code, 200);
    let consistent = |fallback: bool| {
        format!(
            "apiserver_watch_cache_consistent_read_total{{resource=\"configmaps\",success=\"true\",fallback=\"{fallback}\"}}"
        )
    };
    for i in 0..20 {
        let name = format!("cm-{i}");
        create(&s, &name, "web").await;
        let (code, list) = s.get(CMS).await;
        assert_eq!(code, 200, "{list}");
        assert!(names(&list).contains(&name.as_str()), "{name}: {list}");
    }
    let from_cache = metric(&s, &consistent(false)).await;
    let from_etcd = metric(&s, &consistent(true)).await;
    assert_eq!(from_cache + from_etcd, 21);

    // Once the cache has seen the last write and nothing was written
    // since, it proves itself fresh without waiting: one etcd round trip
    // for the revision, no range read.
    let (_, latest) = s.get(&format!("{CMS}/cm-19")).await;
    cache_reaches(&s, rv(&latest)).await;
    let reads = etcd_reads(&s).await;
    let (code, list) = s.get(CMS).await;
    assert_eq!(code, 200);
    assert_eq!(names(&list).len(), 20);
    assert_eq!(etcd_reads(&s).await, reads);
    assert_eq!(metric(&s, &consistent(false)).await, from_cache + 1);
}

#[tokio::test]
async fn a_version_the_cache_never_reaches_is_a_504_after_the_wait() {
    let wait = Duration::from_millis(700);
    let s = TestServer::start_with(|c| {
        c.watch_cache.enabled = true;
        c.watch_cache.fresh_wait = wait;
    })
    .await;
    let (_, list) = s.get(&format!("{CMS}?resourceVersion=0")).await;
    let future = rv(&list) + 1000;
    let started = Instant::now();
    let response = s
        .http
        .get(s.url(&format!(
            "{CMS}?resourceVersion={future}&resourceVersionMatch=NotOlderThan"
        )))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= wait, "answered before the wait");
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["retry-after"], "1");
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["reason"], "Timeout", "{status}");
    assert_eq!(
        status["message"],
        format!(
            "Too large resource version: {future}, current: {}",
            rv(&list)
        )
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
}

/// A cache that fell behind its feed's fan-out channel (here: a channel
/// of one message, and one etcd delete of many keys, whose events arrive
/// together) takes what it missed from the feed's ring buffer, or, when
/// the buffer no longer reaches back (as after a compaction expired the
/// feed), empties itself and fills again from etcd.
async fn missed_events_are_recovered(buffer: usize, fills_again: bool) {
    let s = TestServer::start_with(|c| {
        c.watch_cache.enabled = true;
        c.watch.channel = 1;
        c.watch.buffer = buffer;
    })
    .await;
    for name in ["a", "b", "c", "d", "e"] {
        create(&s, name, "web").await;
    }
    let (_, list) = s.get(&format!("{CMS}?resourceVersion=0")).await;
    assert_eq!(names(&list).len(), 5);
    let reads = etcd_reads(&s).await;

    s.etcdctl(&["del", "--prefix", "/registry/configmaps/default/"]);
    let last = create(&s, "f", "web").await;
    cache_reaches(&s, last).await;
    let (code, list) = s.get(&format!("{CMS}?resourceVersion=0")).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(names(&list), ["f"]);
    assert_eq!(etcd_reads(&s).await > reads, fills_again);
}

#[tokio::test]
async fn a_cache_behind_its_channel_catches_up_from_the_ring_buffer() {
    missed_events_are_recovered(10_000, false).await;
}

#[tokio::test]
async fn a_cache_behind_the_ring_buffer_fills_again() {
    missed_events_are_recovered(2, true).await;
}

/// A value that cannot be read is named in a `Warning` before the
/// headers, whether the cache met it in its fill or in an event, and the
/// rest of the list is answered.
#[tokio::test]
async fn an_unreadable_value_in_the_cache_is_a_warning() {
    let s = TestServer::start_with(|c| c.watch_cache.enabled = true).await;
    create(&s, "a", "web").await;
    s.etcdctl(&["put", "/registry/configmaps/default/broken", "not json"]);
    let warned = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .get_all("warning")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    let url = s.url(&format!("{CMS}?resourceVersion=0"));
    let response = s.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let warnings = warned(&response);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("configmaps \\\"broken\\\""),
        "{warnings:?}"
    );
    let list: Value = response.json().await.unwrap();
    assert_eq!(names(&list), ["a"]);

    // Met in an event this time.
    s.etcdctl(&["put", "/registry/configmaps/default/broken-too", "{"]);
    let last = create(&s, "b", "web").await;
    cache_reaches(&s, last).await;
    let reads = etcd_reads(&s).await;
    let response = s.http.get(&url).send().await.unwrap();
    let warnings = warned(&response);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[1].contains("broken-too"), "{warnings:?}");
    let list: Value = response.json().await.unwrap();
    assert_eq!(names(&list), ["a", "b"]);
    assert_eq!(etcd_reads(&s).await, reads);
}

/// What one LIST showed of the transactions: its revision, and how many
/// keys of each round's (`t{round}-{key}`) it holds.
struct Seen {
    revision: i64,
    keys: Vec<usize>,
}

impl Seen {
    fn of(list: &Value, rounds: usize) -> Seen {
        let mut keys = vec![0; rounds];
        for name in names(list) {
            if let Some((round, _)) = name.strip_prefix('t').and_then(|n| n.split_once('-')) {
                keys[round.parse::<usize>().unwrap()] += 1;
            }
        }
        Seen {
            revision: rv(list),
            keys,
        }
    }
}

/// One etcd transaction of many keys under one prefix is one revision
/// (so is a range delete, or another client's transaction): a LIST from
/// the cache shows all of it or none of it, however it races with the
/// cache taking the revision in. Each round writes `KEYS` ConfigMaps
/// straight into etcd in one transaction, in the API server's layout,
/// then deletes them in another, while LISTs at version 0 run one after
/// another and `WAITERS` LISTs wait for the revision the first
/// transaction is about to make (let go the moment the cache reaches
/// it). Every LIST must show a round's keys exactly while its revision
/// is between the two transactions'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_from_the_cache_never_shows_half_a_transaction() {
    const ROUNDS: usize = 40;
    // etcd allows 128 operations per transaction by default.
    const KEYS: usize = 100;
    const WAITERS: usize = 2;
    let s = TestServer::start_with(|c| c.watch_cache.enabled = true).await;
    let (code, list) = s.get(&format!("{CMS}?resourceVersion=0")).await;
    assert_eq!(code, 200, "{list}");
    let etcd = etcd_client::Client::connect([s.etcd.endpoint()], None)
        .await
        .unwrap();
    let mut kv = etcd.kv_client();
    let (http, url) = (s.http.clone(), s.url(CMS));
    let list = move |query: String| {
        let request = http.get(format!("{url}?{query}"));
        async move {
            let (code, list) = send(request).await;
            assert_eq!(code, 200, "{query}: {list}");
            Seen::of(&list, ROUNDS)
        }
    };

    let (done, stop) = tokio::sync::watch::channel(false);
    let listers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            let list = list.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !*stop.borrow() {
                    seen.push(list("resourceVersion=0".to_string()).await);
                }
                seen
            })
        })
        .collect();
    // Each round's (put, delete) revisions.
    let mut written = Vec::new();
    let mut seen = Vec::new();
    for round in 0..ROUNDS {
        let name = |key: usize| format!("t{round:02}-{key:03}");
        let key = |key: usize| format!("/registry/configmaps/default/{}", name(key));
        let now = kv.get("/registry/configmaps/", None).await.unwrap();
        let next = now.header().unwrap().revision() + 1;
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                let query = format!("resourceVersion={next}&resourceVersionMatch=NotOlderThan");
                tokio::spawn(list.clone()(query))
            })
            .collect();
        let puts: Vec<TxnOp> = (0..KEYS)
            .map(|k| {
                let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name(k), "namespace": "default",
                        "uid": format!("uid-{}", name(k)), "creationTimestamp": "2026-01-01T00:00:00Z"},
                    "data": {"round": round.to_string()}});
                TxnOp::put(key(k), serde_json::to_vec(&object).unwrap(), None)
            })
            .collect();
        let put = kv.txn(Txn::new().and_then(puts)).await.unwrap();
        let deletes: Vec<TxnOp> = (0..KEYS).map(|k| TxnOp::delete(key(k), None)).collect();
        let delete = kv.txn(Txn::new().and_then(deletes)).await.unwrap();
        written.push((
            put.header().unwrap().revision(),
            delete.header().unwrap().revision(),
        ));
        for waiter in waiters {
            seen.push(waiter.await.unwrap());
        }
    }
    done.send(true).unwrap();
    for lister in listers {
        seen.extend(lister.await.unwrap());
    }

    let mut halves = Vec::new();
    for list in &seen {
        for (round, &(put, delete)) in written.iter().enumerate() {
            let whole = if (put..delete).contains(&list.revision) {
                KEYS
            } else {
                0
            };
            if list.keys[round] != whole {
                halves.push(format!(
                    "at revision {}: {} keys of round {round} (written at {put}, deleted at {delete})",
                    list.revision, list.keys[round]
                ));
            }
        }
    }
    assert!(
        halves.is_empty(),
        "{} of {} LISTs show part of a transaction: {halves:#?}",
        halves.len(),
        seen.len()
    );
}
