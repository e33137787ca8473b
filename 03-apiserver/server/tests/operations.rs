//! What keeps the API server up, seen from outside: health checks that
//! include etcd (`/readyz?verbose` as Kubernetes lists it), and a full
//! etcd (the NOSPACE alarm) answered with a clear error and "not ready".

mod common;

use common::TestServer;
use orc_testkit::Etcd;
use serde_json::json;

/// The status and body of a plain GET.
async fn text(server: &TestServer, path: &str) -> (u16, String) {
    let response = server.http.get(server.url(path)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_health_endpoints_check_etcd() {
    let server = TestServer::start().await;
    let (code, body) = text(&server, "/readyz?verbose").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        "[+]ping ok\n[+]etcd ok\n[+]etcd-alarms ok\nreadyz check passed\n"
    );
    assert_eq!(text(&server, "/livez").await, (200, "ok".into()));

    // Without etcd the server can serve nothing: neither alive nor ready.
    let killed = std::process::Command::new("kill")
        .args(["-9", &server.etcd.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for path in ["/livez", "/healthz", "/readyz"] {
        let (code, body) = text(&server, path).await;
        assert_eq!(code, 500, "{path}: {body}");
        assert!(body.contains("[-]etcd failed: "), "{path}: {body}");
    }
}

#[tokio::test]
async fn without_etcd_a_request_gets_503_with_retry_after_not_a_raw_500() {
    let server = TestServer::start().await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &server.etcd.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // A request in flight when etcd died may or may not have been applied
    // (a 500 says so); once the server has seen etcd gone, as /readyz
    // shows, nothing reaches etcd and the answer is "not now".
    loop {
        let (code, _) = text(&server, "/readyz").await;
        if code != 200 {
            break;
        }
    }
    // A write must reach etcd (no cache can answer it).
    let response = server
        .http
        .post(server.url("/api/v1/namespaces/default/configmaps"))
        .json(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    let retry = response.headers().get("retry-after").cloned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(retry.as_ref().and_then(|v| v.to_str().ok()), Some("1"));
    assert_eq!(body["reason"], "ServiceUnavailable", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("etcd"), "{message}");
}

#[tokio::test]
async fn a_full_etcd_refuses_writes_with_507_and_what_to_do_while_reads_still_work() {
    // A quota small enough to fill in a few writes.
    let etcd = Etcd::start_with_args(&["--quota-backend-bytes=2097152"]);
    let server = TestServer::start_on(etcd, |_| {}).await;
    let big = "x".repeat(512 * 1024);
    let mut refused = None;
    for i in 0..64 {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("big-{i}")},
            "data": {"big": big},
        });
        let (code, body) = server
            .post("/api/v1/namespaces/default/configmaps", &cm)
            .await;
        if code != 201 {
            refused = Some((code, body));
            break;
        }
    }
    let (code, status) = refused.expect("etcd fills up within 32 MiB of writes");
    assert_eq!(code, 507, "{status}");
    assert_eq!(status["reason"], "InsufficientStorage", "{status}");
    let message = status["message"].as_str().unwrap();
    for what in [
        "database space exceeded",
        "reads still work",
        "orc etcd defrag --compact",
        "compact <revision>",
        "defrag",
        "alarm disarm",
        "--quota-backend-bytes",
    ] {
        assert!(message.contains(what), "{what:?} missing from: {message}");
    }
    // Every kind of write is refused the same way, not only creates.
    let (code, body) = server
        .patch(
            "/api/v1/namespaces/default/configmaps/big-0",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
        )
        .await;
    assert_eq!(code, 507, "{body}");
    // Reads still work: one object, and a list.
    let (code, body) = server
        .get("/api/v1/namespaces/default/configmaps/big-0")
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = server.get("/api/v1/namespaces/default/configmaps").await;
    assert_eq!(code, 200, "{body}");
    assert!(!body["items"].as_array().unwrap().is_empty(), "{body}");
    let (code, body) = text(&server, "/readyz?verbose").await;
    assert_eq!(code, 500, "{body}");
    assert!(
        body.contains("[-]etcd-alarms failed: etcd alarms raised: NOSPACE"),
        "{body}"
    );
    // Alive all the same: a restart would not make room.
    assert_eq!(text(&server, "/livez").await, (200, "ok".into()));

    // The way out the message names, with etcdctl: delete what filled
    // it (etcd takes deletes even when full), compact, defragment,
    // disarm. Then writes work again and the server is ready.
    for name in ["big-0", "big-1"] {
        let path = format!("/api/v1/namespaces/default/configmaps/{name}");
        let (code, body) = server.delete(&path).await;
        assert_eq!(code, 200, "a delete frees space and is allowed: {body}");
    }
    let status: serde_json::Value =
        serde_json::from_str(&server.etcdctl(&["endpoint", "status", "-w", "json"])).unwrap();
    let revision = status[0]["Status"]["header"]["revision"].as_i64().unwrap();
    server.etcdctl(&["compact", &revision.to_string()]);
    server.etcdctl(&["defrag"]);
    server.etcdctl(&["alarm", "disarm"]);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "small"}});
    let (code, body) = server
        .post("/api/v1/namespaces/default/configmaps", &cm)
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(text(&server, "/readyz").await, (200, "ok".into()));
}

/// Fills a tiny etcd through the server until it refuses a write; the
/// names of the ConfigMaps stored.
async fn fill(server: &TestServer) -> Vec<String> {
    let big = "x".repeat(512 * 1024);
    let mut stored = Vec::new();
    for i in 0..64 {
        let name = format!("big-{i}");
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"big": big},
        });
        let (code, body) = server
            .post("/api/v1/namespaces/default/configmaps", &cm)
            .await;
        match code {
            201 => stored.push(name),
            507 => return stored,
            _ => panic!("{code}: {body}"),
        }
    }
    panic!("etcd never filled up within 32 MiB of writes");
}

#[tokio::test]
async fn the_maintenance_pass_frees_a_full_etcd_and_disarms_its_nospace_alarm() {
    use orc_apiserver::compaction::Maintenance;
    use orc_client::clock::{ManualClock, SharedClock};

    let etcd = Etcd::start_with_args(&["--quota-backend-bytes=2097152"]);
    let server = TestServer::start_on(etcd, |c| c.compaction_interval = None).await;
    let store = orc_apiserver::storage::Store::connect(&server.etcd.endpoint())
        .await
        .unwrap();
    let hour = std::time::Duration::from_secs(3600);
    let clock = ManualClock::new();
    let mut maintenance = Maintenance::new(store, Some(hour), clock.clone() as SharedClock);
    let stored = fill(&server).await;
    assert!(!stored.is_empty());
    assert_eq!(text(&server, "/readyz").await.0, 500);
    // An operator (or a controller) deletes what filled it: etcd takes
    // deletes when full. The space is still held by their history.
    for name in &stored {
        let path = format!("/api/v1/namespaces/default/configmaps/{name}");
        let (code, body) = server.delete(&path).await;
        assert_eq!(code, 200, "{body}");
    }
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "small"}});
    let path = "/api/v1/namespaces/default/configmaps";
    assert_eq!(server.post(path, &cm).await.0, 507, "still full");

    // The first pass remembers the revision; the next compacts to it
    // and, etcd being full, defragments at once (no hour's wait) and
    // disarms the alarm.
    let first = maintenance.pass().await;
    assert!(!first.disarmed, "{first:?}");
    let second = maintenance.pass().await;
    let (before, after) = second.defragmented.expect("defragmented off schedule");
    assert!(after < before, "{before} -> {after}");
    assert!(second.disarmed, "{second:?}");
    let (code, body) = server.post(path, &cm).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(text(&server, "/readyz").await, (200, "ok".into()));
}

/// Opens a raw connection and sends a POST whose body never finishes:
/// a request the server holds in flight for as long as the test wants.
async fn unfinished_post(server: &TestServer) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\":",
    )
    .await
    .unwrap();
    tcp
}

#[tokio::test]
async fn a_request_over_the_inflight_limit_gets_429_with_retry_after() {
    let server = TestServer::start_with(|c| c.limits.max_mutating_requests_inflight = 1).await;
    let _held = unfinished_post(&server).await;
    // The held request takes the only writing slot once the server reads
    // its headers; from then on every other write is refused at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let refused = loop {
        let response = server
            .http
            .post(server.url("/api/v1/namespaces/default/configmaps"))
            .header("content-type", "application/json")
            .body("not json")
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 429 {
            break response;
        }
        assert!(std::time::Instant::now() < deadline, "no 429");
        tokio::task::yield_now().await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let status: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["code"], 429);
    // Reads have their own slots, and watches are exempt.
    assert_eq!(
        server.get("/api/v1/namespaces/default/configmaps").await.0,
        200
    );
    let watch = server
        .http
        .get(server.url("/api/v1/namespaces/default/configmaps?watch=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status().as_u16(), 200);
}

#[tokio::test]
async fn a_request_past_the_request_timeout_gets_504() {
    use tokio::io::AsyncReadExt;
    let server = TestServer::start_with(|c| {
        c.limits.request_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let mut held = unfinished_post(&server).await;
    let mut answer = Vec::new();
    held.read_to_end(&mut answer).await.ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("\"reason\":\"Timeout\""), "{answer}");
}

/// Reads a watch to its end (the server closes it); the events seen.
async fn read_to_end(mut watch: reqwest::Response) -> Vec<serde_json::Value> {
    let mut body = Vec::new();
    while let Some(chunk) = watch.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_watch_with_timeout_zero_or_none_lasts_the_servers_choice() {
    let server = TestServer::start_with(|c| {
        c.limits.min_request_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    for query in ["watch=1&timeoutSeconds=0", "watch=1"] {
        let (_, list) = server.get("/api/v1/namespaces/default/configmaps").await;
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/api/v1/namespaces/default/configmaps?{query}&resourceVersion={rv}");
        let watch = server.http.get(server.url(&path)).send().await.unwrap();
        assert_eq!(watch.status().as_u16(), 200);
        let name = format!("cm-{}", query.len());
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        assert_eq!(
            server
                .post("/api/v1/namespaces/default/configmaps", &cm)
                .await
                .0,
            201
        );
        // The watch saw the create (it did not end at once), then ended
        // by itself (the server chose a timeout).
        let events = read_to_end(watch).await;
        assert!(
            events
                .iter()
                .any(|e| e["object"]["metadata"]["name"] == name.as_str()),
            "{query}: {events:?}"
        );
    }
}

/// etcd's database file size, as etcd reports it.
async fn db_size(server: &TestServer) -> i64 {
    let mut etcd = etcd_client::Client::connect([server.etcd.endpoint()], None)
        .await
        .unwrap();
    etcd.status().await.unwrap().db_size()
}

#[tokio::test]
async fn compaction_expires_old_revisions_and_keeps_etcd_from_growing() {
    let interval = std::time::Duration::from_millis(100);
    let server = TestServer::start_with(|c| c.compaction_interval = Some(interval)).await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "churn"}});
    let (code, created) = server
        .post("/api/v1/namespaces/default/configmaps", &cm)
        .await;
    assert_eq!(code, 201, "{created}");
    let first = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let start = db_size(&server).await;

    // 400 updates of 32 KiB each: 12.8 MiB of history without compaction.
    let (updates, value) = (400, "x".repeat(32 * 1024));
    for i in 0..updates {
        let patch = json!({"data": {"v": format!("{i}{value}")}}).to_string();
        let path = "/api/v1/namespaces/default/configmaps/churn";
        let (code, body) = server
            .patch(path, "application/merge-patch+json", &patch)
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let written = (updates * value.len()) as i64;
    let end = db_size(&server).await;
    println!("etcd db size: {start} bytes before, {end} after {written} bytes of updates");
    assert!(
        end - start < written / 2,
        "{start} → {end} for {written} written"
    );

    // The first revision is history now: a watch from it is told to re-list.
    let path = format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={first}");
    let watch = server.http.get(server.url(&path)).send().await.unwrap();
    let events = read_to_end(watch).await;
    assert_eq!(events[0]["type"], "ERROR", "{events:?}");
    assert_eq!(events[0]["object"]["code"], 410, "{events:?}");
}

#[tokio::test]
async fn etcd_is_compacted_each_pass_and_defragmented_once_an_hour_on_the_clock() {
    use orc_apiserver::compaction::{Maintenance, Pass};
    use orc_client::clock::{ManualClock, SharedClock};
    use std::time::Duration;

    let etcd = Etcd::start();
    let store = orc_apiserver::storage::Store::connect(&etcd.endpoint())
        .await
        .unwrap();
    let clock = ManualClock::new();
    let hour = Duration::from_secs(3600);
    let mut maintenance = Maintenance::new(store.clone(), Some(hour), clock.clone() as SharedClock);
    // A burst of big writes, then their deletion: etcd's file keeps its
    // high-water mark, mostly free pages once the history is compacted.
    let mut kv = store.client();
    for i in 0..24 {
        kv.put(format!("/burst/{i}"), vec![b'x'; 256 * 1024], None)
            .await
            .unwrap();
    }
    let prefix = etcd_client::DeleteOptions::new().with_prefix();
    kv.delete("/burst/", Some(prefix)).await.unwrap();

    // The first pass only remembers the revision.
    assert_eq!(maintenance.pass().await, Pass::default());
    // The next compacts to it, but an hour has not passed: no defrag.
    let second = maintenance.pass().await;
    assert!(second.compacted.is_some(), "{second:?}");
    assert_eq!(second.defragmented, None);
    // etcd's backend counts the pages compaction freed as free only after
    // its next commits; a live cluster writes all the time (every node
    // heartbeats), so this test writes until etcd reports them free.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        kv.put("/heartbeat", "x", None).await.unwrap();
        let status = kv.status().await.unwrap();
        let size = orc_apiserver::defrag::DbSize {
            file: status.db_size(),
            in_use: status.raft_used_db_size(),
        };
        if size.mostly_free() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never freed: {size:?}"
        );
    }
    // An hour later on the clock, the pass defragments and the file
    // shrinks to its live data.
    clock.advance(hour);
    let third = maintenance.pass().await;
    let (before, after) = third
        .defragmented
        .unwrap_or_else(|| panic!("due and mostly free, yet: {third:?}"));
    assert!(
        after * 2 < before && before > 24 * 256 * 1024,
        "{before} -> {after}"
    );
    // Just done: not again within the hour.
    clock.advance(hour / 2);
    assert_eq!(maintenance.pass().await.defragmented, None);
}
