//! What the two benches share: the backends, orc's routing table to them,
//! and nginx's equivalent of it.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::Response;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use orc_ingress::balance::Algorithm;
use orc_ingress::routes::{Backend, Endpoint, HostMatch, PathType, RouteTable, Rule};

/// The two backends, in the bench's network namespace.
pub const BACKENDS: [&str; 2] = ["127.0.0.2:8080", "127.0.0.3:8080"];

/// A hyper backend on `address` answering every request `ok`.
pub async fn backend(address: SocketAddr) {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// orc's table: any host, any path, to both backends by round robin.
pub fn table() -> RouteTable {
    let endpoints = BACKENDS
        .iter()
        .map(|a| Endpoint {
            address: a.parse().unwrap(),
            weight: 1,
        })
        .collect();
    let backend = Backend {
        service: "default/bench".into(),
        port: "80".into(),
        algorithm: Algorithm::RoundRobin,
        endpoints,
    };
    let rule = Rule {
        ingress: "default/bench".into(),
        host: HostMatch::Any,
        path: "/".into(),
        path_type: PathType::Prefix,
        backend: Arc::new(backend),
    };
    RouteTable {
        rules: vec![rule],
        ..RouteTable::default()
    }
}

/// nginx's upstream of the two backends, with pooled keep-alive
/// connections to them (`keepalive 64`).
pub fn nginx_upstream() -> String {
    let servers: String = BACKENDS
        .iter()
        .map(|b| format!("    server {b};\n"))
        .collect();
    format!("  upstream backends {{\n{servers}    keepalive 64;\n  }}\n")
}

/// nginx's `location`: HTTP/1.1 to the upstream without `Connection:
/// close` (so its connections are kept), and the headers orc adds.
pub const NGINX_LOCATION: &str = "location / {\n      proxy_pass http://backends;\n      proxy_http_version 1.1;\n\
     proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n\
     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
     proxy_set_header X-Forwarded-Proto $scheme;\n      proxy_set_header X-Forwarded-Host $http_host;\n\
     proxy_set_header X-Forwarded-Port $server_port;\n    }";
