//! # Lab 01: containers from scratch
//!
//! Chapter 01 builds a container runtime out of kernel parts. In this lab
//! you write the decisions a runtime makes before it touches the kernel —
//! which namespaces to create, how to spell a user namespace's id map, what
//! mount options mean, which cgroup files express a limit — and one that
//! touches only files: unpacking an image layer with its whiteouts.
//!
//! Your work goes in `src/student.rs`:
//!
//! 1. [`id_map_text`]: the text written to `/proc/PID/uid_map`.
//! 2. [`clone_flags`]: the namespaces `clone(2)` creates.
//! 3. [`parse_options`]: fstab-style mount options to flags and data.
//! 4. [`limit_files`]: cgroup v1 files and values for the limits.
//! 5. [`shares_to_weight`]: cgroup v1 CPU shares as a v2 weight.
//! 6. [`unpack_layer`]: an image layer on top of the ones below it.
//!
//! The walkthrough (`tests/scenario.rs`) runs a real container with orc's
//! runtime and snapshots what it sees. `cargo lab 01` shows which tasks
//! pass; `cargo lab 01 --solution` runs the same tests against orc's code.

// The types are orc's: the lab is about the functions, not the data.
pub use nix::mount::MsFlags;
pub use nix::sched::CloneFlags;
pub use orc_container::layer::{LayerError, LayerSummary};
pub use orc_container::spec::{
    CpuLimits, IdMapping, Linux, MemoryLimits, Namespace, NamespaceType, PidsLimit, Resources,
};

#[cfg(not(feature = "solution"))]
mod student;
#[cfg(not(feature = "solution"))]
pub use student::{
    clone_flags, id_map_text, limit_files, parse_options, shares_to_weight, unpack_layer,
};

#[cfg(feature = "solution")]
pub use orc_container::cgroups::shares_to_weight;
#[cfg(feature = "solution")]
pub use orc_container::cgroups::v1::limit_files;
#[cfg(feature = "solution")]
pub use orc_container::layer::unpack_layer;
#[cfg(feature = "solution")]
pub use orc_container::mounts::parse_options;
#[cfg(feature = "solution")]
pub use orc_container::namespaces::{clone_flags, id_map_text};
