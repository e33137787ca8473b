//! # Lab 03: the API server and its clients
//!
//! Chapter 03 puts every object behind a Kubernetes-shaped API on etcd, and
//! gives every other component a client that lists, watches and caches. In
//! this lab you write four of the small decisions everything else rests on.
//!
//! Your work goes in `src/student.rs`:
//!
//! 1. [`parse`]: a label selector string (`app=web,tier in (fe,be),!canary`)
//!    into requirements.
//! 2. [`matches`]: whether an object's labels satisfy a selector.
//! 3. [`relist_changes`]: what an informer tells its handlers after a
//!    re-list, when it may have missed events.
//! 4. [`backoff`]: how long a work queue waits before retrying a key.
//!
//! The walkthrough (`tests/scenario.rs`) runs etcd and the API server for
//! real and talks to them with `curl` and `etcdctl`. `cargo lab 03` shows
//! which tasks pass; `cargo lab 03 --solution` runs the same tests against
//! orc's own code.

// The types are orc's: the lab is about the functions, not the data.
pub use orc_client::informer::Notification;
pub use orc_client::selectors::labels::{Requirement, Selector, SelectorError};
pub use orc_client::workqueue::{BASE_DELAY, MAX_DELAY};

#[cfg(not(feature = "solution"))]
mod student;
#[cfg(not(feature = "solution"))]
pub use student::{backoff, matches, parse, relist_changes};

#[cfg(feature = "solution")]
pub use orc_client::informer::relist_changes;
#[cfg(feature = "solution")]
pub use orc_client::selectors::labels::{matches, parse};
#[cfg(feature = "solution")]
pub use orc_client::workqueue::backoff;
