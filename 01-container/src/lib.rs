//! # orc-container: chapter 01, a container runtime (being built)
//!
//! A container built from kernel primitives: namespaces, a pivot_root into an
//! image's root filesystem, cgroups, capabilities and seccomp, driven
//! through the same OCI bundle runc runs.
