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
async fn a_full_etcd_refuses_writes_clearly_and_the_server_is_not_ready() {
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
    assert_eq!(code, 500, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("database space exceeded") && message.contains("orc etcd defrag"),
        "{message}"
    );
    let (code, body) = text(&server, "/readyz?verbose").await;
    assert_eq!(code, 500, "{body}");
    assert!(
        body.contains("[-]etcd-alarms failed: etcd alarms raised: NOSPACE"),
        "{body}"
    );
    // Alive all the same: a restart would not make room.
    assert_eq!(text(&server, "/livez").await, (200, "ok".into()));
}
