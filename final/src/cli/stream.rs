//! The connection of the streaming verbs (`orc exec`, `orc port-forward`):
//! a WebSocket to a pod's subresource, opened as kubectl opens it.
//!
//! kubectl sends `GET .../pods/NAME/exec?...` (or `/portforward`) with
//! `Upgrade: websocket` and the subprotocol it speaks; the API server
//! checks the request like any other, then relays the upgrade to the
//! pod's node (chapter 03, "How `kubectl exec` reaches a process"). The
//! server must echo the subprotocol in its `101`: a server that does not
//! speak it answers without one, and the verb stops there. A server that
//! refuses the WebSocket upgrade altogether gets kubectl's older request,
//! the SPDY upgrade ([`open`]; chapter 03, "The same streams over SPDY").

use anyhow::{Context, Result, bail};
use hyper_util::rt::TokioIo;
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

/// The connection a streaming verb got: a WebSocket with the agreed
/// subprotocol, or the legacy SPDY upgrade, after which the connection
/// carries SPDY frames itself.
pub enum Upgraded {
    /// Boxed: a WebSocket's state is hundreds of bytes, the other a pointer.
    WebSocket(Box<Socket>),
    Spdy(Box<dyn Io>),
}

/// The server, its host and port, and whether it is https.
struct Server {
    host: String,
    port: u16,
    https: bool,
}

fn server_of(connection: &Connection) -> Result<Server> {
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
    Ok(Server { host, port, https })
}

/// Whether a kubectl-style switch allows the WebSocket: `false` (any
/// case) in any of `variables` turns it off, as
/// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false` does kubectl's; unset,
/// empty or `true` leave it on; anything else is refused.
pub fn websockets_allowed(variables: &[&str]) -> Result<bool> {
    websockets_switch(variables, |name| std::env::var(name).ok())
}

/// [`websockets_allowed`] with the environment as `lookup`.
fn websockets_switch(variables: &[&str], lookup: impl Fn(&str) -> Option<String>) -> Result<bool> {
    for name in variables {
        match lookup(name)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "false" => return Ok(false),
            "" | "true" => {}
            other => {
                bail!("{name}={other:?}: set it to true or false (false uses the SPDY upgrade)")
            }
        }
    }
    Ok(true)
}

// ANCHOR: fallback
/// Opens `path` as kubectl does: a WebSocket offering `websocket`, and
/// when the server refuses that upgrade (an older server, a proxy that
/// drops it) or `websockets` is off, the SPDY upgrade with
/// `X-Stream-Protocol-Version: spdy`. A refusal of the SPDY upgrade is
/// the one reported.
pub async fn open(
    connection: &Connection,
    path: &str,
    (websocket, spdy): (&str, &str),
    websockets: bool,
) -> Result<Upgraded> {
    if websockets {
        match open_websocket(connection, path, websocket).await? {
            Ok(socket) => return Ok(Upgraded::WebSocket(Box::new(socket))),
            Err(code) => {
                tracing::info!("the WebSocket upgrade was refused with {code}: trying SPDY");
            }
        }
    }
    open_spdy(connection, path, spdy).await.map(Upgraded::Spdy)
}
// ANCHOR_END: fallback

// ANCHOR: open
/// Opens a WebSocket to `path` (with its query) on `connection`'s server,
/// offering `protocol`, with the kubeconfig's credentials; `Err(code)`
/// inside when the server answered the upgrade with another status.
async fn open_websocket(
    connection: &Connection,
    path: &str,
    protocol: &str,
) -> Result<Result<Socket, u16>> {
    let Server { host, port, https } = server_of(connection)?;
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
        Err(tungstenite::Error::Http(response)) => return Ok(Err(response.status().as_u16())),
        Err(e) => return Err(e).context(format!("upgrading {path} to a WebSocket")),
    };
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if agreed != Some(protocol) {
        bail!("the server does not speak {protocol} (it answered {agreed:?})");
    }
    Ok(Ok(socket))
}
// ANCHOR_END: open

// ANCHOR: open_spdy
/// The legacy upgrade kubectl falls back to: `POST path` with
/// `Upgrade: SPDY/3.1` and `X-Stream-Protocol-Version: protocol`; after
/// the `101` the connection carries SPDY frames both ways. hyper's client
/// speaks the HTTP/1.1 and hands the connection over.
async fn open_spdy(connection: &Connection, path: &str, protocol: &str) -> Result<Box<dyn Io>> {
    use http_body_util::{BodyExt, Empty};
    let Server { host, port, https } = server_of(connection)?;
    let io = dial(connection, &host, port, https).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<hyper::body::Bytes>>(TokioIo::new(io))
            .await
            .with_context(|| format!("HTTP with {}", connection.server))?;
    tokio::spawn(conn.with_upgrades());
    let mut request = hyper::Request::post(path)
        .header("Host", format!("{host}:{port}"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "SPDY/3.1")
        .header("X-Stream-Protocol-Version", protocol);
    if let Some(token) = &connection.token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Empty::new())?)
        .await
        .with_context(|| format!("upgrading {path} to SPDY"))?;
    let code = response.status().as_u16();
    if code != 101 {
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        eprintln!("{}", refusal(code, &body.unwrap_or_default()));
        return Err(Reported.into());
    }
    let agreed = response
        .headers()
        .get("X-Stream-Protocol-Version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if agreed.as_deref() != Some(protocol) {
        bail!("the server does not speak {protocol} over SPDY (it answered {agreed:?})");
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .with_context(|| format!("taking over the connection of {path}"))?;
    Ok(Box::new(TokioIo::new(upgraded)))
}
// ANCHOR_END: open_spdy

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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that refuses every WebSocket upgrade with 400
    /// (as a server or proxy without WebSockets does) and accepts the SPDY
    /// upgrade, then writes `spdy` on the connection; answers its URL and
    /// the upgrades it was asked for, as `Upgrade` header values.
    async fn server_without_websockets() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>)
    {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = asked.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                let service =
                    service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                        let upgrade = request
                            .headers()
                            .get("upgrade")
                            .map(|v| v.to_str().unwrap().to_string());
                        seen.lock().unwrap().push(format!(
                            "{} {}",
                            request.method(),
                            upgrade.clone().unwrap_or_default()
                        ));
                        let mut response = hyper::Response::new(http_body_util::Full::new(
                            hyper::body::Bytes::new(),
                        ));
                        if upgrade.as_deref() == Some("SPDY/3.1") {
                            let protocol = request.headers()["x-stream-protocol-version"].clone();
                            let upgraded = hyper::upgrade::on(&mut request);
                            tokio::spawn(async move {
                                let mut io = TokioIo::new(upgraded.await.unwrap());
                                io.write_all(b"spdy").await.unwrap();
                            });
                            *response.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
                            response
                                .headers_mut()
                                .insert("connection", HeaderValue::from_static("Upgrade"));
                            response
                                .headers_mut()
                                .insert("upgrade", HeaderValue::from_static("SPDY/3.1"));
                            response
                                .headers_mut()
                                .insert("x-stream-protocol-version", protocol);
                        } else {
                            *response.status_mut() = hyper::StatusCode::BAD_REQUEST;
                        }
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades(),
                );
            }
        });
        (url, asked)
    }

    #[tokio::test]
    async fn a_refused_websocket_falls_back_to_the_spdy_upgrade() {
        let (server, asked) = server_without_websockets().await;
        let connection = Connection {
            server,
            token: None,
            tls: None,
            namespace: None,
        };
        let protocols = ("v5.channel.k8s.io", "v4.channel.k8s.io");
        for websockets in [true, false] {
            asked.lock().unwrap().clear();
            let Upgraded::Spdy(mut io) = open(&connection, "/x", protocols, websockets)
                .await
                .unwrap()
            else {
                panic!("a WebSocket where the server refused one");
            };
            let mut first = [0u8; 4];
            io.read_exact(&mut first).await.unwrap();
            assert_eq!(&first, b"spdy");
            // The WebSocket is tried first unless switched off.
            let expected = if websockets {
                vec!["GET websocket".to_string(), "POST SPDY/3.1".into()]
            } else {
                vec!["POST SPDY/3.1".to_string()]
            };
            assert_eq!(*asked.lock().unwrap(), expected);
        }
    }

    #[test]
    fn the_websocket_switch_reads_as_kubectls() {
        let env = |name: &str| match name {
            "OFF" => Some("False".to_string()),
            "ON" => Some("true".into()),
            "BAD" => Some("no".into()),
            _ => None,
        };
        assert!(websockets_switch(&["UNSET"], env).unwrap());
        assert!(websockets_switch(&["ON"], env).unwrap());
        assert!(!websockets_switch(&["ON", "OFF"], env).unwrap());
        let refused = websockets_switch(&["BAD"], env).unwrap_err().to_string();
        assert!(
            refused.starts_with("BAD=\"no\": set it to true or false"),
            "{refused}"
        );
    }

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
