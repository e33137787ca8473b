//! Smooth weighted round robin, as nginx's upstream module does it.
//!
//! Plain weighted round robin with weights 5, 1, 1 sends a a a a a b c:
//! a burst of five to the first pod. nginx's smooth variant gives each
//! endpoint a *current weight*. On each pick every available endpoint's
//! current weight grows by its weight; the largest is chosen, and the
//! total of the weights is taken off it. Over a cycle each endpoint is
//! chosen exactly `weight` times, but spread out: a a b a c a a.

use super::Candidate;

/// The current weights, one per candidate.
#[derive(Debug, Clone, Default)]
pub struct SmoothWeighted {
    /// Reset when the number of candidates changes: a new set of
    /// endpoints starts a new cycle, as nginx does on reload.
    current: Vec<i64>,
}

impl SmoothWeighted {
    /// The next pick: see [`smooth_weighted`].
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        smooth_weighted(&mut self.current, candidates)
    }
}

// ANCHOR: pick
/// Raise every available current weight by its weight, take the largest
/// (the first one on a tie), lower it by the total. `current` starts
/// again from zeros when the number of candidates changes.
pub fn smooth_weighted(current: &mut Vec<i64>, candidates: &[Candidate]) -> Option<usize> {
    if current.len() != candidates.len() {
        *current = vec![0; candidates.len()];
    }
    let mut total = 0;
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate().filter(|(_, c)| c.available) {
        current[i] += i64::from(c.weight);
        total += i64::from(c.weight);
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    let best = best?;
    current[best] -= total;
    Some(best)
}
// ANCHOR_END: pick
