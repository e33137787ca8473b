//! Your code for lab 03. Replace each `todo!()`; `cargo lab 03` tells you
//! which tasks pass. The doc comments say what orc's version does; chapter 03
//! explains why.

// The parameters, and the imports you will need, are unused until you
// write the bodies.
#![allow(unused_variables, unused_imports)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::{BASE_DELAY, MAX_DELAY, Notification, Requirement, Selector, SelectorError};

/// Task 1. Parse a label selector, as `kubectl get pods -l ...` sends it:
///
/// ```text
/// selector    = requirement { "," requirement }
/// requirement = key ( ("=" | "==" | "!=") value
///                   | ("in" | "notin") "(" [ value { "," value } ] ")" )
///             | key          (the key exists)
///             | "!" key      (the key does not exist)
/// ```
///
/// Whitespace around tokens is ignored; the empty string is the empty
/// selector (it matches everything). Keys and values are made of letters,
/// digits, `-`, `_`, `.` and (keys only) `/`. Anything else is a
/// [`SelectorError`] with the input, a message, and the zero-based position
/// where parsing failed.
pub fn parse(input: &str) -> Result<Selector, SelectorError> {
    todo!()
}

/// Task 2. Whether an object with `labels` satisfies *every* requirement.
/// Careful with the negative forms: an object without the label satisfies
/// `key!=value` and `key notin (...)`, as in Kubernetes.
pub fn matches(selector: &Selector, labels: &BTreeMap<String, String>) -> bool {
    todo!()
}

/// Task 3. After a watch broke (a 410), an informer lists everything again
/// and must tell its handlers what it missed. Given the cache (`cached`) and
/// the fresh list (`fresh`), both keyed by `namespace/name`, return:
///
/// - a `Deleted(old)` for each key only in `cached`, in key order; then
/// - for each key of `fresh` in key order, `Added(new)` if it was not
///   cached, `Updated { old, new }` if it was cached with another value,
///   and nothing if it is unchanged.
///
/// The objects are shared (`Arc`): the cache and the notifications hold
/// the same object, so cloning an `Arc` here copies a pointer, not the
/// object.
pub fn relist_changes(
    cached: &BTreeMap<String, Arc<Value>>,
    fresh: &BTreeMap<String, Arc<Value>>,
) -> Vec<Notification> {
    todo!()
}

/// Task 4. The delay before retry number `failures` (1-based) of a key
/// whose reconcile failed: [`BASE_DELAY`] for the first retry, doubled with
/// each further failure, never more than [`MAX_DELAY`], and never
/// overflowing however large `failures` grows.
pub fn backoff(failures: u32) -> Duration {
    todo!()
}
