//! Path matching with Kubernetes' three `pathType`s.
//!
//! `Exact` compares the whole path, byte for byte. `Prefix` compares
//! *elements*: the path split on `/`, so `/foo` matches `/foo` and
//! `/foo/bar` but not `/foobar`, and a trailing slash on either side makes
//! no difference. `ImplementationSpecific` is up to the controller; orc's
//! is Prefix, so a manifest written for it reads the same everywhere.

/// How a rule's path is compared with a request's (`pathType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum PathType {
    /// The request path equals the rule's path.
    Exact,
    /// The request path starts with the rule's path, element by element.
    Prefix,
    /// Up to the controller; orc's treats it as Prefix.
    ImplementationSpecific,
}

impl PathType {
    /// The API's spelling, `None` for a value the API server would refuse.
    pub fn parse(text: &str) -> Option<PathType> {
        match text {
            "Exact" => Some(PathType::Exact),
            "Prefix" => Some(PathType::Prefix),
            "ImplementationSpecific" => Some(PathType::ImplementationSpecific),
            _ => None,
        }
    }
}

// ANCHOR: path_matches
/// Whether a request for `request` matches a rule `path` of `path_type`.
/// An empty rule path (allowed with ImplementationSpecific) is `/`.
pub fn path_matches(path_type: PathType, path: &str, request: &str) -> bool {
    let path = if path.is_empty() { "/" } else { path };
    match path_type {
        PathType::Exact => request == path,
        PathType::Prefix | PathType::ImplementationSpecific => {
            let mut wanted = elements(path);
            let mut got = elements(request);
            // Every element of the rule's path must be the request's next
            // one; whatever the request has after that is below the prefix.
            wanted.all(|w| got.next() == Some(w))
        }
    }
}

/// The non-empty elements of a path: `/foo//bar/` gives `foo`, `bar`.
/// Split as bytes: a slice's split is a plain loop, where `str::split('/')`
/// sets up a general searcher (`memchr`) for each path, which costs more
/// than the few bytes of a path it searches (BENCH.md). `/` is one byte in
/// UTF-8, so no character is cut in two.
fn elements(path: &str) -> impl Iterator<Item = &[u8]> {
    path.as_bytes()
        .split(|&b| b == b'/')
        .filter(|e| !e.is_empty())
}
// ANCHOR_END: path_matches

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_elements_only() {
        let prefix = |p, r| path_matches(PathType::Prefix, p, r);
        assert!(prefix("/", "/anything/at/all"));
        assert!(prefix("/foo", "/foo"));
        assert!(prefix("/foo", "/foo/"));
        assert!(prefix("/foo/", "/foo"));
        assert!(prefix("/foo", "/foo/bar"));
        assert!(!prefix("/foo", "/foobar"));
        assert!(!prefix("/foo/bar", "/foo"));
        assert!(!prefix("/aaa/bb", "/aaa/bbb"));
    }

    #[test]
    fn exact_is_the_whole_path_and_implementation_specific_is_prefix() {
        assert!(path_matches(PathType::Exact, "/foo", "/foo"));
        assert!(!path_matches(PathType::Exact, "/foo", "/foo/"));
        assert!(!path_matches(PathType::Exact, "/foo", "/foo/bar"));
        assert!(path_matches(
            PathType::ImplementationSpecific,
            "/foo",
            "/foo/bar"
        ));
        assert!(path_matches(PathType::ImplementationSpecific, "", "/x"));
    }
}
