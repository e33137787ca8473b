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

use crate::{DEFAULT_ROOT, Runtime, Spec, Terminal, parse_signal};
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
        #[command(flatten)]
        stdio: StdioFiles,
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
        #[command(flatten)]
        stdio: StdioFiles,
    },
    /// List containers.
    List,
    /// Run a command inside a running container.
    Exec {
        id: String,
        /// Standard input is a terminal (the slave of a pty the caller
        /// opened): make it the command's controlling terminal, in a
        /// session of its own, as a shell needs for Ctrl-C and job control.
        #[arg(long, short)]
        tty: bool,
        /// `NAME=VALUE` set for the command, over the container's own
        /// environment (repeatable; runc's `exec --env`).
        #[arg(long = "env", short = 'e', value_name = "NAME=VALUE")]
        env: Vec<String>,
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

/// Where the container's output goes, when not to the runtime's own stdio.
///
/// runc passes its stdio on to the container and leaves files to its caller
/// (containerd's shim). orc's runtime can open them itself, which is what a
/// node agent needs to keep per-container logs on disk.
#[derive(clap::Args)]
struct StdioFiles {
    /// Append the container's stdout to this file.
    #[arg(long, value_name = "FILE")]
    stdout: Option<PathBuf>,
    /// Append the container's stderr to this file.
    #[arg(long, value_name = "FILE")]
    stderr: Option<PathBuf>,
}

impl StdioFiles {
    /// Runs `f` with fds 1 and 2 pointing at the files, so that the
    /// container created inside `f` inherits them, then puts the runtime's
    /// own stdio back, so its messages still reach the caller.
    fn around<T>(&self, f: impl FnOnce() -> T) -> anyhow::Result<T> {
        use std::os::fd::AsRawFd;
        let mut saved = Vec::new();
        for (fd, path) in [(1, &self.stdout), (2, &self.stderr)] {
            let Some(path) = path else { continue };
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            // SAFETY: dup and dup2 on descriptors we own or on 1 and 2,
            // which exist for the life of the process.
            let copy = unsafe { libc::dup(fd) };
            // SAFETY: as above.
            if copy < 0 || unsafe { libc::dup2(file.as_raw_fd(), fd) } < 0 {
                anyhow::bail!("redirecting fd {fd} to {}", path.display());
            }
            saved.push((fd, copy));
        }
        let result = f();
        for (fd, copy) in saved {
            // SAFETY: `copy` is the duplicate made above; closing it after
            // restoring leaves no descriptor behind.
            unsafe {
                libc::dup2(copy, fd);
                libc::close(copy);
            }
        }
        Ok(result)
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let rt = Runtime::new(&cli.root);
    match cli.command {
        Command::Create {
            id,
            bundle,
            pid_file,
            stdio,
        } => {
            let pid = stdio.around(|| rt.create(&id, &bundle))??;
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
            stdio,
        } => {
            stdio.around(|| rt.create(&id, &bundle))??;
            if let Err(e) = rt.start(&id) {
                let _ = rt.delete(&id, true);
                return Err(e.into());
            }
        }
        Command::Run {
            id, bundle, stdio, ..
        } => return Ok(stdio.around(|| rt.run(&id, &bundle))??),
        Command::List => {
            // CREATED is up to 30 characters: RFC 3339 to the nanosecond.
            println!(
                "{:<24} {:>8} {:<8} {:<30} BUNDLE",
                "ID", "PID", "STATUS", "CREATED"
            );
            for s in rt.list()? {
                println!(
                    "{:<24} {:>8} {:<8} {:<30} {}",
                    s.id,
                    s.pid,
                    s.status,
                    // jiff's Display ignores width: pad the text instead.
                    s.created.to_string(),
                    s.bundle.display()
                );
            }
        }
        Command::Exec {
            id,
            tty,
            env,
            command,
        } => {
            let terminal = if tty {
                Terminal::Controlling
            } else {
                Terminal::Inherited
            };
            if let Some(bad) = env.iter().find(|kv| !kv.contains('=')) {
                anyhow::bail!("--env {bad:?}: give NAME=VALUE");
            }
            return Ok(rt.exec(&id, &command, &env, terminal)?);
        }
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
