//! Services on a real etcd: cluster IPs and node ports allocated in the
//! Service's own transaction, Kubernetes' refusals, the repair pass, and
//! the `kubernetes` Service.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use serde_json::{Value, json};

const SERVICES: &str = "/api/v1/namespaces/default/services";

fn service(name: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": kind, "selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    })
}

/// A Service with `extra` merged into its spec.
fn with(mut svc: Value, extra: Value) -> Value {
    for (field, value) in extra.as_object().expect("an object").clone() {
        svc["spec"][field] = value;
    }
    svc
}

fn named(mut svc: Value, name: &str) -> Value {
    svc["metadata"]["name"] = json!(name);
    svc
}

/// The keys under a prefix, as `etcdctl` lists them.
fn keys(s: &TestServer, prefix: &str) -> BTreeSet<String> {
    s.etcdctl(&["get", "--prefix", "--keys-only", prefix])
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// 200 creates at once, half through a second API server on the same
/// etcd: every Service gets its own address and its own node port, and
/// etcd holds exactly one allocation key per value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_share_an_address_or_a_node_port() {
    let s = TestServer::start().await;
    let (second, second_task) = s.second().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let base = match i % 2 {
            0 => s.url(SERVICES),
            _ => format!("http://{second}{SERVICES}"),
        };
        let http = s.http.clone();
        tasks.push(tokio::spawn(async move {
            let body = service(&format!("svc-{i}"), "NodePort");
            common::send(http.post(base).json(&body)).await
        }));
    }
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for task in tasks {
        let (code, created) = task.await.unwrap();
        assert_eq!(code, 201, "{created}");
        let ip = created["spec"]["clusterIP"].as_str().unwrap().to_string();
        assert_eq!(created["spec"]["clusterIPs"], json!([ip]));
        assert!(ips.insert(ip.clone()), "{ip} given twice");
        let port = created["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        assert!((30000..=32767).contains(&port), "{port}");
        assert!(ports.insert(port), "node port {port} given twice");
    }
    second_task.abort();
    let ip_keys = keys(&s, "/registry/ranges/serviceips/");
    let expected: BTreeSet<String> = ips
        .iter()
        .chain(["10.96.0.1".to_string()].iter())
        .map(|ip| format!("/registry/ranges/serviceips/{ip}"))
        .collect();
    assert_eq!(
        ip_keys, expected,
        "one key per address, the kubernetes Service's included"
    );
    assert_eq!(keys(&s, "/registry/ranges/servicenodeports/").len(), 200);
    assert!(
        !ips.contains("10.96.0.10"),
        "the DNS address is never drawn"
    );
}

#[tokio::test]
async fn named_values_are_honoured_or_refused_in_kubernetes_words() {
    let s = TestServer::start().await;
    let web = with(
        service("web", "NodePort"),
        json!({"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
    );
    let (code, created) = s.post(SERVICES, &web).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        created["spec"]["clusterIP"], "10.96.0.10",
        "kube-dns's address, asked for by name"
    );
    assert_eq!(created["spec"]["ports"][0]["nodePort"], 30080);

    let mut again = named(web.clone(), "again");
    let (code, status) = s.post(SERVICES, &again).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        "Service \"again\" is invalid: spec.clusterIPs: Invalid value: [\"10.96.0.10\"]: failed to allocate IP 10.96.0.10: provided IP is already allocated"
    );
    again["spec"]["clusterIP"] = json!("10.96.0.11");
    let (code, status) = s.post(SERVICES, &again).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        "Service \"again\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
    );
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.ports[0].nodePort"
    );
    // Nothing of the refused create was kept: .11 is still free.
    again["spec"]["ports"][0]["nodePort"] = json!(30081);
    let (code, created) = s.post(SERVICES, &again).await;
    assert_eq!(code, 201, "{created}");

    let outside = with(
        service("outside", "ClusterIP"),
        json!({"clusterIP": "10.0.0.5"}),
    );
    let (code, status) = s.post(SERVICES, &outside).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "Service \"outside\" is invalid: spec.clusterIPs: Invalid value: [\"10.0.0.5\"]: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    );
    let low = with(
        service("low", "NodePort"),
        json!({"ports": [{"port": 80, "nodePort": 80}]}),
    );
    let (code, status) = s.post(SERVICES, &low).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "Service \"low\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );

    // Deleting gives the values back at once.
    let (code, _) = s.delete(&format!("{SERVICES}/web")).await;
    assert_eq!(code, 200);
    let reuse = named(web, "reuse");
    let (code, created) = s.post(SERVICES, &reuse).await;
    assert_eq!(code, 201, "{created}");
}

#[tokio::test]
async fn each_type_gets_what_kubernetes_gives_it() {
    let s = TestServer::start().await;
    let (_, plain) = s.post(SERVICES, &service("plain", "ClusterIP")).await;
    let spec = &plain["spec"];
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert!(spec["ports"][0].get("nodePort").is_none());

    let headless = with(
        service("headless", "ClusterIP"),
        json!({"clusterIP": "None", "ports": []}),
    );
    let (code, created) = s.post(SERVICES, &headless).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["clusterIPs"], json!(["None"]));

    let alias = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "alias"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    let (code, created) = s.post(SERVICES, &alias).await;
    assert_eq!(code, 201, "{created}");
    assert!(created["spec"].get("clusterIP").is_none(), "{created}");

    // LoadBalancer: node ports too (the load balancer itself is not built).
    let lb = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "lb"}, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "web", "port": 80, "targetPort": "http"}]}});
    let (code, created) = s.post(SERVICES, &lb).await;
    assert_eq!(code, 201, "{created}");
    let ports = &created["spec"]["ports"];
    assert_eq!(
        ports[0]["nodePort"], ports[1]["nodePort"],
        "one node port per port number"
    );
    assert_ne!(ports[0]["nodePort"], ports[2]["nodePort"]);
    assert_eq!(ports[2]["targetPort"], "http");
    assert_eq!(created["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(created["spec"]["externalTrafficPolicy"], "Cluster");

    // Only the first headless and ExternalName took nothing: 3 addresses
    // (kubernetes, plain, lb) and 2 node ports.
    assert_eq!(keys(&s, "/registry/ranges/serviceips/").len(), 3);
    assert_eq!(keys(&s, "/registry/ranges/servicenodeports/").len(), 2);
}

#[tokio::test]
async fn updates_keep_take_and_give_back_values() {
    let s = TestServer::start().await;
    let (_, created) = s.post(SERVICES, &service("web", "ClusterIP")).await;
    let ip = created["spec"]["clusterIP"].clone();

    // A replace without the cluster IP keeps it (kubectl replace -f).
    let bare = service("web", "NodePort");
    let (code, updated) = s.put(&format!("{SERVICES}/web"), &bare).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["spec"]["clusterIP"], ip);
    let node_port = updated["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert_eq!(keys(&s, "/registry/ranges/servicenodeports/").len(), 1);

    // Changing the cluster IP is refused.
    let mut moved = updated.clone();
    moved["spec"]["clusterIP"] = json!("10.96.0.77");
    moved["spec"]["clusterIPs"] = json!(["10.96.0.77"]);
    let (code, status) = s.put(&format!("{SERVICES}/web"), &moved).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: [\"10.96.0.77\"]: may not change once set"
    );

    // Back to ClusterIP: the node port is given back, another may take it.
    let (code, back) = s
        .patch(
            &format!("{SERVICES}/web"),
            "application/merge-patch+json",
            r#"{"spec":{"type":"ClusterIP"}}"#,
        )
        .await;
    assert_eq!(code, 200, "{back}");
    assert!(back["spec"]["ports"][0].get("nodePort").is_none(), "{back}");
    assert!(
        back["spec"].get("externalTrafficPolicy").is_none(),
        "{back}"
    );
    assert!(keys(&s, "/registry/ranges/servicenodeports/").is_empty());
    let other = with(
        service("other", "NodePort"),
        json!({"ports": [{"port": 80, "nodePort": node_port}]}),
    );
    let (code, created) = s.post(SERVICES, &other).await;
    assert_eq!(code, 201, "{created}");

    // To ExternalName: the address is given back too.
    let (code, alias) = s
        .patch(
            &format!("{SERVICES}/web"),
            "application/merge-patch+json",
            r#"{"spec":{"type":"ExternalName","externalName":"web.example.com"}}"#,
        )
        .await;
    assert_eq!(code, 200, "{alias}");
    assert!(alias["spec"].get("clusterIP").is_none(), "{alias}");
    let ip_key = format!("/registry/ranges/serviceips/{}", ip.as_str().unwrap());
    assert!(!keys(&s, "/registry/ranges/serviceips/").contains(&ip_key));
}

#[tokio::test]
async fn a_full_range_is_a_500_and_a_restart_repairs_the_keys() {
    let mut s = TestServer::start_with(|c| {
        c.services.cidr = "10.0.0.0/28".parse().unwrap();
    })
    .await;
    // 16 addresses: network, broadcast, .1 (kubernetes) and .10 (DNS)
    // are never drawn; 12 are.
    for i in 0..12 {
        let (code, created) = s
            .post(SERVICES, &service(&format!("s{i}"), "ClusterIP"))
            .await;
        assert_eq!(code, 201, "{created}");
    }
    let (code, status) = s
        .post(SERVICES, &service("one-too-many", "ClusterIP"))
        .await;
    assert_eq!(code, 500, "{status}");
    assert_eq!(
        status["message"],
        "failed to allocate a serviceIP: range is full"
    );

    // Break the keys by hand: lose one, plant one for nobody.
    let (_, s0) = s.get(&format!("{SERVICES}/s0")).await;
    let s0_key = format!(
        "/registry/ranges/serviceips/{}",
        s0["spec"]["clusterIP"].as_str().unwrap()
    );
    s.etcdctl(&["del", &s0_key]);
    s.etcdctl(&["put", "/registry/ranges/servicenodeports/31000", "{}"]);
    s.restart().await;
    let ips = keys(&s, "/registry/ranges/serviceips/");
    assert!(ips.contains(&s0_key), "restored: {ips:?}");
    assert_eq!(ips.len(), 13);
    assert!(
        keys(&s, "/registry/ranges/servicenodeports/").is_empty(),
        "the orphan is freed"
    );
}

#[tokio::test]
async fn the_kubernetes_service_names_the_api_server() {
    let mut s = TestServer::start().await;
    let (code, svc) = s.get(&format!("{SERVICES}/kubernetes")).await;
    assert_eq!(code, 200, "{svc}");
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], s.addr.port());
    assert_eq!(svc["metadata"]["labels"]["component"], "apiserver");
    let (_, ep) = s
        .get("/api/v1/namespaces/default/endpoints/kubernetes")
        .await;
    assert_eq!(
        ep["subsets"],
        json!([{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": s.addr.port(), "protocol": "TCP"}]}])
    );
    let slice_path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes";
    let (_, slice) = s.get(slice_path).await;
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"][0]["addresses"], json!(["127.0.0.1"]));
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "kubernetes"
    );

    // Restarted on another port, the server points them at itself again.
    let uid = svc["metadata"]["uid"].clone();
    s.restart().await;
    let (_, svc) = s.get(&format!("{SERVICES}/kubernetes")).await;
    assert_eq!(svc["metadata"]["uid"], uid, "kept, not recreated");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], s.addr.port());
    let (_, slice) = s.get(slice_path).await;
    assert_eq!(slice["ports"][0]["port"], s.addr.port());
}
