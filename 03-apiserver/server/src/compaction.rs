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
//! it. orc does the same: [`Compactor`] decides (pure), [`Maintenance`]
//! acts, and [`run`] calls it once an interval on an injected clock.
//! Compaction frees space *inside* etcd's file for new writes; the file
//! itself shrinks only by defragmentation, which [`Maintenance`] does
//! after a compaction when `defrag.rs` says it is due (or an operator,
//! with `orc etcd defrag`).
//!
//! What it leaves out: kube-apiserver coordinates several API servers
//! through a `compact_rev_key` transaction so that only one compacts per
//! interval; two orc API servers on one etcd each compact (the second
//! finds the revision already compacted, which is harmless).

use std::time::Duration;

use orc_client::clock::{SharedClock, SystemClock};

use crate::defrag::{DbSize, Defragmenter};
use crate::storage::Store;

/// kube-apiserver's default `--etcd-compaction-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// `--etcd-compaction-interval`, as kube-apiserver names it, and orc's
/// own `--etcd-defrag-interval`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompactionFlags {
    /// How often etcd is compacted to the revision of one interval ago
    /// (e.g. `5m`); `0` never compacts (leave it to another API server).
    #[arg(long, default_value = "5m", value_parser = crate::limits::parse_duration)]
    pub etcd_compaction_interval: Duration,
    /// The least time between two defragmentations of etcd, each after a
    /// compaction that left at least half of etcd's file free (e.g. `1h`);
    /// `0` never defragments (leave it to `orc etcd defrag`).
    #[arg(long, default_value = "1h", value_parser = crate::limits::parse_duration)]
    pub etcd_defrag_interval: Duration,
}

impl CompactionFlags {
    /// The configuration's `compaction_interval`.
    pub fn interval(&self) -> Option<Duration> {
        Some(self.etcd_compaction_interval).filter(|d| !d.is_zero())
    }

    /// The configuration's `defrag_interval`.
    pub fn defrag_interval(&self) -> Option<Duration> {
        Some(self.etcd_defrag_interval).filter(|d| !d.is_zero())
    }
}

/// The clock etcd's maintenance runs on (a wrapper, so that `Config`
/// stays `Debug`): the system's, or a test's `ManualClock`.
#[derive(Clone)]
pub struct MaintenanceClock(pub SharedClock);

impl Default for MaintenanceClock {
    fn default() -> MaintenanceClock {
        MaintenanceClock(std::sync::Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for MaintenanceClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaintenanceClock")
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

/// What one maintenance pass did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// The revision compacted to, if the pass compacted.
    pub compacted: Option<i64>,
    /// etcd's file size before and after, if the pass defragmented.
    pub defragmented: Option<(i64, i64)>,
    /// Whether the pass disarmed etcd's NOSPACE alarm (after a
    /// defragmentation that gave space back).
    pub disarmed: bool,
}

// ANCHOR: maintenance
/// Compaction and, after it, defragmentation when due: one [`pass`]
/// an interval.
///
/// [`pass`]: Maintenance::pass
pub struct Maintenance {
    store: Store,
    clock: SharedClock,
    compactor: Compactor,
    /// `None`: never defragment.
    defragmenter: Option<Defragmenter>,
}

impl Maintenance {
    /// Maintenance of `store`'s etcd, defragmenting at most once per
    /// `defrag_every` (`None`: never), measured on `clock`.
    pub fn new(store: Store, defrag_every: Option<Duration>, clock: SharedClock) -> Maintenance {
        let now = clock.now();
        Maintenance {
            store,
            defragmenter: defrag_every.map(|every| Defragmenter::new(every, now)),
            clock,
            compactor: Compactor::default(),
        }
    }

    /// One pass: compact to the revision seen a pass ago, then
    /// defragment if the schedule says so. Failures are logged and left
    /// to the next pass (etcd may be restarting).
    pub async fn pass(&mut self) -> Pass {
        let mut pass = Pass::default();
        let current = match self.store.current_revision().await {
            Ok(revision) => revision,
            Err(error) => {
                tracing::warn!(%error, "compaction: reading etcd's revision");
                return pass;
            }
        };
        let Some(target) = self.compactor.tick(current) else {
            return pass;
        };
        let mut client = self.store.client();
        // Physical: answered once the history is dropped from the file,
        // so the free space the defragmenter weighs next is already there.
        let physical = etcd_client::CompactionOptions::new().with_physical();
        match client.compact(target, Some(physical)).await {
            Ok(_) => tracing::debug!(revision = target, "compacted etcd"),
            // Another API server (or an operator) got there first.
            Err(error) if crate::storage::is_compacted(&error) => {}
            Err(error) => {
                tracing::warn!(%error, revision = target, "compacting etcd");
                return pass;
            }
        }
        pass.compacted = Some(target);
        let full = self.nospace_members().await;
        pass.defragmented = self.defragment_if_due(!full.is_empty()).await;
        if let Some((before, after)) = pass.defragmented {
            if !full.is_empty() {
                pass.disarmed = self.disarm(&full, before, after).await;
            }
        }
        pass
    }

    /// The members that raised the NOSPACE alarm (none when etcd cannot
    /// say: the next pass asks again).
    async fn nospace_members(&self) -> Vec<u64> {
        let mut client = self.store.client();
        let get = etcd_client::AlarmAction::Get;
        match client.alarm(get, etcd_client::AlarmType::None, None).await {
            Ok(response) => response
                .alarms()
                .iter()
                .filter(|a| a.alarm() == etcd_client::AlarmType::Nospace)
                .map(|a| a.member_id())
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "listing etcd's alarms");
                Vec::new()
            }
        }
    }

    /// Defragments when the schedule and the file's free space say so,
    /// or at once when etcd is full (`full`: its NOSPACE alarm is
    /// raised, and only a smaller file lets it take writes again): the
    /// file's size before and after.
    async fn defragment_if_due(&mut self, full: bool) -> Option<(i64, i64)> {
        let defragmenter = self.defragmenter.as_mut()?;
        let mut client = self.store.client();
        let status = client.status().await.ok()?;
        let size = DbSize {
            file: status.db_size(),
            in_use: status.raft_used_db_size(),
        };
        let now = self.clock.now();
        if full {
            defragmenter.forced(now);
        } else if !defragmenter.after_compaction(now, size) {
            return None;
        }
        if let Err(error) = client.defragment().await {
            tracing::warn!(%error, "defragmenting etcd");
            return None;
        }
        let after = client.status().await.map(|s| s.db_size()).unwrap_or(-1);
        tracing::info!(before = size.file, after, "defragmented etcd");
        Some((size.file, after))
    }

    /// Disarms the NOSPACE alarm of `members` when the defragmentation
    /// gave space back (`after < before`), as an operator's `etcdctl
    /// alarm disarm` would: etcd takes writes again, and raises the alarm
    /// anew if they fill it (each refused write then says what to do). A
    /// file that did not shrink at all is all live data: disarming could
    /// only fail the next write again, so the pass says so instead.
    async fn disarm(&self, members: &[u64], before: i64, after: i64) -> bool {
        if after < 0 || after >= before {
            tracing::warn!(
                size = before,
                "etcd is full of live data (its NOSPACE alarm stays raised): delete \
                 objects, or restart etcd with a larger --quota-backend-bytes, then run \
                 `orc etcd defrag --compact`"
            );
            return false;
        }
        let mut client = self.store.client();
        for member in members {
            let mut options = etcd_client::AlarmOptions::new();
            options.with_member(*member);
            let deactivate = etcd_client::AlarmAction::Deactivate;
            let nospace = etcd_client::AlarmType::Nospace;
            if let Err(error) = client.alarm(deactivate, nospace, Some(options)).await {
                tracing::warn!(%error, member, "disarming etcd's NOSPACE alarm");
                return false;
            }
        }
        tracing::info!(
            before,
            after,
            "disarmed etcd's NOSPACE alarm: writes are accepted again"
        );
        true
    }
}
// ANCHOR_END: maintenance

/// A [`Maintenance`] pass every `interval` on `clock`, for ever (until
/// the task is dropped).
pub async fn run(mut maintenance: Maintenance, interval: Duration) {
    loop {
        maintenance.clock.sleep(interval).await;
        maintenance.pass().await;
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
