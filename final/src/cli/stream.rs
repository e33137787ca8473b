//! The connection of the streaming verbs (`orc exec`, `orc port-forward`):
//! a WebSocket to a pod's subresource, opened as kubectl opens it.
//!
//! kubectl sends `GET .../pods/NAME/exec?...` (or `/portforward`) with
//! `Upgrade: websocket` and the subprotocol it speaks; the API server
//! checks the request like any other, then relays the upgrade to the
//! pod's node (chapter 03, "How `kubectl exec` reaches a process"). The
//! server must echo the subprotocol in its `101`: a server that does not
//! speak it answers without one, and the verb stops there.

use anyhow::{Context, Result, bail};
use orc_client::kubeconfig::Connection;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};

use super::{Reported, Target, kubeconfig, server_error};

/// Where a streaming verb goes: the server, and one pod's subresource.
pub struct PodStream {
    pub connection: Connection,
    /// `/api/v1/namespaces/NS/pods/NAME/VERB`.
    pub path: String,
    /// `NS/NAME`, for messages.
    pub pod: String,
}

/// Subresource `verb` of the pod typed as `web` or `pod/web`, in `-n`'s
/// namespace, else the context's, else `default`.
pub fn pod_stream(target: &Target, pod: &str, verb: &str) -> Result<PodStream> {
    let connection = kubeconfig::load(&kubeconfig::locate(target.kubeconfig.as_deref()))?;
    let namespace = target
        .namespace
        .clone()
        .or(connection.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let name = pod
        .strip_prefix("pod/")
        .or(pod.strip_prefix("pods/"))
        .unwrap_or(pod);
    let path = format!(
        "/api/v1/namespaces/{}/pods/{}/{verb}",
        orc_client::encode(&namespace),
        orc_client::encode(name)
    );
    Ok(PodStream {
        connection,
        path,
        pod: format!("{namespace}/{name}"),
    })
}

/// A byte stream the WebSocket runs on: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open WebSocket to the API server.
pub type Socket = WebSocketStream<Box<dyn Io>>;

// ANCHOR: open
/// Opens a WebSocket to `path` (with its query) on `connection`'s server,
/// offering `protocol`, with the kubeconfig's credentials.
pub async fn open(connection: &Connection, path: &str, protocol: &str) -> Result<Socket> {
    let server: Uri = connection.server.parse().with_context(|| {
        format!(
            "the kubeconfig's server {:?} is not a URL",
            connection.server
        )
    })?;
    let https = server.scheme_str() == Some("https");
    let host = server
        .host()
        .with_context(|| {
            format!(
                "the kubeconfig's server {:?} has no host",
                connection.server
            )
        })?
        .to_string();
    let port = server.port_u16().unwrap_or(if https { 443 } else { 80 });
    let io = dial(connection, &host, port, https).await?;
    let scheme = if https { "wss" } else { "ws" };
    let mut request = format!("{scheme}://{host}:{port}{path}").into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocol)?);
    if let Some(token) = &connection.token {
        headers.insert(
            "Authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
    }
    let (socket, response) = match tokio_tungstenite::client_async(request, io).await {
        Ok(answer) => answer,
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            eprintln!("{}", refusal(response.status().as_u16(), body));
            return Err(Reported.into());
        }
        Err(e) => return Err(e).context(format!("upgrading {path} to a WebSocket")),
    };
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if agreed != Some(protocol) {
        bail!("the server does not speak {protocol} (it answered {agreed:?})");
    }
    Ok(socket)
}
// ANCHOR_END: open

/// TCP to the server, and TLS on it for https (the kubeconfig's CA and
/// client certificate).
async fn dial(connection: &Connection, host: &str, port: u16, https: bool) -> Result<Box<dyn Io>> {
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("connecting to {}", connection.server))?;
    if !https {
        return Ok(Box::new(tcp));
    }
    let tls = connection.tls.as_ref().with_context(|| {
        format!(
            "{} is https, but the kubeconfig has no certificate-authority for it",
            connection.server
        )
    })?;
    // HTTP/1.1 only: an upgrade does not exist in HTTP/2.
    let mut config = (*tls.config()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(
        host.trim_matches(['[', ']']).to_string(),
    )
    .with_context(|| format!("{host:?} is not a server name"))?;
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS with {}", connection.server))?;
    Ok(Box::new(tls))
}

/// A refused upgrade, worded as kubectl words it: the `Status` the API
/// server answered, or the bare code and body.
pub fn refusal(code: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(status) if status["kind"] == "Status" => server_error(
            status["reason"].as_str().unwrap_or("Unknown"),
            status["message"].as_str().unwrap_or(""),
        ),
        _ => format!(
            "error: the upgrade was refused with {code}: {}",
            String::from_utf8_lossy(body).trim()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_upgrade_reads_as_kubectl_prints_it() {
        let status = br#"{"kind":"Status","status":"Failure","reason":"NotFound","message":"pods \"x\" not found","code":404}"#;
        assert_eq!(
            refusal(404, status),
            "Error from server (NotFound): pods \"x\" not found"
        );
        assert_eq!(
            refusal(502, b"bad gateway\n"),
            "error: the upgrade was refused with 502: bad gateway"
        );
    }
}
