//! Secrets are ciphertext in etcd and plain JSON through the API.

mod common;

use std::time::Duration;

use common::{TestServer, WatchReader};
use serde_json::json;

#[tokio::test]
async fn secrets_are_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key1.hex");
    std::fs::write(
        &key,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    let s = TestServer::start_with(|c| c.encryption_key_file = Some(key)).await;
    let secrets = "/api/v1/namespaces/default/secrets";
    let mut w = WatchReader::open(&s, &format!("{secrets}?watch=true")).await;
    // "hunter2" in base64, as Secret data always is.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}});
    assert_eq!(s.post(secrets, &secret).await.0, 201);

    let raw = s.etcdctl(&["get", "/registry/secrets/default/db", "--print-value-only"]);
    assert!(raw.starts_with("k8s:enc:aesgcm:v1:key1:"), "{raw}");
    assert!(
        !raw.contains("aHVudGVyMg==") && !raw.contains("\"data\""),
        "no plaintext in etcd"
    );

    let (_, got) = s.get(&format!("{secrets}/db")).await;
    assert_eq!(got["data"]["password"], "aHVudGVyMg==");
    let event = w.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        event["object"]["data"]["password"], "aHVudGVyMg==",
        "the watch decrypts too"
    );

    // Other kinds stay readable JSON.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    s.post("/api/v1/namespaces/default/configmaps", &cm).await;
    let raw = s.etcdctl(&[
        "get",
        "/registry/configmaps/default/c",
        "--print-value-only",
    ]);
    assert!(raw.starts_with('{'), "{raw}");
}
