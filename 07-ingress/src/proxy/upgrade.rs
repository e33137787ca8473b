//! WebSocket through the proxy, asked for two ways, always passed to the
//! backend as HTTP/1.1's `Upgrade`.
//!
//! Over HTTP/1.1 (RFC 6455) a client asks with `Connection: Upgrade` and
//! `Upgrade: websocket`; a backend that agrees answers `101 Switching
//! Protocols` and the TCP connection then carries WebSocket frames. The
//! proxy passes the two headers on, and after the 101 joins the client's
//! connection and the backend's byte for byte.
//!
//! Over HTTP/2 there is no `Upgrade` (one connection carries many
//! streams), so RFC 8441 opens a WebSocket on one *stream*: the server
//! first advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`, then the client
//! sends `CONNECT` with the pseudo-header `:protocol: websocket`, the path
//! and authority it wants, and no `Sec-WebSocket-Key`; a `200` opens the
//! stream for frames. Pods speak HTTP/1.1, so the proxy translates: a
//! `GET` with `Upgrade: websocket` and a key of its own to the backend;
//! it checks the backend's `Sec-WebSocket-Accept` as any WebSocket client
//! must; then it answers the HTTP/2 client `200` and joins the stream to
//! the backend's connection. The frames themselves are the same on both
//! sides, so after the handshake nothing is translated.

use base64::Engine;
use http_body_util::{BodyExt, Either, Empty};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::rand::SecureRandom;

use super::handle::{ProxyBody, passed_on, plain};
use super::headers;
use super::health::InFlight;
use super::upstream::Lease;

/// The GUID RFC 6455 §1.3 appends to the key before hashing it.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A client's request to switch protocols, taken from its request before
/// the request is forwarded.
pub struct Requested {
    /// Resolves to the client's side once the proxy answers it.
    client: hyper::upgrade::OnUpgrade,
    kind: Kind,
}

enum Kind {
    /// HTTP/1.1 `Upgrade: <protocol>`, passed on as it came.
    Upgrade(HeaderValue),
    /// HTTP/2 extended CONNECT for `websocket`, sent on as an HTTP/1.1
    /// upgrade with this `Sec-WebSocket-Key`.
    ExtendedConnect { key: String },
}

// ANCHOR: requested
/// Whether `req` asks to switch protocols: `Connection: upgrade` with an
/// `Upgrade` (HTTP/1.1, RFC 9110 §7.8), or `CONNECT` with `:protocol`
/// (HTTP/2, RFC 8441). An extended CONNECT for anything but `websocket`
/// has no HTTP/1.1 equivalent a pod would know: the error is the
/// proxy's answer.
pub fn requested(
    req: &mut Request<Incoming>,
) -> Result<Option<Requested>, Box<Response<ProxyBody>>> {
    if let Some(protocol) = req.extensions().get::<hyper::ext::Protocol>() {
        if !protocol.as_str().eq_ignore_ascii_case("websocket") {
            let text = format!(
                "extended CONNECT for {:?} is not supported: orc-ingress relays only \
                 websocket (RFC 8441)",
                protocol.as_str()
            );
            return Err(Box::new(plain(StatusCode::NOT_IMPLEMENTED, &text)));
        }
        let kind = Kind::ExtendedConnect { key: new_key() };
        let client = hyper::upgrade::on(req);
        return Ok(Some(Requested { client, kind }));
    }
    // `Upgrade` first: nearly every request has none, and is done after
    // one lookup instead of two.
    let Some(protocol) = req.headers().get(UPGRADE).cloned() else {
        return Ok(None);
    };
    let asks = req
        .headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if !asks {
        return Ok(None);
    }
    let client = hyper::upgrade::on(req);
    Ok(Some(Requested {
        client,
        kind: Kind::Upgrade(protocol),
    }))
}
// ANCHOR_END: requested

impl Requested {
    // ANCHOR: to_backend
    /// The request the backend gets, after the hop-by-hop headers are
    /// gone: the two that ask it to switch, and for an extended CONNECT a
    /// `GET` with a key instead (its `Sec-WebSocket-Version`,
    /// `-Protocol` and `-Extensions` pass as they came).
    pub fn to_backend(&self, parts: &mut hyper::http::request::Parts) {
        let protocol = match &self.kind {
            Kind::Upgrade(protocol) => protocol.clone(),
            Kind::ExtendedConnect { key } => {
                parts.method = Method::GET;
                if let Ok(key) = HeaderValue::from_str(key) {
                    parts.headers.insert("sec-websocket-key", key);
                }
                HeaderValue::from_static("websocket")
            }
        };
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(UPGRADE, protocol);
    }
    // ANCHOR_END: to_backend

    // ANCHOR: answer
    /// The client's answer to the backend's `response`. A 101 joins the
    /// two connections and is answered with a 101 (HTTP/1.1) or a 200
    /// (HTTP/2). Anything else is passed on as an ordinary response,
    /// except a success that is not a switch to an extended CONNECT: that
    /// would open a WebSocket stream to a backend speaking plain HTTP.
    /// After a switch the backend's connection is the relay's: `lease`
    /// is dropped, never put back in the pool.
    pub fn answer(
        self,
        mut response: Response<Incoming>,
        in_flight: InFlight,
        lease: Lease,
    ) -> Response<ProxyBody> {
        let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        if let Kind::ExtendedConnect { key } = &self.kind {
            let accepted = response.headers().get("sec-websocket-accept");
            if switched && accepted.is_none_or(|a| a.as_bytes() != accept_key(key).as_bytes()) {
                let text =
                    "the backend switched to websocket without the right Sec-WebSocket-Accept";
                return plain(StatusCode::BAD_GATEWAY, text);
            }
            if !switched && response.status().is_success() {
                let text = format!(
                    "the backend answered {} instead of switching to websocket",
                    response.status()
                );
                return plain(StatusCode::BAD_GATEWAY, &text);
            }
        }
        if !switched {
            return passed_on(response, in_flight, Some(lease));
        }
        drop(lease);
        splice(self.client, hyper::upgrade::on(&mut response), in_flight);
        let (mut parts, _) = response.into_parts();
        let protocol = parts.headers.get(UPGRADE).cloned();
        headers::remove_hop_by_hop(&mut parts.headers);
        match self.kind {
            Kind::Upgrade(_) => {
                // The two hop-by-hop headers that are the answer itself.
                if let Some(protocol) = protocol {
                    parts
                        .headers
                        .insert(CONNECTION, HeaderValue::from_static("upgrade"));
                    parts.headers.insert(UPGRADE, protocol);
                }
            }
            Kind::ExtendedConnect { .. } => {
                // HTTP/2 has no key to accept: a 200 opens the stream.
                parts.status = StatusCode::OK;
                parts.headers.remove("sec-websocket-accept");
            }
        }
        let body = Empty::new().map_err(|never| match never {}).boxed();
        Response::from_parts(parts, Either::Right(body))
    }
    // ANCHOR_END: answer
}

/// After the switch, joins the client's connection (or HTTP/2 stream) and
/// the backend's, byte for byte in both directions, until either side
/// closes. The endpoint counts as busy (least connections) for as long as
/// the two are joined.
fn splice(
    client: hyper::upgrade::OnUpgrade,
    backend: hyper::upgrade::OnUpgrade,
    in_flight: InFlight,
) {
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let (client, backend) = match tokio::try_join!(client, backend) {
            Ok(both) => both,
            Err(e) => return tracing::debug!("upgrade failed: {e}"),
        };
        let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            tracing::debug!("upgraded connection ended: {e}");
        }
    });
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1).
fn new_key() -> String {
    let mut nonce = [0u8; 16];
    // The system's random source. Should it ever fail, the zero nonce
    // still makes a valid handshake: the key only proves that the backend
    // understood WebSocket, it guards no secret.
    if ring::rand::SystemRandom::new().fill(&mut nonce).is_err() {
        tracing::warn!("no random bytes for a Sec-WebSocket-Key: using a fixed one");
    }
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// The `Sec-WebSocket-Accept` a server must answer to `key`: base64 of the
/// SHA-1 of the key and the GUID (RFC 6455 §4.2.2).
fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{WEBSOCKET_GUID}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        // RFC 6455 §1.3: this key is answered with this accept value.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn keys_are_16_fresh_bytes() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap();
        assert_eq!(bytes.len(), 16);
    }

    #[test]
    fn an_extended_connect_reaches_the_backend_as_a_get_with_a_key() {
        let (mut parts, ()) = Request::builder()
            .method(Method::CONNECT)
            .uri("http://ws.test/chat")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap()
            .into_parts();
        let requested = Requested {
            // Nothing to upgrade here: only the request is looked at.
            client: hyper::upgrade::on(Request::new(())),
            kind: Kind::ExtendedConnect {
                key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
            },
        };
        requested.to_backend(&mut parts);
        assert_eq!(parts.method, Method::GET);
        assert_eq!(parts.headers[UPGRADE], "websocket");
        assert_eq!(parts.headers[CONNECTION], "upgrade");
        assert_eq!(
            parts.headers["sec-websocket-key"],
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
        assert_eq!(parts.headers["sec-websocket-version"], "13");
    }
}
