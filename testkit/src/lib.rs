//! # orc-testkit: the fixtures every orc test stands on
//!
//! orc's integration tests use real parts: a real etcd process, real network
//! namespaces, the real kernel. This crate makes those parts cheap to create
//! and impossible to leak: every fixture lives in its own temporary place
//! (free ports, a unique namespace name, a temp dir) and is removed when it is
//! dropped, so tests run in parallel and leave the host as they found it.
//!
//! ## Layout
//!
//! - [`root`]: [`require_root`] and [`require_command`], which fail a test
//!   loudly when a privilege or a tool is missing. They never skip.
//! - [`etcd`]: [`Etcd`], a real etcd on free loopback ports in a temp dir.
//! - [`netns`]: [`NetnsHost`], a throwaway network namespace, used as a "host"
//!   by networking tests.
//! - [`ports`]: free loopback ports.
//! - [`registry`]: [`registry::Registry`], a real `docker-registry` on
//!   loopback, and `skopeo` to push to it.
//! - [`metrics`]: one sample out of a `/metrics` page.
//! - [`kubectl`]: the installed kubectl against a test API server.
//! - [`http_client`]: a reqwest client that never panics for want of a
//!   rustls crypto provider.
//! - [`architecture`]: ARCHITECTURE.md's dependency rules, checked against
//!   `cargo metadata` (`tests/architecture.rs`).
//!
//! Fixtures are synchronous on purpose: they work the same from a plain
//! `#[test]` and from `#[tokio::test]`, and never need a runtime to clean up.

pub mod architecture;
pub mod etcd;
pub mod kubectl;
pub mod metrics;
pub mod netns;
pub mod ports;
pub mod registry;
pub mod root;

pub use etcd::Etcd;
pub use netns::NetnsHost;
pub use root::{require_command, require_root};

/// A reqwest client for tests. orc-client builds reqwest with
/// `rustls-no-provider` (ring is orc's provider), and Cargo unifies
/// features: in a build with orc-client, `reqwest::Client::new()` panics
/// unless a provider is installed. This installs ring first.
pub fn http_client() -> reqwest::Client {
    // An error means one is installed already; that one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A name no other fixture in this or any concurrent test process will pick:
/// the process id tells processes apart, a counter tells fixtures apart.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}
