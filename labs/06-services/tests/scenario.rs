//! The chapter's walkthrough: three Services and their EndpointSlices,
//! as orc-proxy renders them (the `iptables-restore` payload it applies)
//! and as orc-dns answers for them, with orc's own functions, snapshotted.

use std::collections::BTreeSet;

use orc_services::dns::build::records;
use orc_services::dns::records::{Answer, Kind, Rdata};
use orc_services::proxy::model::routes;
use orc_services::proxy::payload::{Scope, payload};
use orc_services::proxy::render::{RenderConfig, render};
use serde_json::{Value, json};

fn service(name: &str, spec: Value) -> Value {
    json!({"metadata": {"namespace": "default", "name": name}, "spec": spec})
}

/// A slice of `service` with port `http` at 8080 and these endpoints:
/// `(address, node, ready, serving, terminating)`.
fn slice(service: &str, endpoints: &[(&str, &str, bool, bool, bool)]) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, node, ready, serving, terminating)| {
            json!({"addresses": [ip], "nodeName": node, "conditions":
                {"ready": ready, "serving": serving, "terminating": terminating}})
        })
        .collect();
    json!({"metadata": {"namespace": "default", "name": format!("{service}-abcde"),
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints})
}

/// `web`: three pods, one not ready; `shop`: a NodePort with ClientIP
/// affinity, one pod on its way out; `down`: no pod at all.
fn cluster() -> (Vec<Value>, Vec<Value>) {
    let http = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    let services = vec![
        service("web", json!({"clusterIP": "10.96.0.20", "ports": http})),
        service(
            "shop",
            json!({"type": "NodePort", "clusterIP": "10.96.0.30", "sessionAffinity": "ClientIP",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}),
        ),
        service("down", json!({"clusterIP": "10.96.0.40", "ports": http})),
    ];
    let slices = vec![
        slice(
            "web",
            &[
                ("10.244.1.2", "node-1", true, true, false),
                ("10.244.2.2", "node-2", true, true, false),
                ("10.244.2.3", "node-2", false, false, false),
            ],
        ),
        slice(
            "shop",
            &[
                ("10.244.1.4", "node-1", true, true, false),
                ("10.244.2.4", "node-2", false, true, true),
            ],
        ),
    ];
    (services, slices)
}

#[test]
fn three_services_as_orc_proxy_writes_them() {
    let (services, slices) = cluster();
    let config = RenderConfig {
        cluster_cidr: Some("10.244.0.0/16".into()),
    };
    let rules = render(&routes(&services, &slices, "node-1"), &config);
    insta::assert_snapshot!("payload", payload(&rules, Scope::Full, &BTreeSet::new()));
}

#[test]
fn the_same_services_as_orc_dns_answers_them() {
    let (mut services, mut slices) = cluster();
    services.push(service(
        "db",
        json!({"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
    ));
    let mut db = slice("db", &[("10.244.1.7", "node-1", true, true, false)]);
    db["endpoints"][0]["hostname"] = json!("db-0");
    slices.push(db);
    let table = records("cluster.local", &services, &slices, &[]);
    let mut lines = Vec::new();
    for (name, kind) in [
        ("web.default.svc.cluster.local", Kind::A),
        ("_http._tcp.shop.default.svc.cluster.local", Kind::Srv),
        ("30.0.96.10.in-addr.arpa", Kind::Ptr),
        ("db.default.svc.cluster.local", Kind::A),
        ("db-0.db.default.svc.cluster.local", Kind::A),
        ("web.default.svc.cluster.local", Kind::Other),
        ("nope.default.svc.cluster.local", Kind::A),
        ("default.svc.cluster.local", Kind::A),
        ("example.org", Kind::A),
    ] {
        let answer = match table.answer(name, kind) {
            Answer::Records(records) if records.is_empty() => "NOERROR, no records".to_string(),
            Answer::Records(records) => records
                .iter()
                .map(|r| match &r.data {
                    Rdata::A(ip) => format!("A {ip}"),
                    Rdata::Srv { port, target, .. } => format!("SRV {port} {target}"),
                    Rdata::Ptr(target) => format!("PTR {target}"),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            Answer::NoSuchName => "NXDOMAIN".into(),
            Answer::Forward => "forwarded to the host's resolvers".into(),
        };
        lines.push(format!("{name} {kind:?}: {answer}"));
    }
    insta::assert_snapshot!("dns_answers", lines.join("\n"));
}
