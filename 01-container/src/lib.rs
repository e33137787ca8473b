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
//! waits on a fifo until `start`. [`Runtime::create`] and [`Runtime::exec`]
//! refuse to run in a multi-threaded process (an architecture invariant:
//! a forked child of a threaded process gets only the calling thread, and
//! a lock another thread held stays locked forever): the node agent of
//! later chapters, an async program, runs the CLI instead.
//!
//! ## Layout
//!
//! Configuration (pure, unit-tested):
//! - [`spec`]: hand-written serde types for the `config.json` subset orc runs.
//! - [`busybox`]: a root filesystem from the host's busybox-static, for
//!   tests, labs and the demo.
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
//!   ([`layer::unpack_layer`]), on which the image store builds.
//! - [`image`]: the image store: import, pull, overlayfs roots, image → bundle.
//!
//! The lifecycle:
//! - [`container`]: [`Runtime`] with create, start, state, kill, delete, run.
//! - [`cli`]: the runc-compatible command line, shared by every binary that
//!   embeds the runtime (`orc-container`, `orc runtime`, lab 01).
//! - [`monitor`]: the parent a detached container keeps, to record its exit code.
//! - [`exec`]: joining a running container.
//! - [`signals`]: signal names, relaying signals to the container, exit codes.
//! - [`sync`]: the two messages between `create` and the init.
//! - [`init`]: the child's side, from namespaces to `execve`.
//! - [`state`]: the state directory and the OCI state.
//! - [`error`]: one error enum; every message says what, where, and what to do.
//! - `main.rs`: the thin `orc-container` CLI (clap, anyhow).
//!
//! ## Deliberately left out
//!
//! Terminals (`process.terminal` is refused), hooks, `pause`/`resume`
//! (freezer), checkpointing, device cgroup rules, seccomp argument filters,
//! joining pid/mount/user namespaces by path, AppArmor/SELinux labels, and
//! the image features listed in [`image`]'s own doc. A `cgroup` mount in
//! the config is the container's own cgroup2 on a v2 host, and an empty
//! read-only tmpfs on a v1 host ([`mounts::cgroup_mount`]).

pub mod bundle;
pub mod busybox;
pub mod capabilities;
pub mod cgroups;
pub mod cli;
pub mod container;
pub mod devices;
pub mod error;
pub mod exec;
pub mod image;
mod image_cli;
pub mod init;
pub mod layer;
pub mod monitor;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod state;
pub mod sync;

pub use bundle::Bundle;
pub use container::{DEFAULT_ROOT, Runtime};
pub use error::{Error, Result};
pub use exec::Terminal;
pub use signals::parse_signal;
pub use spec::Spec;
pub use state::{State, Status};
