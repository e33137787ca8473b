//! orc-dns over the wire, on loopback: a real API server on a real etcd,
//! orc-dns following it, and DNS questions sent as a stub resolver sends
//! them. The upstream resolvers are stand-ins on loopback too: one that
//! answers, one that never does (SERVFAIL, not a hang).

#[path = "../../05-controllers/tests/common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::Cluster;
use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use orc_services::dns::{self, DnsConfig, DnsSockets, Upstream};
use serde_json::json;
use tokio::net::UdpSocket;

/// What the stand-in upstream answers for every name.
const UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

/// A resolver on loopback answering every A question with
/// [`UPSTREAM_ANSWER`]; its address.
async fn answering_upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let question = Message::from_vec(&buf[..n]).unwrap();
            let mut answer = Message::response(question.metadata.id, question.metadata.op_code);
            answer.metadata.recursion_available = true;
            let name = question.queries[0].name().clone();
            answer.add_query(question.queries[0].clone());
            answer.add_answer(Record::from_rdata(name, 60, RData::A(A(UPSTREAM_ANSWER))));
            let _ = socket.send_to(&answer.to_vec().unwrap(), from).await;
        }
    });
    addr
}

/// orc-dns on a loopback port, following `cluster`, forwarding to
/// `upstream`; its address.
async fn start_dns(cluster: &mut Cluster, upstream: Vec<SocketAddr>) -> SocketAddr {
    let sockets = DnsSockets::bind_in(
        orc_pod::netns::HOST_NETNS.as_ref(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr = sockets.local_addr().unwrap();
    let config = DnsConfig {
        zone: "cluster.local".into(),
        upstream: Upstream {
            servers: upstream,
            timeout: Duration::from_millis(300),
        },
    };
    let client = orc_client::Client::new(cluster.url(""));
    cluster.spawn(async move {
        dns::run(client, config, sockets).await.unwrap();
    });
    addr
}

/// Asks `server` for `name`'s records of `kind` over UDP, as a stub
/// resolver does; retries while nobody answers (the server starts
/// answering once its informers have synced).
async fn ask(server: SocketAddr, name: &str, kind: RecordType) -> Message {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    let bytes = query.to_vec().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        socket.send_to(&bytes, server).await.unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
        {
            let answer = Message::from_vec(&buf[..n]).unwrap();
            assert_eq!(answer.metadata.id, query.metadata.id);
            return answer;
        }
        assert!(Instant::now() < deadline, "{server} never answered {name}");
    }
}

fn addresses(answer: &Message) -> Vec<Ipv4Addr> {
    answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(A(ip)) => Some(*ip),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn cluster_names_are_answered_with_a_5s_ttl_and_the_rest_forwarded() {
    let mut cluster = Cluster::start().await;
    let upstream = answering_upstream().await;
    let server = start_dns(&mut cluster, vec![upstream]).await;
    let svc = cluster
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}),
        )
        .await;
    let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();

    // The Service's name appears once the table is rebuilt.
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let answer = ask(server, "web.default.svc.cluster.local.", RecordType::A).await;
        if answer.metadata.response_code == ResponseCode::NoError {
            break answer;
        }
        assert!(Instant::now() < deadline, "web never resolved: {answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(addresses(&answer), [ip]);
    assert_eq!(answer.answers[0].ttl, 5);
    assert!(answer.metadata.authoritative);

    // Its named port, over SRV.
    let srv = ask(
        server,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert!(
        matches!(&srv.answers[..], [r] if matches!(&r.data, RData::SRV(s) if s.port == 80)),
        "{srv:?}"
    );
    // The cluster's names are the server's to deny...
    let missing = ask(server, "nope.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    // ...and every other name is the upstream's.
    let outside = ask(server, "www.example.org.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&outside), [UPSTREAM_ANSWER]);
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_servfail_not_a_hang() {
    let mut cluster = Cluster::start().await;
    // Bound, so nothing refuses the datagram; never read, so nothing answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = start_dns(&mut cluster, vec![silent.local_addr().unwrap()]).await;
    let answer = ask(server, "www.example.org.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    let version = ask(server, "dns-version.cluster.local.", RecordType::TXT).await;
    assert_eq!(version.answers.len(), 1, "{version:?}");
}

#[tokio::test]
async fn aaaa_for_a_cluster_name_is_noerror_without_answers_and_negatives_carry_the_soa() {
    // orc is IPv4-only. A resolver asks A and AAAA for every name (musl
    // and glibc both do); for a name that exists, "no AAAA" must read as
    // NOERROR with an empty answer (NODATA), so the A answer is used. An
    // NXDOMAIN would tell the resolver the name does not exist at all,
    // and a SERVFAIL would make it retry and fail.
    let mut cluster = Cluster::start().await;
    let upstream = answering_upstream().await;
    let server = start_dns(&mut cluster, vec![upstream]).await;
    cluster
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        )
        .await;
    let name = "web.default.svc.cluster.local.";
    let deadline = Instant::now() + Duration::from_secs(60);
    while ask(server, name, RecordType::A)
        .await
        .metadata
        .response_code
        != ResponseCode::NoError
    {
        assert!(Instant::now() < deadline, "web never resolved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let aaaa = ask(server, name, RecordType::AAAA).await;
    assert_eq!(
        aaaa.metadata.response_code,
        ResponseCode::NoError,
        "{aaaa:?}"
    );
    assert!(aaaa.answers.is_empty(), "{aaaa:?}");
    assert!(aaaa.metadata.authoritative);
    // A cluster name that does not exist is still NXDOMAIN for AAAA.
    let missing = ask(server, "nope.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

    // Both negative answers carry the zone's SOA, whose minimum (5 s) is
    // how long a resolver may cache them (RFC 2308).
    for negative in [&aaaa, &missing] {
        assert!(
            matches!(&negative.authorities[..], [r] if r.name.to_ascii() == "cluster.local."
                && matches!(&r.data, RData::SOA(soa) if soa.minimum == 5)),
            "{negative:?}"
        );
    }
    // The zone's apex answers its SOA; a name with names under it exists.
    let apex = ask(server, "cluster.local.", RecordType::SOA).await;
    assert_eq!(apex.metadata.response_code, ResponseCode::NoError);
    assert!(
        matches!(&apex.answers[..], [r] if matches!(&r.data, RData::SOA(soa)
            if soa.mname.to_ascii() == "ns.dns.cluster.local." && soa.serial > 0)),
        "{apex:?}"
    );
    let parent = ask(server, "default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        parent.metadata.response_code,
        ResponseCode::NoError,
        "{parent:?}"
    );
    assert!(parent.answers.is_empty(), "{parent:?}");
}

#[tokio::test]
async fn a_pod_with_hostname_and_subdomain_is_named_under_its_headless_service() {
    // As Kubernetes does for StatefulSet pods: `spec.hostname: db-0` and
    // `spec.subdomain: db` with a headless Service `db` selecting the pod
    // give `db-0.db.default.svc.cluster.local`. The endpoint controller
    // writes the hostname into the slice; orc-dns answers from the slice.
    let mut cluster = Cluster::start().await;
    let client = orc_client::Client::new(cluster.url(""));
    cluster.spawn(orc_services::run_controllers(client, 1));
    let upstream = answering_upstream().await;
    let server = start_dns(&mut cluster, vec![upstream]).await;
    cluster
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                "spec": {"clusterIP": "None", "selector": {"app": "db"},
                    "ports": [{"name": "pg", "port": 5432}]}}),
        )
        .await;
    for (name, subdomain, ip) in [
        ("db-0", "db", "10.244.1.5"),
        // Same Service, but its subdomain names another: no name of its own.
        ("db-1", "other", "10.244.1.6"),
    ] {
        cluster
            .create(
                "/api/v1/namespaces/default/pods",
                &json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "labels": {"app": "db"}},
                    "spec": {"hostname": name, "subdomain": subdomain, "nodeName": "node-1",
                        "containers": [{"name": "pg", "image": "busybox"}]}}),
            )
            .await;
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}]}});
        let code = cluster
            .merge_patch(
                &format!("/api/v1/namespaces/default/pods/{name}/status"),
                &status,
            )
            .await;
        assert_eq!(code, 200);
    }
    // Both pods are behind the Service once its name lists both.
    let both = [Ipv4Addr::new(10, 244, 1, 5), Ipv4Addr::new(10, 244, 1, 6)];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = ask(server, "db.default.svc.cluster.local.", RecordType::A).await;
        let mut found = addresses(&answer);
        found.sort();
        if found == both {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "db never listed both: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The pod whose subdomain is the Service's has its own name.
    let answer = ask(server, "db-0.db.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&answer), [both[0]], "{answer:?}");
    // The slice says so, as Kubernetes' does.
    let slices = cluster
        .list("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name%3Ddb")
        .await;
    let hostnames: Vec<(&str, Option<&str>)> = slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .map(|e| (e["addresses"][0].as_str().unwrap(), e["hostname"].as_str()))
        .collect();
    assert_eq!(
        hostnames,
        [("10.244.1.5", Some("db-0")), ("10.244.1.6", None)]
    );
    // The other pod is reachable only by its address's name: its own
    // hostname under this Service does not exist.
    let other = ask(server, "db-1.db.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(other.metadata.response_code, ResponseCode::NXDomain);
    let dashed = ask(
        server,
        "10-244-1-6.db.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(addresses(&dashed), [both[1]]);
}
