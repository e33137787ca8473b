//! # orc: the complete orchestrator (not built yet)
//!
//! This binary will compose every chapter's component: `orc up` runs an
//! all-in-one cluster on an embedded default, `orc server` and `orc agent` run
//! the control plane and a node, and the client verbs talk to the API.
//!
//! Until the chapters it composes exist, it only knows its version; the
//! README's status table says what is built.

use clap::Parser;

/// orc, a container orchestrator built the hard way.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    eprintln!("orc: the composed orchestrator is not built yet; see the README's status table");
    std::process::exit(2);
}
