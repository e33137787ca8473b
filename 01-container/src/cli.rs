//! The runc-compatible command line over [`crate::Runtime`].
//!
//! Thin on purpose: parse arguments, call the library, print, and turn
//! errors into a message and an exit code. No async runtime, no threads:
//! `create`, `run` and `exec` clone or fork, which is only safe in a
//! single-threaded process.
//!
//! It lives in the library, not in `main.rs`, so that every binary that
//! embeds the runtime speaks the same command line: `orc-container` itself,
//! the final `orc` binary (`orc runtime ...`), and lab 01's copy. Each of
//! them must also route the hidden `init` argument here, because the runtime
//! re-executes *its own binary* (`/proc/self/exe init`) to become a
//! container. This is binary code kept in a library, so it uses anyhow like
//! a binary does.

use crate::{DEFAULT_ROOT, Runtime, Spec, parse_signal};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "orc-container",
    version,
    about = "An OCI container runtime built from namespaces and cgroups"
)]
struct Cli {
    /// Directory holding the state of containers.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set up a container and leave it waiting for `start`.
    Create {
        id: String,
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// Write the container's pid (host namespace) to this file, as
        /// runc's --pid-file does (containerd reads it).
        #[arg(long)]
        pid_file: Option<PathBuf>,
    },
    /// Run the program of a created container.
    Start { id: String },
    /// Print the OCI state as JSON.
    State { id: String },
    /// Send a signal (default TERM) to the container's init.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Remove a stopped container (--force: kill it first).
    Delete {
        #[arg(long, short)]
        force: bool,
        id: String,
    },
    /// Create, start, wait and delete; exit with the container's code.
    Run {
        id: String,
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// Create and start, then return at once (the container runs on,
        /// watched by its monitor; `state` shows its exit code later).
        #[arg(long, short)]
        detach: bool,
    },
    /// List containers.
    List,
    /// Run a command inside a running container.
    Exec {
        id: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Write an example config.json (like `runc spec`) to the bundle directory.
    Spec {
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
    },
    /// Images: import, pull, list, rm, bundle, unbundle, build.
    Image(crate::image_cli::ImageArgs),
    /// Internal: the container's init. Not for humans.
    #[command(hide = true)]
    Init,
}

/// Runs the command line given in `args` (the program name first, as in
/// `std::env::args()`) and exits with its status.
pub fn main(args: impl IntoIterator<Item = String>) -> ! {
    let args: Vec<String> = args.into_iter().collect();
    // `init` is checked before clap: it must do nothing but become the
    // container, and it must never print clap's help to the container's stdio.
    if args.get(1).map(String::as_str) == Some("init") {
        crate::init::main();
    }
    match run(Cli::parse_from(args)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("orc-container: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let rt = Runtime::new(&cli.root);
    match cli.command {
        Command::Create {
            id,
            bundle,
            pid_file,
        } => {
            let pid = rt.create(&id, &bundle)?;
            if let Some(path) = pid_file {
                std::fs::write(&path, pid.to_string())
                    .with_context(|| format!("writing --pid-file {}", path.display()))?;
            }
        }
        Command::Start { id } => rt.start(&id)?,
        Command::State { id } => println!("{}", serde_json::to_string_pretty(&rt.state(&id)?)?),
        Command::Kill { id, signal } => rt.kill(&id, parse_signal(&signal)?)?,
        Command::Delete { force, id } => rt.delete(&id, force)?,
        Command::Run {
            id,
            bundle,
            detach: true,
        } => {
            rt.create(&id, &bundle)?;
            if let Err(e) = rt.start(&id) {
                let _ = rt.delete(&id, true);
                return Err(e.into());
            }
        }
        Command::Run { id, bundle, .. } => return Ok(rt.run(&id, &bundle)?),
        Command::List => {
            println!(
                "{:<24} {:>8} {:<8} {:<21} BUNDLE",
                "ID", "PID", "STATUS", "CREATED"
            );
            for s in rt.list()? {
                println!(
                    "{:<24} {:>8} {:<8} {:<21} {}",
                    s.id,
                    s.pid,
                    s.status,
                    s.created,
                    s.bundle.display()
                );
            }
        }
        Command::Exec { id, command } => return Ok(rt.exec(&id, &command)?),
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            let json = serde_json::to_string_pretty(&Spec::example(&["sh"]))?;
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        }
        Command::Image(args) => return crate::image_cli::run(args),
        Command::Init => crate::init::main(),
    }
    Ok(0)
}
