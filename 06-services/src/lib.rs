//! # orc-services: chapter 06, services (not built yet)
//!
//! This crate will give pods stable virtual addresses: Endpoints from ready
//! pods, ClusterIP and NodePort rules rendered as one `iptables-restore`
//! payload, and cluster DNS.
//!
//! Nothing is built here yet; see the README's status table.
