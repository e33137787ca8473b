//! LIST with `resourceVersion` and `resourceVersionMatch`: the state at an
//! exact revision from etcd's history, "not older than", and the requests
//! Kubernetes refuses, with its words.

mod common;

use common::{CMS, TestServer, names, rv};
use serde_json::{Value, json};

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
}

#[tokio::test]
async fn an_exact_list_is_the_state_at_that_revision() {
    let s = TestServer::start().await;
    let (code, a) = s.post(CMS, &config_map("a")).await;
    assert_eq!(code, 201, "{a}");
    let (code, b) = s.post(CMS, &config_map("b")).await;
    assert_eq!(code, 201, "{b}");

    let at_a = rv(&a);
    let (code, list) = s
        .get(&format!(
            "{CMS}?resourceVersion={at_a}&resourceVersionMatch=Exact"
        ))
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(names(&list), ["a"]);
    assert_eq!(rv(&list), at_a);

    // "Not older than" a's revision: the latest, which has both.
    let (code, list) = s
        .get(&format!(
            "{CMS}?resourceVersion={at_a}&resourceVersionMatch=NotOlderThan"
        ))
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(names(&list), ["a", "b"]);
    assert!(rv(&list) >= rv(&b));

    // History compacted away: 410, and the client lists again.
    let (_, latest) = s.get(CMS).await;
    s.etcdctl(&["compact", &rv(&latest).to_string()]);
    let (code, gone) = s
        .get(&format!(
            "{CMS}?resourceVersion={at_a}&resourceVersionMatch=Exact"
        ))
        .await;
    assert_eq!(code, 410, "{gone}");
    assert_eq!(gone["reason"], "Expired");
    assert_eq!(
        gone["message"],
        "The resourceVersion for the provided list is too old."
    );
}

#[tokio::test]
async fn a_version_from_the_future_is_a_timeout_not_an_old_list() {
    let s = TestServer::start().await;
    let (_, list) = s.get(CMS).await;
    let future = rv(&list) + 1000;
    for query in [
        format!("resourceVersion={future}"),
        format!("resourceVersion={future}&resourceVersionMatch=NotOlderThan"),
        format!("resourceVersion={future}&resourceVersionMatch=Exact"),
    ] {
        let (code, status) = s.get(&format!("{CMS}?{query}")).await;
        assert_eq!(code, 504, "{query}: {status}");
        assert_eq!(status["reason"], "Timeout", "{query}");
        let message = status["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("Too large resource version: {future}")),
            "{query}: {message}"
        );
    }
}

#[tokio::test]
async fn list_options_kubernetes_refuses_are_refused_with_its_words() {
    let s = TestServer::start().await;
    let cases = [
        (
            "resourceVersionMatch=Exact",
            422,
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            "resourceVersion=5&resourceVersionMatch=Sometimes",
            422,
            "resourceVersionMatch: Unsupported value: \"Sometimes\": supported values: \"Exact\", \"NotOlderThan\", \"\"",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact",
            422,
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        ),
        (
            "resourceVersion=abc",
            400,
            "invalid resourceVersion \"abc\": must be a number",
        ),
    ];
    for (query, want_code, want) in cases {
        let (code, status) = s.get(&format!("{CMS}?{query}")).await;
        assert_eq!(code, want_code, "{query}: {status}");
        let message = status["message"].as_str().unwrap();
        assert!(message.contains(want), "{query}: {message}");
    }
    let (code, status) = s.get(&format!("{CMS}?resourceVersionMatch=Exact")).await;
    assert_eq!(code, 422);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("ListOptions.meta.k8s.io \"\" is invalid"),
        "{status}"
    );

    // A continue token carries its own revision; another one is refused.
    for name in ["a", "b"] {
        assert_eq!(s.post(CMS, &config_map(name)).await.0, 201);
    }
    let (code, page) = s.get(&format!("{CMS}?limit=1")).await;
    assert_eq!(code, 200, "{page}");
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let (code, status) = s
        .get(&format!("{CMS}?limit=1&continue={token}&resourceVersion=3"))
        .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "specifying resource version is not allowed when using continue"
    );
    let (code, rest) = s.get(&format!("{CMS}?limit=1&continue={token}")).await;
    assert_eq!(code, 200, "{rest}");
    assert_eq!(names(&rest), ["b"]);
}
