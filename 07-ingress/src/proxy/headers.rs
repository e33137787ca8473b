//! What a reverse proxy changes in the headers it passes on.
//!
//! Two kinds of change. Hop-by-hop headers (`Connection`, `Keep-Alive`,
//! `Transfer-Encoding`, ... and any header `Connection` names) describe
//! one TCP connection, so they stop at the proxy (RFC 9110 §7.6.1); the
//! proxy's own connection to the backend has its own. And the backend,
//! which now sees the proxy as its client, is told who the real client
//! was: `X-Forwarded-For` (the client's address appended to any list
//! already there), `X-Forwarded-Proto` (`http` or `https`, so an app
//! behind TLS termination can build its URLs), `X-Forwarded-Host` (the
//! host the client asked for) and `X-Forwarded-Port` (the port in it, else
//! the scheme's: 80 or 443, as Traefik sets it). The host is the `Host`
//! header of an HTTP/1.1 request, and the `:authority` of an HTTP/2 one
//! (which hyper gives as the URI's authority, with no `Host` header): the
//! same host the request was routed by. The `Host` header itself passes
//! unchanged, as ingress-nginx passes it.

use std::net::IpAddr;

use hyper::header::{CONNECTION, HeaderMap, HeaderName, HeaderValue};

use crate::routes::host::split_port;

/// Headers that belong to one connection (RFC 9110 §7.6.1, and the
/// non-standard `Keep-Alive` and `Proxy-Connection` that clients still send).
/// As text: every message's names are compared with these (`as_str` of a
/// name is a table lookup, and two strings of different lengths differ
/// after one comparison), and only a message that has one of them looks
/// them up in its map, which parses each string on the stack, copying
/// nothing.
static HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

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

    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// The client's address as `X-Forwarded-For` carries it, formatted once
/// per connection: every request on a keep-alive connection comes from
/// the same address, and formatting an IPv4 address took 5% of the
/// proxy's instructions when it was done per request (BENCH.md).
#[derive(Debug, Clone)]
pub struct ClientAddress(HeaderValue);

impl ClientAddress {
    pub fn new(ip: IpAddr) -> ClientAddress {
        // An address's text is always a valid header value; the fallback
        // is never taken.
        let value = HeaderValue::try_from(ip.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        ClientAddress(value)
    }

    fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

// ANCHOR: hop_by_hop
/// Removes the hop-by-hop headers, and the ones `Connection` lists.
///
/// Most messages carry none of them (an HTTP/1.1 client keeps its
/// connection alive without saying so), so it first looks: one pass over
/// the names, each compared as text with the seven fixed ones, where
/// most comparisons end at the length. Removing all seven regardless cost
/// eight hashed lookups per message, 5% of the proxy's instructions;
/// comparing `HeaderName`s, about 18 instructions a pair, 1% (BENCH.md).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if !headers
        .keys()
        .any(|name| HOP_BY_HOP.contains(&name.as_str()))
    {
        return;
    }
    if headers.contains_key(CONNECTION) {
        // The values are cloned so the map can change while they are
        // read; a clone shares the text rather than copying it.
        let listed: Vec<HeaderValue> = headers.get_all(CONNECTION).iter().cloned().collect();
        for value in &listed {
            for name in value.to_str().unwrap_or_default().split(',') {
                // By `&str`: looked up without building a `HeaderName`
                // (which would copy a non-standard name). A name that is
                // no header name is in no map.
                headers.remove(name.trim());
            }
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}
// ANCHOR_END: hop_by_hop

// ANCHOR: forwarded
/// The request headers a backend receives: hop-by-hop ones gone, the
/// client's address, scheme, host and port added. `host` is what the
/// request was routed by: `Host`, or HTTP/2's `:authority` (empty when
/// the client sent neither), as the value the proxy already holds, so
/// `X-Forwarded-Host` shares its bytes without a second lookup.
pub fn forwarded(
    headers: &mut HeaderMap,
    client: &ClientAddress,
    scheme: Scheme,
    host: &HeaderValue,
) {
    remove_hop_by_hop(headers);
    let chain = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(earlier) if !earlier.trim().is_empty() => {
            // From the `String` itself: no second copy.
            HeaderValue::try_from(format!("{earlier}, {}", client.as_str())).ok()
        }
        // The first proxy: the connection's own value, shared, not copied.
        _ => Some(client.0.clone()),
    };
    if let Some(chain) = chain {
        headers.insert(X_FORWARDED_FOR.clone(), chain);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(scheme.as_str()),
    );
    // What the client sent under these names is replaced, never passed
    // on: a client could otherwise claim any host. The value is shared
    // with the request's, not copied.
    if host.is_empty() {
        headers.remove(&X_FORWARDED_HOST);
    } else {
        headers.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
    let port = match port_of(host.to_str().unwrap_or_default()) {
        Some(port) => HeaderValue::from(port),
        // The common case: no port in the host, nothing to format.
        None => HeaderValue::from_static(match scheme {
            Scheme::Http => "80",
            Scheme::Https => "443",
        }),
    };
    headers.insert(X_FORWARDED_PORT.clone(), port);
}

/// The port in a host (`foo.example.com:8080`, `[2001:db8::1]:8443`), if
/// it names one. A bare IPv6 address has colons but no port.
fn port_of(host: &str) -> Option<u16> {
    let (name, port) = split_port(host)?;
    if name.contains(':') && !name.ends_with(']') {
        return None; // `2001:db8::1`: the last group is not a port.
    }
    port.parse().ok()
}
// ANCHOR_END: forwarded

#[cfg(test)]
mod tests {
    use hyper::header::{HOST, TRANSFER_ENCODING};

    use super::*;

    #[test]
    fn the_backend_learns_the_client_and_loses_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("foo.example.com"));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
        h.insert("x-forwarded-port", HeaderValue::from_static("1234"));
        forwarded(
            &mut h,
            &ClientAddress::new("10.0.0.7".parse().unwrap()),
            Scheme::Https,
            &HeaderValue::from_static("foo.example.com"),
        );
        assert_eq!(h["x-forwarded-for"], "192.0.2.1, 10.0.0.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "foo.example.com");
        assert_eq!(h["x-forwarded-port"], "443");
        assert_eq!(h[HOST], "foo.example.com");
        for gone in ["connection", "x-secret", "keep-alive"] {
            assert!(!h.contains_key(gone), "{gone} passed on");
        }
    }

    #[test]
    fn every_connection_line_is_honoured_and_other_headers_stay() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("X-One"));
        h.append(CONNECTION, HeaderValue::from_static(" x-two ,, upgrade"));
        for name in [
            "x-one",
            "x-two",
            "upgrade",
            "te",
            "trailer",
            "proxy-connection",
        ] {
            h.insert(name, HeaderValue::from_static("1"));
        }
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("x-three", HeaderValue::from_static("3"));
        remove_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-three"]);
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_is_left_as_it_is() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("foo.example.com"));
        h.insert("content-length", HeaderValue::from_static("2"));
        h.append("x-many", HeaderValue::from_static("1"));
        h.append("x-many", HeaderValue::from_static("2"));
        let before = h.clone();
        remove_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }

    #[test]
    fn the_port_is_the_hosts_else_the_schemes() {
        let cases = [
            (Scheme::Http, "foo.example.com", "80"),
            (Scheme::Https, "foo.example.com", "443"),
            (Scheme::Http, "foo.example.com:8080", "8080"),
            (Scheme::Https, "foo.example.com:8443", "8443"),
            (Scheme::Https, "[2001:db8::1]:8443", "8443"),
            (Scheme::Http, "[2001:db8::1]", "80"),
            (Scheme::Http, "foo.example.com:", "80"),
        ];
        for (scheme, host, port) in cases {
            let mut h = HeaderMap::new();
            let client = ClientAddress::new("10.0.0.7".parse().unwrap());
            forwarded(&mut h, &client, scheme, &HeaderValue::from_static(host));
            assert_eq!(h["x-forwarded-host"], host);
            assert_eq!(h["x-forwarded-port"], port, "{scheme:?} {host}");
        }
    }

    #[test]
    fn a_first_proxy_starts_the_chain_and_a_client_claims_no_host() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        let client = ClientAddress::new("10.0.0.7".parse().unwrap());
        forwarded(&mut h, &client, Scheme::Http, &HeaderValue::from_static(""));
        assert_eq!(h["x-forwarded-for"], "10.0.0.7");
        assert!(!h.contains_key("x-forwarded-host"));
        assert_eq!(h["x-forwarded-port"], "80");
    }
}
