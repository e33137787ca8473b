//! `orc demo`: every chapter that exists, run for real, narrated.
//!
//! The demo uses an embedded default (a busybox root filesystem from the
//! host, the manifests in `manifests.yaml`) and a throwaway directory, so
//! it needs nothing but what `scripts/setup.sh` installs and leaves nothing
//! behind. Each part prints the commands a reader could type to do the same
//! by hand.
//!
//! - [`container`]: chapter 01, a container from kernel parts.
//! - [`cluster`]: chapter 03, an API server on etcd, driven by kubectl.
//! - [`controllers`]: chapter 05, the Deployment's ReplicaSet and pods,
//!   and a cascading delete.

mod cluster;
mod container;
mod controllers;

use anyhow::{Context, Result};

/// Runs the demo from start to end.
pub fn run() -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("orc-demo-")
        .tempdir()
        .context("creating the demo's directory")?;
    // The runtime refuses to clone from a threaded process (chapter 01), so
    // the container part runs before the async runtime starts any thread.
    container::run(dir.path())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(cluster::run(dir.path()))?;
    heading("What is not built yet");
    println!(
        "The scheduler (04), services (06) and ingress (07) are not built yet, so the\n\
         Deployment's pods above waited for a node and the Service has no endpoints.\n\
         The README's status table says what works today."
    );
    Ok(())
}

/// A section title.
fn heading(title: &str) {
    println!("\n== {title} ==\n");
}

/// Shows a command the way a reader would type it.
fn show_command(command: &str) {
    println!("$ {command}");
}
