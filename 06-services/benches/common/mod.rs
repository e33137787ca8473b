//! What both benchmarks build their Services from.

use std::net::Ipv4Addr;

use orc_services::proxy::model::{Endpoint, ServicePort};

/// A plain ClusterIP Service port `bench/<name>:http`, TCP port 80 at
/// `cluster_ip`: no node port, no affinity, Cluster policies.
pub fn service_port(name: &str, cluster_ip: Ipv4Addr) -> ServicePort {
    ServicePort {
        namespace: "bench".into(),
        name: name.into(),
        port_name: "http".into(),
        protocol: "tcp".into(),
        cluster_ip,
        port: 80,
        node_port: None,
        load_balancer_ips: Vec::new(),
        affinity_seconds: None,
        external_local: false,
        internal_local: false,
    }
}

/// A ready endpoint at `ip:8080`.
pub fn ready_endpoint(ip: Ipv4Addr) -> Endpoint {
    Endpoint {
        ip,
        port: 8080,
        ready: true,
        serving: true,
        terminating: false,
        local: true,
    }
}
