//! # orc: the complete orchestrator (being composed)
//!
//! One binary for every chapter's component. Today it composes what exists:
//!
//! ```text
//! orc demo            the most complete demo there is, on an embedded default
//! orc server          etcd and the API server, with a kubeconfig for kubectl
//! orc etcd defrag     shrink etcd's file to its live data (and clear NOSPACE)
//! orc runtime ARGS    the chapter 01 OCI runtime, runc's command line
//! orc agent           a node: chapter 02's agent on chapter 03's API
//! orc apply|get|describe|delete|logs
//!                     the client verbs, kubectl's, against the API server
//! orc up|down|status  a whole cluster on this machine, nodes and all
//! orc node stop|start|partition|heal NODE
//!                     one of its nodes fails, and comes back
//! orc image build|load|ls
//!                     the node's image store: the tutorials' apps, built here
//! ```
//!
//! The README's status table says what is built.
//!
//! ## Layout
//!
//! - [`agent`]: `orc agent`, the node agent on the API.
//! - [`cli`]: the client verbs, found through a kubeconfig and discovery.
//! - [`demo`]: `orc demo`, one narrated step per chapter that exists.
//! - [`etcd`]: running etcd as a child process.
//! - [`image`]: `orc image`, images built from recipes with no registry.
//! - [`request_timeout`]: `--client-request-timeout`, every API client's
//!   wait for an answer.
//! - [`server`]: `orc server`, the control plane's store and API.
//! - [`up`]: `orc up`, `orc down`, `orc status`: a cluster of network
//!   namespace nodes on this machine.
//!
//! `main` routes the hidden `init` argument to the runtime first: the
//! runtime becomes a container by re-executing *this* binary as
//! `/proc/self/exe init` (chapter 01, "Why the runtime executes itself
//! again"). Called as `orc-container` (the link `orc agent` makes), `orc`
//! *is* the runtime, with the runtime's own command line; and the hidden
//! `orc shim` is each container's shim. So one binary is a whole node.

mod agent;
mod cli;
mod credentials;
mod demo;
mod etcd;
mod image;
mod request_timeout;
mod server;
mod up;

use clap::{Parser, Subcommand};

/// The allocator `orc-apiserver` ships with, and for the same reasons
/// (03-apiserver/server/src/main.rs): `orc server` and `orc up` run the
/// API server inside this binary, so the memory and CPU its benches
/// measure (`list_memory`, `create`) are what users of `orc` get. Built
/// without transparent huge pages too (the workspace's `no_thp` feature).
/// The containers this binary starts are not affected: the runtime's
/// `init` ends in an exec of the container's own program.
///
/// The `system-allocator` feature leaves glibc's malloc in its place, so
/// heap profilers that replace `malloc` (heaptrack, valgrind's massif and
/// dhat) see every allocation: how the soak's memory was looked into
/// (chapter 03, "Compaction and revisions").
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// orc, a container orchestrator built the hard way.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo: a container, then an API server on etcd with kubectl.
    Demo,
    /// Run the control plane: etcd and the API server, until SIGINT/SIGTERM;
    /// writes DATA_DIR/kubeconfig for kubectl and orc.
    Server(Box<server::ServerArgs>),
    /// Operate the etcd of `orc server`: `orc etcd defrag`.
    #[command(subcommand)]
    Etcd(etcd::command::EtcdCommand),
    /// The OCI runtime (chapter 01), with runc's command line:
    /// `orc runtime run ID --bundle DIR`, `orc runtime state ID`, ...
    #[command(disable_help_flag = true)]
    Runtime {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Join the cluster as a node: register, heartbeat, run the pods the
    /// API server binds here.
    Agent(Box<agent::AgentArgs>),
    /// A container's shim (run by the agent, see `orc_pod::shim`).
    #[command(hide = true)]
    Shim(orc_pod::shim::ShimArgs),
    /// Start a whole cluster on this machine: etcd, the control plane and
    /// N nodes (network namespaces), with a kubectl context.
    Up(up::UpArgs),
    /// Stop the cluster `orc up` started and remove what it made.
    Down(up::DownArgs),
    /// Each component of the cluster and its /healthz.
    Status(up::StatusArgs),
    /// Make a node of the `orc up` cluster fail, and recover:
    /// `orc node stop|start|partition|heal NODE`.
    #[command(subcommand)]
    Node(up::node::NodeCommand),
    /// The node's image store: `build` from a recipe, `load` a
    /// `docker save` tarball, `ls`.
    Image(image::ImageArgs),
    #[command(flatten)]
    Client(cli::Verb),
}

fn main() -> anyhow::Result<()> {
    #[cfg(not(feature = "system-allocator"))]
    orc_apiserver::allocator::tune_mimalloc();
    let mut args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("init") {
        orc_container::init::main();
    }
    let called = std::path::Path::new(args.first().map(String::as_str).unwrap_or(""));
    if called.file_name().and_then(|n| n.to_str()) == Some(agent::RUNTIME_NAME) {
        orc_container::cli::main(args);
    }
    match Cli::parse_from(&args).command {
        Command::Demo => demo::run(),
        Command::Server(args) => server::run(*args),
        Command::Etcd(command) => etcd::command::run(command),
        Command::Agent(agent_args) => agent::run(*agent_args),
        // The shim forks and waits: it stays single-threaded (no tokio).
        Command::Shim(shim_args) => std::process::exit(orc_pod::shim::run(&shim_args)),
        Command::Runtime { .. } => {
            // Hand the rest of the command line to the runtime's own parser,
            // named `orc runtime` in its help and errors.
            args.splice(0..2, ["orc runtime".to_string()]);
            orc_container::cli::main(args)
        }
        Command::Up(args) => up::up(args),
        Command::Down(args) => up::down(args),
        Command::Status(args) => up::status(args),
        Command::Node(command) => up::node::run(command),
        Command::Image(args) => image::run(args),
        Command::Client(verb) => cli::run(verb),
    }
}
