//! The route table as the proxy serves it: every backend resolved, once
//! per table, to a handle that holds what a pick needs.
//!
//! The controller's [`RouteTable`] is pure data: Service names, endpoint
//! addresses, an algorithm. A pick also needs state that outlives any one
//! table: each endpoint's requests in flight and ejection, and the
//! balancer's cursor. The first version looked that state up on every
//! request: a lock, a hash per endpoint and two `String`s copied into the
//! balancer's key (6% of the proxy's instructions, BENCH.md). Here the
//! lookups happen once, when a table arrives: [`Registry::follow`]
//! gives every rule an `Arc` of its [`BackendHandle`], and a request
//! follows the pointer. A pick reads atomics and takes no lock, except
//! for smooth weighted round robin, whose state is a row of numbers.
//!
//! A handle's state is shared by every worker thread, so round robin
//! stays one rotation across them (nginx's workers each keep their own,
//! unless the upstream has a shared `zone`). The metrics are resolved the
//! same way: each route to its Ingress and Service's request counters,
//! each handle to its Service's latency histogram (`metrics.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::time::Instant;

use orc_client::prometheus::AtomicHistogram;

use super::health::EndpointState;
use super::metrics::{Metrics, RequestCounts};
use crate::balance::{
    Algorithm, Candidate, SmoothWeighted, least_connections, round_robin,
    weighted_least_connections,
};
use crate::routes::{Backend, Matched, RouteTable};

/// What a balancer is kept for: one Service port with one algorithm.
type BalancerKey = (String, String, Algorithm);

/// One table, resolved: what requests read.
#[derive(Debug)]
pub struct Resolved {
    /// The table itself: host and path matching.
    pub table: Arc<RouteTable>,
    /// One per rule of `table`, in the same order.
    rules: Vec<Route>,
    /// For `table.default_backend`.
    default: Option<Route>,
}

/// Where a matched request goes.
#[derive(Debug, Clone)]
pub struct Route {
    /// `namespace/name` of the Ingress: the metrics' and the log's label,
    /// shared so that labelling a request copies no text.
    pub ingress: Arc<str>,
    pub backend: Arc<BackendHandle>,
    /// The counters of this Ingress and Service's answers, by code.
    pub requests: Arc<RequestCounts>,
}

/// One backend with everything a pick reads.
#[derive(Debug)]
pub struct BackendHandle {
    pub backend: Arc<Backend>,
    /// `namespace/name` of the Service, shared as `Route::ingress` is.
    pub service: Arc<str>,
    /// The state of each of `backend.endpoints`, in the same order.
    pub states: Box<[Arc<EndpointState>]>,
    pub picker: Arc<Picker>,
    /// How long the Service's endpoints take to answer.
    pub latency: Arc<AtomicHistogram>,
}

impl Resolved {
    /// The route for a request for `host` and `path`: see
    /// [`RouteTable::matched_rule`].
    pub fn route(&self, host: &str, path: &str) -> Option<&Route> {
        match self.table.matched_rule(host, path)? {
            Matched::Rule(i) => self.rules.get(i),
            Matched::Default => self.default.as_ref(),
        }
    }
}

/// The resolved table requests read, and the state kept across tables
/// while a table still names its owner.
#[derive(Debug)]
pub struct Registry {
    /// Taken once per table, never per request.
    kept: Mutex<Kept>,
    /// The current table, resolved. A request clones the `Arc` once and
    /// keeps it, as it kept the controller's table before.
    current: watch::Sender<Arc<Resolved>>,
}

#[derive(Debug, Default)]
struct Kept {
    endpoints: HashMap<SocketAddr, Arc<EndpointState>>,
    pickers: HashMap<BalancerKey, Arc<Picker>>,
}

impl Registry {
    /// A registry serving `table`, resolved, counting into `metrics`.
    pub fn new(table: Arc<RouteTable>, metrics: &Metrics) -> Registry {
        let mut kept = Kept::default();
        let first = kept.resolve(table, metrics);
        Registry {
            kept: Mutex::new(kept),
            current: watch::Sender::new(Arc::new(first)),
        }
    }

    /// The resolved table for a request to use.
    pub fn current(&self) -> Arc<Resolved> {
        self.current.borrow().clone()
    }

    /// Resolves the controller's latest table, unless it already is.
    /// Serialised by the lock, and always reading the latest table under
    /// it, so a slow resolution of an older table never replaces a newer one.
    pub fn follow(&self, tables: &watch::Receiver<Arc<RouteTable>>, metrics: &Metrics) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let table = tables.borrow().clone();
        if Arc::ptr_eq(&self.current.borrow().table, &table) {
            return;
        }
        let resolved = kept.resolve(table, metrics);
        self.current.send_replace(Arc::new(resolved));
    }
}

impl Kept {
    // ANCHOR: resolve
    /// `table` with every backend resolved to its handle, and every rule
    /// to its counters in `metrics`. The state of endpoints and balancers
    /// `table` no longer names is forgotten; what it still names keeps
    /// its counts, ejections and cursors.
    fn resolve(&mut self, table: Arc<RouteTable>, metrics: &Metrics) -> Resolved {
        let old = std::mem::take(self);
        let now = Instant::now();
        // Rules share one `Arc<Backend>` per Service port: one handle each.
        let mut handles: HashMap<*const Backend, Arc<BackendHandle>> = HashMap::new();
        let mut handle = |backend: &Arc<Backend>| -> Arc<BackendHandle> {
            let made = handles.entry(Arc::as_ptr(backend)).or_insert_with(|| {
                let states = backend
                    .endpoints
                    .iter()
                    .map(|e| {
                        let state = old.endpoints.get(&e.address).cloned();
                        let state = state.unwrap_or_else(|| Arc::new(EndpointState::new(now)));
                        self.endpoints.insert(e.address, state.clone());
                        state
                    })
                    .collect();
                let key = (
                    backend.service.clone(),
                    backend.port.clone(),
                    backend.algorithm,
                );
                let picker = old.pickers.get(&key).cloned();
                let picker = picker.unwrap_or_else(|| Arc::new(Picker::new(backend.algorithm)));
                self.pickers.insert(key, picker.clone());
                Arc::new(BackendHandle {
                    backend: backend.clone(),
                    service: backend.service.as_str().into(),
                    states,
                    picker,
                    latency: metrics.upstream(&backend.service),
                })
            });
            made.clone()
        };
        let route = |ingress: &str, backend: Arc<BackendHandle>| Route {
            ingress: ingress.into(),
            requests: metrics.requests(ingress, &backend.service),
            backend,
        };
        let rules = table
            .rules
            .iter()
            .map(|r| route(&r.ingress, handle(&r.backend)))
            .collect();
        let default = table.default_backend.as_ref().map(|b| {
            let ingress = table.default_ingress.as_deref().unwrap_or("-");
            route(ingress, handle(b))
        });
        Resolved {
            table,
            rules,
            default,
        }
    }
    // ANCHOR_END: resolve
}

// ANCHOR: picker
/// A balancer's state as every worker shares it. The pickers of
/// `balance` are pure functions of a cursor; here the cursor is an atomic,
/// moved by compare-and-swap, so two workers picking at once each get a
/// turn of their own and neither waits. Smooth weighted round robin keeps
/// one current weight per endpoint, too many numbers to swap at once: it
/// keeps a lock, held for the few additions of one pick.
#[derive(Debug)]
pub enum Picker {
    /// Round robin, and both least connections (whose cursor breaks ties).
    Cursor {
        algorithm: Algorithm,
        next: AtomicUsize,
    },
    Smooth(Mutex<SmoothWeighted>),
}

impl Picker {
    pub fn new(algorithm: Algorithm) -> Picker {
        match algorithm {
            Algorithm::WeightedRoundRobin => Picker::Smooth(Mutex::default()),
            _ => Picker::Cursor {
                algorithm,
                next: AtomicUsize::new(0),
            },
        }
    }

    /// The index of the candidate to send the next request to.
    pub fn pick(&self, candidates: &[Candidate]) -> Option<usize> {
        match self {
            Picker::Cursor { algorithm, next } => {
                let pick = match algorithm {
                    Algorithm::LeastConnections => least_connections,
                    Algorithm::WeightedLeastConnections => weighted_least_connections,
                    _ => round_robin,
                };
                let mut chosen = None;
                // Retried only if another worker moved the cursor meanwhile.
                let _ = next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mut cursor| {
                    chosen = pick(&mut cursor, candidates);
                    chosen.map(|_| cursor)
                });
                chosen
            }
            Picker::Smooth(state) => state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pick(candidates),
        }
    }
}
// ANCHOR_END: picker

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Endpoint, HostMatch, PathType, Rule};

    fn table(addresses: &[&str], algorithm: Algorithm) -> Arc<RouteTable> {
        let endpoints = addresses
            .iter()
            .map(|a| Endpoint {
                address: a.parse().unwrap(),
                weight: 1,
            })
            .collect();
        let backend = Arc::new(Backend {
            service: "default/web".into(),
            port: "80".into(),
            algorithm,
            endpoints,
        });
        let rule = |path: &str| Rule {
            ingress: "default/web".into(),
            host: HostMatch::Any,
            path: path.into(),
            path_type: PathType::Prefix,
            backend: backend.clone(),
        };
        Arc::new(RouteTable {
            rules: vec![rule("/a"), rule("/")],
            ..RouteTable::default()
        })
    }

    #[test]
    fn rules_sharing_a_backend_share_one_handle() {
        let mut kept = Kept::default();
        let resolved = kept.resolve(
            table(&["10.0.0.1:80"], Algorithm::RoundRobin),
            &Metrics::default(),
        );
        let a = resolved.route("x", "/a").unwrap();
        let root = resolved.route("x", "/b").unwrap();
        assert!(Arc::ptr_eq(&a.backend, &root.backend));
        assert_eq!(&*a.ingress, "default/web");
    }

    #[test]
    fn state_survives_a_new_table_while_it_names_the_endpoint() {
        let (mut kept, metrics) = (Kept::default(), Metrics::default());
        let first = kept.resolve(
            table(&["10.0.0.1:80", "10.0.0.2:80"], Algorithm::RoundRobin),
            &metrics,
        );
        let handle = &first.route("x", "/").unwrap().backend;
        let _busy = handle.states[1].start();
        let second = kept.resolve(table(&["10.0.0.2:80"], Algorithm::RoundRobin), &metrics);
        let handle = &second.route("x", "/").unwrap().backend;
        assert_eq!(handle.states[0].in_flight(), 1);
        // 10.0.0.1 left the table: a new one starts from nothing.
        let third = kept.resolve(table(&["10.0.0.1:80"], Algorithm::RoundRobin), &metrics);
        let handle = &third.route("x", "/").unwrap().backend;
        assert!(!Arc::ptr_eq(
            &handle.states[0],
            &first.rules[0].backend.states[0]
        ));
    }

    #[test]
    fn a_route_counts_into_its_ingress_and_service_across_tables() {
        let (mut kept, metrics) = (Kept::default(), Metrics::default());
        let first = kept.resolve(table(&["10.0.0.1:80"], Algorithm::RoundRobin), &metrics);
        let route = first.route("x", "/a").unwrap();
        assert!(Arc::ptr_eq(
            &route.requests,
            &first.route("x", "/b").unwrap().requests
        ));
        route.requests.count(200);
        route
            .backend
            .latency
            .observe(std::time::Duration::from_millis(1));
        let second = kept.resolve(table(&["10.0.0.2:80"], Algorithm::RoundRobin), &metrics);
        let route = second.route("x", "/a").unwrap();
        route.requests.count(200);
        assert_eq!(route.requests.by_code()[&200], 2);
        assert_eq!(route.backend.latency.snapshot().count(), 1);
        let text = metrics.render();
        let line = "{ingress=\"default/web\",service=\"default/web\",code=\"200\"} 2\n";
        assert!(text.contains(line), "{text}");
    }

    #[test]
    fn the_cursor_is_one_rotation_for_every_caller() {
        let picker = Picker::new(Algorithm::RoundRobin);
        let all = [Candidate {
            weight: 1,
            in_flight: 0,
            available: true,
        }; 3];
        let picks: Vec<_> = (0..6).map(|_| picker.pick(&all).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        let none = [Candidate {
            available: false,
            ..all[0]
        }];
        assert_eq!(picker.pick(&none), None);
    }
}
