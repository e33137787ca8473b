//! Expectations: what a controller is still waiting to see in its cache.
//!
//! A ReplicaSet controller that creates three pods does not see them in its
//! pod cache at once: the creates return before the watch events arrive.
//! Judged again in between (another pod event queued the ReplicaSet), it
//! would count too few pods and create three more. Kubernetes' answer is
//! *expectations*: after acting, the controller records "I expect 3
//! creations" (or "the deletion of these pods"); each pod event that
//! arrives counts one off; and until they are all seen, the ReplicaSet is
//! not scaled again (its status still is). An expectation that is never
//! met (an event lost to a re-list) expires after five minutes, so a
//! controller cannot wedge forever.
//!
//! The order matters: the expectations are read *before* the pods
//! ([`Expectations::satisfied_before`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an unmet expectation holds a key, as in Kubernetes.
pub const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Pending {
    /// Creations not seen yet.
    creations: i64,
    /// Pods (by uid) whose deletion has not been seen yet.
    deletions: HashSet<String>,
    /// When the expectation was set.
    since: Instant,
}

/// The expectations of every key (`namespace/name`) of one controller.
#[derive(Debug, Default)]
pub struct Expectations {
    /// std's Mutex: a few map operations per call, never an `.await`.
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ANCHOR: satisfied
    /// Whether `key` may be scaled now: nothing pending, or the wait timed
    /// out at `now`.
    pub fn satisfied(&self, key: &str, now: Instant) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(p) => {
                (p.creations <= 0 && p.deletions.is_empty())
                    || now.duration_since(p.since) > EXPECTATION_TIMEOUT
            }
        }
    }
    // ANCHOR_END: satisfied

    // ANCHOR: satisfied_before
    /// Whether `key` may act, decided *before* `read` takes its pods from
    /// the cache; answers both.
    ///
    /// Kubernetes' controllers check the expectations before they count
    /// the pods ("otherwise a new pod can sneak in", `syncJob`). The other
    /// way round, a pod the controller created could land in the cache
    /// just after the pods were read and be counted off the expectations
    /// just before they are checked: the controller would then act on a
    /// list without its own pod, and create it a second time. Read in this
    /// order, a pod counted off is already in the cache the read sees.
    pub fn satisfied_before<T>(
        &self,
        key: &str,
        now: Instant,
        read: impl FnOnce() -> T,
    ) -> (bool, T) {
        let may_act = self.satisfied(key, now);
        (may_act, read())
    }
    // ANCHOR_END: satisfied_before

    /// Records that `creations` creates and the deletion of `deletions`
    /// (pod uids) are under way for `key`, from `now`.
    pub fn expect(&self, key: &str, creations: i64, deletions: &[String], now: Instant) {
        self.lock().insert(
            key.to_string(),
            Pending {
                creations,
                deletions: deletions.iter().cloned().collect(),
                since: now,
            },
        );
    }

    /// One created pod of `key` arrived (or one create failed: it never
    /// will).
    pub fn creation_observed(&self, key: &str) {
        if let Some(p) = self.lock().get_mut(key) {
            p.creations -= 1;
        }
    }

    /// The pod with `uid` of `key` is gone or being deleted (or its
    /// delete failed).
    pub fn deletion_observed(&self, key: &str, uid: &str) {
        if let Some(p) = self.lock().get_mut(key) {
            p.deletions.remove(uid);
        }
    }

    /// Forgets `key` (its object is gone).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_waits_until_every_action_is_seen() {
        let e = Expectations::default();
        let t = Instant::now();
        assert!(e.satisfied("ns/web", t), "nothing expected yet");
        e.expect("ns/web", 2, &["old".into()], t);
        assert!(!e.satisfied("ns/web", t));
        e.creation_observed("ns/web");
        e.creation_observed("ns/web");
        assert!(!e.satisfied("ns/web", t), "the deletion is still pending");
        e.deletion_observed("ns/web", "someone-else");
        assert!(!e.satisfied("ns/web", t));
        e.deletion_observed("ns/web", "old");
        assert!(e.satisfied("ns/web", t));
    }

    #[test]
    fn a_pod_landing_while_the_cache_is_read_holds_the_action() {
        // The create of pod "b" is expected. The cache read is the moment
        // the pod lands: the informer stores it and counts it off. Read
        // before the check, the stale list (without "b") would be acted
        // on and "b" created twice; checked first, the key waits.
        let e = Expectations::default();
        let t = Instant::now();
        e.expect("ns/job", 1, &[], t);
        let (may_act, pods) = e.satisfied_before("ns/job", t, || {
            let stale = vec!["a"];
            e.creation_observed("ns/job");
            stale
        });
        assert!(
            !may_act,
            "acted on {pods:?}, which misses the pod it created"
        );
        // The next reconcile sees the pod and may act.
        let (may_act, pods) = e.satisfied_before("ns/job", t, || vec!["a", "b"]);
        assert!(may_act);
        assert_eq!(pods, ["a", "b"]);
    }

    #[test]
    fn an_unmet_expectation_expires() {
        let e = Expectations::default();
        let t = Instant::now();
        e.expect("ns/web", 1, &[], t);
        assert!(!e.satisfied("ns/web", t + Duration::from_secs(60)));
        assert!(e.satisfied("ns/web", t + EXPECTATION_TIMEOUT + Duration::from_secs(1)));
        e.forget("ns/web");
        assert!(e.satisfied("ns/web", t));
    }
}
