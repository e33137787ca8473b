//! Prometheus' text exposition format, written by hand.
//!
//! Every orc server answers `/metrics` (DESIGN.md, decision 9). The format
//! is a few lines per metric, so orc writes it directly and students see
//! exactly what Prometheus reads: a `# HELP` and a `# TYPE` line, then one
//! `name{labels} value` line per sample. A histogram is cumulative
//! buckets (`_bucket{le="0.1"}` counts everything up to 0.1 s), then
//! `_sum` and `_count`. The API server, the scheduler and the controller
//! manager share this.

use std::fmt::{Display, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A latency histogram with fixed bucket bounds (in seconds).
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bound, how many observations were at most that bound.
    cumulative: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            cumulative: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one observation.
    pub fn observe(&mut self, value: f64) {
        for (i, bound) in self.bounds.iter().enumerate() {
            if value <= *bound {
                self.cumulative[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// A latency [`Histogram`] that many threads observe at once without a
/// lock: every bucket is an atomic counter, so an observation is a few
/// integer comparisons and two atomic additions, and `/metrics` takes a
/// [`snapshot`](AtomicHistogram::snapshot). For a hot path shared by
/// threads (orc-ingress counts every proxied request), where a
/// `Mutex<Histogram>` would be a lock per observation.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: &'static [f64],
    /// `bounds` in nanoseconds: an observation compares integers.
    bounds_nanos: Box<[u64]>,
    /// Per bound, observations at most that bound and above the one
    /// before (not cumulative, so one bucket changes per observation);
    /// one more at the end for those above every bound. The count is
    /// their total, so a snapshot's `+Inf` bucket always equals it.
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl AtomicHistogram {
    /// An empty histogram over `bounds` (ascending, in seconds).
    pub fn new(bounds: &'static [f64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            bounds_nanos: bounds.iter().map(|b| (b * 1e9) as u64).collect(),
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        let i = self.bounds_nanos.partition_point(|&bound| bound < nanos);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The observations so far, as a [`Histogram`] to render.
    pub fn snapshot(&self) -> Histogram {
        let mut h = Histogram::new(self.bounds);
        let mut below = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            below += bucket.load(Ordering::Relaxed);
            if let Some(cumulative) = h.cumulative.get_mut(i) {
                *cumulative = below;
            }
        }
        h.count = below;
        h.sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        h
    }
}

/// The `# HELP` and `# TYPE` lines of a metric (`counter`, `gauge`,
/// `histogram`).
pub fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format writes it: backslash, double quote
/// and newline escaped.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One sample; `labels` is `key="value",...` (or empty).
pub fn sample(out: &mut String, name: &str, labels: &str, value: impl Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// The samples of one histogram: buckets, `+Inf`, sum and count.
pub fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let with = |extra: &str| {
        if labels.is_empty() {
            extra.to_string()
        } else {
            format!("{labels},{extra}")
        }
    };
    for (bound, n) in h.bounds.iter().zip(&h.cumulative) {
        sample(
            out,
            &format!("{name}_bucket"),
            &with(&format!("le=\"{bound}\"")),
            n,
        );
    }
    sample(
        out,
        &format!("{name}_bucket"),
        &with("le=\"+Inf\""),
        h.count,
    );
    sample(out, &format!("{name}_sum"), labels, h.sum);
    sample(out, &format!("{name}_count"), labels, h.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape("eu:\0:a"), "eu:\0:a");
    }

    #[test]
    fn an_atomic_histogram_renders_as_a_histogram() {
        let atomic = AtomicHistogram::new(&[0.1, 1.0]);
        let mut h = Histogram::new(&[0.1, 1.0]);
        // A value on a bound counts in that bound's bucket; binary
        // fractions of a second, so that both sums are exact.
        for micros in [62_500, 100_000, 500_000, 1_000_000, 1_500_000] {
            atomic.observe(Duration::from_micros(micros));
            h.observe(micros as f64 / 1e6);
        }
        let (mut a, mut b) = (String::new(), String::new());
        histogram(&mut a, "x_seconds", "", &atomic.snapshot());
        histogram(&mut b, "x_seconds", "", &h);
        let without_sum = |s: &str| -> String {
            s.lines()
                .filter(|l| !l.contains("_sum"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(without_sum(&a), without_sum(&b));
        assert!(a.contains("x_seconds_bucket{le=\"0.1\"} 2\n"), "{a}");
        assert!(a.contains("x_seconds_bucket{le=\"1\"} 4\n"), "{a}");
        assert!(a.contains("x_seconds_bucket{le=\"+Inf\"} 5\n"), "{a}");
        assert!(a.contains("x_seconds_sum 3.1625\n"), "{a}");
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        let mut out = String::new();
        header(&mut out, "x_seconds", "X.", "histogram");
        histogram(&mut out, "x_seconds", "a=\"b\"", &h);
        assert_eq!(
            out,
            "# HELP x_seconds X.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{a=\"b\",le=\"0.1\"} 1\nx_seconds_bucket{a=\"b\",le=\"1\"} 2\n\
             x_seconds_bucket{a=\"b\",le=\"+Inf\"} 2\nx_seconds_sum{a=\"b\"} 0.55\nx_seconds_count{a=\"b\"} 2\n"
        );
    }
}
