//! # Lab 07: ingress
//!
//! Chapter 07's controller routes each HTTP request by its host and path,
//! then picks one of the backend's pods with one of four algorithms. Both
//! decisions are pure functions; in this lab you write them.
//!
//! Your work goes in `src/student.rs`:
//!
//! 1. [`path_matches`]: `pathType` Exact, Prefix (element by element) and
//!    ImplementationSpecific (as Prefix).
//! 2. [`host_matches`]: exact hosts, single-label wildcards, any host, and
//!    how precisely each matches.
//! 3. [`round_robin`]: each available endpoint in turn.
//! 4. [`smooth_weighted`]: nginx's smooth weighted round robin.
//! 5. [`least_connections`]: fewest requests in flight, ties in turn.
//! 6. [`weighted_least_connections`]: fewest in flight per unit of weight.
//!
//! The walkthrough (`tests/scenario.rs`) builds orc's routing table from
//! Ingress objects and routes requests through it with your functions'
//! counterparts in orc. `cargo lab 07` shows which tasks pass; `cargo lab
//! 07 --solution` runs the same tests against orc's own code.

// The types are orc's: the lab is about the functions, not the data.
pub use orc_ingress::balance::Candidate;
pub use orc_ingress::routes::{HostMatch, PathType, Precision};

#[cfg(not(feature = "solution"))]
mod student;
#[cfg(not(feature = "solution"))]
pub use student::{
    host_matches, least_connections, path_matches, round_robin, smooth_weighted,
    weighted_least_connections,
};

#[cfg(feature = "solution")]
pub use orc_ingress::balance::{
    least_connections, round_robin, smooth_weighted, weighted_least_connections,
};
#[cfg(feature = "solution")]
pub use orc_ingress::routes::{host_matches, path_matches};
