//! The four balancing algorithms, each a small pure picker.
//!
//! A picker is given the backend's endpoints as [`Candidate`]s (weight,
//! requests in flight, whether it may be picked at all) and answers the
//! index of the one to use. It keeps only its own bookkeeping (a cursor,
//! current weights); the in-flight counts and the ejections of endpoints
//! that refused connections live in the proxy, which passes them in.
//! That keeps each algorithm a function a student can trace by hand: the
//! heart of lab 07.
//!
//! Layout: `round_robin.rs` (in turn), `smooth_weighted.rs` (nginx's smooth
//! weighted round robin), `least_connections.rs` (fewest in flight, and its
//! weighted form: fewest in flight per unit of weight), this file (the
//! algorithm names and the [`Balancer`] that holds one picker's state).

pub mod least_connections;
pub mod round_robin;
pub mod smooth_weighted;

use serde::Serialize;

pub use least_connections::{
    LeastConnections, WeightedLeastConnections, least_connections, weighted_least_connections,
};
pub use round_robin::{RoundRobin, round_robin};
pub use smooth_weighted::{SmoothWeighted, smooth_weighted};

/// The annotation, on an Ingress or on a backend Service (the Service's
/// wins), that chooses the algorithm.
pub const ALGORITHM_ANNOTATION: &str = "orc.dev/load-balance";

/// What a picker knows of one endpoint at the moment of a pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The endpoint's weight (1 when none is given).
    pub weight: u32,
    /// Requests sent to it that have not finished.
    pub in_flight: u32,
    /// False while the endpoint is ejected, or already tried by this request.
    pub available: bool,
}

/// One of the four algorithms, as `orc.dev/load-balance` spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    #[default]
    RoundRobin,
    WeightedRoundRobin,
    LeastConnections,
    WeightedLeastConnections,
}

impl Algorithm {
    /// The annotation's spellings, in the order the error lists them.
    pub const NAMES: [&str; 4] = [
        "round-robin",
        "weighted-round-robin",
        "least-connections",
        "weighted-least-connections",
    ];

    /// The annotation's value as an algorithm, or an error that lists the choices.
    pub fn parse(text: &str) -> Result<Algorithm, String> {
        match text.trim() {
            "round-robin" => Ok(Algorithm::RoundRobin),
            "weighted-round-robin" => Ok(Algorithm::WeightedRoundRobin),
            "least-connections" => Ok(Algorithm::LeastConnections),
            "weighted-least-connections" => Ok(Algorithm::WeightedLeastConnections),
            other => Err(format!(
                "annotation {ALGORITHM_ANNOTATION}: {other:?} is not one of {}; using round-robin",
                Algorithm::NAMES.join(", ")
            )),
        }
    }
}

/// A picker's state for one backend. One per backend, kept across table
/// swaps while the backend's endpoints stay the same.
#[derive(Debug, Clone)]
pub enum Balancer {
    RoundRobin(RoundRobin),
    WeightedRoundRobin(SmoothWeighted),
    LeastConnections(LeastConnections),
    WeightedLeastConnections(WeightedLeastConnections),
}

impl Balancer {
    /// A fresh picker of `algorithm`.
    pub fn new(algorithm: Algorithm) -> Balancer {
        match algorithm {
            Algorithm::RoundRobin => Balancer::RoundRobin(RoundRobin::default()),
            Algorithm::WeightedRoundRobin => {
                Balancer::WeightedRoundRobin(SmoothWeighted::default())
            }
            Algorithm::LeastConnections => Balancer::LeastConnections(LeastConnections::default()),
            Algorithm::WeightedLeastConnections => {
                Balancer::WeightedLeastConnections(WeightedLeastConnections::default())
            }
        }
    }

    /// The index of the candidate to send the next request to; `None` when
    /// none is available.
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        match self {
            Balancer::RoundRobin(p) => p.pick(candidates),
            Balancer::WeightedRoundRobin(p) => p.pick(candidates),
            Balancer::LeastConnections(p) => p.pick(candidates),
            Balancer::WeightedLeastConnections(p) => p.pick(candidates),
        }
    }
}

#[cfg(test)]
mod tests;
