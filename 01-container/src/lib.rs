//! # orc-container: chapter 01, a container runtime
//!
//! A container is not a kernel object. It is an ordinary process started
//! with a particular set of restrictions: its own *namespaces* (what it can
//! see), a *cgroup* (how much it may use), a different root filesystem, fewer
//! *capabilities* and a *seccomp* filter (what it may do). This crate builds
//! one from those primitives, driven by the same OCI bundle (`config.json` +
//! root filesystem) that runc runs, behind a runc-compatible command line:
//! `create`, `start`, `state`, `kill`, `delete`, `run`, `list`, `exec`.
//!
//! Like runc, the runtime is not a daemon and needs no async runtime. The
//! `create` command clones a child into new namespaces; the child re-executes
//! this binary as `init`, configures the container from the inside, and
//! waits on a fifo until `start`. Later chapters call [`Runtime`] from a
//! node agent; they must do so from a process that is single-threaded at
//! that moment (DESIGN.md, decision 4), e.g. by running the CLI.
//!
//! ## Layout
//!
//! Configuration (pure, unit-tested):
//! - [`spec`]: hand-written serde types for the `config.json` subset orc runs.
//! - [`bundle`]: loading a bundle; errors name the file, line, field and fix.
//! - [`mounts`]: the config's mounts as a plan of `mount(2)` calls
//!   ([`mounts::mount_plan`]).
//!
//! The kernel primitives, one per file:
//! - [`namespaces`]: which namespaces to create, join, and id maps.
//! - [`rootfs`]: private propagation, the mount plan, `pivot_root`, masked
//!   and read-only paths. [`devices`]: the nodes in `/dev`.
//! - [`process`]: rlimits, uid/gid, finding the program in `PATH`.
//! - [`capabilities`]: the five capability sets.
//! - [`seccomp`]: a small compiler from OCI profile to BPF.
//! - [`cgroups`]: limits and usage behind one trait, [`cgroups::v1`] and
//!   [`cgroups::v2`].
//!
//! Images:
//! - [`layer`]: unpacking a layer tarball with OCI whiteouts
//!   ([`layer::unpack_layer`]), the base of a future image store.
//!
//! The lifecycle:
//! - [`container`]: [`Runtime`] with create, start, state, kill, delete, run.
//! - [`exec`]: joining a running container.
//! - [`signals`]: signal names, relaying signals to the container, exit codes.
//! - [`sync`]: the two messages between `create` and the init.
//! - [`init`]: the child's side, from namespaces to `execve`.
//! - [`state`]: the state directory and the OCI state.
//!
//! ## Deliberately left out
//!
//! Terminals (`process.terminal` is refused), hooks, `pause`/`resume`
//! (freezer), checkpointing, device cgroup rules, seccomp argument filters,
//! joining pid/mount/user namespaces by path, AppArmor/SELinux labels, and,
//! for now, the image store (pulling images, the content store, overlayfs
//! roots, image config to bundle): only layer unpacking exists.

pub mod bundle;
pub mod capabilities;
pub mod cgroups;
pub mod container;
pub mod devices;
pub mod error;
pub mod exec;
pub mod init;
pub mod layer;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod state;
pub mod sync;
mod syscall_table;

pub use bundle::Bundle;
pub use container::{DEFAULT_ROOT, Runtime};
pub use error::{Error, Result};
pub use signals::parse_signal;
pub use spec::Spec;
pub use state::{State, Status};
