//! `orc-container`: the runc-compatible command line over [`orc_container::Runtime`].
//!
//! Thin on purpose: parse arguments, call the library, print, and turn
//! errors into a message and an exit code. No async runtime, no threads:
//! `create`, `run` and `exec` clone or fork, which is only safe in a
//! single-threaded process.

use anyhow::Context;
use clap::{Parser, Subcommand};
use orc_container::{DEFAULT_ROOT, Runtime, Spec, parse_signal};
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
    /// Internal: the container's init. Not for humans.
    #[command(hide = true)]
    Init,
}

fn main() {
    // `init` is checked before clap: it must do nothing but become the
    // container, and it must never print clap's help to the container's stdio.
    if std::env::args().nth(1).as_deref() == Some("init") {
        orc_container::init::main();
    }
    match run(Cli::parse()) {
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
        Command::Create { id, bundle } => {
            rt.create(&id, &bundle)?;
        }
        Command::Start { id } => rt.start(&id)?,
        Command::State { id } => println!("{}", serde_json::to_string_pretty(&rt.state(&id)?)?),
        Command::Kill { id, signal } => rt.kill(&id, parse_signal(&signal)?)?,
        Command::Delete { force, id } => rt.delete(&id, force)?,
        Command::Run { id, bundle } => return Ok(rt.run(&id, &bundle)?),
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
        Command::Init => orc_container::init::main(),
    }
    Ok(0)
}
