//! # orc-ingress: chapter 07, ingress (not built yet)
//!
//! This crate will be an L7 proxy that routes HTTP by host and path to
//! services, with balancing algorithms and TLS.
//!
//! Nothing is built here yet; see the README's status table.
