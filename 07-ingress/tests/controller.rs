//! The controller against a real API server: the table follows the
//! objects (a new endpoint reaches the proxy's channel without a restart),
//! claimed Ingresses publish the given address, or else the addresses of
//! the Ready nodes labelled as serving (`kubectl get ingress` shows them
//! as ADDRESS, following a node that goes NotReady or loses its label),
//! and a missing Service is a Warning Event on its Ingress.

#[path = "../../05-controllers/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, Kubectl};
use orc_ingress::controller::status::{PROXY_LABEL, Publish};
use orc_ingress::controller::{ControllerConfig, run};
use orc_ingress::routes::{RouteTable, Verdict, class::CONTROLLER};
use serde_json::{Value, json};
use tokio::sync::watch;

const SLICE: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-abcde";

fn slice(addresses: &[&str]) -> Value {
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"addresses": [a]}))
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abcde", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "", "port": 8080}], "endpoints": endpoints})
}

fn ingress(name: &str, service: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
        "spec": {"rules": [{"host": format!("{name}.example.com"), "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}})
}

/// How many endpoints a request for `host` could reach.
fn endpoints(table: &RouteTable, host: &str) -> Option<usize> {
    match table.route(host, "/") {
        Verdict::Proxy(b) => Some(b.endpoints.len()),
        _ => None,
    }
}

/// Waits (at most 15 s, then fails) for a table that satisfies `check`.
async fn until_table(
    rx: &mut watch::Receiver<Arc<RouteTable>>,
    check: impl FnMut(&Arc<RouteTable>) -> bool,
) {
    let found = tokio::time::timeout(Duration::from_secs(15), rx.wait_for(check))
        .await
        .map(|t| t.is_ok());
    assert_eq!(found, Ok(true), "no such table in 15 s: {:?}", rx.borrow());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_status_and_events_follow_the_objects() {
    let mut c = Cluster::start().await;
    c.create(
        "/apis/networking.k8s.io/v1/ingressclasses",
        &json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "orc", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": CONTROLLER}}),
    )
    .await;
    c.create(
        "/api/v1/namespaces/default/services",
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}),
    )
    .await;
    c.create(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        &slice(&["10.244.1.2"]),
    )
    .await;
    let ingresses = "/apis/networking.k8s.io/v1/namespaces/default/ingresses";
    c.create(ingresses, &ingress("web", "web")).await;
    c.create(ingresses, &ingress("broken", "nowhere")).await;

    let (tx, mut rx) = watch::channel(Arc::new(RouteTable::default()));
    // A documentation address (RFC 5737): published, never sent traffic.
    let config = ControllerConfig {
        controller: CONTROLLER.into(),
        publish: Publish::Fixed(vec!["192.0.2.10".parse().unwrap()]),
    };
    c.spawn(run(orc_client::Client::new(c.url("")), config, tx));

    until_table(&mut rx, |t| endpoints(t, "web.example.com") == Some(1)).await;
    assert!(matches!(
        rx.borrow().route("broken.example.com", "/"),
        Verdict::Unavailable(_)
    ));
    c.until(&format!("{ingresses}/web"), "published", |i| {
        i.is_some_and(|i| {
            i.pointer("/status/loadBalancer/ingress/0/ip") == Some(&json!("192.0.2.10"))
        })
    })
    .await;
    c.until(
        "/api/v1/namespaces/default/events",
        "warned about the missing Service",
        |list| {
            list.and_then(|l| l["items"].as_array())
                .is_some_and(|events| {
                    events.iter().any(|e| {
                        e["reason"] == "BackendUnavailable"
                            && e["involvedObject"]["name"] == "broken"
                            && e["message"] == "service \"default/nowhere\" not found"
                    })
                })
        },
    )
    .await;

    // A second pod becomes ready: the proxy's table follows.
    assert_eq!(
        c.merge_patch(
            SLICE,
            &json!({"endpoints": slice(&["10.244.1.2", "10.244.2.2"])["endpoints"]})
        )
        .await,
        200
    );
    until_table(&mut rx, |t| endpoints(t, "web.example.com") == Some(2)).await;
}

/// orc's IngressClass, the default.
fn default_class() -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": "orc", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": CONTROLLER}})
}

/// A Node named `name` at `ip` whose agent runs the ingress, Ready.
async fn serving_node(c: &Cluster, name: &str, ip: &str) {
    c.create(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, PROXY_LABEL: "true"}}}),
    )
    .await;
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    let path = format!("/api/v1/nodes/{name}/status");
    assert_eq!(c.merge_patch(&path, &status).await, 200);
}

/// Sets node `name`'s Ready condition to `status`.
async fn set_ready(c: &Cluster, name: &str, status: &str) {
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": status}]}});
    let path = format!("/api/v1/nodes/{name}/status");
    assert_eq!(c.merge_patch(&path, &patch).await, 200);
}

/// Sets (`Some`) or removes (`None`) node `name`'s serving label.
async fn set_label(c: &Cluster, name: &str, value: Option<&str>) {
    let patch = json!({"metadata": {"labels": {PROXY_LABEL: value}}});
    assert_eq!(
        c.merge_patch(&format!("/api/v1/nodes/{name}"), &patch)
            .await,
        200
    );
}

/// Waits (at most 15 s, then fails) until `kubectl get ingress web`
/// shows `address` as ADDRESS.
async fn until_address(kubectl: &Kubectl, address: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let table = kubectl.run(&["get", "ingress", "web"]).await;
        let shown = table
            .lines()
            .nth(1)
            .and_then(|row| row.split_whitespace().nth(3));
        if shown == Some(address) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ADDRESS is not {address} after 15 s:\n{table}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_follows_the_ready_labelled_nodes() {
    // No node lifecycle controller: the test alone says which node is Ready.
    let mut c = Cluster::start_control_plane().await;
    let kubectl = Kubectl::new(&c);
    c.create(
        "/apis/networking.k8s.io/v1/ingressclasses",
        &default_class(),
    )
    .await;
    // Documentation addresses (RFC 5737): published, never sent traffic.
    serving_node(&c, "n1", "192.0.2.1").await;
    serving_node(&c, "n2", "192.0.2.2").await;
    // A Ready node without the label runs no proxy: never published.
    serving_node(&c, "n3", "192.0.2.3").await;
    set_label(&c, "n3", None).await;
    let ingresses = "/apis/networking.k8s.io/v1/namespaces/default/ingresses";
    c.create(ingresses, &ingress("web", "web")).await;

    let (tx, _rx) = watch::channel(Arc::new(RouteTable::default()));
    let config = ControllerConfig {
        controller: CONTROLLER.into(),
        publish: Publish::ProxyNodes,
    };
    c.spawn(run(orc_client::Client::new(c.url("")), config, tx));
    until_address(&kubectl, "192.0.2.1,192.0.2.2").await;

    // n2 stops being Ready, then is Ready again.
    set_ready(&c, "n2", "False").await;
    until_address(&kubectl, "192.0.2.1").await;
    set_ready(&c, "n2", "True").await;
    until_address(&kubectl, "192.0.2.1,192.0.2.2").await;

    // n1's agent stops running the ingress (its label goes), then again.
    set_label(&c, "n1", None).await;
    until_address(&kubectl, "192.0.2.2").await;
    set_label(&c, "n1", Some("true")).await;
    until_address(&kubectl, "192.0.2.1,192.0.2.2").await;

    // No serving node at all: no address (kubectl's ADDRESS is empty, so
    // the status is read instead).
    set_ready(&c, "n1", "Unknown").await;
    set_label(&c, "n2", None).await;
    c.until(&format!("{ingresses}/web"), "without addresses", |i| {
        i.is_some_and(|i| {
            i.pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        })
    })
    .await;
}
