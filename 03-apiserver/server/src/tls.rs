//! HTTPS: the API server behind TLS when a certificate is given.
//!
//! Bearer tokens are passwords; sent over plain HTTP, anyone on the path
//! can copy them. kubectl agrees: it only sends a kubeconfig's token to
//! an `https://` server. So a real cluster serves its API over TLS, and
//! with `--tls-cert-file` and `--tls-private-key-file` orc does too.
//!
//! With `--client-ca-file` (kube-apiserver's flag) the handshake also
//! asks for a client certificate. Asking, not demanding: a client without
//! one may still log in with a token, but a certificate that is offered
//! must chain to that CA, or the handshake fails. What rustls verified
//! travels with each request ([`crate::connection::PeerCertificates`]) for
//! `authn::x509` to read the user from.
//!
//! A [`TlsListener`] accepts TCP connections and runs each TLS handshake
//! in its own task, handing finished streams over through a channel, so a
//! slow (or malicious) client stuck in its handshake never delays others.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    /// rustls refused the pair (for example, the key does not match).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client CA file holds no usable CA certificate.
    #[error("{path}: no CA certificate rustls can use ({message})")]
    ClientCa { path: String, message: String },
}

fn pem_error(path: &Path, e: rustls_pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Every certificate in the PEM file at `path`.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))
}

// ANCHOR: acceptor
/// A TLS acceptor from PEM files: a certificate chain and its private key,
/// and, when given, the CA that client certificates must chain to.
pub fn acceptor(
    cert_file: &Path,
    key_file: &Path,
    client_ca_file: Option<&Path>,
) -> Result<TlsAcceptor, TlsError> {
    let certs = certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| pem_error(key_file, e))?;
    // ring, named explicitly: no reliance on a process-wide default provider.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    Ok(TlsAcceptor::from(Arc::new(
        builder.with_single_cert(certs, key)?,
    )))
}
// ANCHOR_END: acceptor

/// Verifies client certificates against the CA in `path`, and lets a
/// client without one through (it may still carry a token).
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates(path)?);
    let invalid = |message: String| TlsError::ClientCa {
        path: path.display().to_string(),
        message,
    };
    if added == 0 {
        return Err(invalid("the file holds no certificate".into()));
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| invalid(e.to_string()))
}

// ANCHOR: listener
/// A listener whose connections are TLS streams.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; handshakes run in their own tasks.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (mut stream, addr) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off, retry.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    // The server is gone; stop accepting.
                    return;
                }
                crate::server::no_delay(&mut stream);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%addr, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local_addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task only stops when this listener is gone, so
            // this branch cannot run while axum awaits it; wait forever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
// ANCHOR_END: listener
