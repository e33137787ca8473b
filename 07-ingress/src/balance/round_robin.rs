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
    // ANCHOR: pick
    /// The first available candidate at or after the cursor.
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        let n = candidates.len();
        let chosen = (0..n)
            .map(|i| (self.next + i) % n)
            .find(|&i| candidates[i].available)?;
        self.next = chosen + 1;
        Some(chosen)
    }
    // ANCHOR_END: pick
}
