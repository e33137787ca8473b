//! `/metrics`: request counts and latencies in Prometheus' text format.
//!
//! Kubernetes' `apiserver_request_total{verb,resource,code}` and
//! `apiserver_request_duration_seconds` are the first graphs anyone opens
//! when a cluster is slow. orc keeps the same names and labels, with a
//! small fixed set of histogram buckets, and renders the text format by
//! hand: it is a few lines, and students see exactly what Prometheus reads.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[0.005, 0.025, 0.1, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    /// Cumulative counts per bucket, as Prometheus expects.
    buckets: [u64; 6],
    sum: f64,
    count: u64,
}

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
        let h = inner.latency.entry((verb, resource)).or_default();
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests by verb, resource and HTTP code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), n) in &inner.requests {
            let _ = writeln!(
                out,
                "apiserver_request_total{{verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP apiserver_request_duration_seconds Request latency by verb and resource.\n",
        );
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), h) in &inner.latency {
            let labels = format!("verb=\"{verb}\",resource=\"{resource}\"");
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
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
