//! Lab 06's tasks: one test per function in `src/student.rs`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use lab_06::{
    Answer, Backend, BackendPort, Endpoint, Kind, Rdata, Record, ServicePort, pick_rules,
    probability, records, slice_plan, usable,
};
use serde_json::{Value, json};

#[test]
fn task_1_the_probability_chain() {
    let three: Vec<String> = (0..3).map(|i| probability(i, 3)).collect();
    assert_eq!(three, ["0.3333333333", "0.5000000000", "1.0000000000"]);
    assert_eq!(probability(0, 1), "1.0000000000", "one endpoint takes all");
    assert_eq!(probability(0, 7), "0.1428571429", "rounded, not cut");
    assert_eq!(probability(5, 7), "0.5000000000");
    // Whatever the count, every endpoint ends up with the same chance.
    for n in 1..=20 {
        let mut missed = 1.0;
        for i in 0..n {
            let p: f64 = probability(i, n).parse().unwrap();
            let chance = missed * p;
            assert!(
                (chance - 1.0 / n as f64).abs() < 1e-9,
                "endpoint {i} of {n} is picked with {chance}"
            );
            missed *= 1.0 - p;
        }
    }
}

fn endpoint(last: u8, ready: bool, serving: bool, terminating: bool) -> Endpoint {
    Endpoint {
        ip: Ipv4Addr::new(10, 244, 1, last),
        port: 8080,
        ready,
        serving,
        terminating,
        local: false,
    }
}

#[test]
fn task_2_usable_endpoints() {
    let ready = endpoint(2, true, true, false);
    let unready = endpoint(3, false, false, false);
    let leaving = endpoint(4, false, true, true);
    let dying = endpoint(5, false, false, true);
    assert_eq!(
        usable(&[&unready, &leaving, &ready]),
        std::slice::from_ref(&ready),
        "ready endpoints only, while there are some"
    );
    assert_eq!(
        usable(&[&dying, &leaving, &unready]),
        std::slice::from_ref(&leaving),
        "no ready one: the terminating ones that still serve"
    );
    assert_eq!(usable(&[&dying, &unready]), [], "nothing serves");
    assert_eq!(usable(&[]), []);
    let other = endpoint(6, true, true, false);
    assert_eq!(
        usable(&[&other, &ready]),
        [other, ready],
        "in the order given"
    );
}

fn service_port(affinity_seconds: Option<u32>) -> ServicePort {
    ServicePort {
        namespace: "default".into(),
        name: "web".into(),
        port_name: "http".into(),
        protocol: "tcp".into(),
        cluster_ip: Ipv4Addr::new(10, 96, 0, 20),
        port: 80,
        node_port: None,
        load_balancer_ips: vec![],
        affinity_seconds,
        external_local: false,
        internal_local: false,
    }
}

#[test]
fn task_3_a_service_chain() {
    let endpoints: Vec<Endpoint> = (2..5).map(|i| endpoint(i, true, true, false)).collect();
    let chain = "ORC-SVC-CDGGSHYLG3RE2FKL";
    insta::assert_snapshot!(
        "random_choice",
        pick_rules(&service_port(None), chain, &endpoints).join("\n")
    );
    insta::assert_snapshot!(
        "client_ip_affinity",
        pick_rules(&service_port(Some(10800)), chain, &endpoints[..2]).join("\n")
    );
    let one = pick_rules(&service_port(None), chain, &endpoints[..1]);
    assert_eq!(one.len(), 1);
    assert!(
        !one[0].contains("statistic"),
        "one endpoint needs no dice: {one:?}"
    );
    assert_eq!(
        pick_rules(&service_port(None), chain, &[]),
        Vec::<String>::new()
    );
}

fn svc() -> Value {
    json!({"metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
        "spec": {"selector": {"app": "web"}}})
}

/// A backend at `10.244.<hi>.<lo>` with its port `http` at `port`.
fn backend(hi: u8, lo: u8, port: u16) -> Backend {
    Backend {
        ip: Ipv4Addr::new(10, 244, hi, lo),
        node_name: Some("node-1".into()),
        target_ref: json!({"kind": "Pod", "name": format!("p-{hi}-{lo}")}),
        hostname: None,
        ports: vec![BackendPort {
            name: "http".into(),
            port,
            protocol: "TCP".into(),
            app_protocol: None,
        }],
        ready: true,
        serving: true,
        terminating: false,
    }
}

/// `n` backends, 10.244.1.1 upwards, on port 8080.
fn many(n: usize) -> Vec<Backend> {
    (0..n)
        .map(|i| backend(1 + (i / 200) as u8, 1 + (i % 200) as u8, 8080))
        .collect()
}

fn addresses(slice: &Value) -> Vec<Ipv4Addr> {
    slice["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["addresses"][0].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The planned new slices as the API server would store them: `web-0`...
fn stored(created: &[Value]) -> Vec<Value> {
    created
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            s["metadata"]["name"] = json!(format!("web-{i}"));
            s
        })
        .collect()
}

fn name(slice: &Value) -> &str {
    slice["metadata"]["name"].as_str().unwrap()
}

#[test]
fn task_4_slices_of_at_most_100() {
    // 250 endpoints from nothing: three new slices, 100 + 100 + 50.
    let backends = many(250);
    let first = slice_plan(&svc(), &backends, &[]);
    assert!(first.update.is_empty() && first.delete.is_empty());
    let mut sizes: Vec<usize> = first.create.iter().map(|s| addresses(s).len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100]);
    let all: BTreeSet<Ipv4Addr> = first.create.iter().flat_map(addresses).collect();
    assert_eq!(all, backends.iter().map(|b| b.ip).collect());
    for slice in &first.create {
        let mut sorted = addresses(slice);
        sorted.sort();
        assert_eq!(addresses(slice), sorted, "endpoints sorted by address");
        assert_eq!(
            slice["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(slice["metadata"]["generateName"], "web-");
    }

    // Three pods of the first slice go, five new ones come: the survivors
    // stay where they are, the newcomers fill the room, nothing is created.
    let existing = stored(&first.create);
    let gone: Vec<Ipv4Addr> = addresses(&existing[0])[..3].to_vec();
    let mut next: Vec<Backend> = backends
        .iter()
        .filter(|b| !gone.contains(&b.ip))
        .cloned()
        .collect();
    let newcomers: Vec<Backend> = (1..=5).map(|i| backend(9, i, 8080)).collect();
    next.extend(newcomers.iter().cloned());
    let second = slice_plan(&svc(), &next, &existing);
    assert_eq!(
        (second.create.len(), second.delete.len()),
        (0, 0),
        "{second:?}"
    );
    assert_eq!(second.update.len(), 3);
    for before in &existing {
        let after = second
            .update
            .iter()
            .find(|s| name(s) == name(before))
            .unwrap();
        let kept: BTreeSet<Ipv4Addr> = addresses(after).into_iter().collect();
        for ip in addresses(before) {
            assert_eq!(
                kept.contains(&ip),
                !gone.contains(&ip),
                "{ip} should stay in {} unless it is gone",
                name(before)
            );
        }
        assert!(kept.len() <= 100);
    }
    let placed: BTreeSet<Ipv4Addr> = second.update.iter().flat_map(addresses).collect();
    assert_eq!(placed, next.iter().map(|b| b.ip).collect());

    // The pods move to port 8081: a slice holds one set of ports, so the
    // old slices go and new ones come.
    let moved: Vec<Backend> = (1..=3).map(|i| backend(1, i, 8081)).collect();
    let third = slice_plan(&svc(), &moved, &existing);
    assert_eq!(third.delete.len(), 3);
    assert!(third.update.is_empty());
    assert_eq!(third.create.len(), 1);
    assert_eq!(third.create[0]["ports"][0]["port"], 8081);
}

#[test]
fn task_4_a_service_without_backends_keeps_one_placeholder() {
    let none = slice_plan(&svc(), &[], &[]);
    assert_eq!(none.create.len(), 1, "{none:?}");
    assert_eq!(addresses(&none.create[0]), Vec::<Ipv4Addr>::new());
    assert_eq!(none.create[0]["ports"], json!([]));

    // Stored, it stays while there are still no backends...
    let placeholder = stored(&none.create);
    let again = slice_plan(&svc(), &[], &placeholder);
    assert_eq!(
        (again.create.len(), again.delete.len()),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(again.update.len(), 1);
    assert_eq!(name(&again.update[0]), "web-0");

    // ...and slices with endpoints, all emptied, give way to a placeholder.
    let existing = stored(&slice_plan(&svc(), &many(150), &[]).create);
    let emptied = slice_plan(&svc(), &[], &existing);
    assert_eq!(emptied.delete.len(), 2, "{emptied:?}");
    assert!(emptied.update.is_empty());
    assert_eq!(emptied.create.len(), 1);
    assert_eq!(addresses(&emptied.create[0]), Vec::<Ipv4Addr>::new());
}

fn service(name: &str, spec: Value) -> Value {
    json!({"metadata": {"namespace": "shop", "name": name}, "spec": spec})
}

fn slice(service: &str, endpoints: Value) -> Value {
    json!({"metadata": {"namespace": "shop", "name": format!("{service}-x"),
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints})
}

fn data(answer: Answer) -> Vec<Rdata> {
    match answer {
        Answer::Records(r) => r.into_iter().map(|Record { data, .. }| data).collect(),
        other => panic!("expected records, got {other:?}"),
    }
}

fn a(ip: &str) -> Rdata {
    Rdata::A(ip.parse().unwrap())
}

#[test]
fn task_5_dns_records() {
    let services = [
        service(
            "web",
            json!({"clusterIP": "10.96.0.20",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]}),
        ),
        service(
            "db",
            json!({"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
        ),
        service("empty", json!({"clusterIP": "None"})),
        service(
            "all",
            json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
        ),
        service(
            "ext",
            json!({"type": "ExternalName", "externalName": "Example.ORG"}),
        ),
        service("pending", json!({"clusterIP": ""})),
    ];
    let slices = [
        slice(
            "db",
            json!([
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "hostname": "db-0"},
                {"addresses": ["10.244.2.6"]},
                {"addresses": ["10.244.2.7"], "conditions": {"ready": false}}]),
        ),
        slice(
            "empty",
            json!([{"addresses": ["10.244.2.8"], "conditions": {"ready": false}}]),
        ),
        slice(
            "all",
            json!([{"addresses": ["10.244.2.9"], "conditions": {"ready": false}}]),
        ),
    ];
    let pods = [
        json!({"metadata": {"namespace": "shop", "name": "p"}, "status": {"podIP": "10.244.1.5"}}),
        json!({"metadata": {"namespace": "shop", "name": "q"}, "status": {}}),
    ];
    let t = records("cluster.local", &services, &slices, &pods);
    let ask = |name: &str, kind: Kind| t.answer(name, kind);

    // A cluster IP: A, PTR, and SRV for its named port only.
    assert_eq!(
        data(ask("web.shop.svc.cluster.local", Kind::A)),
        [a("10.96.0.20")]
    );
    assert_eq!(
        data(ask("20.0.96.10.in-addr.arpa", Kind::Ptr)),
        [Rdata::Ptr("web.shop.svc.cluster.local.".into())]
    );
    assert_eq!(
        data(ask("_http._tcp.web.shop.svc.cluster.local", Kind::Srv)),
        [Rdata::Srv {
            priority: 0,
            weight: 100,
            port: 80,
            target: "web.shop.svc.cluster.local.".into()
        }]
    );
    // A headless Service: its ready endpoints, each with a name of its own.
    assert_eq!(
        data(ask("db.shop.svc.cluster.local", Kind::A)),
        [a("10.244.1.5"), a("10.244.2.6")],
        "10.244.2.7 is not ready; 10.244.2.6 has no conditions: ready"
    );
    assert_eq!(
        data(ask("db-0.db.shop.svc.cluster.local", Kind::A)),
        [a("10.244.1.5")]
    );
    assert_eq!(
        data(ask("10-244-2-6.db.shop.svc.cluster.local", Kind::A)),
        [a("10.244.2.6")]
    );
    assert_eq!(
        ask("10-244-2-7.db.shop.svc.cluster.local", Kind::A),
        Answer::NoSuchName
    );
    assert_eq!(
        data(ask("5.1.244.10.in-addr.arpa", Kind::Ptr)),
        [Rdata::Ptr("db-0.db.shop.svc.cluster.local.".into())]
    );
    let srv = data(ask("_http._tcp.db.shop.svc.cluster.local", Kind::Srv));
    assert_eq!(srv.len(), 2, "{srv:?}");
    assert!(srv.contains(&Rdata::Srv {
        priority: 0,
        weight: 50,
        port: 8080,
        target: "db-0.db.shop.svc.cluster.local.".into()
    }));
    // None ready: NXDOMAIN, unless not-ready addresses are published.
    assert_eq!(
        ask("empty.shop.svc.cluster.local", Kind::A),
        Answer::NoSuchName
    );
    assert_eq!(
        data(ask("all.shop.svc.cluster.local", Kind::A)),
        [a("10.244.2.9")]
    );
    // ExternalName: a CNAME, lower case and absolute.
    assert_eq!(
        data(ask("ext.shop.svc.cluster.local", Kind::Cname)),
        [Rdata::Cname("example.org.".into())]
    );
    assert_eq!(
        ask("pending.shop.svc.cluster.local", Kind::A),
        Answer::NoSuchName
    );
    // Pods: their dashed address in their namespace.
    assert_eq!(
        data(ask("10-244-1-5.shop.pod.cluster.local", Kind::A)),
        [a("10.244.1.5")]
    );
    assert_eq!(
        ask("10-244-1-5.other.pod.cluster.local", Kind::A),
        Answer::NoSuchName
    );
    // And the version of the specification, which `Records::new` adds.
    assert_eq!(
        data(ask("dns-version.cluster.local", Kind::Txt)),
        [Rdata::Txt("1.1.0".into())]
    );
}
