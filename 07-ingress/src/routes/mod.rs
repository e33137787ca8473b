//! The routing table: from a request's host and path to a backend.
//!
//! The table is data, built whole from the API's objects by [`build`] and
//! swapped whole by the proxy; looking a request up is a pure function of
//! the table, the host and the path ([`RouteTable::route`]), so every rule
//! of Kubernetes' Ingress semantics is a unit test here, not a request
//! through a proxy.
//!
//! Layout: `host.rs` (exact, wildcard and any-host rules), `path.rs`
//! (`pathType` Exact, Prefix, ImplementationSpecific), `tls.rs` (certificates
//! from `spec.tls` Secrets, by SNI name), `class.rs` (which
//! Ingresses this controller claims), `backend.rs` (a Service port to
//! ready EndpointSlice addresses, with weights), `build.rs` (the table
//! from Ingresses, Services, EndpointSlices and Pods), this file (the
//! table and the lookup).

pub mod backend;
pub mod build;
pub mod class;
pub mod host;
pub mod path;
pub mod tls;

use std::sync::Arc;

use serde::Serialize;

pub use backend::{Backend, Endpoint};
pub use build::{Objects, Problem, build};
pub use host::{HostMatch, Precision, host_matches, normalize_host};
pub use path::{PathType, path_matches};
pub use tls::Certificates;

/// One `host` + `path` of an Ingress and where it leads.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// `namespace/name` of the Ingress the rule comes from: labels the
    /// metrics and the access log.
    pub ingress: String,
    /// Which requests' `Host` this rule takes.
    pub host: HostMatch,
    /// The rule's path (`/` when an ImplementationSpecific path is empty).
    pub path: String,
    /// How `path` is compared with the request's.
    pub path_type: PathType,
    /// Shared, so the same Service port named by many rules is one
    /// backend with one balancer state.
    pub backend: Arc<Backend>,
}

/// Every rule of every claimed Ingress, in the order a request tries them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouteTable {
    /// Sorted by [`Rule`] precedence: most precise host first, then the
    /// longest path, then Exact before Prefix, then the oldest Ingress.
    pub rules: Vec<Rule>,
    /// The `defaultBackend` of the oldest claimed Ingress that has one:
    /// where requests go that no rule takes.
    pub default_backend: Option<Arc<Backend>>,
    /// `namespace/name` of the Ingress that gave `default_backend`.
    pub default_ingress: Option<String>,
    /// The certificates of the claimed Ingresses' `spec.tls`, by host.
    #[serde(skip)]
    pub certificates: Certificates,
}

/// What the proxy does with a request, decided from the table alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<'a> {
    /// Send it to one of this backend's endpoints.
    Proxy(&'a Arc<Backend>),
    /// 503 Service Unavailable: a rule matched, but its Service has no
    /// ready endpoint.
    Unavailable(&'a Arc<Backend>),
    /// 404 Not Found: no rule matched and there is no default backend.
    NotFound,
}

/// The entry of a table that takes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The rule at this index of `rules`.
    Rule(usize),
    /// The default backend.
    Default,
}

impl RouteTable {
    // ANCHOR: route
    /// Where a request for `host` and `path` goes. Hosts are tried from
    /// the most precise kind that matches at all; within it the first
    /// rule (longest path, Exact first) whose path matches wins. A host
    /// whose rules match no path does not fall through to less precise
    /// hosts (as ingress-nginx's `server` blocks): it gets the default
    /// backend, or 404.
    pub fn route(&self, host: &str, path: &str) -> Verdict<'_> {
        match self.matched(host, path).map(|(_, b)| b) {
            Some(b) if b.endpoints.is_empty() => Verdict::Unavailable(b),
            Some(b) => Verdict::Proxy(b),
            None => Verdict::NotFound,
        }
    }

    /// The backend a request for `host` and `path` reaches, and the
    /// `namespace/name` of the Ingress that sends it there.
    pub fn matched(&self, host: &str, path: &str) -> Option<(&str, &Arc<Backend>)> {
        match self.matched_rule(host, path)? {
            Matched::Rule(i) => {
                let rule = &self.rules[i];
                Some((&rule.ingress, &rule.backend))
            }
            Matched::Default => {
                let ingress = self.default_ingress.as_deref().unwrap_or("-");
                self.default_backend.as_ref().map(|b| (ingress, b))
            }
        }
    }

    /// Which entry takes a request for `host` and `path`: the rule (its
    /// index in `rules`, so the proxy can keep state beside each rule), or
    /// the default backend; `None` when neither.
    pub fn matched_rule(&self, host: &str, path: &str) -> Option<Matched> {
        let host = normalize_host(host);
        let precision = self
            .rules
            .iter()
            .filter_map(|r| r.host.matches(&host))
            .min();
        let rule = precision.and_then(|best| {
            self.rules.iter().position(|r| {
                r.host.matches(&host) == Some(best) && path_matches(r.path_type, &r.path, path)
            })
        });
        match rule {
            Some(i) => Some(Matched::Rule(i)),
            None => self.default_backend.as_ref().map(|_| Matched::Default),
        }
    }
    // ANCHOR_END: route
}

#[cfg(test)]
mod tests;
