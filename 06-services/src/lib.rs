//! # orc-services: chapter 06, Services
//!
//! Pods come and go, and with them their addresses. A Service is the
//! stable part: a name, a virtual address (its cluster IP) and, for
//! `NodePort` Services, a port on every node, in front of whichever pods
//! its selector picks. Four components make that true; the API server
//! hands out the addresses (chapter 03's `services/` module), and this
//! crate holds the other three:
//!
//! 1. the **endpoint controllers** ([`endpoints`]) watch Services and
//!    pods and write which pods are behind each Service, with their
//!    readiness, as EndpointSlices (and the older Endpoints object);
//! 2. **orc-proxy** ([`proxy`]), on every node, watches Services and
//!    EndpointSlices and renders them as one `iptables-restore` payload:
//!    a packet to a cluster IP is DNATed to one ready pod, chosen
//!    uniformly at random;
//! 3. **orc-dns** ([`dns`]), on every node, answers the pods' DNS
//!    questions: a Service's name becomes its cluster IP.
//! 4. the **load-balancer controller** ([`loadbalancer`]) gives each
//!    `LoadBalancer` Service the Ready nodes' addresses as its external
//!    addresses (k3s' ServiceLB, with no cloud), which the proxy catches.
//!
//! Both reach the cluster only through the API (orc-client). The endpoint
//! controllers live here rather than in chapter 05's controller manager
//! because the chapter that teaches Services teaches them too; `orc
//! server` runs them beside chapter 05's controllers, and `orc agent` runs
//! a proxy for its node.
//!
//! ## Layout
//!
//! - [`endpoints`]: the EndpointSlice and Endpoints controllers.
//!   - `backends.rs`: which pods back a Service, their conditions
//!     (ready, serving, terminating) and their resolved ports (pure);
//!   - `slices.rs`: backends cut into slices of at most 100, and the
//!     writes that get there (pure, lab 06);
//!   - `subsets.rs`: the v1 Endpoints object (pure);
//!   - `mod.rs`: informers, work queues, the API calls.
//! - [`loadbalancer`]: the load-balancer controller.
//!   - `ingress.rs`: a Service's external addresses from the Nodes (pure);
//!   - `mod.rs`: informers, the status writes.
//! - [`proxy`]: orc-proxy, the rules on each node.
//!   - `model.rs`: Service ports and their endpoints, from the objects;
//!   - `chains.rs`: chain names (kube-proxy's hashes) and the
//!     probabilities of the random choice (lab 06);
//!   - `render.rs`: the whole ruleset, a pure function (lab 06,
//!     snapshot-tested);
//!   - `payload.rs`: a ruleset as iptables-restore input, whole or only
//!     what changed;
//!   - `sync.rs`: when to sync (minimum period, periodic full sync);
//!   - `iptables.rs`: iptables-restore, iptables-save and the jumps,
//!     inside the node's network namespace;
//!   - `mod.rs`: the loop.
//! - [`dns`]: orc-dns, the cluster DNS.
//!   - `records.rs`: the name table and its lookup (pure);
//!   - `build.rs`: the table from Services, EndpointSlices and pods (pure);
//!   - `handler.rs`: hickory-server's request handler over the table;
//!   - `forward.rs`: other names to the host's resolvers;
//!   - `publish.rs`: the `kube-dns` Service and a node's slice of it;
//!   - `mod.rs`: informers, rebuilding, serving.
//! - the `orc-proxy` binary (`src/bin/orc-proxy.rs`): the proxy alone,
//!   and `--cleanup`; the `orc-dns` binary (`src/bin/orc-dns.rs`): the
//!   DNS server alone.
//!
//! ## What it leaves out (for now)
//!
//! AAAA records, a load balancer with its own addresses (MetalLB's pools;
//! the API server refuses `loadBalancerIP`, `loadBalancerSourceRanges`,
//! explicit health-check node ports, `externalIPs` and
//! `trafficDistribution`, since nothing here would act on them), IPv6, IPVS and nftables modes, topology-aware
//! routing, the EndpointSlice mirroring controller (Services without a
//! selector keep their hand-written Endpoints but get no slice), and UDP
//! conntrack cleanup when an endpoint goes away.
//!
//! The book's chapter is `chapters/src/06-services.md`; its DNS section
//! is `chapters/src/06-dns.md`.

pub mod dns;
pub mod endpoints;
pub mod loadbalancer;
pub mod proxy;

pub use endpoints::EndpointControllers;
pub use proxy::{ProxyConfig, cleanup};

use orc_client::Client;

/// Runs the endpoint controllers (with `workers` workers each) and the
/// load-balancer controller against the API server `client` talks to,
/// until dropped: what `orc server` starts beside chapter 05's
/// controllers.
pub async fn run_controllers(client: Client, workers: usize) {
    tokio::join!(
        EndpointControllers::run(client.clone(), workers),
        loadbalancer::run(client),
    );
}
