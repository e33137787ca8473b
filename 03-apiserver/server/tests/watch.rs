//! Watch: initial state, live changes, resume after restart, 410 after
//! compaction, selectors, bookmarks, one etcd watch for many clients.

mod common;

use std::time::Duration;

use common::{TestServer, WatchReader, pod, rv, summary};
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn ev(kind: &str, name: &str) -> (String, String) {
    (kind.to_string(), name.to_string())
}

#[tokio::test]
async fn watch_sends_current_state_then_changes() {
    let s = TestServer::start().await;
    s.post(PODS, &pod("a")).await;
    s.post(PODS, &pod("b")).await;
    let mut w = WatchReader::open(&s, &format!("{PODS}?watch=true")).await;
    assert_eq!(w.take(2).await, [ev("ADDED", "a"), ev("ADDED", "b")]);
    s.post(PODS, &pod("c")).await;
    s.patch(
        &format!("{PODS}/a"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"x":"y"}}}"#,
    )
    .await;
    s.delete(&format!("{PODS}/b")).await;
    assert_eq!(
        w.take(3).await,
        [ev("ADDED", "c"), ev("MODIFIED", "a"), ev("DELETED", "b")]
    );
}

#[tokio::test]
async fn watch_resumes_after_an_api_server_restart() {
    let mut s = TestServer::start().await;
    let (_, list) = s.get(PODS).await;
    let mut w =
        WatchReader::open(&s, &format!("{PODS}?watch=1&resourceVersion={}", rv(&list))).await;
    s.post(PODS, &pod("x1")).await;
    let first = w.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(summary(&first), ev("ADDED", "x1"));
    let last_seen = rv(&first["object"]);
    drop(w);

    s.restart().await;
    s.post(PODS, &pod("x2")).await;
    s.patch(
        &format!("{PODS}/x1"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"v":"2"}}}"#,
    )
    .await;
    s.delete(&format!("{PODS}/x2")).await;

    let mut w = WatchReader::open(&s, &format!("{PODS}?watch=1&resourceVersion={last_seen}")).await;
    assert_eq!(
        w.take(3).await,
        [ev("ADDED", "x2"), ev("MODIFIED", "x1"), ev("DELETED", "x2")]
    );
    assert!(
        w.next(Duration::from_millis(500)).await.is_none(),
        "no duplicate or extra event"
    );
    s.post(PODS, &pod("x3")).await;
    assert_eq!(
        w.take(1).await,
        [ev("ADDED", "x3")],
        "live events follow the replay"
    );
}

#[tokio::test]
async fn compacted_versions_are_410_and_a_relist_recovers() {
    let s = TestServer::start().await;
    let (_, created) = s.post(PODS, &pod("old")).await;
    let old_rv = rv(&created);
    let (_, latest) = s.post(PODS, &pod("new")).await;
    s.etcdctl(&["compact", &rv(&latest).to_string()]);

    let mut w = WatchReader::open(&s, &format!("{PODS}?watch=true&resourceVersion={old_rv}")).await;
    let error = w.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    assert!(
        w.next(Duration::from_millis(500)).await.is_none(),
        "the stream ends after the error"
    );

    // What an informer does next: list, then watch from the list's version.
    let (code, list) = s.get(PODS).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let mut w = WatchReader::open(
        &s,
        &format!("{PODS}?watch=true&resourceVersion={}", rv(&list)),
    )
    .await;
    s.delete(&format!("{PODS}/old")).await;
    assert_eq!(w.take(1).await, [ev("DELETED", "old")]);
}

#[tokio::test]
async fn selectors_apply_to_watch() {
    let s = TestServer::start().await;
    let mut w = WatchReader::open(&s, &format!("{PODS}?watch=true&labelSelector=app%3Dweb")).await;
    let mut db = pod("db");
    db["metadata"]["labels"] = json!({"app": "db"});
    s.post(PODS, &db).await;
    s.post(PODS, &pod("w")).await;
    let relabel = |app: &str| format!(r#"{{"metadata":{{"labels":{{"app":"{app}"}}}}}}"#);
    s.patch(
        &format!("{PODS}/w"),
        "application/merge-patch+json",
        &relabel("other"),
    )
    .await;
    s.patch(
        &format!("{PODS}/w"),
        "application/merge-patch+json",
        &relabel("web"),
    )
    .await;
    s.delete(&format!("{PODS}/db")).await;
    s.delete(&format!("{PODS}/w")).await;
    // The db pod never appears; leaving the selector reads as DELETED.
    assert_eq!(
        w.take(4).await,
        [
            ev("ADDED", "w"),
            ev("DELETED", "w"),
            ev("ADDED", "w"),
            ev("DELETED", "w")
        ]
    );
    assert!(w.next(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn field_selectors_on_list_and_paging() {
    let s = TestServer::start().await;
    for name in ["p1", "p2", "p3", "p4", "p5"] {
        s.post(PODS, &pod(name)).await;
    }
    let binding = json!({"kind": "Binding", "apiVersion": "v1", "metadata": {"name": "p2"}, "target": {"name": "n1"}});
    s.post(&format!("{PODS}/p2/binding"), &binding).await;
    let (_, list) = s
        .get(&format!("{PODS}?fieldSelector=spec.nodeName%3Dn1"))
        .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p2"]);

    // Pages of two, all read at the first page's revision.
    let (_, page1) = s.get(&format!("{PODS}?limit=2")).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let token = page1["metadata"]["continue"].as_str().unwrap().to_string();
    s.post(PODS, &pod("p6")).await;
    let (_, page2) = s.get(&format!("{PODS}?limit=2&continue={token}")).await;
    let token = page2["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, page3) = s.get(&format!("{PODS}?limit=2&continue={token}")).await;
    assert_eq!(
        page3["items"].as_array().unwrap().len(),
        1,
        "p6 came after the snapshot"
    );
    assert!(page3["metadata"].get("continue").is_none());
    assert_eq!(
        page1["metadata"]["resourceVersion"],
        page3["metadata"]["resourceVersion"]
    );
    // Label selectors across all namespaces.
    let (_, all) = s
        .get("/api/v1/pods?labelSelector=app%20in%20(web),!tier")
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn bookmarks_carry_progress() {
    let s = TestServer::start_with(|c| c.bookmark_interval = Duration::from_millis(200)).await;
    let mut w = WatchReader::open(
        &s,
        &format!("{PODS}?watch=true&allowWatchBookmarks=true&labelSelector=app%3Dnone"),
    )
    .await;
    let (_, created) = s.post(PODS, &pod("a")).await;
    let bookmark = loop {
        let e = w
            .next(Duration::from_secs(5))
            .await
            .expect("a bookmark arrives");
        if e["type"] == "BOOKMARK"
            && e["object"]["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        {
            break e;
        }
    };
    assert_eq!(bookmark["object"]["kind"], "Pod");
}

/// The etcd gauge of open watchers.
async fn etcd_watchers(s: &TestServer) -> u64 {
    let text = orc_testkit::metrics::page(format!("{}/metrics", s.etcd.endpoint())).await;
    orc_testkit::metrics::sample(&text, "etcd_debugging_mvcc_watcher_total")
        .expect("etcd reports its watchers") as u64
}

#[tokio::test]
async fn many_clients_share_one_etcd_watch() {
    let s = TestServer::start().await;
    // The server's own caches follow feeds of their own, whose etcd
    // watches tasks open just after start-up: the namespace cache's and the
    // PriorityClass cache's (the RBAC cache runs only in RBAC mode). Count
    // from when both are open.
    const OWN_FEEDS: u64 = 2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let before = loop {
        let watchers = etcd_watchers(&s).await;
        if watchers >= OWN_FEEDS || tokio::time::Instant::now() > deadline {
            break watchers;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        before, OWN_FEEDS,
        "the namespace and PriorityClass caches' feeds are the only watches"
    );
    let mut readers = Vec::new();
    for _ in 0..5 {
        readers.push(WatchReader::open(&s, &format!("{PODS}?watch=true")).await);
    }
    s.post(PODS, &pod("a")).await;
    for r in &mut readers {
        assert_eq!(r.take(1).await, [ev("ADDED", "a")]);
    }
    assert_eq!(
        etcd_watchers(&s).await,
        before + 1,
        "one more, for all five"
    );
}

/// A client that stops reading falls behind the shared feed; rather than
/// buffer without bound (or slow every other watcher down), the server cuts
/// it off with 410 Expired, and the client recovers by re-listing.
///
/// The client is a raw socket with a tiny receive buffer, so the kernel
/// cannot absorb the backlog on its behalf.
#[tokio::test]
async fn a_slow_client_gets_410_and_can_relist() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|c| c.watch.channel = 8).await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(s.addr).await.unwrap();
    let request = format!("GET {cms}?watch=true HTTP/1.1\r\nHost: orc\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let blob = "x".repeat(64 * 1024);
    const N: usize = 160;
    for i in 0..N {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}, "data": {"blob": blob}});
        assert_eq!(s.post(cms, &cm).await.0, 201);
    }
    // Now read everything the server still sends.
    let mut received = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        if received.ends_with(b"0\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&received);
    let added = text.matches(r#"{"type":"ADDED""#).count();
    assert!(
        added < N,
        "the client was cut off before catching up ({added} events)"
    );
    let error = text
        .lines()
        .find(|l| l.starts_with(r#"{"type":"ERROR""#))
        .expect("an ERROR event ends the stream");
    let error: Value = serde_json::from_str(error).unwrap();
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    let (code, list) = s.get(cms).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), N);
}

/// State lives only in etcd: two API servers on one etcd serve the same
/// objects, and a watch on one sees writes made through the other.
#[tokio::test]
async fn two_api_servers_share_one_etcd() {
    let s = TestServer::start().await;
    let (other, task) = s.second().await;
    let mut w = WatchReader::open(&s, &format!("{PODS}?watch=true")).await;
    let response = s
        .http
        .post(format!("http://{other}{PODS}"))
        .json(&pod("via-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(w.take(1).await, [ev("ADDED", "via-b")]);
    let (code, _) = s.get(&format!("{PODS}/via-b")).await;
    assert_eq!(code, 200);
    task.abort();
}

/// A resourceVersion from the future is not "too old": the watch waits
/// for it, and sends what comes after it.
#[tokio::test]
async fn a_future_resource_version_waits() {
    let s = TestServer::start().await;
    let (_, list) = s.get(PODS).await;
    let future = rv(&list) + 2;
    let mut w = WatchReader::open(&s, &format!("{PODS}?watch=true&resourceVersion={future}")).await;
    for name in ["f1", "f2", "f3"] {
        s.post(PODS, &pod(name)).await;
    }
    assert_eq!(
        w.take(1).await,
        [ev("ADDED", "f3")],
        "f1 and f2 are at or before {future}"
    );
}
