//! DELETE on a collection (`deletecollection`), as a client meets it:
//! selectors pick what goes, DeleteOptions apply to each object as to a
//! single DELETE, the answer is the list of what was deleted, and the
//! paths Kubernetes does not serve answer 405.

mod common;

use common::TestServer;
use serde_json::{Value, json};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// Creates ConfigMap `name` in `default` with label `app`.
async fn configmap(server: &TestServer, name: &str, app: &str) {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": app}},
    });
    let (code, body) = server.post(CONFIGMAPS, &cm).await;
    assert_eq!(code, 201, "{body}");
}

/// The names in a list, sorted.
fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The ConfigMaps in `default` labelled `app` (any value).
async fn labelled(server: &TestServer) -> Vec<String> {
    let (code, list) = server.get(&format!("{CONFIGMAPS}?labelSelector=app")).await;
    assert_eq!(code, 200, "{list}");
    names(&list)
}

#[tokio::test]
async fn a_label_selector_deletes_what_it_lists_and_the_answer_is_that_list() {
    let server = TestServer::start().await;
    for (name, app) in [("web-1", "web"), ("web-2", "web"), ("db-1", "db")] {
        configmap(&server, name, app).await;
    }
    let (code, list) = server
        .delete(&format!("{CONFIGMAPS}?labelSelector=app%3Dweb"))
        .await;
    assert_eq!(code, 200, "{list}");
    // Kubernetes answers the list as it read it, before the deletes.
    assert_eq!(list["kind"], "ConfigMapList", "{list}");
    assert_eq!(list["apiVersion"], "v1", "{list}");
    assert!(list["metadata"]["resourceVersion"].is_string(), "{list}");
    assert_eq!(names(&list), ["web-1", "web-2"]);
    assert_eq!(labelled(&server).await, ["db-1"]);

    // A field selector works the same way.
    configmap(&server, "db-2", "db").await;
    let (code, list) = server
        .delete(&format!("{CONFIGMAPS}?fieldSelector=metadata.name%3Ddb-2"))
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(names(&list), ["db-2"]);
    assert_eq!(labelled(&server).await, ["db-1"]);

    // Nothing selected: an empty list, nothing deleted.
    let (code, list) = server
        .delete(&format!("{CONFIGMAPS}?labelSelector=app%3Dnone"))
        .await;
    assert_eq!((code, names(&list).len()), (200, 0), "{list}");
    assert_eq!(labelled(&server).await, ["db-1"]);
}

#[tokio::test]
async fn cluster_scoped_collections_are_deleted_too_and_namespaces_are_not() {
    let server = TestServer::start().await;
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let class = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"controller": "example.com/ingress"},
        });
        let (code, body) = server
            .post("/apis/networking.k8s.io/v1/ingressclasses", &class)
            .await;
        assert_eq!(code, 201, "{body}");
    }
    let (code, list) = server
        .delete("/apis/networking.k8s.io/v1/ingressclasses?labelSelector=app%3Dx")
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "IngressClassList");
    assert_eq!(names(&list), ["a", "b"]);
    let (_, left) = server
        .get("/apis/networking.k8s.io/v1/ingressclasses?labelSelector=app")
        .await;
    assert_eq!(names(&left), ["c"]);

    // Kubernetes serves no DELETE on the namespaces collection, nor on a
    // namespaced resource across all namespaces: 405, and nothing goes.
    for path in ["/api/v1/namespaces", "/api/v1/configmaps"] {
        let (code, body) = server.delete(path).await;
        assert_eq!(code, 405, "{path}: {body}");
        assert_eq!(body["reason"], "MethodNotAllowed", "{body}");
    }
    let (code, ns) = server.get("/api/v1/namespaces/default").await;
    assert_eq!(code, 200, "{ns}");
}

#[tokio::test]
async fn a_deleted_priority_class_is_gone_for_admission_at_once() {
    let server = TestServer::start().await;
    let class = json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "batch", "labels": {"tier": "low"}}, "value": 10,
    });
    let classes = "/apis/scheduling.k8s.io/v1/priorityclasses";
    let (code, body) = server.post(classes, &class).await;
    assert_eq!(code, 201, "{body}");
    let (code, list) = server
        .delete(&format!("{classes}?labelSelector=tier%3Dlow"))
        .await;
    assert_eq!((code, names(&list)), (200, vec!["batch".to_string()]));
    // The admission cache must not still know the class: the pod that
    // names it is refused as for any unknown class.
    let mut pod = common::pod("p");
    pod["spec"]["priorityClassName"] = json!("batch");
    let (code, body) = server.post("/api/v1/namespaces/default/pods", &pod).await;
    assert_eq!(code, 403, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no PriorityClass with name batch"),
        "{message}"
    );
}

#[tokio::test]
async fn delete_options_apply_to_each_object() {
    let server = TestServer::start().await;
    configmap(&server, "keep-1", "web").await;
    configmap(&server, "keep-2", "web").await;

    // dryRun, in the query or in the body: the answer, nothing deleted.
    let (code, list) = server
        .delete(&format!("{CONFIGMAPS}?labelSelector=app&dryRun=All"))
        .await;
    assert_eq!(
        (code, names(&list)),
        (200, vec!["keep-1".into(), "keep-2".into()])
    );
    let request = server
        .http
        .delete(server.url(CONFIGMAPS))
        .json(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]}));
    let (code, list) = common::send(request).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(labelled(&server).await, ["keep-1", "keep-2"]);

    // A bad option refuses the whole request before anything goes.
    let (code, body) = server
        .delete(&format!("{CONFIGMAPS}?propagationPolicy=Sometimes"))
        .await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = server
        .delete(&format!("{CONFIGMAPS}?gracePeriodSeconds=soon"))
        .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(labelled(&server).await, ["keep-1", "keep-2"]);

    // Foreground propagation, from the body: each object is marked with
    // the garbage collector's finalizer, as a single DELETE would leave it.
    let request = server
        .http
        .delete(server.url(&format!("{CONFIGMAPS}?labelSelector=app")))
        .json(&json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}));
    let (code, list) = common::send(request).await;
    assert_eq!(code, 200, "{list}");
    for name in ["keep-1", "keep-2"] {
        let (code, cm) = server.get(&format!("{CONFIGMAPS}/{name}")).await;
        assert_eq!(code, 200, "{cm}");
        assert_eq!(cm["metadata"]["finalizers"], json!(["foregroundDeletion"]));
        assert!(cm["metadata"]["deletionTimestamp"].is_string(), "{cm}");
    }
}

#[tokio::test]
async fn pods_on_a_node_get_their_grace_period_unless_it_is_zero() {
    let server = TestServer::start().await;
    let pods = "/api/v1/namespaces/default/pods";
    for name in ["a", "b"] {
        let mut pod = common::pod(name);
        pod["spec"]["nodeName"] = json!("n1");
        let (code, body) = server.post(pods, &pod).await;
        assert_eq!(code, 201, "{body}");
    }
    // A bound pod is only marked: its node stops it, then deletes it.
    let (code, list) = server
        .delete(&format!("{pods}?gracePeriodSeconds=30"))
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "PodList");
    for name in ["a", "b"] {
        let (code, pod) = server.get(&format!("{pods}/{name}")).await;
        assert_eq!(code, 200, "{pod}");
        assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 30, "{pod}");
    }
    // Zero forces them out at once.
    let (code, list) = server.delete(&format!("{pods}?gracePeriodSeconds=0")).await;
    assert_eq!(code, 200, "{list}");
    let (_, left) = server.get(pods).await;
    assert!(names(&left).is_empty(), "{left}");
}
