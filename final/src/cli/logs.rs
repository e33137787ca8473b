//! `orc logs`: a container's output, from its node through the API server.
//!
//! Like `kubectl logs`, the CLI only asks the API server for
//! `/api/v1/namespaces/NS/pods/NAME/log`: the server finds the pod's node
//! and streams what that node's agent holds (chapter 03, "How `kubectl
//! logs` travels"). The bytes are written to stdout as they arrive, unchanged.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Args;
use orc_client::encode;

use super::{Session, Target};

#[derive(Args)]
pub struct LogsArgs {
    /// The pod (`web` or `pod/web`).
    pub pod: String,
    /// The container (default: the pod's only one, or the one its
    /// `kubectl.kubernetes.io/default-container` annotation names).
    #[arg(short, long)]
    pub container: Option<String>,
    /// Keep printing what the container writes, until its run ends.
    #[arg(short, long)]
    pub follow: bool,
    /// The previous run's log (after a restart).
    #[arg(short, long)]
    pub previous: bool,
    /// Only the last N lines; -1 shows everything, as in kubectl.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    #[command(flatten)]
    pub target: Target,
}

/// The log request's query: only what differs from the defaults, in
/// `PodLogOptions`' names, as kubectl sends it.
pub fn log_query(args: &LogsArgs) -> String {
    let mut params = vec![];
    if let Some(c) = &args.container {
        params.push(format!("container={}", encode(c)));
    }
    if args.follow {
        params.push("follow=true".into());
    }
    if args.previous {
        params.push("previous=true".into());
    }
    if args.tail != -1 {
        params.push(format!("tailLines={}", args.tail));
    }
    params.join("&")
}

// ANCHOR: logs
pub async fn run(args: LogsArgs) -> Result<()> {
    let session = Session::open(&args.target).await?;
    let name = match args.pod.split_once('/') {
        Some((typed, name)) => {
            let resource = session.discovery.by_name(typed)?;
            if resource.kind != "Pod" {
                bail!(
                    "orc logs shows pods' logs; {} is a {}",
                    args.pod,
                    resource.kind
                );
            }
            name
        }
        None => args.pod.as_str(),
    };
    let pods = session.discovery.by_name("pods")?;
    let path = format!(
        "{}/log?{}",
        pods.path(Some(&session.namespace), Some(name)),
        log_query(&args)
    );
    let mut response = session.client.stream_path(&path).await?;
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading the log of pod {name}"))?
    {
        out.write_all(&chunk)?;
        // Followed lines show as they come, not when a buffer fills.
        out.flush()?;
    }
    Ok(())
}
// ANCHOR_END: logs
