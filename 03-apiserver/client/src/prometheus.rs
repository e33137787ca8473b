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
