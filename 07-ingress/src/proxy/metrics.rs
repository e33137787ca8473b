//! The proxy's `/metrics`: requests by Ingress, Service and status code
//! (ingress-nginx's `nginx_ingress_controller_requests` has the same
//! three), and how long backends took to answer.
//!
//! Every request is counted, by every worker thread at once, so counting
//! must cost next to nothing. The first version kept all the counters in
//! maps under one `Mutex`: per request a lock taken twice and five map
//! lookups by string. Here the counters are atomics, and a request
//! reaches its own without a lookup: when a table arrives, each route is
//! resolved (`backends.rs`) to the [`RequestCounts`] of its Ingress and
//! Service and each backend to its latency histogram, so counting follows
//! a pointer and adds one. The lock is taken once per label set, the
//! first time a table names it, and by `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use orc_client::prometheus::{AtomicHistogram, header, histogram, sample};

/// Upstream latency buckets, in seconds: from a fast in-cluster hop to a
/// request near the timeout.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label a request without a rule (or without a Service) gets.
const NONE: &str = "-";

/// Every counter the proxy keeps.
#[derive(Debug)]
pub struct Metrics {
    /// Every label set counted so far, for `/metrics`. A std `Mutex`,
    /// taken when a table is resolved and when `/metrics` is read, never
    /// per request. Label sets are never forgotten: a counter must not
    /// go back to zero while Prometheus scrapes it.
    families: Mutex<Families>,
    /// The answers no rule matched (404, or 308 to HTTPS), labelled `-`.
    unrouted: Arc<RequestCounts>,
}

#[derive(Debug, Default)]
struct Families {
    /// By `namespace/ingress` and `namespace/service`.
    requests: BTreeMap<(String, String), Arc<RequestCounts>>,
    /// Time to the backend's response headers, by Service.
    upstream: BTreeMap<String, Arc<AtomicHistogram>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let unrouted = Arc::new(RequestCounts::default());
        let mut families = Families::default();
        let key = (NONE.to_string(), NONE.to_string());
        families.requests.insert(key, unrouted.clone());
        Metrics {
            families: Mutex::new(families),
            unrouted,
        }
    }
}

impl Metrics {
    /// The counters of requests routed by `ingress` to `service`, made
    /// the first time they are asked for.
    pub fn requests(&self, ingress: &str, service: &str) -> Arc<RequestCounts> {
        let mut families = self.lock();
        let key = (ingress.to_string(), service.to_string());
        families.requests.entry(key).or_default().clone()
    }

    /// The counters of requests that matched no rule.
    pub fn unrouted(&self) -> &RequestCounts {
        &self.unrouted
    }

    /// The histogram of how long backends of `service` take to answer.
    pub fn upstream(&self, service: &str) -> Arc<AtomicHistogram> {
        let mut families = self.lock();
        let histogram = families
            .upstream
            .entry(service.to_string())
            .or_insert_with(|| Arc::new(AtomicHistogram::new(BUCKETS)));
        histogram.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Families> {
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Prometheus' text format. Label sets and Services with nothing
    /// counted yet are left out.
    pub fn render(&self) -> String {
        let families = self.lock();
        let mut out = String::new();
        let name = "orc_ingress_requests_total";
        header(
            &mut out,
            name,
            "Requests answered, by Ingress, backend Service and status code.",
            "counter",
        );
        for ((ingress, service), counts) in &families.requests {
            for (code, n) in counts.by_code() {
                sample(
                    &mut out,
                    name,
                    &format!("ingress=\"{ingress}\",service=\"{service}\",code=\"{code}\""),
                    n,
                );
            }
        }
        let name = "orc_ingress_upstream_duration_seconds";
        header(
            &mut out,
            name,
            "Time from sending a request to a backend to its response headers.",
            "histogram",
        );
        for (service, h) in &families.upstream {
            let h = h.snapshot();
            if h.count() > 0 {
                histogram(&mut out, name, &format!("service=\"{service}\""), &h);
            }
        }
        out
    }
}

/// Status codes counted in slots of their own; a label set seldom sees
/// more (200, 304, 404, 502, ...).
const SLOTS: usize = 8;

// ANCHOR: request_counts
/// Requests of one label set, by status code. The first [`SLOTS`] codes
/// seen each get a slot, claimed by compare-and-swap: counting one is a
/// few loads and one atomic addition, from any thread, with no lock.
/// Codes beyond them are counted under a lock.
#[derive(Debug, Default)]
pub struct RequestCounts {
    slots: [CodeSlot; SLOTS],
    others: Mutex<BTreeMap<u16, u64>>,
}

#[derive(Debug, Default)]
struct CodeSlot {
    /// The status code this slot counts; 0 while it is free.
    code: AtomicU16,
    count: AtomicU64,
}

impl RequestCounts {
    /// Counts one request answered with `code`.
    pub fn count(&self, code: u16) {
        for slot in &self.slots {
            let mut held = slot.code.load(Ordering::Relaxed);
            if held == 0 {
                // Free: claim it, unless another thread just has (for
                // this code or another).
                held =
                    match slot
                        .code
                        .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed)
                    {
                        Ok(_) => code,
                        Err(claimed) => claimed,
                    };
            }
            if held == code {
                slot.count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        *others.entry(code).or_default() += 1;
    }

    /// The counts so far, by code; codes with none are left out.
    pub fn by_code(&self) -> BTreeMap<u16, u64> {
        let mut counts = self
            .others
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for slot in &self.slots {
            let (code, n) = (
                slot.code.load(Ordering::Relaxed),
                slot.count.load(Ordering::Relaxed),
            );
            if code != 0 && n > 0 {
                counts.insert(code, n);
            }
        }
        counts
    }
}
// ANCHOR_END: request_counts

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn codes_past_the_slots_are_counted_too() {
        let counts = RequestCounts::default();
        let codes: Vec<u16> = (200..200 + 2 * SLOTS as u16).collect();
        for (i, code) in codes.iter().enumerate() {
            for _ in 0..=i {
                counts.count(*code);
            }
        }
        let expected: BTreeMap<u16, u64> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as u64 + 1))
            .collect();
        assert_eq!(counts.by_code(), expected);
    }

    #[test]
    fn threads_counting_at_once_lose_no_request() {
        let counts = Arc::new(RequestCounts::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let counts = counts.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u16 {
                        // Every thread races for the same free slots.
                        counts.count(200 + (i + t) % 12);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let by_code = counts.by_code();
        assert_eq!(by_code.len(), 12, "{by_code:?}");
        assert_eq!(by_code.values().sum::<u64>(), 40_000);
    }

    #[test]
    fn render_shows_what_was_counted_and_only_that() {
        let metrics = Metrics::default();
        let web = metrics.requests("default/web", "default/api");
        assert!(Arc::ptr_eq(
            &web,
            &metrics.requests("default/web", "default/api")
        ));
        web.count(200);
        web.count(200);
        metrics.unrouted().count(404);
        metrics.requests("default/idle", "default/idle");
        metrics
            .upstream("default/api")
            .observe(Duration::from_micros(300));
        metrics.upstream("default/idle");
        let text = metrics.render();
        for line in [
            "orc_ingress_requests_total{ingress=\"-\",service=\"-\",code=\"404\"} 1\n",
            "orc_ingress_requests_total{ingress=\"default/web\",service=\"default/api\",code=\"200\"} 2\n",
            "orc_ingress_upstream_duration_seconds_bucket{service=\"default/api\",le=\"0.0005\"} 1\n",
            "orc_ingress_upstream_duration_seconds_count{service=\"default/api\"} 1\n",
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
        assert!(!text.contains("default/idle"), "{text}");
    }
}
