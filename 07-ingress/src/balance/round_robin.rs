//! Round robin: each available endpoint in turn.
//!
//! The simplest fair rule, and the one every other picker here falls back
//! on to break ties. It ignores weights and load: with equal pods and
//! equal requests it is all you need.

use super::Candidate;

/// Where the next turn starts.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    /// The index after the last pick; taken modulo the number of
    /// candidates, so a backend that shrinks keeps going.
    next: usize,
}

impl RoundRobin {
    /// The next turn: see [`round_robin`].
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        round_robin(&mut self.next, candidates)
    }
}

// ANCHOR: pick
/// The first available candidate at or after the cursor `next`, which
/// then moves past it.
pub fn round_robin(next: &mut usize, candidates: &[Candidate]) -> Option<usize> {
    let n = candidates.len();
    let chosen = (0..n)
        .map(|i| (*next + i) % n)
        .find(|&i| candidates[i].available)?;
    *next = chosen + 1;
    Some(chosen)
}
// ANCHOR_END: pick
