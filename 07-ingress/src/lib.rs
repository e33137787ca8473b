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
//! - [`proxy`]: the shell: hyper listeners, pooled upstream connections,
//!   passive health, TLS by SNI, `/healthz` and `/metrics`.
//! - [`controller`]: informers on the API, the table rebuilt on every
//!   change, `status.loadBalancer` and Events on the Ingresses.
//! - [`server`]: the listeners bound, then the controller and the proxy
//!   run together: what the `orc-ingress` binary and `orc agent` (so every
//!   node of `orc up`) call.
//!
//! The README's chapter table says what is done and what is not.

pub mod balance;
pub mod controller;
pub mod proxy;
pub mod routes;
pub mod server;
