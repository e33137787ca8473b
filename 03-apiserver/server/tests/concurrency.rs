//! Optimistic concurrency: many writers on one object, no lost update.

mod common;

use common::TestServer;
use serde_json::json;

const CM: &str = "/api/v1/namespaces/default/configmaps";

/// Each writer reads the counter, adds one, and PUTs with the version it
/// read; on 409 it reads again. If compare-and-swap works, the final count
/// equals the number of successful writes, and every loser saw a 409.
#[tokio::test]
async fn concurrent_writers_lose_no_update() {
    let s = TestServer::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "counter"}, "data": {"n": "0"}});
    assert_eq!(s.post(CM, &cm).await.0, 201);
    const WRITERS: usize = 8;
    const INCREMENTS: usize = 10;
    let url = s.url(&format!("{CM}/counter"));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (http, url) = (s.http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let mut obj: serde_json::Value =
                        http.get(&url).send().await.unwrap().json().await.unwrap();
                    let n: u64 = obj["data"]["n"].as_str().unwrap().parse().unwrap();
                    obj["data"]["n"] = json!((n + 1).to_string());
                    let response = http.put(&url).json(&obj).send().await.unwrap();
                    match response.status().as_u16() {
                        200 => break,
                        409 => {
                            let status: serde_json::Value = response.json().await.unwrap();
                            assert_eq!(status["reason"], "Conflict");
                            conflicts += 1;
                        }
                        other => panic!("unexpected {other}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let (_, obj) = s.get(&format!("{CM}/counter")).await;
    assert_eq!(
        obj["data"]["n"],
        (WRITERS * INCREMENTS).to_string(),
        "no lost update"
    );
    assert!(
        conflicts > 0,
        "with {WRITERS} writers some must have lost a race"
    );
}

/// Concurrent creates of one name: exactly one wins.
#[tokio::test]
async fn concurrent_creates_have_one_winner() {
    let s = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (http, url) = (s.http.clone(), s.url(CM));
        tasks.push(tokio::spawn(async move {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}, "data": {"who": i.to_string()}});
            http.post(url).json(&cm).send().await.unwrap().status().as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 409).count(), 9, "{codes:?}");
}

/// Patches without a resourceVersion are retried by the server, so
/// concurrent label patches all land.
#[tokio::test]
async fn concurrent_patches_all_land() {
    let s = TestServer::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}});
    assert_eq!(s.post(CM, &cm).await.0, 201);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (http, url) = (s.http.clone(), s.url(&format!("{CM}/p")));
        tasks.push(tokio::spawn(async move {
            let body = format!(r#"{{"metadata":{{"labels":{{"l{i}":"x"}}}}}}"#);
            let r = http
                .patch(url)
                .header("content-type", "application/merge-patch+json")
                .body(body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let (_, obj) = s.get(&format!("{CM}/p")).await;
    assert_eq!(obj["metadata"]["labels"].as_object().unwrap().len(), 6);
}

/// Kubernetes' GuaranteedUpdate: a PATCH without a resourceVersion
/// precondition is re-applied to the newest object until it lands, however
/// many writers race. (With a fixed number of retries, 32 writers got 409
/// on more than half their patches.)
#[tokio::test]
async fn unconditional_patches_never_conflict() {
    let s = TestServer::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "many"}});
    assert_eq!(s.post(CM, &cm).await.0, 201);
    const WRITERS: usize = 32;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (http, url) = (s.http.clone(), s.url(&format!("{CM}/many")));
        tasks.push(tokio::spawn(async move {
            let patch = json!({"data": {format!("writer-{i}"): "done"}});
            let response = http
                .patch(url)
                .header("content-type", "application/merge-patch+json")
                .body(patch.to_string())
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert!(codes.iter().all(|c| *c == 200), "{codes:?}");
    let (_, obj) = s.get(&format!("{CM}/many")).await;
    let written = obj["data"].as_object().unwrap().len();
    assert_eq!(written, WRITERS, "every writer's key is there: {obj}");
}
