//! Serving accepted connections: HTTP/1 and HTTP/2 over each, a deadline
//! on request headers, and what TLS verified handed to every request.
//!
//! Authentication happens per request, after the headers are read. So a
//! client that opens a connection and then sends its headers one byte a
//! minute (a "slow loris") is held by the server before anyone knows who
//! it is; a few thousand such clients exhaust the file descriptors.
//! kube-apiserver's Go server bounds this with `ReadHeaderTimeout`; here
//! hyper's `header_read_timeout` does the same. Its clock starts as soon as
//! the server waits for a request, so it is also the idle timeout of a
//! keep-alive connection between requests. A long watch is not cut: while
//! its answer streams, no headers are awaited.
//!
//! The same holds for a client that stops reading a streamed answer: a
//! request's `ConnectionAbort` (`limits.rs`) closes its connection once
//! the answer outlives `--request-timeout`.
//!
//! axum's own `serve` cannot set that timeout, and cannot pass per-
//! connection facts to requests except the remote address; this loop is
//! axum's, with both added.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;

/// How long a client may take to send a request's headers, and how long a
/// connection may sit idle between requests. kube-apiserver allows 32 s.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// The client certificate chain rustls verified for a connection (leaf
/// first), as a request extension; empty over plain HTTP or when the client
/// presented none. Shared by every request of the connection.
#[derive(Debug, Clone, Default)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

impl PeerCertificates {
    /// The client's own certificate, if it presented one.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.0.first()
    }
}

/// The client's address (the TCP peer), as a request extension: the
/// last of an audit event's `sourceIPs`.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub std::net::SocketAddr);

/// A connection that may know its client's certificate.
pub trait PeerIdentity {
    /// The verified client certificates (none over plain TCP).
    fn peer_certificates(&self) -> PeerCertificates;
}

impl PeerIdentity for TcpStream {
    fn peer_certificates(&self) -> PeerCertificates {
        PeerCertificates::default()
    }
}

impl PeerIdentity for TlsStream<TcpStream> {
    fn peer_certificates(&self) -> PeerCertificates {
        let chain = self.get_ref().1.peer_certificates().unwrap_or_default();
        PeerCertificates(Arc::new(
            chain.iter().map(|c| c.clone().into_owned()).collect(),
        ))
    }
}

// ANCHOR: serve
/// Serves `app` on every connection `listener` accepts, for ever, each in
/// its own task with a `header_read_timeout` deadline on request headers.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) where
    L: Listener<Addr = std::net::SocketAddr>,
    L::Io: PeerIdentity,
{
    // Each connection is watched, so that a shutdown can stop accepting,
    // tell every connection to finish the request it is answering and
    // take no other (HTTP/1 keep-alive off, HTTP/2 GOAWAY), and wait for
    // them: a graceful drain, as Go's `Server.Shutdown` does.
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let peer = io.peer_certificates();
        let app = app.clone();
        let abort = crate::limits::ConnectionAbort::default();
        let cut = abort.0.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(peer.clone());
            request.extensions_mut().insert(RemoteAddr(addr));
            request.extensions_mut().insert(abort.clone());
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
        });
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        // WebSockets over HTTP/2 (kubectl exec may use them).
        builder.http2().enable_connect_protocol();
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended");
                },
                // A response outlived --request-timeout with its client
                // not reading (`limits.rs`): dropping the connection
                // closes it, and ends the response's body.
                () = cut.notified() => {}
            }
        });
    }
    graceful.shutdown().await;
}
// ANCHOR_END: serve
