//! Host matching: which rules a request's `Host` reaches.
//!
//! A rule's `host` is exact (`foo.example.com`), a wildcard
//! (`*.example.com`, exactly one label in place of the `*`: it matches
//! `bar.example.com` but neither `example.com` nor `a.b.example.com`), or
//! empty, which matches every host. When several kinds match, the most
//! precise wins: exact, then wildcard, then any host, as ingress-nginx
//! picks among its `server` blocks. The port in a `Host` header and the
//! case of the name never matter (RFC 9110: host names are case-insensitive).

use std::borrow::Cow;

use serde::Serialize;

/// The host part of a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum HostMatch {
    /// `foo.example.com`: this host only.
    Exact(String),
    /// `*.example.com`, kept as its suffix `.example.com`.
    Wildcard(String),
    /// No host in the rule: every request.
    Any,
}

/// How precise a host match is; lower wins.
pub type Precision = u8;

impl HostMatch {
    /// A rule's `host` field as a `HostMatch`.
    pub fn parse(host: &str) -> HostMatch {
        match host {
            "" => HostMatch::Any,
            h if h.starts_with("*.") => HostMatch::Wildcard(h[1..].to_ascii_lowercase()),
            h => HostMatch::Exact(h.to_ascii_lowercase()),
        }
    }

    /// How precisely this matches the request's host: see [`host_matches`].
    pub fn matches(&self, host: &str) -> Option<Precision> {
        host_matches(self, host)
    }
}

// ANCHOR: host_matches
/// How precisely `rule` matches the request's `host` (already normalised
/// by [`normalize_host`]): 0 exact, 1 wildcard, 2 any host; `None` if it
/// does not.
pub fn host_matches(rule: &HostMatch, host: &str) -> Option<Precision> {
    match rule {
        HostMatch::Exact(h) => (h == host).then_some(0),
        HostMatch::Wildcard(suffix) => {
            // One label, and only one, before the suffix.
            let label = host.strip_suffix(suffix.as_str())?;
            (!label.is_empty() && !label.contains('.')).then_some(1)
        }
        HostMatch::Any => Some(2),
    }
}
// ANCHOR_END: host_matches

/// The name in a `Host` header or SNI: lower case, without a port or a
/// trailing dot. Every request is routed by it, and clients almost always
/// send a name that is already lower case: that one is borrowed, not
/// copied (a copy was an allocation per request, three times over).
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let name = match split_port(host) {
        // `[::1]:80` and `host:80`; a bare IPv6 address has more colons.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    lower_case(name.trim_end_matches('.'))
}

/// `host` split at its last `:`, when it has one: `foo.example.com:8080`
/// into `foo.example.com` and `8080` (which may be no port: `[::1]` ends
/// in `1]`). A plain loop over the bytes, where `str::rsplit_once(':')`
/// would set up a general searcher (`memrchr`) whose set-up costs more
/// than scanning a host name's few bytes: about 115 instructions a call,
/// and a request asks twice (routing, `X-Forwarded-Port`; BENCH.md).
pub fn split_port(host: &str) -> Option<(&str, &str)> {
    let colon = host.bytes().rposition(|b| b == b':')?;
    // `:` is one byte in UTF-8: both ends are character boundaries.
    Some((&host[..colon], &host[colon + 1..]))
}

/// `name` in lower case, borrowed when it already is.
pub fn lower_case(name: &str) -> Cow<'_, str> {
    match name.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(name.to_ascii_lowercase()),
        false => Cow::Borrowed(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_stand_for_exactly_one_label() {
        let wild = HostMatch::parse("*.example.com");
        assert_eq!(wild.matches("bar.example.com"), Some(1));
        assert_eq!(wild.matches("example.com"), None);
        assert_eq!(wild.matches("a.b.example.com"), None);
        assert_eq!(wild.matches(".example.com"), None);
    }

    #[test]
    fn exact_beats_wildcard_beats_any() {
        let host = "foo.example.com";
        assert_eq!(HostMatch::parse("foo.example.com").matches(host), Some(0));
        assert_eq!(HostMatch::parse("*.example.com").matches(host), Some(1));
        assert_eq!(HostMatch::parse("").matches(host), Some(2));
        assert_eq!(HostMatch::parse("bar.example.com").matches(host), None);
    }

    #[test]
    fn host_headers_lose_port_case_and_trailing_dot() {
        assert_eq!(normalize_host("Foo.Example.com:8080"), "foo.example.com");
        assert_eq!(normalize_host("foo.example.com."), "foo.example.com");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
        // A name already in lower case is not copied.
        assert!(matches!(
            normalize_host("foo.example.com:80"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(normalize_host("Foo.example.com"), Cow::Owned(_)));
    }

    #[test]
    fn a_host_splits_at_its_last_colon_as_rsplit_once_does() {
        for host in [
            "foo.example.com",
            "foo:80",
            "[::1]:8443",
            "::1",
            ":",
            "",
            "é:1",
        ] {
            assert_eq!(split_port(host), host.rsplit_once(':'), "{host}");
        }
    }
}
