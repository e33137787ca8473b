//! # orc-ingress: chapter 07, an L7 ingress controller
//!
//! Chapter 06 balanced *connections*: iptables picks a pod when a TCP
//! connection opens and knows nothing of what travels in it. An ingress
//! controller works one layer up. It reads HTTP requests, routes each by
//! its `Host` and path to a Service, as the cluster's Ingress objects say,
//! and balances over the Service's ready pods with an algorithm chosen per
//! Ingress or Service.
//!
//! Layout:
//! - [`routes`]: the routing table, pure. Which Ingresses this controller
//!   claims (`class.rs`), hosts and paths with Kubernetes' semantics
//!   (`host.rs`, `path.rs`), Service ports resolved to ready EndpointSlice
//!   addresses (`backend.rs`), the table built from the API's objects
//!   (`build.rs`) and the lookup (`mod.rs`).
//! - [`balance`]: the four algorithms, each a small pure picker: round
//!   robin, nginx's smooth weighted round robin, least connections and
//!   weighted least connections.
//!
//! Not built yet: the proxy itself (hyper, keep-alive, pooled upstream
//! connections, passive health, TLS by SNI), the controller loop that
//! watches the API and publishes `status.loadBalancer`, the `orc-ingress`
//! binary. The README's chapter table says what is done.

pub mod balance;
pub mod controller;
pub mod proxy;
pub mod routes;
pub mod server;
