//! The chapter's walkthrough: orc's routing table built from Ingress
//! objects, and where a handful of requests go, snapshotted.

use orc_ingress::routes::{Objects, Verdict, build, class::CONTROLLER};
use serde_json::{Value, json};

fn path(path: &str, path_type: &str, service: &str) -> Value {
    json!({"path": path, "pathType": path_type,
        "backend": {"service": {"name": service, "port": {"number": 80}}}})
}

#[test]
fn requests_through_a_table_built_from_ingresses() {
    let names = ["api", "api-exact", "shop", "static", "empty"];
    let objects = Objects {
        ingresses: vec![json!({"metadata": {"namespace": "default", "name": "web"}, "spec": {
            "ingressClassName": "orc",
            "rules": [
                {"host": "foo.example.com", "http": {"paths": [
                    path("/api", "Prefix", "api"), path("/api", "Exact", "api-exact"), path("/down", "Prefix", "empty")]}},
                {"host": "*.example.com", "http": {"paths": [path("/", "Prefix", "shop")]}},
                {"http": {"paths": [path("/static", "ImplementationSpecific", "static")]}}]}})],
        classes: vec![json!({"metadata": {"name": "orc"}, "spec": {"controller": CONTROLLER}})],
        services: names
            .iter()
            .map(|n| json!({"metadata": {"namespace": "default", "name": n}, "spec": {"ports": [{"port": 80}]}}))
            .collect(),
        slices: names
            .iter()
            .filter(|n| **n != "empty")
            .map(|n| json!({"metadata": {"namespace": "default", "name": format!("{n}-x"),
                "labels": {"kubernetes.io/service-name": n}},
                "ports": [{"port": 8080}], "endpoints": [{"addresses": ["10.244.1.2"]}]}))
            .collect(),
        pods: vec![],
        secrets: vec![],
    };
    let (table, problems) = build(&objects, CONTROLLER);
    assert_eq!(problems, []);
    let mut lines = Vec::new();
    for (host, path) in [
        ("foo.example.com", "/api"),
        ("foo.example.com", "/api/v1/users"),
        ("foo.example.com", "/apiv1"),
        ("foo.example.com", "/down"),
        ("bar.example.com", "/cart"),
        ("a.b.example.com", "/static/logo.png"),
        ("other.test", "/"),
    ] {
        let verdict = match table.route(host, path) {
            Verdict::Proxy(b) => format!("-> {}", b.service),
            Verdict::Unavailable(b) => format!("503 ({} has no ready endpoint)", b.service),
            Verdict::NotFound => "404".into(),
        };
        lines.push(format!("{host}{path}  {verdict}"));
    }
    insta::assert_snapshot!("routes", lines.join("\n"));
}
