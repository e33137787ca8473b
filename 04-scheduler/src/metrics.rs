//! The scheduler's metrics, with kube-scheduler's names and labels:
//!
//! - `scheduler_schedule_attempts_total{profile, result}`: attempts by
//!   outcome, `scheduled`, `unschedulable` or `error`;
//! - `scheduler_e2e_scheduling_duration_seconds{profile, result}`: from
//!   taking a pod off the queue to its binding written (or the attempt
//!   failing), a histogram;
//! - `scheduler_pending_pods{queue}`: pods waiting in the `active`,
//!   `backoff` and `unschedulable` sub-queues (and `gated`, always 0:
//!   orc has no scheduling gates);
//! - `scheduler_events_dropped_total`: orc's own, events not written
//!   because [`crate::events::EventQueue`] was full (kube-scheduler's
//!   event broadcaster drops them the same way, and only logs it).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use orc_client::prometheus::{self, Histogram};

use crate::queue::Pending;

/// kube-scheduler's buckets: 1 ms doubling fifteen times (to 16 s).
const BUCKETS: &[f64] = &[
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384,
];

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attempt {
    Scheduled,
    Unschedulable,
    Error,
}

impl Attempt {
    fn as_str(self) -> &'static str {
        match self {
            Attempt::Scheduled => "scheduled",
            Attempt::Unschedulable => "unschedulable",
            Attempt::Error => "error",
        }
    }
}

/// Counters and histograms.
pub struct Metrics {
    profile: String,
    /// std's Mutex: held for a map update, never across an `.await`.
    inner: Mutex<BTreeMap<Attempt, (u64, Histogram)>>,
    /// Events the full event queue dropped. An atomic: the scheduling
    /// loop counts without taking the lock `render` holds.
    events_dropped: AtomicU64,
}

impl Metrics {
    /// Metrics for the profile named `profile`.
    pub fn new(profile: &str) -> Metrics {
        Metrics {
            profile: profile.to_string(),
            inner: Mutex::new(BTreeMap::new()),
            events_dropped: AtomicU64::new(0),
        }
    }

    /// Counts an event dropped because the event queue was full.
    pub fn event_dropped(&self) {
        self.events_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// How many events were dropped so far.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    /// Records one finished attempt and how long it took.
    pub fn attempt(&self, result: Attempt, elapsed: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (count, histogram) = inner
            .entry(result)
            .or_insert_with(|| (0, Histogram::new(BUCKETS)));
        *count += 1;
        histogram.observe(elapsed.as_secs_f64());
    }

    /// How many attempts ended with `result`.
    pub fn attempts(&self, result: Attempt) -> u64 {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.get(&result).map(|(n, _)| *n).unwrap_or(0)
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self, pending: Pending) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let profile = &self.profile;
        let mut out = String::new();
        let name = "scheduler_schedule_attempts_total";
        prometheus::header(
            &mut out,
            name,
            "Number of attempts to schedule pods, by the result.",
            "counter",
        );
        for result in [Attempt::Scheduled, Attempt::Unschedulable, Attempt::Error] {
            let n = inner.get(&result).map(|(n, _)| *n).unwrap_or(0);
            let labels = format!("profile=\"{profile}\",result=\"{}\"", result.as_str());
            prometheus::sample(&mut out, name, &labels, n);
        }
        let name = "scheduler_e2e_scheduling_duration_seconds";
        prometheus::header(
            &mut out,
            name,
            "E2e scheduling latency in seconds (scheduling algorithm + binding).",
            "histogram",
        );
        for (result, (_, histogram)) in inner.iter() {
            let labels = format!("profile=\"{profile}\",result=\"{}\"", result.as_str());
            prometheus::histogram(&mut out, name, &labels, histogram);
        }
        let name = "scheduler_pending_pods";
        prometheus::header(
            &mut out,
            name,
            "Number of pending pods, by the queue type.",
            "gauge",
        );
        for (queue, n) in [
            ("active", pending.active),
            ("backoff", pending.backoff),
            ("gated", 0),
            ("unschedulable", pending.unschedulable),
        ] {
            prometheus::sample(&mut out, name, &format!("queue=\"{queue}\""), n);
        }
        let name = "scheduler_events_dropped_total";
        prometheus::header(
            &mut out,
            name,
            "Number of events not written because the event queue was full.",
            "counter",
        );
        prometheus::sample(&mut out, name, "", self.events_dropped());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_kube_scheduler_names() {
        let m = Metrics::new("default-scheduler");
        m.attempt(Attempt::Scheduled, Duration::from_millis(3));
        let text = m.render(Pending {
            active: 1,
            backoff: 2,
            unschedulable: 3,
        });
        assert!(text.contains(
            "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 1\n"
        ));
        assert!(text.contains(
            "scheduler_e2e_scheduling_duration_seconds_bucket{profile=\"default-scheduler\",result=\"scheduled\",le=\"0.004\"} 1\n"
        ));
        assert!(text.contains("scheduler_pending_pods{queue=\"unschedulable\"} 3\n"));
    }
}
