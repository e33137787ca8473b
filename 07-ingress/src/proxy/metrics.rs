//! The proxy's `/metrics`: requests by Ingress, Service and status code
//! (ingress-nginx's `nginx_ingress_controller_requests` has the same
//! three), and how long backends took to answer.

use std::collections::BTreeMap;
use std::sync::Mutex;

use orc_client::prometheus::{Histogram, header, histogram, sample};

/// Upstream latency buckets, in seconds: from a fast in-cluster hop to a
/// request near the timeout.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The counters. A std `Mutex`: each request holds it for one map update.
///
/// The maps are nested, one level per label, so that counting a request
/// whose labels are already there looks them up by `&str` and allocates
/// nothing; a key is copied into a `String` only the first time it is seen.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By `namespace/ingress`, then `namespace/service` (each `-` when no
    /// rule matched), then status code.
    requests: BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>,
    /// Time to the backend's response headers, by Service.
    upstream: BTreeMap<String, Histogram>,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, ingress: &str, service: &str, code: u16) {
        let mut inner = self.inner.lock().unwrap();
        let services = entry(&mut inner.requests, ingress, BTreeMap::new);
        let codes = entry(services, service, BTreeMap::new);
        *codes.entry(code).or_default() += 1;
    }

    /// Records how long a backend of `service` took to answer.
    pub fn upstream(&self, service: &str, seconds: f64) {
        let mut inner = self.inner.lock().unwrap();
        entry(&mut inner.upstream, service, || Histogram::new(BUCKETS)).observe(seconds);
    }

    /// Prometheus' text format.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap();
        let mut out = String::new();
        let name = "orc_ingress_requests_total";
        header(
            &mut out,
            name,
            "Requests answered, by Ingress, backend Service and status code.",
            "counter",
        );
        for (ingress, services) in &inner.requests {
            for (service, codes) in services {
                for (code, n) in codes {
                    sample(
                        &mut out,
                        name,
                        &format!("ingress=\"{ingress}\",service=\"{service}\",code=\"{code}\""),
                        n,
                    );
                }
            }
        }
        let name = "orc_ingress_upstream_duration_seconds";
        header(
            &mut out,
            name,
            "Time from sending a request to a backend to its response headers.",
            "histogram",
        );
        for (service, h) in &inner.upstream {
            histogram(&mut out, name, &format!("service=\"{service}\""), h);
        }
        out
    }
}

/// The value under `key`, inserted by `new` if missing. `BTreeMap::entry`
/// wants an owned key, which would allocate a `String` per request.
fn entry<'a, V>(map: &'a mut BTreeMap<String, V>, key: &str, new: impl FnOnce() -> V) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), new());
    }
    map.get_mut(key).expect("inserted above")
}
