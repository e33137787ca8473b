//! Your code for lab 07. Replace each `todo!()`; `cargo lab 07` tells you
//! which tasks pass. The doc comments say what orc's version does; chapter
//! 07 explains why.

// The parameters, and the imports you will need, are unused until you
// write the bodies.
#![allow(unused_variables, unused_imports)]

use crate::{Candidate, HostMatch, PathType, Precision};

/// Task 1. Whether a request for the path `request` matches a rule's
/// `path` of type `path_type`. An empty rule path means `/`. Exact:
/// the two are equal. Prefix and ImplementationSpecific: split both on
/// `/`, ignore empty elements; every element of the rule's path must
/// equal the request's element at the same place (`/foo` matches `/foo`,
/// `/foo/` and `/foo/bar`, not `/foobar`).
pub fn path_matches(path_type: PathType, path: &str, request: &str) -> bool {
    todo!()
}

/// Task 2. How precisely `rule` matches `host` (lower case, no port): an
/// exact rule matches only its own name (`Some(0)`); a wildcard, kept as
/// its suffix (`.example.com` for `*.example.com`), matches a name that is
/// exactly one non-empty label followed by the suffix (`Some(1)`); `Any`
/// matches everything (`Some(2)`). `None` when it does not match.
pub fn host_matches(rule: &HostMatch, host: &str) -> Option<Precision> {
    todo!()
}

/// Task 3. The first available candidate at or after index `*next`
/// (wrapping round); move `*next` to just after it. `None` when no
/// candidate is available.
pub fn round_robin(next: &mut usize, candidates: &[Candidate]) -> Option<usize> {
    todo!()
}

/// Task 4. nginx's smooth weighted round robin. If `current` does not have
/// one entry per candidate, reset it to zeros. Add each available
/// candidate's weight to its current weight; choose the largest current
/// weight (the first on a tie); subtract the total weight of the available
/// candidates from the chosen one.
// A `Vec`, not a slice: the reset changes its length. Clippy cannot see
// that in a `todo!()` body.
#[allow(clippy::ptr_arg)]
pub fn smooth_weighted(current: &mut Vec<i64>, candidates: &[Candidate]) -> Option<usize> {
    todo!()
}

/// Task 5. The available candidate with the fewest requests in flight.
/// Look at the candidates starting from `*next` and wrapping round, so the
/// first of equals is the round robin's next turn; then move `*next` to
/// just after the chosen one.
pub fn least_connections(next: &mut usize, candidates: &[Candidate]) -> Option<usize> {
    todo!()
}

/// Task 6. As task 5, comparing `in_flight / weight` instead, without
/// dividing: `a` is less loaded than `b` when
/// `a.in_flight * b.weight < b.in_flight * a.weight` (in `u64`).
pub fn weighted_least_connections(next: &mut usize, candidates: &[Candidate]) -> Option<usize> {
    todo!()
}
