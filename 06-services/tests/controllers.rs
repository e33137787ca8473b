//! The endpoint controllers against a real API server on a real etcd.
//! Pods get their status from the test, as a node agent would write it,
//! so every condition can be set exactly.

#[path = "../../05-controllers/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Cluster;
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";
const SERVICES: &str = "/api/v1/namespaces/default/services";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
const ENDPOINTS: &str = "/api/v1/namespaces/default/endpoints";

/// A control plane with chapter 05's controllers (the garbage collector)
/// and chapter 06's endpoint controllers.
async fn cluster() -> Cluster {
    let mut c = Cluster::start().await;
    let client = orc_client::Client::new(c.url(""));
    c.spawn(orc_services::run_controllers(client, 2));
    c
}

fn service(name: &str, selector: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"tier": "front"}},
        "spec": {"selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
}

/// A pod of `app` listening on its port `http` at `port`, bound to node-1.
fn pod(name: &str, app: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "web", "image": "busybox",
                "ports": [{"name": "http", "containerPort": port}]}]}})
}

/// Writes the status a node agent would: running at `ip`, ready or not.
async fn report(c: &Cluster, name: &str, ip: &str, ready: bool) {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    let code = c
        .merge_patch(&format!("{PODS}/{name}/status"), &status)
        .await;
    assert_eq!(code, 200);
}

/// The endpoints of the Service's managed slices: `(address, ready,
/// serving, terminating)`, sorted.
async fn slice_endpoints(c: &Cluster, service: &str) -> Vec<(String, bool, bool, bool)> {
    let mut all: Vec<(String, bool, bool, bool)> = managed_slices(c, service)
        .await
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            let cond = |n: &str| e["conditions"][n].as_bool().unwrap_or(false);
            (
                e["addresses"][0].as_str().unwrap().to_string(),
                cond("ready"),
                cond("serving"),
                cond("terminating"),
            )
        })
        .collect();
    all.sort();
    all
}

async fn managed_slices(c: &Cluster, service: &str) -> Vec<Value> {
    c.list(&format!(
        "{SLICES}?labelSelector=kubernetes.io/service-name%3D{service},endpointslice.kubernetes.io/managed-by%3Dendpointslice-controller.k8s.io"
    ))
    .await
}

/// Waits (up to 20 s) until `check` holds for the Service's slice endpoints.
async fn until_slices(
    c: &Cluster,
    service: &str,
    check: impl Fn(&[(String, bool, bool, bool)]) -> bool,
) {
    for _ in 0..400 {
        if check(&slice_endpoints(c, service).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "slices of {service}: {:?}",
        slice_endpoints(c, service).await
    );
}

fn ips(endpoints: &Value, field: &str) -> Vec<String> {
    endpoints["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s[field].as_array().cloned().unwrap_or_default())
        .map(|a| a["ip"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_follow_readiness_and_deletion() {
    let c = cluster().await;
    c.create(SERVICES, &service("web", json!({"app": "web"})))
        .await;
    for name in ["a", "b", "c"] {
        c.create(PODS, &pod(name, "web", 8080)).await;
    }
    report(&c, "a", "10.244.1.2", true).await;
    report(&c, "b", "10.244.1.3", false).await;
    // c has no address yet: it backs nothing.
    until_slices(&c, "web", |eps| {
        eps == [
            ("10.244.1.2".into(), true, true, false),
            ("10.244.1.3".into(), false, false, false),
        ]
    })
    .await;
    let slice = &managed_slices(&c, "web").await[0];
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        slice["metadata"]["labels"]["tier"], "front",
        "the Service's labels"
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert_eq!(slice["endpoints"][0]["targetRef"]["name"], "a");
    assert_eq!(slice["endpoints"][0]["nodeName"], "node-1");
    let endpoints = c
        .until(&format!("{ENDPOINTS}/web"), "with a and b", |e| {
            e.is_some_and(|e| {
                ips(e, "addresses") == ["10.244.1.2"]
                    && ips(e, "notReadyAddresses") == ["10.244.1.3"]
            })
        })
        .await
        .unwrap();
    assert_eq!(
        endpoints["subsets"][0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );

    // Nothing that matters changes: nothing is written.
    let before = slice["metadata"]["resourceVersion"].clone();
    let code = c
        .merge_patch(
            &format!("{PODS}/a"),
            &json!({"metadata": {"annotations": {"note": "x"}}}),
        )
        .await;
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = &managed_slices(&c, "web").await[0];
    assert_eq!(
        after["metadata"]["resourceVersion"], before,
        "no write for an annotation"
    );

    // c gets its address and turns ready; a starts terminating: serving
    // but not ready, and gone from Endpoints.
    report(&c, "c", "10.244.1.4", true).await;
    assert_eq!(c.delete(&format!("{PODS}/a"), json!({})).await, 200);
    until_slices(&c, "web", |eps| {
        eps == [
            ("10.244.1.2".into(), false, true, true),
            ("10.244.1.3".into(), false, false, false),
            ("10.244.1.4".into(), true, true, false),
        ]
    })
    .await;
    c.until(&format!("{ENDPOINTS}/web"), "without a", |e| {
        e.is_some_and(|e| {
            ips(e, "addresses") == ["10.244.1.4"] && ips(e, "notReadyAddresses") == ["10.244.1.3"]
        })
    })
    .await;
    // Its node finishes the deletion.
    assert_eq!(
        c.delete(&format!("{PODS}/a"), json!({"gracePeriodSeconds": 0}))
            .await,
        200
    );
    until_slices(&c, "web", |eps| eps.len() == 2).await;

    // The Service goes: its slices and Endpoints go with it.
    assert_eq!(c.delete(&format!("{SERVICES}/web"), json!({})).await, 200);
    c.until_gone(&format!("{ENDPOINTS}/web")).await;
    for _ in 0..200 {
        if managed_slices(&c, "web").await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(managed_slices(&c, "web").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_hold_at_most_a_hundred_and_one_set_of_ports() {
    let c = cluster().await;
    c.create(SERVICES, &service("big", json!({"app": "big"})))
        .await;
    for i in 0..230u32 {
        let name = format!("big-{i}");
        // Ten pods listen on another number for the port named http.
        let port = if i < 10 { 9090 } else { 8080 };
        c.create(PODS, &pod(&name, "big", port)).await;
        report(
            &c,
            &name,
            &format!("10.244.{}.{}", 10 + i / 200, 2 + i % 200),
            true,
        )
        .await;
    }
    until_slices(&c, "big", |eps| eps.len() == 230).await;
    let mut shapes: Vec<(i64, usize)> = managed_slices(&c, "big")
        .await
        .iter()
        .map(|s| {
            (
                s["ports"][0]["port"].as_i64().unwrap(),
                s["endpoints"].as_array().unwrap().len(),
            )
        })
        .collect();
    shapes.sort();
    assert_eq!(shapes, [(8080, 20), (8080, 100), (8080, 100), (9090, 10)]);
    let addresses: BTreeSet<String> = slice_endpoints(&c, "big")
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(addresses.len(), 230, "no address twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_pods_has_a_placeholder_and_selectorless_ones_are_left_alone() {
    let c = cluster().await;
    c.create(SERVICES, &service("lonely", json!({"app": "nobody"})))
        .await;
    for _ in 0..200 {
        if !managed_slices(&c, "lonely").await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slices = managed_slices(&c, "lonely").await;
    assert_eq!(slices.len(), 1);
    assert_eq!(
        (&slices[0]["endpoints"], &slices[0]["ports"]),
        (&json!([]), &json!([]))
    );
    let endpoints = c
        .until(&format!("{ENDPOINTS}/lonely"), "created", |e| e.is_some())
        .await
        .unwrap();
    assert_eq!(endpoints["subsets"], json!([]));

    // The kubernetes Service has no selector: its endpoints are the API
    // server's, untouched, and no managed slice is made for it.
    let slice = c.get(&format!("{SLICES}/kubernetes")).await.unwrap();
    assert_eq!(
        slice["metadata"]["labels"].get("endpointslice.kubernetes.io/managed-by"),
        None
    );
    assert!(managed_slices(&c, "kubernetes").await.is_empty());
    let ep = c.get(&format!("{ENDPOINTS}/kubernetes")).await.unwrap();
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
}

/// Chapter 05's node lifecycle controller and this chapter's EndpointSlice
/// controller together: a node falls silent (the test stops its Lease and
/// moves the controllers' clock past the grace period), its pod is marked
/// not ready, and the slice lists it not ready at once, minutes before any
/// eviction; the node's agent back, it reports the pod ready, and the
/// slice follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nodes_pod_leaves_the_ready_endpoints() {
    let clock = orc_controllers::clock::ManualClock::new();
    let mut c = Cluster::start_with_clock(clock.clone()).await;
    let client = orc_client::Client::new(c.url(""));
    c.spawn(orc_services::run_controllers(client, 2));
    let node = |ready: &str, beat: &str| {
        json!({"status": {"conditions": [{"type": "Ready", "status": ready,
            "lastHeartbeatTime": beat, "lastTransitionTime": beat}]}})
    };
    let mut registered = node("False", "2026-01-01T00:00:00Z");
    registered["apiVersion"] = json!("v1");
    registered["kind"] = json!("Node");
    registered["metadata"] = json!({"name": "node-1"});
    c.create("/api/v1/nodes", &registered).await;
    // Seen not ready, then ready: the controller knows the node, and its
    // clock has a heartbeat to count the silence from.
    let tainted = |n: Option<&Value>| {
        n.and_then(|n| n["spec"]["taints"].as_array())
            .is_some_and(|t| !t.is_empty())
    };
    c.until("/api/v1/nodes/node-1", "tainted not-ready", tainted)
        .await;
    let back = node("True", "2026-01-01T00:00:10Z");
    assert_eq!(
        c.merge_patch("/api/v1/nodes/node-1/status", &back).await,
        200
    );
    c.until("/api/v1/nodes/node-1", "untainted", |n| !tainted(n))
        .await;

    c.create(SERVICES, &service("web", json!({"app": "web"})))
        .await;
    c.create(PODS, &pod("a", "web", 8080)).await;
    report(&c, "a", "10.244.1.2", true).await;
    until_slices(&c, "web", |eps| {
        eps == [("10.244.1.2".to_string(), true, true, false)]
    })
    .await;

    clock.advance(Duration::from_secs(51));
    until_slices(&c, "web", |eps| {
        eps == [("10.244.1.2".to_string(), false, false, false)]
    })
    .await;
    let (_, pod) = c.send(c.http.get(c.url(&format!("{PODS}/a")))).await;
    assert!(
        pod["metadata"]["deletionTimestamp"].is_null(),
        "not evicted"
    );

    // The agent back: the node's status, then the pod's true state.
    let again = node("True", "2026-01-01T00:01:00Z");
    assert_eq!(
        c.merge_patch("/api/v1/nodes/node-1/status", &again).await,
        200
    );
    c.until("/api/v1/nodes/node-1", "Ready, untainted", |n| {
        !tainted(n) && n.is_some_and(|n| n["status"]["conditions"][0]["status"] == "True")
    })
    .await;
    report(&c, "a", "10.244.1.2", true).await;
    until_slices(&c, "web", |eps| {
        eps == [("10.244.1.2".to_string(), true, true, false)]
    })
    .await;
}

/// Run under a controller manager (as `orc server` runs them), the two
/// queues are on its `/metrics` under Kubernetes' names, and have
/// counted the Service's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queues_are_on_the_managers_metrics() {
    let mut c = Cluster::start().await;
    let metrics = std::sync::Arc::new(orc_controllers::metrics::ControllerMetrics::default());
    let client = orc_client::Client::new(c.url(""));
    c.spawn(orc_controllers::metrics::ControllerMetrics::scope(
        metrics.clone(),
        orc_services::run_controllers(client, 2),
    ));
    c.create(SERVICES, &service("counted", json!({"app": "counted"})))
        .await;
    c.until(&format!("{ENDPOINTS}/counted"), "created", |e| e.is_some())
        .await;
    let text = metrics.render();
    for queue in ["endpoint_slice", "endpoint"] {
        let adds = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("workqueue_adds_total{{name=\"{queue}\"}} ")))
            .unwrap_or_else(|| panic!("no adds of queue {queue} in:\n{text}"));
        assert!(adds.parse::<f64>().unwrap() >= 1.0, "{queue}: {adds}");
    }
}
