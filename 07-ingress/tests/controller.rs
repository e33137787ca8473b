//! The controller against a real API server: the table follows the
//! objects (a new endpoint reaches the proxy's channel without a restart),
//! claimed Ingresses publish the proxy's address, and a missing Service is
//! a Warning Event on its Ingress.

#[path = "../../05-controllers/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Cluster;
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
        addresses: vec!["192.0.2.10".parse().unwrap()],
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
