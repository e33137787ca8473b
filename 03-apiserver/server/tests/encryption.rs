//! Secrets are ciphertext in etcd and plain JSON through the API.

mod common;

use std::time::Duration;

use common::kubectl::{kubeconfig, kubectl};
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

/// An EncryptionConfiguration for Secrets with these providers (YAML
/// list items, already indented).
fn encryption_config(providers: &str) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
         resources:\n  - resources: [secrets]\n    providers:\n{providers}"
    )
}

/// One aesgcm provider with these `(name, base64 secret)` keys.
fn aesgcm(keys: &[(&str, &str)]) -> String {
    let mut out = "      - aesgcm:\n          keys:\n".to_string();
    for (name, secret) in keys {
        out += &format!("            - name: {name}\n              secret: {secret}\n");
    }
    out
}

const KEY1: (&str, &str) = ("key1", "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=");
const KEY2: (&str, &str) = ("key2", "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=");

/// The stored value of Secret `name` in `default`, as etcdctl prints it.
fn stored(s: &TestServer, name: &str) -> String {
    s.etcdctl(&[
        "get",
        &format!("/registry/secrets/default/{name}"),
        "--print-value-only",
    ])
}

/// Kubernetes' rotation procedure, step by step, with the real kubectl:
/// add key2 second, restart; make it first, restart; rewrite every Secret
/// (`kubectl get secrets -A -o json | kubectl replace -f -`); remove key1,
/// restart. Every Secret stays readable, and etcd ends up holding key2's
/// ciphertext only.
#[tokio::test]
async fn keys_rotate_by_kubernetes_procedure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("encryption.yaml");
    std::fs::write(&file, encryption_config(&aesgcm(&[KEY1]))).unwrap();
    let path = file.clone();
    let mut s = TestServer::start_with(|c| c.encryption_provider_config = Some(path)).await;
    let names = ["a", "b", "c"];
    let config = kubeconfig(dir.path(), &s, "unused");
    for name in names {
        let (ok, out) = kubectl(
            dir.path(),
            &config,
            &[
                "create",
                "secret",
                "generic",
                name,
                &format!("--from-literal=pw={name}-hunter2"),
            ],
        )
        .await;
        assert!(ok, "{out}");
        assert!(stored(&s, name).starts_with("k8s:enc:aesgcm:v1:key1:"));
    }

    // Step 1: key2 added as a second key; every API server can read it
    // before any writes with it. Step 2: key2 first.
    for keys in [[KEY1, KEY2], [KEY2, KEY1]] {
        std::fs::write(&file, encryption_config(&aesgcm(&keys))).unwrap();
        s.restart().await;
    }
    let config = kubeconfig(dir.path(), &s, "unused");
    assert!(
        stored(&s, "a").starts_with("k8s:enc:aesgcm:v1:key1:"),
        "not rewritten yet"
    );

    // Step 3: rewrite every Secret, as Kubernetes' documentation does.
    let mut get = orc_testkit::kubectl::command(dir.path(), &config);
    get.args(["get", "secrets", "--all-namespaces", "-o", "json"]);
    let listed = tokio::task::spawn_blocking(move || get.output().unwrap())
        .await
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let list_file = dir.path().join("secrets.json");
    std::fs::write(&list_file, &listed.stdout).unwrap();
    let (ok, out) = kubectl(
        dir.path(),
        &config,
        &["replace", "-f", list_file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    for name in names {
        assert!(out.contains(&format!("secret/{name} replaced")), "{out}");
        assert!(
            stored(&s, name).starts_with("k8s:enc:aesgcm:v1:key2:"),
            "{}",
            stored(&s, name)
        );
    }

    // Step 4: key1 removed; everything still reads.
    std::fs::write(&file, encryption_config(&aesgcm(&[KEY2]))).unwrap();
    s.restart().await;
    let config = kubeconfig(dir.path(), &s, "unused");
    for name in names {
        let (ok, out) = kubectl(
            dir.path(),
            &config,
            &["get", "secret", name, "-o", "jsonpath={.data.pw}"],
        )
        .await;
        assert!(ok, "{out}");
        let plain = String::from_utf8(base64_decode(out.trim())).unwrap();
        assert_eq!(plain, format!("{name}-hunter2"));
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// A Secret written with a key the configuration no longer lists: the
/// LIST answers the others and names it in a warning, a GET is a 500 that
/// says which key is missing, a plain DELETE cannot check it and fails,
/// and the unsafe delete removes it.
#[tokio::test]
async fn an_unreadable_secret_is_named_and_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("encryption.yaml");
    std::fs::write(&file, encryption_config(&aesgcm(&[KEY1]))).unwrap();
    let path = file.clone();
    let mut s = TestServer::start_with(|c| c.encryption_provider_config = Some(path)).await;
    let secrets = "/api/v1/namespaces/default/secrets";
    let secret = |name: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"pw": "aHVudGVyMg=="}});
    assert_eq!(s.post(secrets, &secret("lost")).await.0, 201);

    // key1 gone for good (no rotation): "lost" cannot be opened.
    std::fs::write(&file, encryption_config(&aesgcm(&[KEY2]))).unwrap();
    s.restart().await;
    assert_eq!(s.post(secrets, &secret("new")).await.0, 201);

    let response = s.http.get(s.url(secrets)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let list: serde_json::Value = response.json().await.unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["new"], "the readable Secret is listed");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(r#"secrets \"lost\" in namespace \"default\" could not be read"#)
            && warnings[0].contains("k8s:enc:aesgcm:v1:key1:"),
        "{warnings:?}"
    );
    // kubectl shows the warning beside the table.
    let config = kubeconfig(dir.path(), &s, "unused");
    let (ok, out) = kubectl(dir.path(), &config, &["get", "secrets"]).await;
    assert!(
        ok && out.contains("new") && out.contains("Warning: secrets \"lost\""),
        "{out}"
    );

    let (code, status) = s.get(&format!("{secrets}/lost")).await;
    assert_eq!(code, 500, "{status}");
    assert_eq!(status["reason"], "InternalError");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Internal error occurred: StorageError: corrupt object, Code: 7, Key: /registry/secrets/default/lost"
        ) && message.contains("no matching prefix found")
            && message.contains("\"k8s:enc:aesgcm:v1:key1:\""),
        "{message}"
    );

    let (code, _) = s.delete(&format!("{secrets}/lost")).await;
    assert_eq!(
        code, 500,
        "a delete that cannot read finalizers does not guess"
    );
    let unsafe_delete =
        format!("{secrets}/lost?ignoreStoreReadErrorWithClusterBreakingPotential=true");
    let (code, status) = s.delete(&unsafe_delete).await;
    assert_eq!(
        (code, &status["status"]),
        (200, &json!("Success")),
        "{status}"
    );
    assert_eq!(s.get(&format!("{secrets}/lost")).await.0, 404);
    assert_eq!(s.get(&format!("{secrets}/new")).await.0, 200);
    // On a readable object the option changes nothing: a normal delete.
    let (code, gone) = s
        .delete(&format!(
            "{secrets}/new?ignoreStoreReadErrorWithClusterBreakingPotential=true"
        ))
        .await;
    assert_eq!((code, &gone["metadata"]["name"]), (200, &json!("new")));
}

/// A bad configuration file stops the server with the file, the field and
/// the fix in one message.
#[tokio::test]
async fn a_bad_configuration_names_the_file_and_the_field() {
    let etcd = orc_testkit::Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("encryption.yaml");
    std::fs::write(&file, encryption_config(&aesgcm(&[("k", "c2hvcnQ=")]))).unwrap();
    let mut config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
    config.encryption_provider_config = Some(file.clone());
    let Err(error) = orc_apiserver::Server::bind(config).await else {
        panic!("a 5-byte key must not start a server");
    };
    assert_eq!(
        error.to_string(),
        format!(
            "error while parsing encryption provider configuration file {file:?}: \
             resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: \"REDACTED\": \
             secret is not of the expected length, got 5, expected one of [16, 24, 32] \
             (make one with `head -c 32 /dev/urandom | base64`)"
        )
    );
}
