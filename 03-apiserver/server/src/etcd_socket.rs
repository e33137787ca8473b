//! Reaching etcd: over TCP (`http://host:port`) or a unix socket
//! (`unix:///path/to/socket`).
//!
//! An etcd on a loopback TCP port answers every local user: anyone on the
//! machine can read and write `/registry` with `etcdctl`, around the API
//! server's authentication, authorization and validation. A unix socket in
//! a directory only root may enter (mode 0700) is reachable by root's
//! processes alone, with no certificates to generate or rotate; `orc
//! server` starts its etcd that way. Kubernetes reaches a remote etcd over
//! TLS with a client certificate instead (`--etcd-certfile`), which is what
//! a separate etcd machine needs.
//!
//! etcd-client dials URLs through tonic, which speaks TCP only; for a
//! socket we build the gRPC channel ourselves with a connector that opens
//! the socket, and hand it over.

use std::path::PathBuf;

use etcd_client::{Client, Error};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// The scheme of a unix-socket endpoint, as etcd and etcdctl write it.
pub const UNIX_SCHEME: &str = "unix://";

/// The socket path a `unix://` endpoint names, or `None` for a TCP URL.
pub fn socket_path(endpoint: &str) -> Option<PathBuf> {
    endpoint.strip_prefix(UNIX_SCHEME).map(PathBuf::from)
}

/// Connects to etcd at `endpoint`. The channel reconnects by itself when
/// etcd restarts (a supervised etcd comes back on the same socket).
pub async fn connect(endpoint: &str) -> Result<Client, Error> {
    let Some(path) = socket_path(endpoint) else {
        return Client::connect([endpoint], None).await;
    };
    // The URI is only what HTTP/2 sends as `:authority`; the connector
    // ignores it and opens the socket.
    let channel = tonic::transport::Endpoint::from_static("http://etcd")
        .connect_with_connector_lazy(tower::service_fn(move |_| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }));
    Client::from_channel(etcd_client::Channel::Tonic(channel), None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_endpoints_name_their_socket() {
        assert_eq!(
            socket_path("unix:///var/lib/orc/etcd/socket/etcd:2379"),
            Some(PathBuf::from("/var/lib/orc/etcd/socket/etcd:2379"))
        );
        assert_eq!(socket_path("http://127.0.0.1:2379"), None);
    }
}
