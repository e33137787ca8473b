//! The proxy: HTTP in, routed and balanced, HTTP out.
//!
//! Built on hyper, the HTTP library under axum and reqwest: the proxy is
//! a hyper server whose one service looks each request up in the current
//! [`RouteTable`], picks an endpoint with the backend's balancer, and
//! sends the request on over a kept HTTP/1.1 connection. Clients keep
//! their connections alive (HTTP/1.1) or multiplex them (HTTP/2);
//! connections to backends are kept in orc's own pool and reused
//! (`upstream.rs`). It runs as one worker thread per core, each with its
//! own listening socket, event loop and backend pool (`workers.rs` says
//! why).
//!
//! The table arrives on a `watch` channel: the controller sends a whole
//! new table after every change; the proxy resolves it once for requests
//! (`backends.rs`), and each request reads whichever resolved table is
//! current when it starts. A request in flight keeps its own `Arc` of the
//! old table, so a change never disturbs it and the listener never restarts.
//!
//! Layout: `workers.rs` (the listening sockets and the worker threads),
//! `handle.rs` (one request: route, pick, forward, retry), `backends.rs`
//! (each table resolved: rules to backend handles, lock-free pickers),
//! `upstream.rs` (a worker's pool of backend connections), `upgrade.rs`
//! (WebSocket: HTTP/1.1's `Upgrade` and HTTP/2's extended CONNECT),
//! `headers.rs` (`X-Forwarded-*`, hop-by-hop headers), `tls.rs` (the
//! certificate for each handshake, by SNI), `health.rs`
//! (in-flight counts and passive ejection), `metrics.rs`, this file
//! (configuration, shared state, the accept loop, `/healthz` and
//! `/metrics` on the admin listener).

pub mod backends;
pub mod handle;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod tls;
pub mod upgrade;
pub mod upstream;
pub mod workers;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::routes::RouteTable;
use backends::Registry;
use headers::ClientAddress;
pub use headers::Scheme;
use upstream::PoolConfig;
pub use workers::Listener;

/// The proxy's limits and periods.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted; more is 413 (nginx's
    /// `client_max_body_size`, whose default is 1 MiB).
    pub max_body: usize,
    /// How long to wait for a connection to a backend.
    pub connect_timeout: Duration,
    /// How long a kept connection to a backend may stay idle before it is
    /// closed (nginx's `keepalive_timeout` in an upstream: 60 s).
    pub idle_timeout: Duration,
    /// Idle connections kept per endpoint and worker; beyond them the
    /// least recently used are closed (nginx's `keepalive N`).
    pub max_idle: usize,
    /// How long to wait for a backend's response headers; then 504. It
    /// runs from the first byte sent, so a streamed upload that the backend
    /// reads before answering must also arrive within it.
    pub response_timeout: Duration,
    /// How long an endpoint that refused a connection stays ejected.
    pub eject_for: Duration,
    /// Worker threads, each with its own event loop, listening socket and
    /// backend pool; by default one per CPU (nginx's `worker_processes
    /// auto`). [`Listener::bind`] makes one socket per worker.
    pub workers: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_body: 1 << 20,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_idle: 64,
            response_timeout: Duration::from_secs(60),
            eject_for: Duration::from_secs(10),
            workers: workers::default_count(),
        }
    }
}

/// How long to wait after a failed accept (no file descriptors left, say)
/// before the next, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One worker's keep-alive connections to backends (`upstream.rs`). Each
/// worker has its own, so a request never waits on a connection another
/// thread polls.
pub type Pool = Arc<upstream::Pool>;

/// Everything the requests of every worker share.
pub struct Proxy {
    pub config: Config,
    /// The controller's tables, as it sends them.
    table: watch::Receiver<Arc<RouteTable>>,
    /// The current table resolved for requests, and the endpoints' and
    /// balancers' state kept across tables (`backends.rs`).
    registry: Registry,
    /// The counters, which each resolved route points into.
    pub metrics: metrics::Metrics,
}

impl Proxy {
    /// A proxy that routes by whatever table `table` holds.
    pub fn new(config: Config, table: watch::Receiver<Arc<RouteTable>>) -> Arc<Proxy> {
        let metrics = metrics::Metrics::default();
        let registry = Registry::new(table.borrow().clone(), &metrics);
        Arc::new(Proxy {
            config,
            table,
            registry,
            metrics,
        })
    }

    /// The table's current certificates as a TLS acceptor.
    pub fn tls_acceptor(&self) -> Result<TlsAcceptor, tokio_rustls::rustls::Error> {
        tls::acceptor(self.table.clone())
    }

    // ANCHOR: serve
    /// Serves `listener` until the future is dropped: plain HTTP, or with
    /// `tls` HTTPS, on one worker thread per socket of the listener.
    /// Fails only when a worker cannot be started.
    pub async fn serve(
        self: Arc<Self>,
        listener: Listener,
        tls: Option<TlsAcceptor>,
    ) -> io::Result<()> {
        // Dropped with this future: stops the workers and waits for them.
        let _workers = workers::start(self.clone(), listener, tls)?;
        self.follow_tables().await;
        // The table's sender is gone: the last table stays, and so do we.
        std::future::pending().await
    }
    // ANCHOR_END: serve

    // ANCHOR: accept
    /// One worker's loop: accepts connections on its own socket and serves
    /// each in a task of its own runtime, forwarding over its own pool.
    async fn accept_loop(self: Arc<Self>, listener: TcpListener, tls: Option<TlsAcceptor>) {
        let pool = self.pool();
        // Ends with the worker's runtime, as the pool does.
        tokio::spawn(pool.clone().sweep());
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off, retry.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            // Small answers go out at once, not after Nagle's 40 ms.
            let _ = stream.set_nodelay(true);
            let peer = Peer {
                address: peer,
                forwarded: ClientAddress::new(peer.ip()),
            };
            let (proxy, tls, pool) = (self.clone(), tls.clone(), pool.clone());
            // The handshake runs in the connection's own task, so a slow
            // client never holds up the accept loop.
            tokio::spawn(async move {
                let Some(tls) = tls else {
                    let io = TokioIo::new(stream);
                    return proxy.serve_connection(io, pool, peer, Scheme::Http).await;
                };
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let io = TokioIo::new(stream);
                        proxy.serve_connection(io, pool, peer, Scheme::Https).await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %peer.address, "TLS handshake failed: {e}")
                    }
                    Err(_) => tracing::debug!(peer = %peer.address, "TLS handshake timed out"),
                }
            });
        }
    }
    // ANCHOR_END: accept

    /// A backend pool for one worker.
    fn pool(&self) -> Pool {
        Arc::new(upstream::Pool::new(PoolConfig {
            connect_timeout: self.config.connect_timeout,
            idle_timeout: self.config.idle_timeout,
            max_idle: self.config.max_idle,
        }))
    }

    /// Answers the requests of one client connection.
    async fn serve_connection<I>(self: Arc<Self>, io: I, pool: Pool, peer: Peer, scheme: Scheme)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let address = peer.address;
        let peer = Arc::new(peer);
        let service = hyper::service::service_fn(move |req| {
            self.clone().handle(req, pool.clone(), peer.clone(), scheme)
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // Each response's head and body are copied into one buffer and
        // written with one `write`, rather than queued as separate buffers
        // for one `writev` (hyper's default on a socket). A proxy's answers
        // are mostly small: the queue costs more than the copy (BENCH.md).
        // A large body is copied too, a chunk at a time, never more than
        // hyper's buffer limit (about 400 KiB) before it is written out.
        builder.http1().writev(false);
        // HTTP/2 clients may open WebSockets with extended CONNECT
        // (RFC 8441): advertised in SETTINGS_ENABLE_CONNECT_PROTOCOL.
        builder.http2().enable_connect_protocol();
        // With upgrades: a WebSocket handshake's connection is handed over
        // after the 101 instead of being closed.
        if let Err(e) = builder.serve_connection_with_upgrades(io, service).await {
            tracing::debug!(peer = %address, "connection ended: {e}");
        }
    }

    /// Resolves each table the controller sends for requests to use
    /// (`backends.rs`), dropping the state of endpoints and backends the
    /// new table no longer has.
    async fn follow_tables(&self) {
        let mut table = self.table.clone();
        while table.changed().await.is_ok() {
            self.registry.follow(&table, &self.metrics);
        }
    }
}

/// The client at the other end of one connection.
#[derive(Debug)]
pub struct Peer {
    pub address: SocketAddr,
    /// Its address as `X-Forwarded-For` carries it, formatted once for
    /// every request of the connection.
    pub forwarded: ClientAddress,
}

/// `/healthz` and `/metrics` on their own listener, so no Ingress rule can
/// shadow them (ingress-nginx serves them on its own port, 10254, too).
pub async fn serve_admin(proxy: Arc<Proxy>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            continue;
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let body = match req.uri().path() {
                        "/healthz" => Some("ok".to_string()),
                        "/metrics" => Some(proxy.metrics.render()),
                        _ => None,
                    };
                    let response = match body {
                        Some(body) => handle::plain(hyper::StatusCode::OK, body.trim_end()),
                        None => handle::plain(
                            hyper::StatusCode::NOT_FOUND,
                            "not found: try /healthz or /metrics",
                        ),
                    };
                    std::future::ready(Ok::<_, std::convert::Infallible>(response))
                });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
