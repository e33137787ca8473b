//! ServiceAccounts and their tokens, as an operator meets them: `kubectl
//! create sa`, `kubectl create token`, the token used with `--token`
//! under RBAC, TokenReview, tokens bound to a pod, and tokens that stop
//! working when what they are bound to is deleted.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use common::kubectl::{kubectl, self_signed_cert};
use common::{TestServer, send};
use orc_apiserver::authz::{Mode, Modes};
use orc_apiserver::pki::PkiDir;
use serde_json::{Value, json};

/// `admin` is in `system:masters`.
const TOKENS: &str = "admin-token,admin,1,\"system:masters\"\n";

/// A server with a service account key and the admin's token; `tweak`
/// adds TLS and RBAC where kubectl is used.
async fn server(dir: &Path, tweak: impl FnOnce(&mut orc_apiserver::Config)) -> TestServer {
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    let key = PkiDir::open(&dir.join("pki"))
        .unwrap()
        .service_account_key()
        .unwrap();
    TestServer::start_with(|c| {
        c.token_file = Some(tokens);
        c.service_account_key_file = Some(key);
        tweak(c);
    })
    .await
}

/// An HTTPS server with RBAC, and the admin's kubeconfig.
async fn rbac_cluster(dir: &Path) -> (TestServer, PathBuf) {
    let (cert, key) = self_signed_cert(dir);
    let server = server(dir, |c| {
        c.tls = Some((cert, key));
        c.authorization = Modes(vec![Mode::Rbac]);
    })
    .await;
    let config = orc_testkit::kubectl::https_kubeconfig(dir, server.addr, "admin-token");
    (server, config)
}

/// kubectl as the admin, asserting success; its output.
async fn admin(dir: &Path, config: &Path, args: &[&str]) -> String {
    let (ok, out) = kubectl(dir, config, args).await;
    assert!(ok, "kubectl {args:?}: {out}");
    out
}

#[tokio::test]
async fn a_token_from_kubectl_create_token_is_its_service_account_under_rbac() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let (_server, config) = rbac_cluster(dir).await;
    admin(dir, &config, &["create", "serviceaccount", "robot"]).await;
    let listed = admin(dir, &config, &["get", "sa"]).await;
    let header = listed.lines().next().unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "SECRETS", "AGE"],
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["robot", "0"])),
        "{listed}"
    );

    let token = admin(dir, &config, &["create", "token", "robot"]).await;
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let as_robot = |args: &[&str]| {
        let mut all = vec!["--token", token];
        all.extend_from_slice(args);
        let config = config.clone();
        let args: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kubectl(dir, &config, &args).await
        }
    };
    let (ok, out) = as_robot(&["auth", "whoami"]).await;
    assert!(ok, "{out}");
    for expected in [
        "system:serviceaccount:default:robot",
        "system:serviceaccounts:default",
        "system:authenticated",
    ] {
        assert!(out.contains(expected), "{expected} in {out}");
    }
    let (ok, out) = as_robot(&["get", "pods"]).await;
    assert!(!ok);
    assert!(
        out.contains("pods is forbidden: User \"system:serviceaccount:default:robot\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
        "{out}"
    );

    // A Role and a RoleBinding to the ServiceAccount, as kubectl makes them.
    admin(
        dir,
        &config,
        &[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list",
            "--resource=pods",
        ],
    )
    .await;
    admin(
        dir,
        &config,
        &[
            "create",
            "rolebinding",
            "robot-reads",
            "--role=pod-reader",
            "--serviceaccount=default:robot",
        ],
    )
    .await;
    // The binding reaches the authorizer through a watch: an event away.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = as_robot(&["get", "pods"]).await;
        if ok {
            assert!(out.contains("No resources found"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "never allowed: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, out) = as_robot(&["get", "secrets"]).await;
    assert!(
        !ok && out.contains("cannot list resource \"secrets\""),
        "{out}"
    );

    // Deleting the ServiceAccount revokes its tokens; a new one of the
    // same name is another account (another uid), and the token stays dead.
    admin(dir, &config, &["delete", "serviceaccount", "robot"]).await;
    let (ok, out) = as_robot(&["get", "pods"]).await;
    assert!(!ok && out.contains("Unauthorized"), "{out}");
    admin(dir, &config, &["create", "serviceaccount", "robot"]).await;
    let (ok, out) = as_robot(&["get", "pods"]).await;
    assert!(!ok && out.contains("Unauthorized"), "{out}");
}

#[tokio::test]
async fn kubectl_create_token_refuses_what_kubernetes_refuses() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let (_server, config) = rbac_cluster(dir).await;
    let (ok, out) = kubectl(dir, &config, &["create", "token", "ghost"]).await;
    assert!(!ok);
    assert!(out.contains("serviceaccounts \"ghost\" not found"), "{out}");
    admin(dir, &config, &["create", "sa", "robot"]).await;
    let (ok, out) = kubectl(dir, &config, &["create", "token", "robot", "--duration=5m"]).await;
    assert!(!ok);
    assert!(
        out.contains("may not specify a duration less than 10 minutes"),
        "{out}"
    );
    let token = admin(dir, &config, &["create", "token", "robot", "--duration=2h"]).await;
    let claims = claims(token.trim());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );
}

/// The claims of a JWT, decoded (no signature check: what `jwt.io` shows).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Requests as the admin, on the plain-HTTP server.
async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    send(
        server
            .http
            .request(method, server.url(path))
            .bearer_auth("admin-token")
            .json(body),
    )
    .await
}

async fn review(server: &TestServer, token: &str, audiences: &[&str]) -> Value {
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": audiences},
    });
    let path = "/apis/authentication.k8s.io/v1/tokenreviews";
    let (code, answer) = call(server, reqwest::Method::POST, path, &body).await;
    assert_eq!(code, 201, "{answer}");
    answer["status"].clone()
}

#[tokio::test]
async fn a_pod_bound_token_carries_the_pod_and_dies_with_it() {
    let temp = tempfile::tempdir().unwrap();
    let server = server(temp.path(), |_| {}).await;
    let post = reqwest::Method::POST;
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}});
    let (code, sa) = call(
        &server,
        post.clone(),
        "/api/v1/namespaces/default/serviceaccounts",
        &sa,
    )
    .await;
    assert_eq!(code, 201, "{sa}");
    let mut pod = common::pod("web");
    pod["spec"]["serviceAccountName"] = json!("app");
    let (code, pod) = call(
        &server,
        post.clone(),
        "/api/v1/namespaces/default/pods",
        &pod,
    )
    .await;
    assert_eq!(code, 201, "{pod}");

    let request = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": pod["metadata"]["uid"]}},
    });
    let path = "/api/v1/namespaces/default/serviceaccounts/app/token";
    let (code, answer) = call(&server, post.clone(), path, &request).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["spec"]["expirationSeconds"], 3600);
    assert!(
        answer["status"]["expirationTimestamp"].is_string(),
        "{answer}"
    );
    let token = answer["status"]["token"].as_str().unwrap().to_string();
    let c = claims(&token);
    assert_eq!(c["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(
        c["aud"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    assert_eq!(c["sub"], "system:serviceaccount:default:app");
    assert_eq!(c["kubernetes.io"]["namespace"], "default");
    assert_eq!(
        c["kubernetes.io"]["serviceaccount"]["uid"],
        sa["metadata"]["uid"]
    );
    assert_eq!(c["kubernetes.io"]["pod"]["name"], "web");
    assert_eq!(c["kubernetes.io"]["pod"]["uid"], pod["metadata"]["uid"]);
    assert_eq!(c["nbf"], c["iat"]);

    let status = review(&server, &token, &[]).await;
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(
        status["user"]["username"],
        "system:serviceaccount:default:app"
    );
    assert_eq!(status["user"]["uid"], sa["metadata"]["uid"]);
    assert_eq!(
        status["user"]["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["web"])
    );
    // A token for the API server is no token for someone else.
    let status = review(&server, &token, &["vault"]).await;
    assert_eq!(status["authenticated"], Value::Null, "{status}");
    assert!(
        status["error"].as_str().unwrap().contains("audiences"),
        "{status}"
    );
    // The token works as a bearer token.
    let (code, _) = send(
        server
            .http
            .get(server.url("/api/v1/namespaces/default/pods"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(code, 200);

    // A pod runs as one ServiceAccount: no token of another for it.
    let other =
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other"}});
    call(
        &server,
        post.clone(),
        "/api/v1/namespaces/default/serviceaccounts",
        &other,
    )
    .await;
    let path = "/api/v1/namespaces/default/serviceaccounts/other/token";
    let (code, answer) = call(&server, post.clone(), path, &request).await;
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("cannot bind token for serviceaccount \"other\""),
        "{answer}"
    );

    // The pod deleted (never scheduled: at once), its token is refused.
    let (code, _) = call(
        &server,
        reqwest::Method::DELETE,
        "/api/v1/namespaces/default/pods/web",
        &json!({}),
    )
    .await;
    assert_eq!(code, 200);
    let status = review(&server, &token, &[]).await;
    assert_eq!(status["authenticated"], Value::Null, "{status}");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("pod default/web has been deleted"),
        "{status}"
    );
    let (code, _) = send(
        server
            .http
            .get(server.url("/api/v1/namespaces/default/pods"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn a_token_review_needs_a_token_and_says_no_to_strangers() {
    let temp = tempfile::tempdir().unwrap();
    let server = server(temp.path(), |_| {}).await;
    let path = "/apis/authentication.k8s.io/v1/tokenreviews";
    let empty =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}});
    let (code, answer) = call(&server, reqwest::Method::POST, path, &empty).await;
    assert_eq!(code, 400, "{answer}");
    assert_eq!(
        answer["message"],
        "token is required for TokenReview in authentication"
    );
    let status = review(&server, "not-a-token", &[]).await;
    assert_eq!(status["authenticated"], Value::Null, "{status}");
    // The token file's tokens are reviewed too.
    let status = review(&server, "admin-token", &[]).await;
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["user"]["username"], "admin");
}

/// A pod as created through `server` in `ns`: the answer's code and body.
async fn create_pod(server: &TestServer, ns: &str, pod: &Value) -> (u16, Value) {
    let path = format!("/api/v1/namespaces/{ns}/pods");
    call(server, reqwest::Method::POST, &path, pod).await
}

async fn create_account(server: &TestServer, ns: &str, account: Value) {
    let path = format!("/api/v1/namespaces/{ns}/serviceaccounts");
    let (code, answer) = call(server, reqwest::Method::POST, &path, &account).await;
    assert_eq!(code, 201, "{answer}");
}

#[tokio::test]
async fn the_service_account_admission_names_checks_and_mounts() {
    let temp = tempfile::tempdir().unwrap();
    let server = server(temp.path(), |c| c.service_account_admission = true).await;

    // No `default` account yet (no controller here): refused, in
    // Kubernetes' words, after looking again for a while.
    let (code, answer) = create_pod(&server, "default", &common::pod("web")).await;
    assert_eq!(code, 403, "{answer}");
    assert_eq!(
        answer["message"],
        "pods \"web\" is forbidden: error looking up service account default/default: \
         serviceaccount \"default\" not found"
    );
    assert_eq!(answer["reason"], "Forbidden");

    // A pod racing its namespace's `default` account: the account made
    // while the create is looking for it is found.
    let racing = {
        let http = server.http.clone();
        let url = server.url("/api/v1/namespaces/default/pods");
        tokio::spawn(send(
            http.post(url)
                .bearer_auth("admin-token")
                .json(&common::pod("early")),
        ))
    };
    create_account(&server, "default", json!({"metadata": {"name": "default"}})).await;
    let (code, early) = racing.await.unwrap();
    assert_eq!(code, 201, "{early}");

    let mut pod = common::pod("web");
    pod["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox:1.36"}]);
    let (code, web) = create_pod(&server, "default", &pod).await;
    assert_eq!(code, 201, "{web}");
    let spec = &web["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default");
    let volume = &spec["volumes"][0];
    let name = volume["name"].as_str().unwrap();
    assert!(
        name.len() == "kube-api-access-".len() + 5 && name.starts_with("kube-api-access-"),
        "{name}"
    );
    assert_eq!(
        volume["projected"],
        json!({"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]})
    );
    let mount = json!([{"name": name, "readOnly": true,
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]);
    assert_eq!(spec["containers"][0]["volumeMounts"], mount);
    assert_eq!(spec["initContainers"][0]["volumeMounts"], mount);

    // An account that does not exist is refused at once.
    let mut robot = common::pod("robot");
    robot["spec"]["serviceAccountName"] = json!("robot");
    let (code, answer) = create_pod(&server, "default", &robot).await;
    assert_eq!(code, 403, "{answer}");
    assert_eq!(
        answer["message"],
        "pods \"robot\" is forbidden: error looking up service account default/robot: \
         serviceaccount \"robot\" not found"
    );
}

#[tokio::test]
async fn automount_false_on_the_account_or_the_pod_leaves_the_token_out() {
    let temp = tempfile::tempdir().unwrap();
    let server = server(temp.path(), |c| c.service_account_admission = true).await;
    let quiet = json!({"metadata": {"name": "quiet"}, "automountServiceAccountToken": false});
    create_account(&server, "default", quiet).await;
    create_account(&server, "default", json!({"metadata": {"name": "default"}})).await;

    let mut pod = common::pod("a");
    pod["spec"]["serviceAccountName"] = json!("quiet");
    let (code, a) = create_pod(&server, "default", &pod).await;
    assert_eq!(code, 201, "{a}");
    assert!(a["spec"].get("volumes").is_none(), "{a}");
    assert!(
        a["spec"]["containers"][0].get("volumeMounts").is_none(),
        "{a}"
    );

    // The pod's own flag wins over its account's, both ways.
    pod["metadata"]["name"] = json!("b");
    pod["spec"]["automountServiceAccountToken"] = json!(true);
    let (code, b) = create_pod(&server, "default", &pod).await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(
        b["spec"]["volumes"].as_array().map(Vec::len),
        Some(1),
        "{b}"
    );
    let mut off = common::pod("c");
    off["spec"]["automountServiceAccountToken"] = json!(false);
    let (code, c) = create_pod(&server, "default", &off).await;
    assert_eq!(code, 201, "{c}");
    assert!(c["spec"].get("volumes").is_none(), "{c}");
}
