//! `events.k8s.io/v1`: the newer Event API, served from the core `v1`
//! Events etcd holds (`src/conversion/events_v1.rs`). One object, two
//! URLs: what is written through one is read, listed, watched, patched
//! and deleted through the other, with each field under its own name,
//! and every write of either gets the Event TTL's lease.

mod common;

use std::time::Duration;

use common::kubectl::{kubeconfig, kubectl};
use common::{TestServer, WatchReader, summary};
use serde_json::{Value, json};

/// The newer API's Events of the namespace `default`.
const NEW: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
/// The core API's Events of the same namespace: the same objects.
const CORE: &str = "/api/v1/namespaces/default/events";

/// An Event as client-go's `tools/events` recorder writes it, every
/// field of `events.k8s.io/v1` set that a create may set.
fn new_event(name: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name},
        "eventTime": "2026-01-01T00:00:00.000001Z",
        "series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000002Z"},
        "reportingController": "orc.dev/scheduler",
        "reportingInstance": "scheduler-node-1",
        "action": "Binding",
        "reason": "Scheduled",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "apiVersion": "v1"},
        "related": {"kind": "Node", "name": "node-1", "apiVersion": "v1"},
        "note": "Successfully assigned default/web to node-1",
        "type": "Normal",
    })
}

/// An Event as the core recorder (`tools/record`) writes it.
fn core_event(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:05:00Z",
        "count": 7,
        "type": "Warning",
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    })
}

#[tokio::test]
async fn a_new_api_event_reads_back_through_core_with_every_field_renamed() {
    let s = TestServer::start().await;
    let (code, created) = s.post(NEW, &new_event("scheduled")).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "events.k8s.io/v1");
    assert_eq!(
        created["note"],
        "Successfully assigned default/web to node-1"
    );
    assert!(created.get("message").is_none(), "{created}");

    let (code, core) = s.get(&format!("{CORE}/scheduled")).await;
    assert_eq!(code, 200, "{core}");
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(
        core["message"],
        "Successfully assigned default/web to node-1"
    );
    assert_eq!(core["involvedObject"]["name"], "web");
    assert_eq!(core["reportingComponent"], "orc.dev/scheduler");
    for same in [
        "eventTime",
        "series",
        "reportingInstance",
        "action",
        "reason",
        "related",
        "type",
    ] {
        assert_eq!(core[same], created[same], "{same}");
    }
    for renamed in ["note", "regarding", "reportingController"] {
        assert!(core.get(renamed).is_none(), "{renamed}: {core}");
    }
    // etcd holds the core shape, once, under the one key.
    let stored = s.etcdctl(&[
        "get",
        "/registry/events/default/scheduled",
        "--print-value-only",
    ]);
    let stored: Value = serde_json::from_str(stored.trim()).unwrap();
    assert_eq!(stored["apiVersion"], "v1");
    assert_eq!(stored["reportingComponent"], "orc.dev/scheduler");
    assert_eq!(core["metadata"]["uid"], created["metadata"]["uid"]);
}

#[tokio::test]
async fn a_core_event_reads_back_through_the_new_api_with_the_deprecated_fields() {
    let s = TestServer::start().await;
    let (code, created) = s.post(CORE, &core_event("backoff")).await;
    assert_eq!(code, 201, "{created}");

    let (code, new) = s.get(&format!("{NEW}/backoff")).await;
    assert_eq!(code, 200, "{new}");
    assert_eq!(
        new,
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": created["metadata"],
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web"},
            "reason": "BackOff",
            "note": "Back-off restarting failed container",
            "deprecatedSource": {"component": "kubelet", "host": "node-1"},
            "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2026-01-01T00:05:00Z",
            "deprecatedCount": 7,
            "type": "Warning",
            "reportingController": "kubelet",
            "reportingInstance": "node-1",
        })
    );
    // A list, too, in the URL's version: the list and each item.
    let (code, list) = s.get(NEW).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "EventList");
    assert_eq!(list["apiVersion"], "events.k8s.io/v1");
    assert_eq!(list["items"][0]["apiVersion"], "events.k8s.io/v1");
    assert_eq!(list["items"][0]["deprecatedCount"], 7);

    // Field selectors use the URL's version's names too.
    let (code, list) = s
        .get(&format!(
            "{NEW}?fieldSelector=regarding.name%3Dweb,reportingController%3Dkubelet"
        ))
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(common::names(&list), ["backoff"]);
    let (code, list) = s
        .get(&format!("{NEW}?fieldSelector=regarding.name%3Ddb"))
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(common::names(&list), Vec::<&str>::new());
    let (code, status) = s
        .get(&format!("{NEW}?fieldSelector=involvedObject.name%3Dweb"))
        .await;
    assert_eq!(code, 400, "{status}");
}

#[tokio::test]
async fn a_watch_on_one_version_sees_writes_through_the_other() {
    let s = TestServer::start().await;
    let mut core_watch = WatchReader::open(&s, &format!("{CORE}?watch=true")).await;
    let mut new_watch = WatchReader::open(&s, &format!("{NEW}?watch=true")).await;

    let (code, body) = s.post(NEW, &new_event("through-new")).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = s.post(CORE, &core_event("through-core")).await;
    assert_eq!(code, 201, "{body}");

    let wait = Duration::from_secs(10);
    let seen = core_watch
        .next(wait)
        .await
        .expect("core sees the new API's write");
    assert_eq!(summary(&seen), ("ADDED".into(), "through-new".into()));
    assert_eq!(seen["object"]["apiVersion"], "v1");
    assert_eq!(seen["object"]["reportingComponent"], "orc.dev/scheduler");

    let seen = new_watch
        .next(wait)
        .await
        .expect("the new API sees its own write");
    assert_eq!(summary(&seen), ("ADDED".into(), "through-new".into()));
    let seen = new_watch
        .next(wait)
        .await
        .expect("the new API sees core's write");
    assert_eq!(summary(&seen), ("ADDED".into(), "through-core".into()));
    assert_eq!(seen["object"]["apiVersion"], "events.k8s.io/v1");
    assert_eq!(
        seen["object"]["note"],
        "Back-off restarting failed container"
    );

    // A delete through core is a DELETED in the new API's shape.
    let (code, body) = s.delete(&format!("{CORE}/through-new")).await;
    assert_eq!(code, 200, "{body}");
    let seen = new_watch.next(wait).await.expect("the delete");
    assert_eq!(summary(&seen), ("DELETED".into(), "through-new".into()));
    assert_eq!(seen["object"]["reportingController"], "orc.dev/scheduler");
}

#[tokio::test]
async fn patches_apply_to_the_new_apis_shape() {
    let s = TestServer::start().await;
    let (code, body) = s.post(NEW, &new_event("repeat")).await;
    assert_eq!(code, 201, "{body}");
    let path = format!("{NEW}/repeat");

    // The recorder's series bump, as each of the three patch types.
    let patches = [
        (
            "application/merge-patch+json",
            r#"{"series": {"count": 3, "lastObservedTime": "2026-01-01T00:02:00.000000Z"}}"#,
        ),
        (
            "application/strategic-merge-patch+json",
            r#"{"series": {"count": 4}}"#,
        ),
        (
            "application/json-patch+json",
            r#"[{"op": "replace", "path": "/series/count", "value": 5}]"#,
        ),
    ];
    for (count, (content_type, patch)) in (3..).zip(patches) {
        let (code, patched) = s.patch(&path, content_type, patch).await;
        assert_eq!(code, 200, "{content_type}: {patched}");
        assert_eq!(patched["series"]["count"], count, "{content_type}");
        assert_eq!(patched["apiVersion"], "events.k8s.io/v1");
    }
    let (_, core) = s.get(&format!("{CORE}/repeat")).await;
    assert_eq!(core["series"]["count"], 5);
    assert_eq!(
        core["series"]["lastObservedTime"],
        "2026-01-01T00:02:00.000000Z"
    );

    // A JSON patch names the new API's paths: `/note`, not `/message`.
    let (code, refused) = s
        .patch(
            &path,
            "application/json-patch+json",
            r#"[{"op": "replace", "path": "/note", "value": "changed"}]"#,
        )
        .await;
    assert_eq!(code, 422, "{refused}");
    assert_eq!(refused["details"]["causes"][0]["field"], "note");
    assert!(
        refused["details"]["causes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("field is immutable"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_create_is_validated_by_the_new_apis_rules() {
    let s = TestServer::start().await;
    let bare = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "bare"},
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web"},
        "note": "n".repeat(1025),
        "deprecatedCount": 3,
    });
    let (code, status) = s.post(NEW, &bare).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["group"], "events.k8s.io");
    let fields: Vec<&str> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["note", "eventTime", "type", "deprecatedCount"]);

    let mut no_reporter = new_event("no-reporter");
    no_reporter
        .as_object_mut()
        .unwrap()
        .remove("reportingController");
    no_reporter["type"] = json!("Info");
    let (code, status) = s.post(NEW, &no_reporter).await;
    assert_eq!(code, 422, "{status}");
    let causes = &status["details"]["causes"];
    assert_eq!(causes[0]["field"], "reportingController");
    assert_eq!(causes[0]["reason"], "FieldValueRequired");
    assert_eq!(causes[1]["field"], "type");
    assert_eq!(causes[1]["reason"], "FieldValueNotSupported");

    // The same body through core: core's rules are the old, lenient ones.
    let mut as_core = bare.clone();
    as_core["apiVersion"] = json!("v1");
    as_core["message"] = as_core.as_object_mut().unwrap().remove("note").unwrap();
    as_core["involvedObject"] = as_core
        .as_object_mut()
        .unwrap()
        .remove("regarding")
        .unwrap();
    as_core["count"] = as_core
        .as_object_mut()
        .unwrap()
        .remove("deprecatedCount")
        .unwrap();
    let (code, body) = s.post(CORE, &as_core).await;
    assert_eq!(code, 201, "{body}");
}

#[tokio::test]
async fn discovery_lists_the_group_and_its_one_resource() {
    let s = TestServer::start().await;
    let (code, apis) = s.get("/apis").await;
    assert_eq!(code, 200);
    let group = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "events.k8s.io")
        .unwrap_or_else(|| panic!("/apis lists events.k8s.io: {apis}"));
    assert_eq!(
        group["preferredVersion"]["groupVersion"],
        "events.k8s.io/v1"
    );

    let (code, one) = s.get("/apis/events.k8s.io").await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["kind"], "APIGroup");
    assert_eq!(
        one["versions"],
        json!([{"groupVersion": "events.k8s.io/v1", "version": "v1"}])
    );

    let (code, list) = s.get("/apis/events.k8s.io/v1").await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(
        list["resources"],
        json!([{"name": "events", "singularName": "event", "namespaced": true,
            "kind": "Event", "verbs": ["create", "delete", "deletecollection", "get",
            "list", "patch", "update", "watch"], "shortNames": [], "categories": []}])
    );
    let (code, _) = s.get("/apis/no.such.group").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn a_new_api_write_gets_the_event_lease() {
    let s = TestServer::start_with(|config| config.event_ttl = Duration::from_secs(60 * 60)).await;
    let (code, body) = s.post(NEW, &new_event("leased")).await;
    assert_eq!(code, 201, "{body}");
    let mut etcd = etcd_client::Client::connect([s.etcd.endpoint()], None)
        .await
        .unwrap();
    let key = "/registry/events/default/leased";
    let lease = etcd.get(key, None).await.unwrap().kvs()[0].lease();
    assert_ne!(lease, 0, "an events.k8s.io create is written on a lease");
    let granted = etcd.lease_time_to_live(lease, None).await.unwrap();
    assert_eq!(granted.granted_ttl(), 60 * 60 + 60);
    // A patch through the new API (the series bump) keeps it on one.
    let (code, body) = s
        .patch(
            &format!("{NEW}/leased"),
            "application/merge-patch+json",
            r#"{"series": {"count": 3}}"#,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_ne!(etcd.get(key, None).await.unwrap().kvs()[0].lease(), 0);
}

#[tokio::test]
async fn delete_and_deletecollection_through_the_new_api() {
    let s = TestServer::start().await;
    for name in ["one", "two", "three"] {
        let (code, body) = s.post(CORE, &core_event(name)).await;
        assert_eq!(code, 201, "{body}");
    }
    let (code, deleted) = s.delete(&format!("{NEW}/one")).await;
    assert_eq!(code, 200, "{deleted}");
    let (code, _) = s.get(&format!("{CORE}/one")).await;
    assert_eq!(code, 404);
    let (code, body) = s.delete(NEW).await;
    assert_eq!(code, 200, "{body}");
    let (_, list) = s.get(CORE).await;
    assert_eq!(common::names(&list), Vec::<&str>::new());
}

#[tokio::test]
async fn kubectl_gets_new_api_events_and_lists_both_resources() {
    let s = TestServer::start().await;
    let (code, body) = s.post(NEW, &new_event("scheduled")).await;
    assert_eq!(code, 201, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &s, "unused");

    let (ok, out) = kubectl(dir.path(), &config, &["get", "events.events.k8s.io", "-A"]).await;
    assert!(ok, "{out}");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAMESPACE",
            "LAST",
            "SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "MESSAGE"
        ],
        "{out}"
    );
    // LAST SEEN is an age, which changes: every other column is exact.
    let row = &lines[1];
    assert_eq!(row[0], "default", "{out}");
    assert_eq!(
        row[2..],
        [
            "Normal",
            "Scheduled",
            "pod/web",
            "Successfully",
            "assigned",
            "default/web",
            "to",
            "node-1"
        ],
        "{out}"
    );

    // `kubectl api-resources | grep events`: core's, with its short name,
    // and the newer group's, without one (as on Kubernetes).
    let (ok, out) = kubectl(dir.path(), &config, &["api-resources"]).await;
    assert!(ok, "{out}");
    let events: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.contains("events"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        events,
        [
            vec!["events", "ev", "v1", "true", "Event"],
            vec!["events", "events.k8s.io/v1", "true", "Event"],
        ],
        "{out}"
    );
    // `kubectl get ev` is still core's.
    let (ok, out) = kubectl(
        dir.path(),
        &config,
        &["get", "ev", "-o", "jsonpath={.items[0].apiVersion}"],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "v1");
}

/// Appends a length-delimited protobuf field.
fn push_len(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    out.push(number << 3 | 2);
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
}

#[tokio::test]
async fn a_protobuf_create_through_the_new_api_is_stored_as_core() {
    // What the scheduler's recorder sends: `k8s\0`, then runtime.Unknown
    // {typeMeta, raw}; `raw` is encoded by protoc from the unit tests'
    // fixture (src/protobuf/testdata/events_v1_event.txtpb).
    let raw = include_bytes!("../src/protobuf/testdata/events_v1_event.pb");
    let mut type_meta = Vec::new();
    push_len(&mut type_meta, 1, b"events.k8s.io/v1");
    push_len(&mut type_meta, 2, b"Event");
    let mut body = b"k8s\0".to_vec();
    push_len(&mut body, 1, &type_meta);
    push_len(&mut body, 2, raw);

    let s = TestServer::start().await;
    let (code, ns) = s
        .post("/api/v1/namespaces", &json!({"metadata": {"name": "shop"}}))
        .await;
    assert_eq!(code, 201, "{ns}");
    let (code, created) = s
        .raw(
            reqwest::Method::POST,
            "/apis/events.k8s.io/v1/namespaces/shop/events",
            "application/vnd.kubernetes.protobuf",
            body,
        )
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["reportingController"], "default-scheduler");
    let (code, core) = s.get("/api/v1/namespaces/shop/events/web.18").await;
    assert_eq!(code, 200, "{core}");
    assert_eq!(core["message"], "Successfully assigned shop/web to node-1");
    assert_eq!(core["involvedObject"]["uid"], "u1");
    assert_eq!(core["eventTime"], "2023-11-14T22:13:20.123456Z");
}

/// The `Warning` headers of a response.
fn warnings(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_core_field_sent_to_the_new_api_is_an_unknown_field_not_a_silent_loss() {
    let s = TestServer::start().await;
    // `message` is core's name for `note`: events.k8s.io/v1 has no such
    // field, and it must not stand in for `note`.
    let mut event = new_event("foreign");
    event["message"] = json!("not the note");
    let response = s.http.post(s.url(NEW)).json(&event).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        warnings(&response),
        [r#"299 - "unknown field \"message\"""#]
    );
    let (_, core) = s.get(&format!("{CORE}/foreign")).await;
    assert_eq!(
        core["message"],
        "Successfully assigned default/web to node-1"
    );

    // A replace and a merge patch are warned about the same way.
    let (_, mut current) = s.get(&format!("{NEW}/foreign")).await;
    current["count"] = json!(9);
    let url = s.url(&format!("{NEW}/foreign"));
    let response = s.http.put(&url).json(&current).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(warnings(&response), [r#"299 - "unknown field \"count\"""#]);
    let response = s
        .http
        .patch(&url)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"source": {"component": "x"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(warnings(&response), [r#"299 - "unknown field \"source\"""#]);
    let (_, core) = s.get(&format!("{CORE}/foreign")).await;
    assert!(
        core.get("count").is_none() && core.get("source").is_none(),
        "{core}"
    );

    // With `fieldValidation=Strict` (kubectl's default) it is refused.
    event["metadata"]["name"] = json!("strict");
    let (code, refused) = s
        .post(&format!("{NEW}?fieldValidation=Strict"), &event)
        .await;
    assert_eq!(code, 400, "{refused}");
    assert_eq!(
        refused["message"],
        r#"strict decoding error: unknown field "message""#
    );
    assert_eq!(s.get(&format!("{CORE}/strict")).await.0, 404);
}
