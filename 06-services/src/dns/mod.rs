//! orc-dns, the cluster DNS of this course (what CoreDNS is on a
//! Kubernetes cluster): a pod asks for `web`, its resolver tries
//! `web.<ns>.svc.cluster.local` first (the search list the agent wrote
//! into its `/etc/resolv.conf`), and orc-dns answers with the Service's
//! cluster IP.
//!
//! It follows Services, EndpointSlices and pods through the API and,
//! whenever one changes, rebuilds its whole name table ([`build`], pure)
//! and swaps it in. Questions are answered from that table alone
//! ([`records::Records::answer`], pure), by hickory-server with orc's own
//! request handler ([`handler`]): no zone files, nothing written to disk.
//! Names outside the cluster's zone go to the host's resolvers
//! ([`forward`]).
//!
//! `orc agent` runs one on every node, inside the node's network
//! namespace on the pod bridge's address, and publishes it as an
//! endpoint of the `kube-dns` Service (ARCHITECTURE.md says why); the
//! `orc-dns` binary runs one alone on any address.

pub mod build;
pub mod forward;
pub mod handler;
pub mod publish;
pub mod records;
pub mod udp;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use orc_client::Client;
use orc_client::informer as informers;
use orc_client::informer::{Informer, Notification};
use orc_client::resources::by_kind;
use tokio::sync::Notify;
use tokio::task::JoinSet;

pub use forward::Upstream;
use handler::{ClusterDns, SharedRecords};
use records::Records;

/// The cluster domain Kubernetes uses unless told otherwise.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// What a DNS server answers for and where it asks about the rest.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The cluster domain (`--cluster-domain`, `cluster.local`).
    pub zone: String,
    /// The host's resolvers, for every other name.
    pub upstream: Upstream,
}

impl DnsConfig {
    /// `cluster.local`, forwarding to the resolvers of the host's
    /// `/etc/resolv.conf` (none if it cannot be read: every forwarded
    /// question is then SERVFAIL, and a warning says why).
    pub fn from_host() -> DnsConfig {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read /etc/resolv.conf: names outside the cluster will fail");
            String::new()
        });
        DnsConfig {
            zone: CLUSTER_DOMAIN.into(),
            upstream: Upstream::from_resolv_conf(&text),
        }
    }
}

/// A DNS server's sockets, bound but not yet serving: UDP for most
/// questions, one socket per CPU on the same address (`SO_REUSEPORT`:
/// the kernel spreads clients over them, so every core receives and
/// answers, where one socket would make a single task read every
/// question), and TCP for answers too long for a datagram.
pub struct DnsSockets {
    pub udp: Vec<std::net::UdpSocket>,
    pub tcp: std::net::TcpListener,
}

/// A non-blocking UDP socket bound to `addr` with `SO_REUSEPORT`, so
/// that more can be bound beside it (only by this user: Linux keeps a
/// port's group to one user id).
fn reuseport_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

impl DnsSockets {
    /// Binds `addr` over UDP (a socket per CPU) and TCP inside the
    /// network namespace at `netns` (a socket stays in the namespace it
    /// was made in).
    ///
    /// With port 0 the kernel picks a free UDP port, and that same port
    /// may be taken over TCP by someone else: then another UDP port is
    /// tried, a few times, before giving up.
    pub fn bind_in(netns: &Path, addr: SocketAddr) -> std::io::Result<DnsSockets> {
        const TRIES: usize = 16;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let bind = move || -> std::io::Result<DnsSockets> {
            let mut tries = 0;
            let (first, tcp) = loop {
                let udp = reuseport_udp(addr)?;
                match std::net::TcpListener::bind(udp.local_addr()?) {
                    Ok(tcp) => break (udp, tcp),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::AddrInUse
                            && addr.port() == 0
                            && tries < TRIES =>
                    {
                        tries += 1;
                    }
                    Err(e) => return Err(e),
                }
            };
            tcp.set_nonblocking(true)?;
            let bound = first.local_addr()?;
            let mut udp = vec![first];
            for _ in 1..cpus {
                udp.push(reuseport_udp(bound)?);
            }
            Ok(DnsSockets { udp, tcp })
        };
        orc_pod::netns::run_in(netns, bind).map_err(std::io::Error::other)?
    }

    /// The address served (the real port when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// A server answering with `handler` on these sockets: UDP on a
    /// thread per socket ([`udp`]), TCP by hickory-server. It serves
    /// while it lives; call it inside a tokio runtime, which runs TCP and
    /// forwarded questions.
    pub fn serve(self, handler: ClusterDns) -> std::io::Result<DnsServer> {
        let mut tcp = Server::new(handler.clone());
        tcp.register_listener(
            tokio::net::TcpListener::from_std(self.tcp)?,
            Duration::from_secs(5),
            64,
        );
        let udp = udp::UdpServers::start(self.udp, Arc::new(handler))?;
        Ok(DnsServer {
            _tcp: tcp,
            _udp: udp,
        })
    }
}

/// A serving DNS server (see [`DnsSockets::serve`]); dropping it stops it.
pub struct DnsServer {
    _tcp: Server<ClusterDns>,
    _udp: udp::UdpServers,
}

// ANCHOR: run
/// Serves DNS on `sockets` until dropped: follows Services, EndpointSlices
/// and pods, and answers from a table rebuilt at each change.
pub async fn run(client: Client, config: DnsConfig, sockets: DnsSockets) -> std::io::Result<()> {
    let resource = |v, k| by_kind(v, k).expect("the resource table serves these kinds");
    let services = informers::everything(&client, resource("v1", "Service"));
    let slices = Informer::new(
        client.clone(),
        resource("discovery.k8s.io/v1", "EndpointSlice"),
        None,
        "",
    );
    let pods = informers::everything(&client, resource("v1", "Pod"));
    let caches = (services.cache(), slices.cache(), pods.cache());
    let changed = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    let mut synced = Vec::new();
    for informer in [services, slices, pods] {
        let changed = changed.clone();
        synced.push(informers::follow(&mut tasks, informer, move |n| {
            if !matches!(n, Notification::Synced) {
                changed.notify_one();
            }
        }));
    }
    // Until the lists are in, an empty table would answer NXDOMAIN for
    // names that exist: start serving only then, as CoreDNS waits for
    // its kubernetes plugin to sync.
    if !informers::wait_for_sync(synced).await {
        return Ok(());
    }
    let rebuild = || {
        let mut table = build::records(
            &config.zone,
            &caches.0.list(),
            &caches.1.list(),
            &caches.2.list(),
        );
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        table.set_serial(now.map_or(0, |d| d.as_secs() as u32));
        table
    };
    let records = SharedRecords::new(rebuild());
    let _server = sockets.serve(ClusterDns {
        records: records.clone(),
        upstream: config.upstream.clone(),
    })?;
    loop {
        changed.notified().await;
        let table: Records = rebuild();
        tracing::debug!(names = table.len(), "DNS names rebuilt");
        records.set(table);
    }
}
// ANCHOR_END: run
