//! One request sent on from the API server over a connection of its own,
//! and, when the far side switches protocols, the splice that makes the
//! two connections one byte pipe.
//!
//! Two kinds of request leave the API server this way, and both use this
//! file (written once):
//!
//! - the streams of `pods/{name}/exec`, `attach` and `portforward`, to the
//!   node's agent ([`super::streaming`]): always an upgrade;
//! - `pods/{name}/proxy` and `services/{name}/proxy`, to a pod's address
//!   ([`super::proxy`]): any request, an upgrade (a WebSocket) now and
//!   then.
//!
//! Each request gets an HTTP/1.1 connection of its own, opened by the
//! caller (TCP, perhaps TLS: `agent_client.rs`) and closed when the answer
//! has been read or the pipe ends. Nothing is pooled: the answers are
//! streams that can last for hours, and a connection per stream is what
//! kube-apiserver's `UpgradeAwareHandler` uses too.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::agent_client::AgentIo;

/// Sends `request` over `io` and returns the answer as soon as its head
/// has arrived; the body follows as the far side sends it. The
/// connection's task keeps running (with upgrades enabled) until the
/// answer's body, or the upgraded pipe, is done with.
pub async fn send(
    io: Box<dyn AgentIo>,
    request: hyper::Request<Body>,
) -> Result<hyper::Response<Incoming>, hyper::Error> {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection.with_upgrades());
    sender.send_request(request).await
}

// ANCHOR: splice
/// Both connections switch protocols (the client's, and the one the far
/// side answered `101 Switching Protocols` on); from then on they are
/// byte pipes, copied both ways until either side closes.
pub fn splice(client: &mut Request, answer: &mut hyper::Response<Incoming>) {
    let from_client = hyper::upgrade::on(client);
    let from_far_side = hyper::upgrade::on(answer);
    tokio::spawn(async move {
        let (Ok(client), Ok(far_side)) = (from_client.await, from_far_side.await) else {
            return;
        };
        let (mut client, mut far_side) = (TokioIo::new(client), TokioIo::new(far_side));
        let _ = tokio::io::copy_bidirectional(&mut client, &mut far_side).await;
    });
}
// ANCHOR_END: splice

/// Copies every value of each header in `names` from one map to another.
pub fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, names: &[&'static str]) {
    for name in names {
        for value in from.get_all(*name) {
            to.append(*name, HeaderValue::clone(value));
        }
    }
}
