//! The agent's port over TLS, and who is on the other end.
//!
//! Whoever reaches the kubelet's port 10250 may read every pod's logs and
//! run commands in every container: root on the node. So the kubelet
//! serves that port over HTTPS and asks each client for a certificate
//! (`--tls-cert-file`, `--tls-private-key-file`, `--client-ca-file`); the
//! API server presents its own (`--kubelet-client-certificate`) and checks
//! the kubelet's against the CA it was told to trust
//! (`--kubelet-certificate-authority`). orc's agent does the same
//! (chapter 03, "The API server → node hop"):
//!
//! - [`AgentTls`] is the serving side: a certificate for the node's
//!   address, and the CA client certificates must chain to. A client
//!   certificate is *asked for*, not demanded: a client without one still
//!   completes the handshake and is answered 401 by [`super::auth`], as the
//!   kubelet answers, instead of a handshake error nobody can read.
//! - [`TlsListener`] accepts TCP connections and finishes their
//!   handshakes side by side, so a client that stalls in its handshake
//!   holds up no one else.
//! - [`Client`] is what the handshake proved about the peer: the subject
//!   of its verified certificate, read as Kubernetes reads it (CN the user,
//!   each O a group), or nothing.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the agent cannot serve TLS with what it was given.
#[derive(Debug, thiserror::Error)]
pub enum AgentTlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    /// The client CA file holds no CA certificate rustls can use.
    #[error(
        "{path}: no CA certificate rustls can use ({message}); give --client-ca-file the cluster CA"
    )]
    ClientCa { path: String, message: String },
    /// rustls refused the pair (a key that does not match the certificate).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The self-signed certificate could not be made.
    #[error("generating a self-signed serving certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
}

/// What the agent serves TLS with.
#[derive(Clone)]
pub struct AgentTls {
    acceptor: TlsAcceptor,
    /// Whether client certificates are checked at all (`--client-ca-file`
    /// given). Without a CA nobody can be authenticated, and every
    /// request but `/healthz` is 401.
    pub verifies_clients: bool,
}

// ANCHOR: agent_tls
impl AgentTls {
    /// The kubelet's flags: a serving certificate chain and its key (PEM),
    /// and the CA client certificates must chain to.
    pub fn from_files(
        cert_file: &Path,
        key_file: &Path,
        client_ca_file: Option<&Path>,
    ) -> Result<AgentTls, AgentTlsError> {
        let chain = pem_certificates(cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| pem_error(key_file, e))?;
        let roots = client_ca_file.map(client_roots).transpose()?;
        AgentTls::new(chain, key, roots)
    }

    /// A certificate made up at start, signed by its own key, for
    /// `addresses` (what the kubelet does without `--tls-cert-file`). No
    /// one has reason to trust it: an API server that checks the agent's
    /// certificate refuses it, which `orc agent` says loudly at start.
    pub fn self_signed(
        addresses: &[IpAddr],
        client_ca_file: Option<&Path>,
    ) -> Result<AgentTls, AgentTlsError> {
        let names = addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>();
        let made = rcgen::generate_simple_self_signed(names)?;
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der()).map_err(|e| {
            AgentTlsError::Pem {
                path: "the generated key".into(),
                message: e.to_string(),
            }
        })?;
        let roots = client_ca_file.map(client_roots).transpose()?;
        AgentTls::new(vec![made.cert.der().clone()], key, roots)
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_roots: Option<rustls::RootCertStore>,
    ) -> Result<AgentTls, AgentTlsError> {
        // ring, named: no reliance on a process-wide default provider.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let verifies_clients = client_roots.is_some();
        let builder = match client_roots {
            None => builder.with_no_client_auth(),
            Some(roots) => {
                // Asked for, not required: a client without a certificate
                // is told 401 over HTTP rather than failing the handshake.
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key)?;
        Ok(AgentTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            verifies_clients,
        })
    }
}
// ANCHOR_END: agent_tls

fn pem_error(path: &Path, e: rustls_pki_types::pem::Error) -> AgentTlsError {
    AgentTlsError::Pem {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Every certificate in the PEM file at `path`.
fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, AgentTlsError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))
}

/// The CA certificates of `--client-ca-file`; at least one.
fn client_roots(path: &Path) -> Result<rustls::RootCertStore, AgentTlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(pem_certificates(path)?);
    if added == 0 {
        return Err(AgentTlsError::ClientCa {
            path: path.display().to_string(),
            message: "the file holds no certificate".into(),
        });
    }
    Ok(roots)
}

/// A handshake in progress: the stream once it is done, and who asked.
type Handshake = Pin<Box<dyn Future<Output = Option<(TlsStream<TcpStream>, SocketAddr)>> + Send>>;

// ANCHOR: listener
/// A listener whose connections are TLS streams. Handshakes run as a set
/// of futures polled whenever the server waits for its next connection
/// (which it does all the time), so no task is spawned and a stalled
/// handshake, cut after [`HANDSHAKE_TIMEOUT`], delays nobody.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: FuturesUnordered<Handshake>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, tls: &AgentTls) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: tls.acceptor.clone(),
            handshakes: FuturesUnordered::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, addr: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.push(Box::pin(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, addr)),
                Ok(Err(error)) => {
                    tracing::debug!(%addr, %error, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%addr, "TLS handshake timed out");
                    None
                }
            }
        }));
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, addr)) => self.start_handshake(stream, addr),
                    Err(error) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = self.handshakes.next(), if !self.handshakes.is_empty() => {
                    if let Some(connection) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
// ANCHOR_END: listener

// ANCHOR: client
/// Who a connection's client proved to be: the subject of the certificate
/// rustls verified against `--client-ca-file`, read as Kubernetes reads
/// one (CN the user, each O a group); `None` without a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client(pub Option<ClientUser>);

/// A user a client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUser {
    pub name: String,
    pub groups: Vec<String>,
}

impl Client {
    /// The user of a verified certificate (DER); `None` when it names no
    /// one (an empty CN, which Kubernetes refuses too).
    pub fn from_certificate(der: &[u8]) -> Client {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return Client(None);
        };
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .filter(|cn| !cn.is_empty());
        Client(name.map(|name| {
            ClientUser {
                name: name.to_string(),
                groups: subject
                    .iter_organization()
                    .filter_map(|o| o.as_str().ok().map(String::from))
                    .collect(),
            }
        }))
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for Client
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Client {
        // Only a certificate rustls verified is here: with no client CA,
        // rustls asks for none and this is empty.
        let leaf = stream
            .io()
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first());
        leaf.map(|der| Client::from_certificate(der))
            .unwrap_or_default()
    }
}
// ANCHOR_END: client
