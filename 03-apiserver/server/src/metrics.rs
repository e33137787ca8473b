//! `/metrics`: request counts and latencies in Prometheus' text format.
//!
//! Kubernetes' `apiserver_request_total{verb,resource,code}` and
//! `apiserver_request_duration_seconds` are the first graphs anyone opens
//! when a cluster is slow. orc keeps the same names and labels, with a
//! small fixed set of histogram buckets, in the text format written by
//! `orc_client::prometheus` (shared with the scheduler).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use orc_client::prometheus::{self, Histogram};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[0.005, 0.025, 0.1, 0.5, 1.0, 5.0];

/// Counters and histograms, keyed by their labels.
#[derive(Default)]
pub struct Metrics {
    /// std's Mutex: held for a map update, never across an `.await`.
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    latency: BTreeMap<(&'static str, &'static str), Histogram>,
    /// Watches being served now, by verb and resource.
    long_running: BTreeMap<(&'static str, &'static str), u64>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(
        &self,
        verb: &'static str,
        resource: &'static str,
        code: u16,
        elapsed: Duration,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.requests.entry((verb, resource, code)).or_default() += 1;
        inner
            .latency
            .entry((verb, resource))
            .or_insert_with(|| Histogram::new(BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// A long-running request (a watch) began streaming: counted in
    /// `apiserver_longrunning_requests` until [`Metrics::ended`]. (Its
    /// `apiserver_request_total` and duration come when it ends, as in
    /// Kubernetes, so this gauge is what shows watches open now.)
    pub fn started(&self, verb: &'static str, resource: &'static str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.long_running.entry((verb, resource)).or_default() += 1;
    }

    /// A long-running request [`Metrics::started`] ended.
    pub fn ended(&self, verb: &'static str, resource: &'static str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = inner.long_running.get_mut(&(verb, resource)) {
            *n = n.saturating_sub(1);
        }
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let name = "apiserver_request_total";
        prometheus::header(
            &mut out,
            name,
            "Requests by verb, resource and HTTP code.",
            "counter",
        );
        for ((verb, resource, code), n) in &inner.requests {
            let labels = format!("verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"");
            prometheus::sample(&mut out, name, &labels, n);
        }
        let name = "apiserver_request_duration_seconds";
        prometheus::header(
            &mut out,
            name,
            "Request latency by verb and resource.",
            "histogram",
        );
        for ((verb, resource), h) in &inner.latency {
            let labels = format!("verb=\"{verb}\",resource=\"{resource}\"");
            prometheus::histogram(&mut out, name, &labels, h);
        }
        let name = "apiserver_longrunning_requests";
        prometheus::header(
            &mut out,
            name,
            "Long-running requests (watches) being served now, by verb and resource.",
            "gauge",
        );
        for ((verb, resource), n) in &inner.long_running {
            let labels = format!("verb=\"{verb}\",resource=\"{resource}\"");
            prometheus::sample(&mut out, name, &labels, n);
        }
        out
    }
}

/// The range reads LISTs made of etcd, and the keys they fetched:
/// what shows whether a filtered LIST with `limit` reads etcd in a few
/// growing chunks (`handlers/listing.rs`) or in many small ones.
/// (Kubernetes counts the second per resource as
/// `apiserver_storage_list_fetched_objects_total`; orc counts round trips
/// too, under names of its own.)
pub fn storage(store: &crate::storage::Store) -> String {
    let reads = store.list_reads();
    let mut out = String::new();
    let name = "orc_storage_list_requests_total";
    prometheus::header(
        &mut out,
        name,
        "Range reads of etcd made by LISTs.",
        "counter",
    );
    for (resource, requests, _) in &reads {
        prometheus::sample(
            &mut out,
            name,
            &format!("resource=\"{resource}\""),
            requests,
        );
    }
    let name = "orc_storage_list_fetched_objects_total";
    prometheus::header(&mut out, name, "Keys those range reads fetched.", "counter");
    for (resource, _, keys) in &reads {
        prometheus::sample(&mut out, name, &format!("resource=\"{resource}\""), keys);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let m = Metrics::default();
        m.observe("get", "pods", 200, Duration::from_millis(10));
        let text = m.render();
        assert!(
            text.contains("apiserver_request_total{verb=\"get\",resource=\"pods\",code=\"200\"} 1")
        );
        assert!(text.contains("le=\"0.005\"} 0"));
        assert!(text.contains("le=\"0.025\"} 1"));
    }
}
