//! Least connections, plain and weighted.
//!
//! Round robin spreads *requests* evenly; when some requests take much
//! longer than others, or one pod is slower, the pods' *load* is not even.
//! Least connections sends each request to the endpoint with the fewest
//! requests in flight, so a slow pod, whose requests pile up, gets fewer
//! new ones. The weighted form divides by the weight: a pod of weight 2
//! is as loaded with 4 in flight as one of weight 1 with 2. Ties (common:
//! at low load every count is 0) go round robin, starting after the last
//! pick, so an idle backend is still shared.

use std::cmp::Ordering;

use super::Candidate;

/// Fewest requests in flight.
#[derive(Debug, Clone, Default)]
pub struct LeastConnections {
    /// The tie-breaking round robin's cursor.
    next: usize,
}

/// Fewest requests in flight per unit of weight.
#[derive(Debug, Clone, Default)]
pub struct WeightedLeastConnections {
    /// The tie-breaking round robin's cursor.
    next: usize,
}

impl LeastConnections {
    /// The next pick: see [`least_connections`].
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        least_connections(&mut self.next, candidates)
    }
}

impl WeightedLeastConnections {
    /// The next pick: see [`weighted_least_connections`].
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        weighted_least_connections(&mut self.next, candidates)
    }
}

/// The available candidate with the fewest requests in flight; ties go
/// to the first of them from the round-robin cursor `next` on.
pub fn least_connections(next: &mut usize, candidates: &[Candidate]) -> Option<usize> {
    least(next, candidates, |a, b| a.in_flight.cmp(&b.in_flight))
}

// ANCHOR: weighted
/// The available candidate with the smallest `in_flight / weight`,
/// compared as `a.in_flight * b.weight` against `b.in_flight * a.weight`
/// so no division rounds two loads into a false tie; ties as in
/// [`least_connections`].
pub fn weighted_least_connections(next: &mut usize, candidates: &[Candidate]) -> Option<usize> {
    least(next, candidates, |a, b| {
        let a_load = u64::from(a.in_flight) * u64::from(b.weight);
        let b_load = u64::from(b.in_flight) * u64::from(a.weight);
        a_load.cmp(&b_load)
    })
}
// ANCHOR_END: weighted

// ANCHOR: least
/// The least loaded available candidate by `order`, looking from the
/// cursor round, so the first of equals is the round robin's next turn.
fn least(
    next: &mut usize,
    candidates: &[Candidate],
    order: impl Fn(&Candidate, &Candidate) -> Ordering,
) -> Option<usize> {
    let n = candidates.len();
    let mut best: Option<usize> = None;
    for i in (0..n).map(|i| (*next + i) % n) {
        let c = &candidates[i];
        if c.available && best.is_none_or(|b| order(c, &candidates[b]) == Ordering::Less) {
            best = Some(i);
        }
    }
    let best = best?;
    *next = best + 1;
    Some(best)
}
// ANCHOR_END: least
