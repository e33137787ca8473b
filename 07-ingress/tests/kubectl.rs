//! What the installed kubectl v1.32 does with orc's Ingresses, and the
//! routing table orc-ingress builds from the very objects it made:
//! `kubectl create ingress`, `get ingress,ingressclass`, `describe
//! ingress`, a manifest the API server refuses, and the table, all
//! snapshotted. The Service's EndpointSlice is written by the test, as
//! chapter 06's controller would write it, so the addresses are fixed.

#[path = "../../05-controllers/tests/common/mod.rs"]
mod common;
#[path = "../../03-apiserver/server/tests/kubectl_output/redact.rs"]
mod redact;

use std::path::Path;

use common::Cluster;
use orc_ingress::routes::{self, Objects, class::CONTROLLER};
use serde_json::json;

/// Runs kubectl; answers whether it succeeded and what it printed.
async fn kubectl(dir: &Path, config: &Path, args: &[&str]) -> (bool, String) {
    let mut command = orc_testkit::kubectl::command(dir, config);
    command.args(args);
    tokio::task::spawn_blocking(move || orc_testkit::kubectl::output(command))
        .await
        .unwrap()
}

/// `$ kubectl ...` and its output with ages and uids redacted.
fn transcript(args: &[&str], out: &str) -> String {
    format!("$ kubectl {}\n{}", args.join(" "), redact::redact(out))
}

/// The Service `web` (port 80 named http → 8080) and its slice: two
/// ready pods and one that is not.
async fn web_service(c: &Cluster) {
    c.create(
        "/api/v1/namespaces/default/services",
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
    )
    .await;
    let endpoint =
        |ip: &str, ready: bool| json!({"addresses": [ip], "conditions": {"ready": ready}});
    c.create(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        &json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abcde", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [endpoint("10.244.1.2", true), endpoint("10.244.2.2", true), endpoint("10.244.1.3", false)]}),
    )
    .await;
}

const BAD: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad
spec:
  rules:
  - host: 10.0.0.1
    http:
      paths:
      - path: api
        pathType: Exact
        backend:
          service:
            name: web
            port:
              name: http
              number: 80
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_describe_and_route_an_ingress() {
    let c = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = orc_testkit::kubectl::kubeconfig(dir.path(), c.addr, "unused");
    web_service(&c).await;
    c.create(
        "/apis/networking.k8s.io/v1/ingressclasses",
        &json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "orc", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": CONTROLLER}}),
    )
    .await;
    let create = [
        "create",
        "ingress",
        "web",
        "--class=orc",
        "--rule=foo.example.com/api*=web:80",
        "--rule=foo.example.com/api=web:http",
        "--rule=*.example.com/*=web:80",
        "--default-backend=web:http",
        "--annotation=orc.dev/load-balance=least-connections",
    ];
    let mut session = String::new();
    for args in [
        &create[..],
        &["get", "ingress,ingressclass"][..],
        &["describe", "ingress", "web"][..],
    ] {
        let (ok, out) = kubectl(dir.path(), &config, args).await;
        assert!(ok, "kubectl {args:?}: {out}");
        session += &transcript(args, &out);
        session += "\n";
    }
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, BAD).unwrap();
    let apply = ["apply", "-f", bad.to_str().unwrap()];
    let (ok, out) = kubectl(dir.path(), &config, &apply).await;
    assert!(!ok, "the API server accepted {BAD}");
    session += &transcript(&["apply", "-f", "bad.yaml"], &out);
    insta::assert_snapshot!("create_get_describe", session);

    // The table orc-ingress builds from what the API server now holds.
    let objects = Objects {
        ingresses: c.list("/apis/networking.k8s.io/v1/ingresses").await,
        classes: c.list("/apis/networking.k8s.io/v1/ingressclasses").await,
        services: c.list("/api/v1/services").await,
        slices: c.list("/apis/discovery.k8s.io/v1/endpointslices").await,
        pods: c.list("/api/v1/pods").await,
        secrets: c.list("/api/v1/secrets").await,
    };
    let (table, problems) = routes::build(&objects, CONTROLLER);
    assert_eq!(problems, []);
    insta::assert_yaml_snapshot!("table", table);
}
