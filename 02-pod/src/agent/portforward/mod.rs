//! `/portForward/{namespace}/{pod}`: `kubectl port-forward`'s connection,
//! served as the kubelet serves it.
//!
//! kubectl v1.31 and newer first asks for a WebSocket with the
//! subprotocol `SPDY/3.1+portforward.k8s.io`: SPDY frames tunnelled as
//! binary WebSocket messages, with no framing of their own (a message
//! boundary means nothing; the bytes are one stream). When that upgrade
//! fails, or with `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`, it falls back
//! to SPDY itself: a `POST` with `Upgrade: SPDY/3.1` and
//! `X-Stream-Protocol-Version: portforward.k8s.io`, after which the TCP
//! connection carries the frames directly. Both end up in the same
//! [`session::serve`]; the API server relays either without looking
//! inside (03-apiserver's `streaming.rs`).
//!
//! As the kubelet (through containerd) does, each connection is dialled to
//! `localhost:PORT` from inside the pod's network namespace, so a server
//! that listens on the pod's loopback only is reachable too.
//!
//! Layout: [`pairs`] (which streams belong together, pure),
//! [`session`] (the frame loop and the forwards).

pub mod pairs;
pub mod session;

use std::path::PathBuf;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::layout::StateLayout;
use super::server::{Refusal, find_pod};
use super::spdy::connection;
use crate::sandbox;
use session::Target;

/// The WebSocket subprotocol of SPDY tunnelled in WebSocket.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The `X-Stream-Protocol-Version` of the SPDY upgrade.
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";

/// How often a session checks that its pod still exists.
const POD_CHECK: Duration = Duration::from_secs(1);

/// The pod's network namespace and names, or the kubelet's refusal.
/// The namespace is the sandbox's (every container of the pod joins it),
/// named through the sandbox process: `/proc/PID/ns/net`.
fn target(layout: &StateLayout, namespace: &str, name: &str) -> Result<Target, Refusal> {
    let pod = find_pod(layout, namespace, name).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("pod {name:?} does not exist"),
        )
    })?;
    let uid = pod.metadata.uid.clone();
    let states = orc_container::Runtime::new(layout.runtime_root())
        .list()
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let sandbox = sandbox::sandbox_id(&uid);
    let pid = states
        .into_iter()
        .find(|s| s.id == sandbox && s.status == orc_container::state::Status::Running)
        .map(|s| s.pid)
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("pod {name:?} has no running sandbox: wait until it is Running"),
            )
        })?;
    Ok(Target {
        netns: PathBuf::from(format!("/proc/{pid}/ns/net")),
        pod: format!("{namespace}/{name}"),
        uid,
    })
}

// ANCHOR: handle
/// Checks the request and the pod, then upgrades, as the client asked.
pub async fn handle(
    layout: StateLayout,
    (namespace, pod): (String, String),
    request: Request,
) -> Response {
    let lookup = {
        let layout = layout.clone();
        tokio::task::spawn_blocking(move || target(&layout, &namespace, &pod))
    };
    let target = match lookup.await {
        Ok(Ok(target)) => target,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let gone = pod_gone(layout, target.uid.clone());
    let upgrade = header_text(&request, header::UPGRADE).to_ascii_lowercase();
    if upgrade == "websocket" {
        if !header_text(&request, header::SEC_WEBSOCKET_PROTOCOL)
            .split(',')
            .any(|p| p.trim() == TUNNEL_PROTOCOL)
        {
            return refuse_protocol();
        }
        let (mut parts, _) = request.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => ws
                .protocols([TUNNEL_PROTOCOL])
                .on_upgrade(move |socket| tunnel(socket, target, gone)),
            Err(rejection) => rejection.into_response(),
        };
    }
    if connection::asks_for(&request, SPDY_PROTOCOL) {
        // The legacy upgrade: we answer 101 ourselves, then the
        // connection is SPDY.
        return connection::upgrade(request, SPDY_PROTOCOL, move |reader, writer| {
            session::serve(reader, writer, target, gone)
        });
    }
    refuse_protocol()
}
// ANCHOR_END: handle

fn header_text(request: &Request, name: impl axum::http::header::AsHeaderName) -> String {
    request
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
}

fn refuse_protocol() -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!(
            "port-forward needs an upgrade to WebSocket with the subprotocol {TUNNEL_PROTOCOL} \
             or to SPDY/3.1 with X-Stream-Protocol-Version: {SPDY_PROTOCOL}; kubectl v1.31 or \
             newer sends the first, older ones the second"
        ),
    )
        .into_response()
}

// ANCHOR: tunnel
/// SPDY inside WebSocket: binary messages become a byte stream for the
/// session (through an in-memory pipe), and the session's bytes become
/// binary messages.
async fn tunnel(socket: WebSocket, target: Target, gone: impl Future<Output = ()>) {
    let (mut sink, mut incoming) = socket.split();
    let (session_end, pipe_end) = tokio::io::duplex(256 * 1024);
    let (mut pipe_reader, mut pipe_writer) = tokio::io::split(pipe_end);
    // kubectl → session. A close, or an error, ends the byte stream.
    let inbound = tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            match message {
                Message::Binary(bytes) if pipe_writer.write_all(&bytes).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = pipe_writer.shutdown().await;
    });
    // session → kubectl, then a normal close.
    let outbound = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe_reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let message = Message::Binary(buf[..n].to_vec().into());
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    let (reader, writer) = tokio::io::split(session_end);
    session::serve(reader, writer, target, gone).await;
    let _ = outbound.await;
    inbound.abort();
}
// ANCHOR_END: tunnel

/// Completes once pod `uid` is gone from the node (its directory is
/// removed when the agent has stopped its containers).
async fn pod_gone(layout: StateLayout, uid: String) {
    let spec = layout.pod_spec(&uid);
    let mut tick = tokio::time::interval(POD_CHECK);
    loop {
        tick.tick().await;
        if !tokio::fs::try_exists(&spec).await.unwrap_or(true) {
            return;
        }
    }
}
