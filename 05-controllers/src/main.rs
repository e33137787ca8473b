//! `orc-controllers`: chapter 05's controller manager as a program.
//!
//! ```text
//! orc-controllers --server http://127.0.0.1:6443 [--token TOKEN]
//! ```

use clap::Parser;

/// orc's controllers (the garbage collector, ReplicaSets, Deployments)
/// against one API server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The API server's URL.
    #[arg(long, env = "ORC_SERVER", default_value = "http://127.0.0.1:6443")]
    server: String,
    /// A bearer token for the API server.
    #[arg(long, env = "ORC_TOKEN")]
    token: Option<String>,
}

#[tokio::main]
async fn main() {
    orc_client::logging::init();
    let args = Args::parse();
    let config = orc_controllers::Config {
        token: args.token,
        ..orc_controllers::Config::new(args.server)
    };
    orc_controllers::run(config).await;
}
