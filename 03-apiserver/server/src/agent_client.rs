//! The API server's side of the hop to a node's agent.
//!
//! `kubectl logs`, `exec`, `attach` and `port-forward` reach a container
//! through its node's agent (the kubelet's port 10250), which can read
//! every pod's logs and run anything in every container. kube-apiserver
//! guards that hop from both ends: it presents a client certificate of
//! its own (`--kubelet-client-certificate`, `--kubelet-client-key`), which
//! the kubelet checks against its `--client-ca-file`, and it checks the
//! kubelet's serving certificate against `--kubelet-certificate-authority`,
//! so a Node object cannot point it at an impostor. orc's API server does
//! both with the same three flags (chapter 03, "The API server → node
//! hop"); `orc up` issues the certificate (CN
//! `kube-apiserver-kubelet-client`) and the agents' serving certificates
//! from the cluster CA.
//!
//! Without the flags the hop is plain HTTP without authentication, for
//! tests whose agents serve plain HTTP on loopback.
//!
//! [`AgentClient`] is that one client, shared: `handlers/logs.rs` GETs
//! through [`AgentClient::http`], the streaming relays open a connection
//! with [`AgentClient::connect`], and whatever else must reach an agent
//! (a metrics scraper) finds its URL and client with
//! `handlers::logs::agent_client`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orc_client::tls::{ClientTls, Identity};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

/// How long dialling an agent may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The kube-apiserver flags of the agent hop, shared by `orc-apiserver`
/// and `orc server`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AgentClientFlags {
    /// PEM client certificate the API server presents to the nodes'
    /// agents (CN `kube-apiserver-kubelet-client`). With the key and the
    /// CA below; without all three, agents are reached over plain HTTP.
    #[arg(long, requires_all = ["kubelet_client_key", "kubelet_certificate_authority"])]
    pub kubelet_client_certificate: Option<PathBuf>,
    /// PEM private key of --kubelet-client-certificate.
    #[arg(long, requires = "kubelet_client_certificate")]
    pub kubelet_client_key: Option<PathBuf>,
    /// PEM CA the agents' serving certificates must chain to.
    #[arg(long, requires = "kubelet_client_certificate")]
    pub kubelet_certificate_authority: Option<PathBuf>,
}

/// The files of [`AgentClientFlags`], all three given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentClientFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub certificate_authority: PathBuf,
}

impl AgentClientFlags {
    /// The three files, when given.
    pub fn files(&self) -> Option<AgentClientFiles> {
        Some(AgentClientFiles {
            certificate: self.kubelet_client_certificate.clone()?,
            key: self.kubelet_client_key.clone()?,
            certificate_authority: self.kubelet_certificate_authority.clone()?,
        })
    }
}

/// Why the agent client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AgentClientError {
    #[error("{path}: {source} (the --kubelet-* flags)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the --kubelet-* flags: {0}")]
    Tls(#[from] orc_client::tls::TlsError),
    #[error("the agents' HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Where one node's agent listens: an IP address the Node registered
/// (never a name), and its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentEndpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl AgentEndpoint {
    /// `ip:port`, an IPv6 address in brackets.
    pub fn authority(&self) -> String {
        SocketAddr::from((self.ip, self.port)).to_string()
    }
}

/// A connection to an agent: TLS over TCP, or plain TCP.
pub trait AgentIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AgentIo for T {}

// ANCHOR: agent_client
/// The API server's client for every agent: pooled HTTP for plain GETs,
/// and the same TLS settings for the upgraded streams.
#[derive(Clone)]
pub struct AgentClient {
    /// GETs (`/containerLogs`, `/metrics`); connections are pooled.
    http: reqwest::Client,
    /// `None`: plain HTTP (no `--kubelet-*` flags).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl AgentClient {
    /// Plain HTTP, no client certificate: agents on loopback in tests.
    pub fn plain() -> AgentClient {
        // reqwest's rustls needs a crypto provider: ring, orc's.
        orc_client::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        AgentClient { http, tls: None }
    }

    /// HTTPS: trust only `certificate_authority` for the agents'
    /// certificates, and present `certificate` to them.
    pub fn from_files(files: &AgentClientFiles) -> Result<AgentClient, AgentClientError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| AgentClientError::Read {
                path: path.clone(),
                source,
            })
        };
        let identity = Identity {
            cert_pem: read(&files.certificate)?,
            key_pem: read(&files.key)?,
        };
        let tls = ClientTls::new(&read(&files.certificate_authority)?, Some(&identity))?;
        orc_client::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_backend_preconfigured((*tls.config()).clone())
            .build()?;
        Ok(AgentClient {
            http,
            tls: Some(tls.config()),
        })
    }

    /// The base URL of the agent at `endpoint`: `https://10.0.0.5:10250`
    /// (or `http://` without TLS).
    pub fn base_url(&self, endpoint: AgentEndpoint) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", endpoint.authority())
    }

    /// The pooled client GETs go through.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A connection of its own to the agent at `endpoint`, TLS done (its
    /// certificate checked for `endpoint.ip`): for an upgrade.
    pub async fn connect(&self, endpoint: AgentEndpoint) -> std::io::Result<Box<dyn AgentIo>> {
        let tcp = dial(SocketAddr::from((endpoint.ip, endpoint.port))).await?;
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name = rustls::pki_types::ServerName::IpAddress(endpoint.ip.into());
        let stream = TlsConnector::from(tls.clone()).connect(name, tcp).await?;
        Ok(Box::new(stream))
    }
}
// ANCHOR_END: agent_client

/// A TCP connection to `address`, given [`CONNECT_TIMEOUT`] to be made,
/// with Nagle's algorithm off (a stream's small writes go at once). The
/// one way the API server dials anything but etcd: an agent
/// ([`AgentClient::connect`]) or a pod for the proxy subresources
/// (`handlers/proxy/`).
pub async fn dial(address: SocketAddr) -> std::io::Result<TcpStream> {
    // Errors read as Go's (`dial tcp 10.0.0.5:80: ...`), which is what
    // Kubernetes' messages around them quote.
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("dial tcp {address}: i/o timeout"),
            )
        })?
        .map_err(|e| std::io::Error::new(e.kind(), format!("dial tcp {address}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

// Says which transport, never the key.
impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}
