//! Which node to preempt on, among those where victims were found
//! (Kubernetes' `pickOneNodeForPreemption`), pure.
//!
//! The criteria, each deciding only among the nodes tied on the ones
//! before it:
//!
//! 1. a node that needs no victim at all;
//! 2. the fewest victims that break a PodDisruptionBudget;
//! 3. the lowest priority among each node's most important victim;
//! 4. the smallest sum of victims' priorities (each shifted up by 2³¹ so
//!    that a negative priority still counts as a loss);
//! 5. the fewest victims;
//! 6. the node whose most important victims started *latest* (evicting
//!    recent work loses less);
//! 7. the first.

use crate::framework::Nomination;

/// A node's victims, with the start times of its most important ones.
pub struct Candidate {
    pub nomination: Nomination,
    /// How many of the victims break a PodDisruptionBudget.
    pub budget_violations: usize,
    /// The earliest `status.startTime` among the victims of the highest
    /// priority (RFC 3339 text sorts as time; `None`: not started).
    pub earliest_top_start: Option<String>,
}

// ANCHOR: pick
/// The candidate to preempt on (`None` only when there is none).
pub fn pick(candidates: Vec<Candidate>) -> Option<Candidate> {
    if let Some(at) = candidates
        .iter()
        .position(|c| c.nomination.victims.is_empty())
    {
        return candidates.into_iter().nth(at);
    }
    let top = |c: &Candidate| {
        c.nomination
            .victims
            .iter()
            .map(|v| v.priority)
            .max()
            .unwrap_or(i64::MIN)
    };
    let sum = |c: &Candidate| -> i128 {
        c.nomination
            .victims
            .iter()
            .map(|v| v.priority as i128 + (1i128 << 31))
            .sum()
    };
    let mut best: Vec<Candidate> = candidates;
    best = keep_min(best, |c| c.budget_violations);
    best = keep_min(best, top);
    best = keep_min(best, sum);
    best = keep_min(best, |c| c.nomination.victims.len());
    // Latest start first; a victim not started yet is the latest of all.
    best = keep_min(best, |c| {
        std::cmp::Reverse(match &c.earliest_top_start {
            Some(t) => (0, t.clone()),
            None => (1, String::new()),
        })
    });
    best.into_iter().next()
}
// ANCHOR_END: pick

/// The candidates with the smallest `key`, in their order.
fn keep_min<K: Ord>(candidates: Vec<Candidate>, key: impl Fn(&Candidate) -> K) -> Vec<Candidate> {
    let Some(min) = candidates.iter().map(&key).min() else {
        return candidates;
    };
    candidates.into_iter().filter(|c| key(c) == min).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Victim;

    fn candidate(node: &str, priorities: &[i64], start: Option<&str>) -> Candidate {
        Candidate {
            budget_violations: 0,
            nomination: Nomination {
                node: node.into(),
                victims: priorities
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Victim {
                        namespace: "d".into(),
                        name: format!("{node}-{i}"),
                        uid: format!("{node}-{i}"),
                        priority: *p,
                    })
                    .collect(),
            },
            earliest_top_start: start.map(String::from),
        }
    }

    fn picked(candidates: Vec<Candidate>) -> String {
        pick(candidates).unwrap().nomination.node
    }

    #[test]
    fn lowest_priority_then_fewest_then_latest() {
        // The most important victim decides first, even against more victims.
        assert_eq!(
            picked(vec![
                candidate("a", &[100], None),
                candidate("b", &[10, 10, 10], None)
            ]),
            "b"
        );
        // Same top priority: the smaller sum.
        assert_eq!(
            picked(vec![
                candidate("a", &[10, 10], None),
                candidate("b", &[10, 5], None)
            ]),
            "b"
        );
        // Negative priorities still cost: one victim beats two.
        assert_eq!(
            picked(vec![
                candidate("a", &[-5, -5], None),
                candidate("b", &[-5], None)
            ]),
            "b"
        );
        // All else equal, the node whose victim started last.
        let early = Some("2026-01-01T00:00:00Z");
        let late = Some("2026-01-02T00:00:00Z");
        assert_eq!(
            picked(vec![
                candidate("a", &[1], early),
                candidate("b", &[1], late)
            ]),
            "b"
        );
        // A node that needs no victim wins outright.
        assert_eq!(
            picked(vec![candidate("a", &[1], None), candidate("b", &[], None)]),
            "b"
        );
        assert!(pick(Vec::new()).is_none());
    }

    #[test]
    fn fewer_broken_budgets_come_first() {
        let mut a = candidate("a", &[1], None);
        a.budget_violations = 1;
        // b's victims matter more, but a's would break a budget.
        let b = candidate("b", &[100, 100], None);
        assert_eq!(picked(vec![a, b]), "b");
    }
}
