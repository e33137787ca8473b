//! The arithmetic of a rolling update, as pure functions.
//!
//! A rolling update replaces pods of the old ReplicaSets with pods of the
//! new one in steps, within two bounds from `spec.strategy.rollingUpdate`:
//!
//! - `maxSurge`: how many pods *above* `spec.replicas` may exist at once
//!   (so the new ReplicaSet can grow before old ones shrink);
//! - `maxUnavailable`: how many pods *below* `spec.replicas` may be
//!   unavailable at once (so old ones can shrink before new pods are
//!   ready).
//!
//! Each reconcile grows the new ReplicaSet as far as the surge allows, and
//! shrinks old ones as far as availability allows; the ReplicaSets' status
//! changes queue the Deployment again, until only the new one is left.

use serde_json::Value;

// ANCHOR: fenceposts
/// `maxSurge` and `maxUnavailable` as pod counts for `desired` replicas:
/// a percentage rounds up for the surge and down for unavailability, and
/// both being 0 would stall the rollout, so unavailability is then 1
/// (Kubernetes' `ResolveFenceposts`).
pub fn fenceposts(rolling_update: Option<&Value>, desired: i64) -> (i64, i64) {
    let field = |name| rolling_update.and_then(|r| r.get(name));
    let surge = resolve(field("maxSurge"), desired, true).unwrap_or((desired * 25 + 99) / 100);
    let unavailable =
        resolve(field("maxUnavailable"), desired, false).unwrap_or(desired * 25 / 100);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}
// ANCHOR_END: fenceposts

/// An `IntOrString`: `3`, or `"25%"` of `total`, rounded up or down
/// (DaemonSets resolve their bounds with it too).
pub fn resolve(value: Option<&Value>, total: i64, round_up: bool) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.trim().parse().ok()?;
            let scaled = total * percent;
            Some(if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            })
        }
        _ => None,
    }
}

// ANCHOR: new_replicas
/// How many replicas the new ReplicaSet should have now: `desired` once it
/// has that many or more, else as many more as the surge leaves room for
/// (`all`: the replicas of every ReplicaSet, new one included).
pub fn new_replicas(desired: i64, max_surge: i64, all: i64, current: i64) -> i64 {
    if current >= desired {
        return desired;
    }
    let room = desired + max_surge - all;
    if room <= 0 {
        return current;
    }
    current + room.min(desired - current)
}
// ANCHOR_END: new_replicas

/// One ReplicaSet, as the rolling update sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    /// `spec.replicas`.
    pub wanted: i64,
    /// `status.availableReplicas`.
    pub available: i64,
}

// ANCHOR: scale_down_old
/// The new `spec.replicas` of each old ReplicaSet (given oldest first), so
/// that at least `desired - max_unavailable` pods stay available. Pods
/// that are not available anyway go first (they cost no availability);
/// then available ones, oldest ReplicaSet first.
pub fn scale_down_old(
    desired: i64,
    max_unavailable: i64,
    new: Replicas,
    old: &[Replicas],
) -> Vec<i64> {
    let mut next: Vec<i64> = old.iter().map(|r| r.wanted).collect();
    let old_total: i64 = next.iter().sum();
    if old_total == 0 {
        return next;
    }
    let all = old_total + new.wanted;
    let min_available = desired - max_unavailable;
    let new_unavailable = (new.wanted - new.available).max(0);
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return next;
    }
    // 1. Unavailable old pods: removing them loses nothing.
    let mut cleaned = 0;
    for (i, rs) in old.iter().enumerate() {
        let unhealthy = (next[i] - rs.available).max(0);
        let step = unhealthy.min(max_scaled_down - cleaned);
        next[i] -= step;
        cleaned += step;
    }
    // 2. Available old pods, as long as enough stay available.
    let available: i64 = new.available + old.iter().map(|r| r.available).sum::<i64>();
    let mut budget = available - min_available;
    for wanted in next.iter_mut() {
        if budget <= 0 {
            break;
        }
        let step = (*wanted).min(budget);
        *wanted -= step;
        budget -= step;
    }
    next
}
// ANCHOR_END: scale_down_old

/// An active ReplicaSet (one with replicas) of a Deployment being resized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// `spec.replicas`.
    pub replicas: i64,
    /// The Deployment's `replicas + maxSurge` when this ReplicaSet was last
    /// sized (its `deployment.kubernetes.io/max-replicas`), if recorded.
    pub max_before: Option<i64>,
}

// ANCHOR: proportional
/// The new `spec.replicas` of each active ReplicaSet (given oldest first)
/// when their Deployment is resized to `desired` in the middle of a
/// rollout: the difference between the pods allowed now (`desired +
/// max_surge`) and those there are is shared out in proportion to each
/// ReplicaSet's size, so the rollout keeps the same mix of old and new
/// (Kubernetes' proportional scaling). The biggest ReplicaSets go first,
/// between equals the newest when growing and the oldest when shrinking,
/// and the first one takes what rounding left over. `fallback` stands in
/// for a missing `max_before` (Kubernetes uses `status.replicas`).
pub fn proportional(desired: i64, max_surge: i64, sets: &[Share], fallback: i64) -> Vec<i64> {
    let mut sizes: Vec<i64> = sets.iter().map(|s| s.replicas).collect();
    let allowed = if desired > 0 { desired + max_surge } else { 0 };
    let to_add = allowed - sizes.iter().sum::<i64>();
    if to_add == 0 {
        return sizes;
    }
    let mut order: Vec<usize> = (0..sets.len()).collect();
    order.sort_by(|&a, &b| {
        let equals = if to_add > 0 { b.cmp(&a) } else { a.cmp(&b) };
        sets[b].replicas.cmp(&sets[a].replicas).then(equals)
    });
    let mut added = 0;
    for &i in &order {
        let left = to_add - added;
        let share = share_of(sets[i], allowed, fallback);
        let step = match () {
            _ if sets[i].replicas == 0 || left == 0 => 0,
            _ if to_add > 0 => share.min(left),
            _ => share.max(left),
        };
        sizes[i] += step;
        added += step;
    }
    if let Some(&first) = order.first() {
        sizes[first] = (sizes[first] + to_add - added).max(0);
    }
    sizes
}

/// How many replicas `set` gains (or, negative, loses) to keep its
/// proportion when the pods allowed go from its `max_before` to `allowed`.
fn share_of(set: Share, allowed: i64, fallback: i64) -> i64 {
    if allowed == 0 {
        return -set.replicas; // down to zero: everything goes
    }
    let before = set.max_before.filter(|&m| m > 0).unwrap_or(fallback);
    if before <= 0 {
        return 0; // nothing to compare with: the leftover goes to the biggest
    }
    // replicas * allowed / before, rounded half away from zero.
    (2 * set.replicas * allowed + before) / (2 * before) - set.replicas
}
// ANCHOR_END: proportional

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentages_round_like_kubernetes() {
        let r = json!({"maxSurge": "25%", "maxUnavailable": "25%"});
        assert_eq!(fenceposts(Some(&r), 10), (3, 2));
        assert_eq!(fenceposts(Some(&r), 1), (1, 0));
        let counts = json!({"maxSurge": 0, "maxUnavailable": 0});
        assert_eq!(
            fenceposts(Some(&counts), 4),
            (0, 1),
            "a rollout must be able to move"
        );
        assert_eq!(fenceposts(None, 4), (1, 1), "the defaults are 25% each");
    }

    #[test]
    fn the_new_replicaset_grows_within_the_surge() {
        // 4 wanted, surge 1: 4 old + 0 new may become 4 + 1.
        assert_eq!(new_replicas(4, 1, 4, 0), 1);
        // All room used: wait for old ones to shrink.
        assert_eq!(new_replicas(4, 1, 5, 1), 1);
        assert_eq!(new_replicas(4, 1, 3, 1), 3);
        assert_eq!(new_replicas(4, 1, 1, 0), 4, "never more than desired");
        assert_eq!(new_replicas(4, 1, 6, 6), 4, "scaled down to desired");
    }

    #[test]
    fn old_replicasets_shrink_as_far_as_availability_allows() {
        let rs = |wanted, available| Replicas { wanted, available };
        // 4 wanted, 1 may be unavailable: of 4 available old pods, 1 may go.
        assert_eq!(scale_down_old(4, 1, rs(1, 0), &[rs(4, 4)]), vec![3]);
        // Unavailable old pods go first and cost nothing, but only as many
        // as the surge added (4 + 1 pods, 3 must stay).
        assert_eq!(scale_down_old(4, 1, rs(1, 0), &[rs(4, 2)]), vec![3]);
        assert_eq!(
            scale_down_old(4, 1, rs(2, 2), &[rs(4, 2)]),
            vec![1],
            "2 unavailable, then 1 available"
        );
        // The new pods are available: more old ones may go.
        assert_eq!(scale_down_old(4, 1, rs(2, 2), &[rs(3, 3)]), vec![1]);
        // Oldest first, across several old ReplicaSets.
        assert_eq!(
            scale_down_old(4, 1, rs(2, 2), &[rs(1, 1), rs(2, 2)]),
            vec![0, 1]
        );
        assert_eq!(scale_down_old(4, 1, rs(4, 4), &[rs(0, 0)]), vec![0]);
    }

    /// ReplicaSets of these `(replicas, max_before)`, oldest first.
    fn sets(sizes: &[(i64, Option<i64>)]) -> Vec<Share> {
        let share = |&(replicas, max_before)| Share {
            replicas,
            max_before,
        };
        sizes.iter().map(share).collect()
    }

    #[test]
    fn a_resize_mid_rollout_keeps_the_mix_of_old_and_new() {
        // 10 replicas, surge 3: old 8 and new 5 fill the 13 allowed. Scaled
        // to 20 (surge 5, so 25 allowed): both grow by 25/13.
        let stalled = sets(&[(8, Some(13)), (5, Some(13))]);
        assert_eq!(proportional(20, 5, &stalled, 13), vec![15, 10]);
        // Back down to 10: both shrink by 13/25 of their size.
        let grown = sets(&[(15, Some(25)), (10, Some(25))]);
        assert_eq!(proportional(10, 3, &grown, 25), vec![8, 5]);
        assert_eq!(proportional(0, 0, &grown, 25), vec![0, 0], "to zero");
        assert_eq!(proportional(20, 5, &grown, 25), vec![15, 10], "unchanged");
    }

    #[test]
    fn leftovers_go_to_the_first_in_line_and_ties_follow_the_direction() {
        let equals = sets(&[(2, Some(4)), (2, Some(4))]);
        // Growing from 4 allowed to 5: 2 * 5/4 = 2.5 rounds to 3 for the
        // newest of two equals, which uses up the one pod to add.
        assert_eq!(proportional(4, 1, &equals, 4), vec![2, 3]);
        // Shrinking from 4 to 3: 2 * 3/4 = 1.5 rounds back to 2 for both,
        // and the pod to remove is the leftover of the first in line, the
        // oldest of the two.
        assert_eq!(proportional(2, 1, &equals, 4), vec![1, 2]);
        // No max-replicas recorded: the fallback stands in for it; without
        // one either, the biggest takes the whole difference.
        let bare = sets(&[(8, None), (5, None)]);
        assert_eq!(proportional(20, 5, &bare, 13), vec![15, 10]);
        assert_eq!(proportional(20, 5, &bare, 0), vec![20, 5]);
    }
}
