//! What a reverse proxy changes in the headers it passes on.
//!
//! Two kinds of change. Hop-by-hop headers (`Connection`, `Keep-Alive`,
//! `Transfer-Encoding`, ... and any header `Connection` names) describe
//! one TCP connection, so they stop at the proxy (RFC 9110 §7.6.1); the
//! proxy's own connection to the backend has its own. And the backend,
//! which now sees the proxy as its client, is told who the real client
//! was: `X-Forwarded-For` (the client's address appended to any list
//! already there), `X-Forwarded-Proto` (`http` or `https`, so an app
//! behind TLS termination can build its URLs) and `X-Forwarded-Host`
//! (the `Host` the client asked for). The `Host` header itself passes
//! unchanged, as ingress-nginx passes it.

use std::net::IpAddr;

use hyper::header::{CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue};

/// Headers that belong to one connection (RFC 9110 §7.6.1, and the
/// non-standard `Keep-Alive` and `Proxy-Connection` that clients still send).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The scheme the client used to reach the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Removes the hop-by-hop headers, and the ones `Connection` lists.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

// ANCHOR: forwarded
/// The request headers a backend receives: hop-by-hop ones gone, the
/// client's address, scheme and host added.
pub fn forwarded(headers: &mut HeaderMap, client: IpAddr, scheme: Scheme) {
    remove_hop_by_hop(headers);
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) if !earlier.trim().is_empty() => format!("{earlier}, {client}"),
        _ => client.to_string(),
    };
    if let Ok(chain) = HeaderValue::from_str(&chain) {
        headers.insert("x-forwarded-for", chain);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(scheme.as_str()),
    );
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert("x-forwarded-host", host);
    }
}
// ANCHOR_END: forwarded

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_learns_the_client_and_loses_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("foo.example.com"));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
        forwarded(&mut h, "10.0.0.7".parse().unwrap(), Scheme::Https);
        assert_eq!(h["x-forwarded-for"], "192.0.2.1, 10.0.0.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "foo.example.com");
        assert_eq!(h[HOST], "foo.example.com");
        for gone in ["connection", "x-secret", "keep-alive"] {
            assert!(!h.contains_key(gone), "{gone} passed on");
        }
    }

    #[test]
    fn a_first_proxy_starts_the_chain() {
        let mut h = HeaderMap::new();
        forwarded(&mut h, "10.0.0.7".parse().unwrap(), Scheme::Http);
        assert_eq!(h["x-forwarded-for"], "10.0.0.7");
        assert!(!h.contains_key("x-forwarded-host"));
    }
}
