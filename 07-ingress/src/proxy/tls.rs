//! TLS termination: the handshake picks its certificate from the current
//! table by the client's SNI name.
//!
//! rustls asks a [`ResolvesServerCert`] for a certificate during each
//! handshake, after reading the ClientHello. orc's resolver reads the
//! table the controller last sent, so a new or renewed Secret is served
//! from the next handshake on, with no restart and no reload.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::routes::RouteTable;

/// Looks the SNI name up in the current table's certificates.
#[derive(Debug)]
struct BySni(watch::Receiver<Arc<RouteTable>>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // No SNI, or a name without a certificate: the handshake fails
        // (rustls sends an alert), as it would for a host nobody serves.
        self.0.borrow().certificates.lookup(hello.server_name()?)
    }
}

// ANCHOR: acceptor
/// A TLS acceptor serving the certificates of `table`, offering HTTP/2
/// and HTTP/1.1 by ALPN.
pub fn acceptor(table: watch::Receiver<Arc<RouteTable>>) -> Result<TlsAcceptor, rustls::Error> {
    // ring, named explicitly: no reliance on a process-wide default provider.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(table)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
// ANCHOR_END: acceptor
