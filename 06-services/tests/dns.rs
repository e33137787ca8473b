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
