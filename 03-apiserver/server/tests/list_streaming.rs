//! A LIST read from etcd in chunks at one revision and streamed
//! (`handlers/listing.rs`, `handlers/list_body.rs`): what a client sees,
//! and how many reads etcd serves.

mod common;

use common::TestServer;
use etcd_client::{Txn, TxnOp};
use serde_json::{Value, json};

/// Writes ConfigMaps `cm-0000`.. straight into etcd (the API server's
/// layout and JSON), a hundred per transaction: the tests are about
/// reading, and this is far quicker than `n` creates.
async fn seed(server: &TestServer, n: usize, labelled: impl Fn(usize) -> bool, payload: usize) {
    let client = etcd_client::Client::connect([server.etcd.endpoint()], None)
        .await
        .unwrap();
    let mut kv = client.kv_client();
    let names: Vec<usize> = (0..n).collect();
    for batch in names.chunks(100) {
        let puts: Vec<TxnOp> = batch
            .iter()
            .map(|&i| {
                let name = format!("cm-{i:04}");
                let labels = if labelled(i) {
                    json!({"sel": "yes"})
                } else {
                    json!({"sel": "no"})
                };
                let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "default", "labels": labels,
                        "uid": format!("uid-{i}"), "creationTimestamp": "2026-01-01T00:00:00Z"},
                    "data": {"payload": "x".repeat(payload)}});
                let key = format!("/registry/configmaps/default/{name}");
                TxnOp::put(key, serde_json::to_vec(&obj).unwrap(), None)
            })
            .collect();
        kv.txn(Txn::new().and_then(puts)).await.unwrap();
    }
}

/// `(range reads, keys fetched)` of LISTs of ConfigMaps so far, from
/// `/metrics`.
async fn configmap_reads(server: &TestServer) -> (u64, u64) {
    let text = metrics(server).await;
    let read = |name: &str| {
        let line = format!("{name}{{resource=\"configmaps\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    (
        read("orc_storage_list_requests_total"),
        read("orc_storage_list_fetched_objects_total"),
    )
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_filtered_list_with_limit_reads_etcd_in_doubling_chunks() {
    let server = TestServer::start().await;
    // 500 ConfigMaps, one in ten selected: cm-0000, cm-0010, ...
    seed(&server, 500, |i| i % 10 == 0, 10).await;
    let (reads_before, keys_before) = configmap_reads(&server).await;
    let path = "/api/v1/namespaces/default/configmaps?labelSelector=sel%3Dyes&limit=20";
    let (code, page) = server.get(path).await;
    assert_eq!(code, 200, "{page}");
    let (reads, keys) = configmap_reads(&server).await;
    // Kubernetes' rule: 20 keys, then 40, 80, 160 (2 + 4 + 8 matches,
    // then the 6 still missing among the next 160 keys). Asking only for
    // what is missing instead reads 20, 18, 16, ... keys: dozens of round
    // trips for one page.
    assert_eq!(reads - reads_before, 4, "etcd reads for one page");
    assert_eq!(keys - keys_before, 20 + 40 + 80 + 160, "keys fetched");
    let first = names(&page);
    assert_eq!(first.len(), 20);
    assert_eq!(first[0], "cm-0000");
    assert_eq!(first[19], "cm-0190");
    // The continue token points after the last key looked at (cm-0190),
    // not after the chunk: the next page starts with cm-0200.
    let token = page["metadata"]["continue"]
        .as_str()
        .expect("a continue token");
    let mut all = first;
    let mut token = token.to_string();
    loop {
        let (code, page) = server.get(&format!("{path}&continue={token}")).await;
        assert_eq!(code, 200, "{page}");
        all.extend(names(&page));
        match page["metadata"]["continue"].as_str() {
            Some(next) => token = next.to_string(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..500).step_by(10).map(|i| format!("cm-{i:04}")).collect();
    assert_eq!(all, expected, "every selected object once, in key order");
}

#[tokio::test]
async fn a_big_list_is_streamed_in_chunks_of_one_revision() {
    let server = TestServer::start().await;
    // 1,200 ConfigMaps of 8 KiB: 10 MB, more than loopback's socket
    // buffers take at once, so the server is still reading chunks while
    // the test changes the collection below.
    seed(&server, 1200, |_| true, 8 * 1024).await;
    let (reads_before, _) = configmap_reads(&server).await;
    let mut response = server
        .http
        .get(server.url("/api/v1/namespaces/default/configmaps"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Streamed: no Content-Length, the size is not known up front.
    assert!(
        response.content_length().is_none(),
        "{:?}",
        response.headers()
    );
    let mut body = response
        .chunk()
        .await
        .unwrap()
        .expect("a first chunk")
        .to_vec();
    // Change the collection mid-stream: a new object, a late one deleted.
    let (code, created) = server
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": "cm-9999"}, "data": {"a": "b"}}),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let (code, deleted) = server
        .delete("/api/v1/namespaces/default/configmaps/cm-1199")
        .await;
    assert_eq!(code, 200, "{deleted}");
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let list: Value = serde_json::from_slice(&body).expect("the streamed body is one JSON list");
    assert_eq!(list["kind"], "ConfigMapList");
    let names = names(&list);
    // One snapshot: as the collection was when the LIST began.
    assert_eq!(names.len(), 1200);
    assert_eq!(names.last().unwrap(), "cm-1199");
    assert!(!names.contains(&"cm-9999".to_string()));
    let revision: i64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let created_at: i64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        revision < created_at,
        "list at {revision}, create at {created_at}"
    );
    // Chunks of 500 keys: three reads.
    let (reads, _) = configmap_reads(&server).await;
    assert_eq!(reads - reads_before, 3);
}

#[tokio::test]
async fn a_streamed_table_has_every_row() {
    let server = TestServer::start().await;
    seed(&server, 1100, |_| true, 10).await;
    let (code, table) = common::send(
        server
            .http
            .get(server.url("/api/v1/namespaces/default/configmaps"))
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io"),
    )
    .await;
    assert_eq!(code, 200, "{table}");
    assert_eq!(table["kind"], "Table");
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1100);
    assert_eq!(rows[1099]["cells"][0], "cm-1099");
    assert_eq!(rows[0]["object"]["kind"], "PartialObjectMetadata");
    assert!(table["metadata"]["resourceVersion"].as_str().is_some());
    assert_eq!(table["columnDefinitions"][0]["name"], "Name");
}

#[tokio::test]
async fn an_object_unreadable_after_the_headers_breaks_the_stream_then_is_warned() {
    // Streamed from etcd: a watch cache snapshot is looked at whole
    // before its headers (`tests/watch_cache.rs`).
    let server = TestServer::start_with(|c| c.watch_cache.enabled = false).await;
    seed(&server, 600, |_| true, 10).await;
    // Past the first chunk of 500: found after the headers went out.
    server.etcdctl(&["put", "/registry/configmaps/default/cm-0550x", "not json"]);
    let url = server.url("/api/v1/namespaces/default/configmaps");
    let response = server.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // The body does not end as a list does: the transfer breaks, or what
    // arrived is not a whole JSON document. Never a list that looks
    // complete without the object.
    match response.bytes().await {
        Err(_) => {}
        Ok(body) => assert!(
            serde_json::from_slice::<Value>(&body).is_err(),
            "a complete-looking body: {} bytes",
            body.len()
        ),
    }
    // The next LIST names it before its headers, and answers the rest.
    let response = server.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("cm-0550x"), "{warnings:?}");
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 600);
}

/// `apiserver_request_total` of LISTs of ConfigMaps answered 200.
async fn lists_counted(server: &TestServer) -> u64 {
    let text = metrics(server).await;
    let line = "apiserver_request_total{verb=\"list\",resource=\"configmaps\",code=\"200\"} ";
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Stops (`STOP`) or resumes (`CONT`) the test's etcd.
fn signal_etcd(server: &TestServer, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &server.etcd.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// 2,400 ConfigMaps of 8 KiB: 20 MB, five chunks, far more than
/// loopback's socket buffers hold, so a client that has the headers and
/// reads nothing leaves the server with chunks still to read.
const MANY: usize = 2400;

#[tokio::test]
async fn a_streamed_list_is_counted_in_the_metrics_at_its_last_byte() {
    let server = TestServer::start().await;
    seed(&server, MANY, |_| true, 8 * 1024).await;
    let response = server
        .http
        .get(server.url("/api/v1/namespaces/default/configmaps"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.content_length().is_none(), "streamed");
    // The headers are out, the body is not: the request is not over.
    assert_eq!(lists_counted(&server).await, 0);
    let list: Value = response.json().await.unwrap();
    assert_eq!(names(&list).len(), MANY);
    assert_eq!(lists_counted(&server).await, 1);
}

#[tokio::test]
async fn a_streamed_list_still_running_at_the_request_timeout_is_cut() {
    let timeout = std::time::Duration::from_secs(2);
    // Streamed from etcd, which the test stops mid-list (a LIST from the
    // watch cache reads no etcd after its start).
    let server = TestServer::start_with(|c| {
        c.limits.request_timeout = timeout;
        c.watch_cache.enabled = false;
    })
    .await;
    seed(&server, MANY, |_| true, 8 * 1024).await;
    let response = server
        .http
        .get(server.url("/api/v1/namespaces/default/configmaps"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // etcd stops answering: the next chunk's read hangs, and the client,
    // reading all the while, would wait for ever.
    signal_etcd(&server, "STOP");
    let started = std::time::Instant::now();
    let read = tokio::time::timeout(timeout * 30, response.bytes()).await;
    signal_etcd(&server, "CONT");
    let read = read.expect("the body ends at the request timeout, not never");
    assert!(read.is_err(), "a cut body, never a list that looks whole");
    println!("cut after {:?}", started.elapsed());
    // Counted, with the status it was sent with.
    assert_eq!(lists_counted(&server).await, 1);
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_connection_and_slot_at_the_timeout() {
    let timeout = std::time::Duration::from_secs(2);
    let server = TestServer::start_with(|c| {
        c.limits.request_timeout = timeout;
        c.limits.max_requests_inflight = 1;
        // Streamed from etcd, as the other two (the cache's fill of 20 MB
        // in a debug build could outlast the 2 s timeout itself).
        c.watch_cache.enabled = false;
    })
    .await;
    seed(&server, MANY, |_| true, 8 * 1024).await;
    let stalled = server
        .http
        .get(server.url("/api/v1/namespaces/default/configmaps"))
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.status(), 200);
    // The stalled LIST holds the only reading slot...
    let probe = "/api/v1/namespaces/default/configmaps?limit=1";
    let (code, _) = server.get(probe).await;
    assert_eq!(code, 429);
    // ...until the timeout (and a grace) closes its connection.
    let deadline = std::time::Instant::now() + timeout * 30;
    loop {
        let (code, body) = server.get(probe).await;
        if code == 200 {
            break;
        }
        assert_eq!(code, 429, "{body}");
        assert!(std::time::Instant::now() < deadline, "never released");
        tokio::task::yield_now().await;
    }
    let read = tokio::time::timeout(timeout * 30, stalled.bytes()).await;
    assert!(read.expect("closed").is_err(), "a cut body");
}

/// The server's `/metrics` page.
async fn metrics(server: &TestServer) -> String {
    orc_testkit::metrics::page(server.url("/metrics")).await
}
