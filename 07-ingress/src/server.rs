//! `run`: the controller, the proxy and its admin port, together.
//!
//! What the `orc-ingress` binary calls, and what `orc agent` (so `orc up`)
//! calls on every node: bind the listeners first (so a port already in use
//! fails at once, with its address), then run the controller feeding the
//! proxy's table.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use orc_client::Client;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::controller::status::Publish;
use crate::controller::{self, ControllerConfig};
use crate::proxy::{self, Listener, Proxy};
use crate::routes::RouteTable;

/// Where orc-ingress listens and what it serves.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Plain HTTP (port 80 of the node's address in a cluster).
    pub http: SocketAddr,
    /// HTTPS, with the certificates of the Ingresses' `spec.tls` (443).
    pub https: SocketAddr,
    /// `/healthz` and `/metrics`.
    pub admin: SocketAddr,
    /// What the Ingresses publish: the serving nodes' addresses, or fixed ones.
    pub publish: Publish,
    /// The IngressClass controller name to serve.
    pub controller: String,
    pub proxy: proxy::Config,
}

// ANCHOR: run
/// Runs orc-ingress until the future is dropped; fails only when a
/// listener cannot be bound.
pub async fn run(client: Client, config: IngressConfig) -> io::Result<()> {
    bind(config).await?.serve(client).await
}

/// The three listeners, bound: what [`bind`] answers before anything runs.
pub struct Bound {
    config: IngressConfig,
    /// One socket per worker thread on each proxy port.
    http: Listener,
    https: Listener,
    admin: TcpListener,
}

/// Binds the three listeners, so that a port already in use fails at once,
/// with its address, before the caller goes on (`orc agent` binds before
/// it registers its Node, as it does its own port).
pub async fn bind(config: IngressConfig) -> io::Result<Bound> {
    let context = |addr: SocketAddr| {
        move |e: io::Error| io::Error::new(e.kind(), format!("binding {addr}: {e}"))
    };
    let workers = config.proxy.workers;
    let proxy_port = |addr: SocketAddr| async move {
        Listener::bind(addr, workers).await.map_err(context(addr))
    };
    Ok(Bound {
        http: proxy_port(config.http).await?,
        https: proxy_port(config.https).await?,
        admin: TcpListener::bind(config.admin)
            .await
            .map_err(context(config.admin))?,
        config,
    })
}

impl Bound {
    /// Serves the bound listeners, the controller feeding their table,
    /// until the future is dropped.
    pub async fn serve(self, client: Client) -> io::Result<()> {
        let Bound {
            config,
            http,
            https,
            admin,
        } = self;
        let (tables, table) = watch::channel(Arc::new(RouteTable::default()));
        let proxy = Proxy::new(config.proxy.clone(), table);
        let tls = proxy.tls_acceptor().map_err(io::Error::other)?;
        let controller = ControllerConfig {
            controller: config.controller.clone(),
            publish: config.publish.clone(),
        };
        tracing::info!(http = %config.http, https = %config.https, admin = %config.admin, "orc-ingress serving");
        tokio::select! {
            () = controller::run(client, controller, tables) => Ok(()),
            served = proxy.clone().serve(http, None) => served,
            served = proxy.clone().serve(https, Some(tls)) => served,
            () = proxy::serve_admin(proxy, admin) => Ok(()),
        }
    }
}
// ANCHOR_END: run
