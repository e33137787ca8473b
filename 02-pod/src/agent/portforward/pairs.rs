//! Which SPDY streams belong together: the port-forward protocol, pure.
//!
//! For every connection accepted on a local port, kubectl opens two
//! streams on the one SPDY connection, with these headers:
//!
//! | header       | error stream | data stream |
//! |--------------|--------------|-------------|
//! | `streamType` | `error`      | `data`      |
//! | `port`       | the pod port | the same    |
//! | `requestID`  | `N`          | the same `N` |
//!
//! The data stream carries the connection's bytes both ways. The error
//! stream carries only one thing, from the node: if the forward fails
//! (nothing listens on the port), the reason as text, which kubectl
//! prints as "an error occurred forwarding ...". The node starts a
//! forward only once it has both halves, matched by `requestID` (a
//! kubectl older than v1.2 sent none: the kubelet then pairs a data
//! stream with the error stream two ids before it, and so does orc).
//! Mirrors the kubelet's `httpStreamHandler` (`getStreamPair`).

use std::collections::HashMap;

use crate::agent::spdy::Headers;
use crate::agent::spdy::headers::get;

/// What a stream is for, from its `streamType` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Data,
    Error,
}

// ANCHOR: request
/// One stream's request, read from its SYN_STREAM headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    pub kind: StreamType,
    /// The port in the pod to connect to.
    pub port: u16,
    /// The key that pairs it with its other half.
    pub request_id: String,
}

/// Reads a stream's headers; `stream_id` stands in for a missing
/// `requestID` as the kubelet's fallback says. The error is the text for
/// the log (the stream is then reset).
pub fn parse_request(stream_id: u32, headers: &Headers) -> Result<StreamRequest, String> {
    let kind = match get(headers, "streamType") {
        Some("data") => StreamType::Data,
        Some("error") => StreamType::Error,
        Some(other) => return Err(format!("invalid stream type {other:?}")),
        None => return Err("the streamType header is missing".into()),
    };
    let port = match get(headers, "port").map(str::parse::<u16>) {
        Some(Ok(port)) if port > 0 => port,
        Some(_) => return Err(format!("invalid port {:?}", get(headers, "port"))),
        None => return Err("the port header is missing".into()),
    };
    let request_id = match get(headers, "requestID") {
        Some(id) => id.to_string(),
        None if kind == StreamType::Data => stream_id.saturating_sub(2).to_string(),
        None => stream_id.to_string(),
    };
    Ok(StreamRequest {
        kind,
        port,
        request_id,
    })
}
// ANCHOR_END: request

/// Both halves of one forwarded connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPair {
    pub port: u16,
    pub data: u32,
    pub error: u32,
}

/// Halves waiting for their other half, by `requestID`.
#[derive(Debug, Default)]
pub struct Pairing {
    waiting: HashMap<String, (StreamType, u32, u16)>,
}

// ANCHOR: pairing
impl Pairing {
    /// Adds stream `stream_id`; answers the pair it completes, if any.
    /// A second stream of the same type under one `requestID`, or halves
    /// that name different ports, are refused with the reason.
    pub fn add(
        &mut self,
        stream_id: u32,
        request: StreamRequest,
    ) -> Result<Option<StreamPair>, String> {
        let Some((kind, other, port)) = self.waiting.remove(&request.request_id) else {
            let half = (request.kind, stream_id, request.port);
            self.waiting.insert(request.request_id, half);
            return Ok(None);
        };
        if kind == request.kind {
            // Keep the first; the newcomer is the one refused.
            self.waiting
                .insert(request.request_id.clone(), (kind, other, port));
            return Err(format!(
                "a second {:?} stream for request {}",
                request.kind, request.request_id
            ));
        }
        if port != request.port {
            self.waiting
                .insert(request.request_id.clone(), (kind, other, port));
            return Err(format!(
                "request {} names port {port} and port {}",
                request.request_id, request.port
            ));
        }
        let (data, error) = match request.kind {
            StreamType::Data => (stream_id, other),
            StreamType::Error => (other, stream_id),
        };
        Ok(Some(StreamPair { port, data, error }))
    }

    /// Forgets a half whose stream was reset before its pair was whole.
    pub fn forget(&mut self, stream_id: u32) {
        self.waiting.retain(|_, (_, id, _)| *id != stream_id);
    }

    /// How many halves wait.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}
// ANCHOR_END: pairing

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Headers {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn request(kind: &str, port: &str, id: &str) -> StreamRequest {
        parse_request(
            0,
            &headers(&[("streamtype", kind), ("port", port), ("requestid", id)]),
        )
        .unwrap()
    }

    #[test]
    fn kubectls_headers_are_read() {
        assert_eq!(
            request("data", "8080", "3"),
            StreamRequest {
                kind: StreamType::Data,
                port: 8080,
                request_id: "3".into()
            }
        );
        let bad = |list: &[(&str, &str)]| parse_request(1, &headers(list)).unwrap_err();
        assert!(bad(&[("port", "80")]).contains("streamType"));
        assert!(bad(&[("streamtype", "stdin"), ("port", "80")]).contains("stdin"));
        assert!(bad(&[("streamtype", "data"), ("port", "0")]).contains("port"));
        assert!(bad(&[("streamtype", "data"), ("port", "http")]).contains("port"));
        assert!(bad(&[("streamtype", "data")]).contains("port header"));
    }

    #[test]
    fn halves_pair_by_request_id_in_either_order() {
        let mut pairing = Pairing::default();
        assert_eq!(pairing.add(1, request("error", "80", "0")), Ok(None));
        assert_eq!(pairing.add(5, request("data", "80", "1")), Ok(None));
        assert_eq!(pairing.waiting(), 2);
        assert_eq!(
            pairing.add(3, request("data", "80", "0")),
            Ok(Some(StreamPair {
                port: 80,
                data: 3,
                error: 1
            }))
        );
        assert_eq!(
            pairing.add(7, request("error", "80", "1")),
            Ok(Some(StreamPair {
                port: 80,
                data: 5,
                error: 7
            }))
        );
        assert_eq!(pairing.waiting(), 0);
    }

    #[test]
    fn without_request_ids_the_data_stream_follows_its_error_stream() {
        let mut pairing = Pairing::default();
        let error = parse_request(1, &headers(&[("streamtype", "error"), ("port", "80")]));
        let data = parse_request(3, &headers(&[("streamtype", "data"), ("port", "80")]));
        assert_eq!(pairing.add(1, error.unwrap()), Ok(None));
        assert_eq!(
            pairing
                .add(3, data.unwrap())
                .unwrap()
                .map(|p| (p.data, p.error)),
            Some((3, 1))
        );
    }

    #[test]
    fn duplicates_and_port_mismatches_are_refused() {
        let mut pairing = Pairing::default();
        pairing.add(1, request("error", "80", "0")).unwrap();
        assert!(pairing.add(3, request("error", "80", "0")).is_err());
        assert!(pairing.add(5, request("data", "81", "0")).is_err());
        // The first half still waits; a reset forgets it.
        assert_eq!(pairing.waiting(), 1);
        pairing.forget(1);
        assert_eq!(pairing.waiting(), 0);
    }
}
