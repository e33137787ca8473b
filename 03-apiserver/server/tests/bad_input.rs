//! Bad input gets a clear Status and leaves nothing behind in etcd.

mod common;

use common::{TestServer, pod};
use reqwest::Method;
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";

/// No pod key at all may exist after a refused request.
fn assert_no_pods(s: &TestServer) {
    let keys = s.etcdctl(&["get", "/registry/pods/", "--prefix", "--keys-only"]);
    assert!(keys.trim().is_empty(), "partial write: {keys}");
}

#[tokio::test]
async fn malformed_bodies_name_line_and_column() {
    let s = TestServer::start().await;
    let (code, status) = s
        .raw(
            Method::POST,
            PODS,
            "application/json",
            b"{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"x\"\n}".to_vec(),
        )
        .await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("malformed_json", status);
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: {}\n";
    let (code, status) = s
        .raw(Method::POST, PODS, "application/yaml", yaml.into())
        .await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("malformed_yaml", status);
    assert_no_pods(&s);
}

#[tokio::test]
async fn wrong_kind_and_invalid_names_are_refused() {
    let s = TestServer::start().await;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}});
    let (code, status) = s.post(PODS, &svc).await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("wrong_kind", status);
    let (code, status) = s.post(PODS, &pod("UPPER")).await;
    assert_eq!(code, 422);
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    let mut bad_label = pod("ok");
    bad_label["metadata"]["labels"] = json!({"app": "-nope-"});
    let (code, status) = s.post(PODS, &bad_label).await;
    assert_eq!(code, 422, "{status}");
    let (code, _) = s
        .post(
            PODS,
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty"}}),
        )
        .await;
    assert_eq!(code, 422, "a pod needs containers");
    assert_no_pods(&s);
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let s = TestServer::start().await;
    let mut p = pod("big");
    p["metadata"]["annotations"] = json!({"blob": "x".repeat(4 * 1024 * 1024)});
    let (code, status) = s
        .raw(
            Method::POST,
            PODS,
            "application/json",
            serde_json::to_vec(&p).unwrap(),
        )
        .await;
    assert_eq!(code, 413);
    insta::assert_json_snapshot!("too_large", status);
    assert_no_pods(&s);
}

#[tokio::test]
async fn bad_selectors_are_400() {
    let s = TestServer::start().await;
    let (code, status) = s.get(&format!("{PODS}?labelSelector=app%20in%20(a")).await;
    assert_eq!(code, 400);
    insta::assert_json_snapshot!("bad_label_selector", status);
    let (code, status) = s
        .get(&format!("{PODS}?fieldSelector=spec.colour%3Dred"))
        .await;
    assert_eq!(code, 400);
    assert_eq!(status["message"], "field label not supported: spec.colour");
}

#[tokio::test]
async fn invalid_deployment_names_every_field() {
    let s = TestServer::start().await;
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c"}]}}}});
    let (code, status) = s
        .post("/apis/apps/v1/namespaces/default/deployments", &d)
        .await;
    assert_eq!(code, 422);
    insta::assert_json_snapshot!("invalid_deployment", status);
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 70000}]}});
    let (code, status) = s.post("/api/v1/namespaces/default/services", &svc).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.ports[0].port"
    );
}

/// Issue 15: a body in a media type the server does not read was parsed
/// as JSON anyway; it is a 415 naming the accepted ones.
#[tokio::test]
async fn an_unsupported_content_type_is_415() {
    let s = TestServer::start().await;
    let body = serde_json::to_vec(&pod("x")).unwrap();
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (code, status) = s.raw(Method::POST, PODS, content_type, body.clone()).await;
        assert_eq!(code, 415, "{content_type}: {status}");
        assert_eq!(status["reason"], "UnsupportedMediaType");
        assert!(
            status["message"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    let (code, _) = s
        .raw(Method::POST, PODS, "application/json; charset=utf-8", body)
        .await;
    assert_eq!(code, 201, "parameters aside, JSON is JSON");
}

/// Issue 15: `labelSelector=%FF` selected everything and a DELETE with
/// `propagationPolicy=%FF` went ahead with the default.
#[tokio::test]
async fn malformed_percent_encoding_is_a_400() {
    let s = TestServer::start().await;
    assert_eq!(s.post(PODS, &pod("keep")).await.0, 201);
    let (code, status) = s.get(&format!("{PODS}?labelSelector=%FF")).await;
    assert_eq!(code, 400, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("labelSelector")
    );
    let (code, _) = s
        .delete(&format!("{PODS}/keep?propagationPolicy=%FF"))
        .await;
    assert_eq!(code, 400);
    assert_eq!(s.get(&format!("{PODS}/keep")).await.0, 200, "not deleted");
}

/// Issue 15: an object under the server's body limit but over etcd's
/// request limit got a 500 carrying a raw gRPC message.
#[tokio::test]
async fn an_object_over_etcds_limit_is_413_naming_it() {
    let s = TestServer::start().await;
    // Over etcd's limit, then over its gRPC server's (the limit + 512 KiB).
    for size in [1700 * 1024, 2 * 1024 * 1024] {
        let big = "x".repeat(size);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"big": big}});
        let (code, status) = s.post("/api/v1/namespaces/default/configmaps", &cm).await;
        assert_eq!(code, 413, "{size}: {}", status["message"]);
        assert_eq!(status["reason"], "RequestEntityTooLarge");
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains("--max-request-bytes") && message.contains("1572864"),
            "{message}"
        );
    }
}

/// A body that gives a field twice: a warning naming it by default (the
/// last value is the one stored), a 400 with `fieldValidation=Strict`,
/// nothing with `Ignore`, as Kubernetes does.
#[tokio::test]
async fn duplicate_fields_are_warned_about_or_refused() {
    let s = TestServer::start().await;
    let body = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","name":"{name}"}},"data":{{"a":"first","a":"last"}}}}"#
        )
        .into_bytes()
    };
    let post = |query: &'static str, name: &str| {
        s.http
            .post(s.url(&format!("/api/v1/namespaces/default/configmaps{query}")))
            .header("content-type", "application/json")
            .body(body(name))
            .send()
    };

    let response = post("", "warned").await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        warnings,
        [
            r#"299 - "duplicate field \"metadata.name\"""#,
            r#"299 - "duplicate field \"data.a\"""#
        ]
    );
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["data"]["a"], "last");

    let response = post("?fieldValidation=Strict", "strict").await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let status: Value = response.json().await.unwrap();
    assert_eq!(
        status["message"],
        r#"strict decoding error: duplicate field "metadata.name", duplicate field "data.a""#
    );
    let (code, _) = s.get("/api/v1/namespaces/default/configmaps/strict").await;
    assert_eq!(code, 404, "a refused create stores nothing");

    let response = post("?fieldValidation=Ignore", "ignored").await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert!(response.headers().get("warning").is_none());
}

/// Issue 15, finding 7: objects no client could read back were stored
/// with 201. A value that does not decode as the Kubernetes type is a 400
/// in Kubernetes' words (the field path in `details.causes`); an enum or
/// the annotations cap, a 422; nothing reaches etcd either way.
#[tokio::test]
async fn objects_that_do_not_decode_are_400_and_bad_enums_422() {
    let s = TestServer::start().await;
    let mut sleeper = pod("sleeper");
    sleeper["spec"]["containers"][0]["command"] = json!("sleep 1");
    let (code, status) = s.post(PODS, &sleeper).await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(
        status["message"],
        "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal string \
         into Go struct field Container.spec.containers.command of type []string"
    );
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.containers[0].command"
    );
    let mut greedy = pod("greedy");
    greedy["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "lots"}});
    let (code, status) = s.post(PODS, &greedy).await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular \
         expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
    let mut unsure = pod("unsure");
    unsure["spec"]["restartPolicy"] = json!("Sometimes");
    let (code, status) = s.post(PODS, &unsure).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        "Pod \"unsure\" is invalid: spec.restartPolicy: Unsupported value: \"Sometimes\": \
         supported values: \"Always\", \"OnFailure\", \"Never\""
    );
    assert_no_pods(&s);
    // The same on a patch of a stored object, which is left as it was.
    let secrets = "/api/v1/namespaces/default/secrets";
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"password": "aHVudGVyMg=="}});
    assert_eq!(s.post(secrets, &secret).await.0, 201);
    let (code, status) = s
        .patch(
            &format!("{secrets}/s"),
            "application/merge-patch+json",
            r#"{"data": {"password": "hunter 2"}}"#,
        )
        .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 6"
    );
    let (_, stored) = s.get(&format!("{secrets}/s")).await;
    assert_eq!(stored["data"]["password"], "aHVudGVyMg==");
}
