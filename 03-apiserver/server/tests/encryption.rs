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

/// A Secret no key opens, as the two tests below make one: written with
/// KEY1, then the server restarted with KEY2 only.
async fn server_with_a_lost_secret(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut orc_apiserver::Config),
) -> TestServer {
    let file = dir.join("encryption.yaml");
    std::fs::write(&file, encryption_config(&aesgcm(&[KEY1]))).unwrap();
    let path = file.clone();
    let mut s = TestServer::start_with(|c| {
        c.encryption_provider_config = Some(path);
        tweak(c);
    })
    .await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "lost"}, "data": {"pw": "aHVudGVyMg=="}});
    let create = s
        .http
        .post(s.url("/api/v1/namespaces/default/secrets"))
        .bearer_auth("admin-token")
        .json(&secret);
    assert_eq!(common::send(create).await.0, 201);
    std::fs::write(&file, encryption_config(&aesgcm(&[KEY2]))).unwrap();
    s.restart().await;
    s
}

/// `delete` on Secrets is not enough for the unsafe delete: the caller
/// also needs the verb `unsafe-delete-ignore-read-errors`, refused in
/// Kubernetes' words until a Role grants it.
#[tokio::test]
async fn the_unsafe_delete_needs_its_own_verb() {
    use orc_apiserver::authz::{Mode, Modes};
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        "admin-token,admin,1,\"system:masters\"\ncarol-token,carol,4\n",
    )
    .unwrap();
    let s = server_with_a_lost_secret(dir.path(), |c| {
        c.token_file = Some(tokens);
        c.authorization = Modes(vec![Mode::Rbac]);
    })
    .await;
    let as_user = |user: &str, method: reqwest::Method, path: &str| {
        s.http
            .request(method, s.url(path))
            .bearer_auth(format!("{user}-token"))
    };
    let role = |verbs: &[&str]| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "secret-deleter", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}]})
    };
    let roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles";
    let create_role = as_user("admin", reqwest::Method::POST, roles).json(&role(&["delete"]));
    assert_eq!(common::send(create_role).await.0, 201);
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "carol-deletes", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-deleter"},
        "subjects": [{"kind": "User", "name": "carol", "apiGroup": "rbac.authorization.k8s.io"}]});
    let bindings = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings";
    let create_binding = as_user("admin", reqwest::Method::POST, bindings).json(&binding);
    assert_eq!(common::send(create_binding).await.0, 201);

    let lost = "/api/v1/namespaces/default/secrets/lost";
    let unsafe_delete = format!("{lost}?ignoreStoreReadErrorWithClusterBreakingPotential=true");
    // The binding reaches the authorizer through a watch: wait until
    // carol's plain delete gets past authorization (and fails on the read).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) = common::send(as_user("carol", reqwest::Method::DELETE, lost)).await;
        if code == 500 {
            break;
        }
        assert_eq!(code, 403);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binding never applied"
        );
    }
    let (code, status) =
        common::send(as_user("carol", reqwest::Method::DELETE, &unsafe_delete)).await;
    assert_eq!(
        (code, &status["reason"]),
        (403, &json!("Forbidden")),
        "{status}"
    );
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "secrets \"lost\" is forbidden: not permitted to do \
             \"unsafe-delete-ignore-read-errors\", reason: "
        ),
        "{message}"
    );
    let (code, _) = common::send(as_user("admin", reqwest::Method::GET, lost)).await;
    assert_eq!(code, 500, "the refused delete removed nothing");

    let update = as_user(
        "admin",
        reqwest::Method::PUT,
        &format!("{roles}/secret-deleter"),
    )
    .json(&role(&["delete", "unsafe-delete-ignore-read-errors"]));
    assert_eq!(common::send(update).await.0, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, status) =
            common::send(as_user("carol", reqwest::Method::DELETE, &unsafe_delete)).await;
        if code == 200 {
            break;
        }
        assert_eq!(code, 403, "{status}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the role's update never applied"
        );
    }
    let (code, _) = common::send(as_user("admin", reqwest::Method::GET, lost)).await;
    assert_eq!(code, 404);
}

/// A watch event whose object no key opens is not dropped: the watchers
/// of its namespace get an ERROR (500, naming the key) and their watch
/// ends, so they re-list; watchers elsewhere go on; the failure is
/// counted on `/metrics`.
#[tokio::test]
async fn an_unreadable_watch_event_ends_the_watch_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with_a_lost_secret(dir.path(), |_| {}).await;
    let mut here = WatchReader::open(
        &s,
        "/api/v1/namespaces/default/secrets?watch=true&resourceVersion=1",
    )
    .await;
    let mut elsewhere =
        WatchReader::open(&s, "/api/v1/namespaces/kube-system/secrets?watch=true").await;
    // The Secret "lost" was written with KEY1 before the restart: from
    // revision 1, the default namespace's watch replays that write.
    let error = here.next(Duration::from_secs(10)).await.expect("an event");
    assert_eq!(error["type"], "ERROR", "{error}");
    assert_eq!(error["object"]["code"], 500);
    assert_eq!(error["object"]["reason"], "InternalError");
    let message = error["object"]["message"].as_str().unwrap();
    assert!(
        message.contains("Key: /registry/secrets/default/lost")
            && message.contains("no matching prefix found"),
        "{message}"
    );
    assert!(here.ended(Duration::from_secs(10)).await, "the watch ends");

    // Another namespace's watch saw nothing of it and goes on.
    let secret =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fine"}, "data": {}});
    assert_eq!(
        s.post("/api/v1/namespaces/kube-system/secrets", &secret)
            .await
            .0,
        201
    );
    let added = elsewhere.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(common::summary(&added), ("ADDED".into(), "fine".into()));

    let metrics = s.http.get(s.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    let count: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("apiserver_storage_decode_errors_total{resource=\"secrets\"} ")
        })
        .expect("the decode errors counter")
        .parse()
        .unwrap();
    assert!(count >= 1, "{text}");
}
