//! What the watch cache answered, under Kubernetes' metric names, so an
//! operator (and a test) can tell a LIST served from memory from one
//! that read etcd.
//!
//! - `apiserver_cache_list_total{resource_prefix, index}`: LISTs served
//!   from the cache (`index` is always empty: orc's cache has no
//!   indexes, as Kubernetes' has for pods by node name);
//! - `apiserver_watch_cache_consistent_read_total{resource, success,
//!   fallback}`: consistent LISTs (no `resourceVersion`) the cache was
//!   asked for, `fallback="true"` when it could not prove itself fresh in
//!   time and etcd answered instead;
//! - `apiserver_watch_cache_resource_version{resource}`: the revision
//!   each cache has reached (0 while it fills);
//! - orc's own gauges of what each cache and its feed's ring buffer
//!   hold: `orc_watch_cache_objects`, `orc_watch_cache_bytes` (keys as held and
//!   stored values), `orc_watch_buffer_events`, `orc_watch_buffer_bytes`
//!   and `orc_watch_buffer_shared_bytes` (values the cache holds too, one
//!   allocation for both), each `{resource}`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use orc_client::prometheus;

/// The counters, shared by every request.
#[derive(Debug, Default)]
pub struct CacheMetrics {
    /// Resource plural → LISTs served from its cache. std's Mutex: held
    /// for one increment or one render.
    lists: Mutex<BTreeMap<&'static str, u64>>,
    /// (resource plural, fell back to etcd) → consistent reads.
    consistent: Mutex<BTreeMap<(&'static str, bool), u64>>,
}

impl CacheMetrics {
    /// Counts one LIST answered from the cache of `resource`.
    pub fn served(&self, resource: &'static str) {
        *self
            .lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(resource)
            .or_default() += 1;
    }

    /// Counts one consistent read: from the cache, or from etcd after all.
    pub fn consistent_read(&self, resource: &'static str, fallback: bool) {
        *self
            .consistent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((resource, fallback))
            .or_default() += 1;
    }

    /// The metrics in Prometheus' text format; `revisions` is each
    /// cache's resource and revision.
    pub fn render(&self, revisions: &[(&'static str, i64)]) -> String {
        let mut out = String::new();
        let name = "apiserver_cache_list_total";
        prometheus::header(
            &mut out,
            name,
            "Number of LIST requests served from watch cache",
            "counter",
        );
        for (resource, n) in self.lists.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let labels = format!("resource_prefix=\"/{resource}\",index=\"\"");
            prometheus::sample(&mut out, name, &labels, n);
        }
        let name = "apiserver_watch_cache_consistent_read_total";
        prometheus::header(
            &mut out,
            name,
            "Counter for consistent reads from cache.",
            "counter",
        );
        let consistent = self.consistent.lock().unwrap_or_else(|p| p.into_inner());
        for ((resource, fallback), n) in consistent.iter() {
            let labels =
                format!("resource=\"{resource}\",success=\"true\",fallback=\"{fallback}\"");
            prometheus::sample(&mut out, name, &labels, n);
        }
        let name = "apiserver_watch_cache_resource_version";
        prometheus::header(
            &mut out,
            name,
            "Current resource version of watch cache broken by resource type.",
            "gauge",
        );
        for (resource, revision) in revisions {
            prometheus::sample(
                &mut out,
                name,
                &format!("resource=\"{resource}\""),
                revision,
            );
        }
        out
    }
}

/// One gauge: its name, its help, and how it reads a [`super::Held`].
type Gauge = (&'static str, &'static str, fn(&super::Held) -> usize);

/// orc's gauges of what each cache holds (see the module's list).
pub fn render_held(held: &[(&'static str, super::Held)]) -> String {
    let mut out = String::new();
    let gauges: [Gauge; 5] = [
        (
            "orc_watch_cache_objects",
            "Objects in the watch cache.",
            |h| h.objects,
        ),
        (
            "orc_watch_cache_bytes",
            "Bytes of the watch cache's keys and stored values.",
            |h| h.cache,
        ),
        (
            "orc_watch_buffer_events",
            "Events in the ring buffer of the watch cache's feed.",
            |h| h.events,
        ),
        ("orc_watch_buffer_bytes", "Bytes of those events.", |h| {
            h.buffer
        }),
        (
            "orc_watch_buffer_shared_bytes",
            "Bytes of the ring buffer's values the watch cache holds too (one allocation).",
            |h| h.shared,
        ),
    ];
    for (name, help, value) in gauges {
        prometheus::header(&mut out, name, help, "gauge");
        for (resource, held) in held {
            prometheus::sample(
                &mut out,
                name,
                &format!("resource=\"{resource}\""),
                value(held),
            );
        }
    }
    out
}
