//! # orc-pod: chapter 02, the pod network
//!
//! Kubernetes promises that every pod has its own IP address and reaches
//! every other pod, on any node, without NAT. This crate builds that promise
//! the way the simplest real network plugins do (the CNI `bridge` and
//! `host-local` plugins, flannel's `host-gw` back-end).
//!
//! ## Layout
//!
//! - [`cidr`]: [`Ipv4Cidr`], the address blocks the network is planned in:
//!   a cluster CIDR, sliced into one pod CIDR per node.
//! - [`ipam`]: [`Ipam`], which hands out pod addresses from the node's pod
//!   CIDR and keeps them in a state file, so a restart never gives one address
//!   to two pods; [`ipam::next_free`] is the pure choice of the next address.
//!
//! ## Not built yet
//!
//! The pod sandbox (the pause process holding the pod's namespaces), the
//! containers that join it and the node agent that keeps static pods running
//! come in later steps of this chapter; see the README's status table.

pub mod cidr;
pub mod ipam;

pub use cidr::Ipv4Cidr;
pub use ipam::{Ipam, IpamError};
