//! The proxy's rules, rendered from Services and EndpointSlices as the API
//! server stores them, and snapshotted as the iptables-restore payload a
//! node would apply. No kernel is involved: rendering is a pure function.

use std::collections::BTreeSet;

use orc_services::proxy::model::{self, Routed};
use orc_services::proxy::payload::{self, Scope};
use orc_services::proxy::render::{self, RenderConfig, RuleSet};
use serde_json::{Value, json};

const NODE: &str = "node-1";

fn service(name: &str, spec: Value) -> Value {
    let mut svc = json!({"metadata": {"namespace": "default", "name": name},
        "spec": {"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}});
    for (field, value) in spec.as_object().unwrap() {
        svc["spec"][field] = value.clone();
    }
    svc
}

/// An endpoint: `(address, node, ready, serving, terminating)`.
type Ep<'a> = (&'a str, &'a str, bool, bool, bool);

fn slice(service: &str, port: (&str, u16), endpoints: &[Ep<'_>]) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, node, ready, serving, terminating)| {
            json!({"addresses": [ip], "nodeName": node,
                "conditions": {"ready": ready, "serving": serving, "terminating": terminating}})
        })
        .collect();
    json!({"metadata": {"namespace": "default", "name": format!("{service}-abcde"),
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": port.0, "port": port.1, "protocol": "TCP"}],
        "endpoints": endpoints})
}

fn ready<'a>(ip: &'a str, node: &'a str) -> Ep<'a> {
    (ip, node, true, true, false)
}

fn rules(services: &[Value], slices: &[Value]) -> RuleSet {
    let routes: Vec<Routed> = model::routes(services, slices, NODE);
    render::render(
        &routes,
        &RenderConfig {
            cluster_cidr: Some("10.244.0.0/16".into()),
        },
    )
}

fn full(services: &[Value], slices: &[Value]) -> String {
    payload::payload(&rules(services, slices), Scope::Full, &BTreeSet::new())
}

#[test]
fn a_cluster_ip_spreads_over_three_endpoints() {
    let web = service(
        "web",
        json!({"clusterIP": "10.96.0.20",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}),
    );
    let eps = slice(
        "web",
        ("http", 8080),
        &[
            ready("10.244.1.2", "node-1"),
            ready("10.244.1.3", "node-1"),
            ready("10.244.2.2", "node-2"),
        ],
    );
    insta::assert_snapshot!("cluster_ip", full(&[web], &[eps]));
}

#[test]
fn a_node_port_on_every_node_address() {
    let web = service(
        "web",
        json!({"type": "NodePort", "clusterIP": "10.96.0.20", "externalTrafficPolicy": "Cluster",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}]}),
    );
    let eps = slice(
        "web",
        ("http", 8080),
        &[ready("10.244.1.2", "node-1"), ready("10.244.2.2", "node-2")],
    );
    insta::assert_snapshot!("node_port", full(&[web], &[eps]));
}

#[test]
fn a_load_balancer_is_caught_at_its_addresses_and_port() {
    let mut web = service(
        "web",
        json!({"type": "LoadBalancer", "clusterIP": "10.96.0.20", "externalTrafficPolicy": "Cluster",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}]}),
    );
    // What the load-balancer controller writes: both nodes' addresses.
    // An address in Proxy mode belongs to a load balancer that forwards
    // by itself: not caught.
    web["status"] = json!({"loadBalancer": {"ingress": [
        {"ip": "192.168.50.1", "ipMode": "VIP"}, {"ip": "192.168.50.2", "ipMode": "VIP"},
        {"ip": "203.0.113.9", "ipMode": "Proxy"}]}});
    let eps = slice("web", ("http", 8080), &[ready("10.244.1.2", "node-1")]);
    let text = full(&[web.clone()], &[eps]);
    assert!(!text.contains("203.0.113.9"), "{text}");
    insta::assert_snapshot!("load_balancer", text);
    // Without endpoints, its addresses refuse at once, as its node port does.
    let refused = full(&[web], &[]);
    assert!(
        refused.contains(
            "-A ORC-EXTERNAL-SERVICES -m comment --comment \"default/web:http has no endpoints\" -m tcp -p tcp -d 192.168.50.1 --dport 80 -j REJECT"
        ),
        "{refused}"
    );
}

#[test]
fn client_ip_affinity_remembers_each_clients_endpoint() {
    let web = service(
        "web",
        json!({"clusterIP": "10.96.0.20", "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
    );
    let eps = slice(
        "web",
        ("http", 80),
        &[ready("10.244.1.2", "node-1"), ready("10.244.2.2", "node-2")],
    );
    insta::assert_snapshot!("session_affinity", full(&[web], &[eps]));
}

#[test]
fn no_ready_endpoint_is_a_reject_and_terminating_ones_serve_as_a_last_resort() {
    let empty = service(
        "empty",
        json!({"type": "NodePort", "clusterIP": "10.96.0.30", "externalTrafficPolicy": "Cluster",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30090}]}),
    );
    let not_ready = slice(
        "empty",
        ("http", 80),
        &[("10.244.1.5", "node-1", false, false, false)],
    );
    let draining = service(
        "draining",
        json!({"clusterIP": "10.96.0.31",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
    );
    let last = slice(
        "draining",
        ("http", 80),
        &[
            ("10.244.1.6", "node-1", false, true, true),
            ("10.244.1.7", "node-1", false, false, true),
        ],
    );
    insta::assert_snapshot!("no_endpoints", full(&[empty, draining], &[not_ready, last]));
}

#[test]
fn local_traffic_policies_keep_to_this_nodes_endpoints() {
    let external = service(
        "ext-local",
        json!({"type": "NodePort", "clusterIP": "10.96.0.40", "externalTrafficPolicy": "Local",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30100}]}),
    );
    let external_eps = slice(
        "ext-local",
        ("http", 80),
        &[ready("10.244.1.2", "node-1"), ready("10.244.2.2", "node-2")],
    );
    let internal = service(
        "int-local",
        json!({"clusterIP": "10.96.0.41", "internalTrafficPolicy": "Local",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
    );
    // Its only endpoint is on another node: this node drops the traffic.
    let internal_eps = slice("int-local", ("http", 80), &[ready("10.244.2.3", "node-2")]);
    insta::assert_snapshot!(
        "local_policies",
        full(&[external, internal], &[external_eps, internal_eps])
    );
}

#[test]
fn headless_and_external_name_services_get_no_rules_and_udp_keeps_its_protocol() {
    let headless = service(
        "db",
        json!({"clusterIP": "None", "ports": [{"port": 5432, "protocol": "TCP"}]}),
    );
    let alias = json!({"metadata": {"namespace": "default", "name": "alias"},
        "spec": {"type": "ExternalName", "externalName": "example.com"}});
    let dns = service(
        "dns",
        json!({"clusterIP": "10.96.0.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}),
    );
    let mut dns_eps = slice("dns", ("dns", 53), &[ready("10.244.1.9", "node-1")]);
    dns_eps["ports"][0]["protocol"] = json!("UDP");
    let set = rules(&[headless, alias, dns], &[dns_eps]);
    assert_eq!(
        set.services.keys().collect::<Vec<_>>(),
        ["default/dns:dns/udp"]
    );
    let text = payload::payload(&set, Scope::Full, &BTreeSet::new());
    assert!(text.contains("-A ORC-SERVICES -m comment --comment \"default/dns:dns cluster IP\" -m udp -p udp -d 10.96.0.10 --dport 53"), "{text}");
}

#[test]
fn a_partial_sync_writes_only_the_changed_service_and_deletes_stale_chains() {
    let web = service(
        "web",
        json!({"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
    );
    let api = service(
        "api",
        json!({"clusterIP": "10.96.0.21", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
    );
    let web_eps = |eps: &[Ep<'_>]| slice("web", ("http", 80), eps);
    let api_eps = slice("api", ("http", 80), &[ready("10.244.1.8", "node-1")]);
    let before = rules(
        &[web.clone(), api.clone()],
        &[
            web_eps(&[ready("10.244.1.2", "node-1"), ready("10.244.1.3", "node-1")]),
            api_eps.clone(),
        ],
    );
    assert_eq!(
        payload::partial(&before, &before),
        None,
        "nothing changed: nothing written"
    );
    // 10.244.1.3 leaves web; api is untouched.
    let after = rules(
        &[web.clone(), api.clone()],
        &[web_eps(&[ready("10.244.1.2", "node-1")]), api_eps.clone()],
    );
    let text = payload::partial(&after, &before).expect("web changed");
    // Neither api's chains nor the top-level ones changed: none is
    // written, and the filter table is left out altogether.
    let api_chain = orc_services::proxy::chains::service_chain("default/api:http", "tcp");
    assert!(
        !text.contains(&format!(":{api_chain}")),
        "api's chains are not rewritten:\n{text}"
    );
    assert!(!text.contains(&format!("-A {api_chain}")), "{text}");
    assert!(!text.contains(":ORC-SERVICES "), "{text}");
    assert!(!text.contains("*filter"), "{text}");
    insta::assert_snapshot!("partial", text);
    // A new Service changes ORC-SERVICES: that chain is written whole,
    // and the other top-level chains still are not.
    let (cache, cache_eps) = (
        service(
            "cache",
            json!({"clusterIP": "10.96.0.22",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
        ),
        slice("cache", ("http", 80), &[ready("10.244.1.9", "node-1")]),
    );
    let grown = rules(
        &[web, api, cache],
        &[
            web_eps(&[ready("10.244.1.2", "node-1")]),
            api_eps,
            cache_eps,
        ],
    );
    let text = payload::partial(&grown, &after).expect("cache is new");
    assert!(text.contains(":ORC-SERVICES - [0:0]"), "{text}");
    assert_eq!(
        text.matches("-A ORC-SERVICES ").count(),
        4,
        "every capture, and the node ports' jump:\n{text}"
    );
    assert!(!text.contains(":ORC-NODEPORTS"), "{text}");
    assert!(!text.contains(":ORC-PROXY-POSTROUTING"), "{text}");
}

#[test]
fn the_kubernetes_service_gets_kube_proxys_chain_name() {
    let kubernetes = json!({"metadata": {"namespace": "default", "name": "kubernetes"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
    let eps = slice(
        "kubernetes",
        ("https", 6443),
        &[("192.168.50.1", "", true, true, false)],
    );
    let set = rules(&[kubernetes], &[eps]);
    assert!(
        set.nat
            .iter()
            .any(|r| r.ends_with("-j ORC-SVC-NPX46M4PTMTKRN6Y")),
        "{:?}",
        set.nat
    );
}
