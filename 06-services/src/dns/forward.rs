//! Names that are not the cluster's go to the host's own resolvers, the
//! `nameserver` lines of the host's `/etc/resolv.conf` (CoreDNS'
//! `forward . /etc/resolv.conf`). orc-dns is a stub here: it passes the
//! client's question on as it came and hands back what the first
//! resolver that answers says. No resolver answering in time is
//! SERVFAIL, so a pod's lookup fails fast instead of hanging.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_server::proto::op::Message;
use tokio::net::UdpSocket;

/// Why a forwarded question got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream resolver is configured (no nameserver line in the host's resolv.conf)")]
    NoUpstream,
    #[error("no upstream resolver answered within {0:?} (tried {1:?})")]
    NoAnswer(Duration, Vec<SocketAddr>),
}

/// The resolvers questions are forwarded to, in order.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Tried one after the other, port 53 unless given.
    pub servers: Vec<SocketAddr>,
    /// How long one resolver has to answer.
    pub timeout: Duration,
}

impl Upstream {
    /// The resolvers of a `resolv.conf` text (its `nameserver` lines). A
    /// host whose resolver is a loopback stub (systemd-resolved's
    /// 127.0.0.53) keeps it: orc-dns forwards from the host's own
    /// network namespace, where the stub answers.
    pub fn from_resolv_conf(text: &str) -> Upstream {
        let conf = orc_pod::resolv_conf::ResolvConf::parse(text);
        Upstream {
            servers: conf
                .nameservers
                .iter()
                .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
                .collect(),
            timeout: Duration::from_secs(2),
        }
    }

    /// Sends the raw question `query` to each resolver in turn and returns
    /// the first answer whose id matches.
    pub async fn forward(&self, query: &[u8], id: u16) -> Result<Message, ForwardError> {
        if self.servers.is_empty() {
            return Err(ForwardError::NoUpstream);
        }
        for server in &self.servers {
            match tokio::time::timeout(self.timeout, ask(*server, query, id)).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(error)) => tracing::debug!(%server, %error, "upstream resolver failed"),
                Err(_) => tracing::debug!(%server, "upstream resolver timed out"),
            }
        }
        Err(ForwardError::NoAnswer(self.timeout, self.servers.clone()))
    }
}

/// One question to one resolver over UDP; replies with another id (a
/// late answer to someone else) are skipped.
async fn ask(server: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Message> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await?;
        match Message::from_vec(&buf[..n]) {
            Ok(message) if message.metadata.id == id => return Ok(message),
            _ => continue,
        }
    }
}
