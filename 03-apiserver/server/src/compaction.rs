//! Compaction: forgetting old revisions, as kube-apiserver does.
//!
//! etcd keeps every revision of every key until told to forget: a node's
//! heartbeat alone adds thousands a day, and each costs space (about
//! 830 bytes for a small object) until etcd reaches its quota and refuses
//! every write (the NOSPACE alarm, see `health.rs`). Compacting to a
//! revision drops the history before it; watches and lists that ask for an
//! older revision then get 410 Expired and re-list, which every informer
//! does.
//!
//! kube-apiserver compacts every `--etcd-compaction-interval` (5 minutes)
//! to the revision it saw one interval earlier, so a client that read a
//! resourceVersion always has at least one interval to resume a watch from
//! it. orc does the same: [`Compactor`] decides (pure), [`run`] acts on a
//! timer. Compaction frees space *inside* etcd's file for new writes; the
//! file itself shrinks only by defragmentation (`orc etcd defrag`).
//!
//! What it leaves out: kube-apiserver coordinates several API servers
//! through a `compact_rev_key` transaction so that only one compacts per
//! interval; two orc API servers on one etcd each compact (the second
//! finds the revision already compacted, which is harmless).

use std::time::Duration;

use crate::storage::Store;

/// kube-apiserver's default `--etcd-compaction-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// `--etcd-compaction-interval`, as kube-apiserver names it.
#[derive(Debug, Clone, clap::Args)]
pub struct CompactionFlags {
    /// How often etcd is compacted to the revision of one interval ago
    /// (e.g. `5m`); `0` never compacts (leave it to another API server).
    #[arg(long, default_value = "5m", value_parser = crate::limits::parse_duration)]
    pub etcd_compaction_interval: Duration,
}

impl CompactionFlags {
    /// The configuration's `compaction_interval`.
    pub fn interval(&self) -> Option<Duration> {
        Some(self.etcd_compaction_interval).filter(|d| !d.is_zero())
    }
}

// ANCHOR: compactor
/// Remembers the revision seen at the last tick.
#[derive(Debug, Default)]
pub struct Compactor {
    previous: Option<i64>,
}

impl Compactor {
    /// Called once per interval with etcd's current revision: the revision
    /// to compact to now (the one seen an interval ago), if any.
    pub fn tick(&mut self, current: i64) -> Option<i64> {
        let target = self.previous.filter(|rev| *rev > 0);
        self.previous = Some(current);
        target
    }
}
// ANCHOR_END: compactor

/// Compacts every `interval`, for ever (until the task is dropped).
pub async fn run(store: Store, interval: Duration) {
    let mut compactor = Compactor::default();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let current = match store.current_revision().await {
            Ok(revision) => revision,
            Err(error) => {
                tracing::warn!(%error, "compaction: reading etcd's revision");
                continue;
            }
        };
        let Some(target) = compactor.tick(current) else {
            continue;
        };
        let mut client = store.client();
        match client.compact(target, None).await {
            Ok(_) => tracing::debug!(revision = target, "compacted etcd"),
            // Another API server (or an operator) got there first.
            Err(error) if crate::storage::is_compacted(&error) => {}
            Err(error) => tracing::warn!(%error, revision = target, "compacting etcd"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tick_compacts_to_the_revision_of_the_tick_before() {
        let mut compactor = Compactor::default();
        assert_eq!(compactor.tick(100), None, "nothing seen an interval ago");
        assert_eq!(compactor.tick(250), Some(100));
        assert_eq!(compactor.tick(260), Some(250));
        // Idle: the same revision again is compacted again, harmlessly.
        assert_eq!(compactor.tick(260), Some(260));
    }
}
