//! Kubernetes' Ingress matching rules, each as a lookup in a table built
//! from objects.

use serde_json::{Value, json};

use super::*;
use crate::balance::Algorithm;
use crate::routes::class::CONTROLLER;

fn service(name: &str, annotations: Value) -> Value {
    json!({"kind": "Service", "metadata": {"namespace": "default", "name": name, "annotations": annotations},
        "spec": {"ports": [{"name": "http", "port": 80}]}})
}

/// A slice for `service` with one endpoint per address; `ready` false for
/// addresses starting with `!`.
fn slice(service: &str, addresses: &[&str]) -> Value {
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|a| {
            let ready = !a.starts_with('!');
            json!({"addresses": [a.trim_start_matches('!')], "conditions": {"ready": ready}})
        })
        .collect();
    json!({"metadata": {"namespace": "default", "name": format!("{service}-x"),
        "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}], "endpoints": endpoints})
}

fn path(path: &str, path_type: &str, service: &str) -> Value {
    json!({"path": path, "pathType": path_type,
        "backend": {"service": {"name": service, "port": {"number": 80}}}})
}

fn ingress(name: &str, created: &str, spec: Value) -> Value {
    json!({"metadata": {"namespace": "default", "name": name, "creationTimestamp": created},
        "spec": {"ingressClassName": "orc", "rules": spec["rules"], "defaultBackend": spec["defaultBackend"]}})
}

fn objects(ingresses: Vec<Value>) -> Objects {
    let names = [
        "exact", "prefix", "wild", "any", "deflt", "old", "new", "empty",
    ];
    Objects {
        ingresses,
        classes: vec![json!({"metadata": {"name": "orc"}, "spec": {"controller": CONTROLLER}})],
        services: names.iter().map(|n| service(n, json!({}))).collect(),
        slices: names
            .iter()
            .filter(|n| **n != "empty")
            .map(|n| slice(n, &["10.0.0.1", "!10.0.0.9"]))
            .collect(),
        pods: Vec::new(),
        secrets: Vec::new(),
    }
}

/// The Service a request reaches, or `404` / `503`.
fn reach(table: &RouteTable, host: &str, path: &str) -> String {
    match table.route(host, path) {
        Verdict::Proxy(b) => b.service.trim_start_matches("default/").to_string(),
        Verdict::Unavailable(_) => "503".into(),
        Verdict::NotFound => "404".into(),
    }
}

fn table() -> RouteTable {
    let rules = json!({"rules": [
        {"host": "foo.example.com", "http": {"paths": [
            path("/api", "Prefix", "prefix"), path("/api", "Exact", "exact"), path("/down", "Prefix", "empty")]}},
        {"host": "*.example.com", "http": {"paths": [path("/", "Prefix", "wild")]}},
        {"http": {"paths": [path("/shop", "ImplementationSpecific", "any")]}}]});
    let (table, problems) = build(
        &objects(vec![ingress("web", "2026-01-01T00:00:00Z", rules)]),
        CONTROLLER,
    );
    assert_eq!(problems, []);
    table
}

#[test]
fn exact_beats_prefix_at_equal_length_and_longest_wins() {
    let t = table();
    assert_eq!(reach(&t, "foo.example.com", "/api"), "exact");
    assert_eq!(reach(&t, "foo.example.com", "/api/v1"), "prefix");
    assert_eq!(reach(&t, "foo.example.com", "/apiv1"), "404");
}

#[test]
fn hosts_go_exact_then_wildcard_then_any() {
    let t = table();
    assert_eq!(reach(&t, "FOO.example.com:80", "/api"), "exact");
    assert_eq!(reach(&t, "bar.example.com", "/anything"), "wild");
    assert_eq!(reach(&t, "a.b.example.com", "/shop/cart"), "any");
    assert_eq!(reach(&t, "other.test", "/"), "404");
}

#[test]
fn no_ready_endpoint_is_503() {
    assert_eq!(reach(&table(), "foo.example.com", "/down"), "503");
    let t = table();
    let Verdict::Proxy(b) = t.route("bar.example.com", "/") else {
        panic!()
    };
    assert_eq!(
        b.endpoints,
        [Endpoint {
            address: "10.0.0.1:8080".parse().unwrap(),
            weight: 1
        }]
    );
}

#[test]
fn the_oldest_ingress_wins_a_conflict_and_gives_the_default_backend() {
    let rules = |svc| {
        json!({"rules": [{"host": "a.test", "http": {"paths": [path("/", "Prefix", svc)]}}],
        "defaultBackend": {"service": {"name": "deflt", "port": {"name": "http"}}}})
    };
    let (t, _) = build(
        &objects(vec![
            ingress("b", "2026-01-02T00:00:00Z", rules("new")),
            ingress("a", "2026-01-01T00:00:00Z", rules("old")),
        ]),
        CONTROLLER,
    );
    assert_eq!(reach(&t, "a.test", "/x"), "old");
    assert_eq!(reach(&t, "b.test", "/x"), "deflt");
    // The metrics' `ingress` label: the Ingress whose rule (or default
    // backend) a request reached.
    let ingress_of = |host| t.matched(host, "/x").map(|(ingress, _)| ingress);
    assert_eq!(ingress_of("a.test"), Some("default/a"));
    assert_eq!(ingress_of("b.test"), Some("default/a"));
}

#[test]
fn unclaimed_ingresses_are_not_routed() {
    let mut ing = ingress(
        "web",
        "2026-01-01T00:00:00Z",
        json!({"rules": [{"http": {"paths": [path("/", "Prefix", "any")]}}]}),
    );
    ing["spec"]["ingressClassName"] = json!("nginx");
    let (t, _) = build(&objects(vec![ing]), CONTROLLER);
    assert_eq!(reach(&t, "a.test", "/"), "404");
}

#[test]
fn weights_and_algorithms_come_from_annotations_and_bad_ones_are_reported() {
    let mut objs = objects(vec![ingress(
        "web",
        "2026-01-01T00:00:00Z",
        json!({"rules": [{"http": {"paths": [path("/", "Prefix", "w"), path("/missing", "Prefix", "nope")]}}]}),
    )]);
    objs.ingresses[0]["metadata"]["annotations"] =
        json!({"orc.dev/load-balance": "least-connections"});
    objs.services.push(service(
        "w",
        json!({"orc.dev/load-balance": "weighted-round-robin", "orc.dev/weight": "2"}),
    ));
    let mut s = slice("w", &["10.0.0.1", "10.0.0.2"]);
    s["endpoints"][1]["targetRef"] =
        json!({"kind": "Pod", "namespace": "default", "name": "heavy"});
    objs.slices.push(s);
    objs.pods.push(json!({"kind": "Pod", "metadata": {"namespace": "default", "name": "heavy", "annotations": {"orc.dev/weight": "5"}}}));
    let (t, problems) = build(&objs, CONTROLLER);
    let Verdict::Proxy(b) = t.route("x", "/") else {
        panic!()
    };
    assert_eq!(b.algorithm, Algorithm::WeightedRoundRobin);
    assert_eq!(
        b.endpoints.iter().map(|e| e.weight).collect::<Vec<_>>(),
        [2, 5]
    );
    assert_eq!(reach(&t, "x", "/missing"), "503");
    assert_eq!(
        problems,
        [Problem {
            ingress: "default/web".into(),
            reason: "BackendUnavailable",
            message: "service \"default/nope\" not found".into()
        }]
    );
}
