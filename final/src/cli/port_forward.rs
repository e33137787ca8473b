//! `orc port-forward POD [LOCAL:]REMOTE...`: local ports forwarded to a
//! pod's, spoken as kubectl speaks it.
//!
//! The client's half of the session the node's agent serves
//! (`orc_pod::agent::portforward`): one WebSocket to the pod's
//! `portforward` subresource with the subprotocol
//! `SPDY/3.1+portforward.k8s.io`, whose binary messages carry one SPDY
//! byte stream ([`tunnel`]). For every connection accepted on a local
//! port, the client opens two SPDY streams (the frames of
//! `orc_pod::agent::spdy`):
//! an *error* stream, which it closes at once and on which the node
//! writes why a forward failed, and a *data* stream with the
//! connection's bytes both ways, FIN for each side's end. Both carry the
//! headers `streamType`, `port` and a `requestID` that pairs them.
//!
//! When the server refuses the WebSocket, or `ORC_PORT_FORWARD_WEBSOCKETS`
//! (or kubectl's `KUBECTL_PORT_FORWARD_WEBSOCKETS`) is `false`, the same
//! session runs on the legacy SPDY upgrade, the connection itself.
//!
//! `svc/NAME`, `deploy/NAME` and the like are resolved first, to one of
//! their pods and its container ports ([`super::forward_target`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use orc_client::Method;
use orc_pod::agent::portforward::{SPDY_PROTOCOL, TUNNEL_PROTOCOL};
use orc_pod::agent::spdy::{
    Frame, HeaderCompressor, HeaderDecompressor, Headers, encode as encode_frame, read_frame,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::Target;
use super::forward_target::{self, PortSpec, parse_ports};
use super::stream::{self, Upgraded};

/// kubectl's switch back to the SPDY upgrade for port-forward, and orc's
/// own name for it: `false` in either skips the WebSocket.
pub const WEBSOCKETS_SWITCH: [&str; 2] = [
    "ORC_PORT_FORWARD_WEBSOCKETS",
    "KUBECTL_PORT_FORWARD_WEBSOCKETS",
];

#[derive(Args)]
pub struct PortForwardArgs {
    /// The pod (`web` or `pod/web`), or an object with a pod selector
    /// (`svc/web`, `deploy/web`): one of its running pods, as kubectl
    /// picks it.
    pub pod: String,
    /// `LOCAL:REMOTE`, `PORT` (the same on both sides) or `:REMOTE` (a
    /// free local port), one or more; REMOTE is a Service's port for a
    /// Service, and may be a port's name.
    #[arg(required = true)]
    pub ports: Vec<String>,
    #[command(flatten)]
    pub target: Target,
}

/// The session's byte stream, whichever upgrade carries it.
type SessionReader = Box<dyn AsyncRead + Unpin + Send>;
type SessionWriter = Box<dyn AsyncWrite + Unpin + Send>;

/// Where the bytes of each open stream go: `Some(bytes)`, then `None`
/// at the peer's FIN.
type Routes = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Option<Vec<u8>>>>>>;

/// The client's side of one SPDY session.
#[derive(Clone)]
struct Session {
    /// Frames to send, in order (header blocks share one zlib stream).
    out: mpsc::Sender<Frame>,
    routes: Routes,
    /// The next stream id (the client's are odd) and request id.
    next: Arc<Mutex<(u32, u32)>>,
}

pub async fn run(args: PortForwardArgs) -> Result<()> {
    let specs = args
        .ports
        .iter()
        .map(|spec| parse_ports(spec).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let (pod, ports) = resolve(&args.target, &args.pod, &specs).await?;
    let target = stream::pod_stream(&args.target, &pod, "portforward")?;
    let websockets = stream::websockets_allowed(&WEBSOCKETS_SWITCH)?;
    let protocols = (TUNNEL_PROTOCOL, SPDY_PROTOCOL);
    let (reader, writer): (SessionReader, SessionWriter) =
        match stream::open(&target.connection, &target.path, protocols, websockets).await? {
            Upgraded::WebSocket(socket) => {
                let (reader, writer) = tunnel(*socket);
                (Box::new(reader), Box::new(writer))
            }
            // The SPDY upgrade: the connection carries the frames itself.
            Upgraded::Spdy(io) => {
                let (reader, writer) = tokio::io::split(io);
                (Box::new(reader), Box::new(writer))
            }
        };
    let session = Session {
        out: spawn_writer(writer),
        routes: Arc::default(),
        next: Arc::new(Mutex::new((1, 0))),
    };
    for (local, remote) in ports {
        let listener = TcpListener::bind(("127.0.0.1", local))
            .await
            .with_context(|| format!("listening on 127.0.0.1:{local}"))?;
        let bound = listener.local_addr()?.port();
        // kubectl's line, which scripts wait for.
        println!("Forwarding from 127.0.0.1:{bound} -> {remote}");
        tokio::spawn(accept(listener, remote, session.clone()));
    }
    // The session lives until the node ends it (the pod went) or Ctrl-C.
    tokio::select! {
        () = read_session(reader, session.clone()) => {}
        _ = tokio::signal::ctrl_c() => return Ok(()),
    }
    bail!("lost connection to pod {}", target.pod)
}

// ANCHOR: resolve
/// The pod `typed` means (`web`, `pod/web`, `svc/web`, `deploy/web`, any
/// kind with a pod selector) and the `(local, remote)` ports in it, as
/// kubectl works them out before it opens the session
/// ([`forward_target`]).
async fn resolve(
    target: &Target,
    typed: &str,
    specs: &[PortSpec],
) -> Result<(String, Vec<(u16, u16)>)> {
    let session = super::Session::open(target).await?;
    let ns = session.namespace.as_str();
    let (resource, name) = match typed.split_once('/') {
        Some((kind, name)) => (session.discovery.by_name(kind)?.clone(), name),
        None => (session.discovery.by_name("pods")?.clone(), typed),
    };
    let get = |path: String| {
        let client = session.client.clone();
        async move { client.send_path(Method::GET, &path, None, None).await }
    };
    let object = get(resource.path(Some(ns), Some(name))).await?;
    if resource.kind == "Pod" {
        forward_target::check_running(&object).map_err(anyhow::Error::msg)?;
        let ports = forward_target::pod_ports(specs, &object).map_err(anyhow::Error::msg)?;
        return Ok((name.to_string(), ports));
    }
    let Some(selector) = forward_target::selector_of(&resource.kind, &object) else {
        bail!(
            "cannot forward to {} {ns}/{name}: it has no pod selector; forward to one of its pods (pod/NAME)",
            resource.kind
        );
    };
    let pods = session.discovery.by_name("pods")?;
    let list = get(pods.path(Some(ns), None)).await?;
    let items = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(pod) = forward_target::first_pod(items, &selector) else {
        bail!(
            "no pod to forward to: {} {ns}/{name} selects none; check its selector against the pods' labels (orc get pods --show-labels)",
            resource.kind
        );
    };
    forward_target::check_running(pod).map_err(anyhow::Error::msg)?;
    let ports = if resource.kind == "Service" {
        forward_target::service_ports(specs, &object, pod)
    } else {
        forward_target::pod_ports(specs, pod)
    }
    .map_err(anyhow::Error::msg)?;
    let pod_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((pod_name, ports))
}
// ANCHOR_END: resolve

// ANCHOR: tunnel
/// SPDY inside WebSocket: the session reads and writes a byte stream; the
/// WebSocket's binary messages carry it, their boundaries meaning nothing.
fn tunnel(
    socket: stream::Socket,
) -> (
    impl AsyncRead + Unpin + Send + 'static,
    impl AsyncWrite + Unpin + Send + 'static,
) {
    let (mut sink, mut incoming) = socket.split();
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut from_session, mut to_session) = tokio::io::split(theirs);
    tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            match message {
                Message::Binary(bytes) if to_session.write_all(&bytes).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = to_session.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from_session.read(&mut buf).await {
            let message = Message::Binary(buf[..n].to_vec().into());
            if sink.send(message).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    tokio::io::split(ours)
}
// ANCHOR_END: tunnel

/// The one task that encodes and writes frames.
fn spawn_writer(mut writer: impl AsyncWrite + Unpin + Send + 'static) -> mpsc::Sender<Frame> {
    let (out, mut queue) = mpsc::channel::<Frame>(64);
    tokio::spawn(async move {
        let mut headers = HeaderCompressor::new();
        while let Some(frame) = queue.recv().await {
            let bytes = encode_frame(&frame, &mut headers);
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    });
    out
}

// ANCHOR: read_session
/// The node's frames: DATA to its stream's connection, FIN and RST_STREAM
/// end it, PING is answered; the session ends with GOAWAY or the
/// connection.
async fn read_session(mut reader: impl AsyncRead + Unpin, session: Session) {
    let mut headers = HeaderDecompressor::new();
    while let Ok(Some(frame)) = read_frame(&mut reader, &mut headers).await {
        match frame {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                let mut routes = session.routes.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(route) = routes.get(&stream_id) {
                    if !data.is_empty() {
                        let _ = route.send(Some(data));
                    }
                    if fin {
                        let _ = route.send(None);
                        routes.remove(&stream_id);
                    }
                }
            }
            Frame::RstStream { stream_id, .. } => {
                let route = session
                    .routes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&stream_id);
                if let Some(route) = route {
                    let _ = route.send(None);
                }
            }
            Frame::Ping { id } => {
                let _ = session.out.send(Frame::Ping { id }).await;
            }
            Frame::GoAway { .. } => return,
            _ => {}
        }
    }
}
// ANCHOR_END: read_session

/// Accepts local connections for as long as the session lasts.
async fn accept(listener: TcpListener, remote: u16, session: Session) {
    while let Ok((tcp, _)) = listener.accept().await {
        println!(
            "Handling connection for {}",
            listener.local_addr().map(|a| a.port()).unwrap_or(0)
        );
        tokio::spawn(forward(tcp, remote, session.clone()));
    }
}

/// A stream's route, registered before its SYN_STREAM goes out (the node
/// may answer at once).
fn open_route(session: &Session, id: u32) -> mpsc::UnboundedReceiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::unbounded_channel();
    session
        .routes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, tx);
    rx
}

/// The two streams of one forwarded connection, and what the node
/// sends on each.
struct Pair {
    error_id: u32,
    data_id: u32,
    errors: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    from_pod: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
}

// ANCHOR: open_pair
/// Opens a connection's pair as kubectl does: the error stream (which
/// kubectl ends at once: only the node writes on it), then the data
/// stream, both with the port and the same `requestID`.
async fn open_pair(session: &Session, remote: u16) -> Option<Pair> {
    let (error_id, data_id, request_id) = {
        let mut next = session.next.lock().unwrap_or_else(|p| p.into_inner());
        let ids = (next.0, next.0 + 2, next.1);
        *next = (next.0 + 4, next.1 + 1);
        ids
    };
    let headers = |kind: &str| -> Headers {
        vec![
            ("streamType".into(), kind.into()),
            ("port".into(), remote.to_string()),
            ("requestID".into(), request_id.to_string()),
        ]
    };
    let pair = Pair {
        error_id,
        data_id,
        errors: open_route(session, error_id),
        from_pod: open_route(session, data_id),
    };
    let frames = [
        Frame::SynStream {
            stream_id: error_id,
            fin: false,
            headers: headers("error"),
        },
        Frame::Data {
            stream_id: error_id,
            fin: true,
            data: vec![],
        },
        Frame::SynStream {
            stream_id: data_id,
            fin: false,
            headers: headers("data"),
        },
    ];
    for frame in frames {
        session.out.send(frame).await.ok()?;
    }
    Some(pair)
}
// ANCHOR_END: open_pair

/// One local connection: its pair of streams, then bytes both ways until
/// the pod's side ends.
async fn forward(tcp: TcpStream, remote: u16, session: Session) {
    let Some(Pair {
        error_id,
        data_id,
        mut errors,
        mut from_pod,
    }) = open_pair(&session, remote).await
    else {
        return;
    };
    let (mut local_in, mut local_out) = tcp.into_split();
    let out = session.out.clone();
    let upload = async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n @ 1..) = local_in.read(&mut buf).await {
            let data = Frame::Data {
                stream_id: data_id,
                fin: false,
                data: buf[..n].to_vec(),
            };
            if out.send(data).await.is_err() {
                return;
            }
        }
        let fin = Frame::Data {
            stream_id: data_id,
            fin: true,
            data: vec![],
        };
        let _ = out.send(fin).await;
        // The pod may still be answering: the download decides the end.
        std::future::pending::<()>().await;
    };
    let download = async move {
        while let Some(Some(bytes)) = from_pod.recv().await {
            if local_out.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = local_out.shutdown().await;
    };
    tokio::select! {
        () = upload => {}
        () = download => {}
    }
    // What the node said went wrong, if anything (kubectl's wording).
    let mut said = Vec::new();
    while let Ok(Some(bytes)) = errors.try_recv() {
        said.extend(bytes);
    }
    if !said.is_empty() {
        eprintln!(
            "E an error occurred forwarding {remote}: {}",
            String::from_utf8_lossy(&said)
        );
    }
    let mut routes = session.routes.lock().unwrap_or_else(|p| p.into_inner());
    routes.remove(&error_id);
    routes.remove(&data_id);
}
