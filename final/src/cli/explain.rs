//! `orc explain pod NAME`: the scheduler's last decision about a pod, node
//! by node, and for a pending pod the smallest change that would let it
//! fit (chapter 04). Kubernetes has no such command: its scheduler keeps
//! only counted reasons. orc's keeps each decision whole and serves it on
//! `/explain/pods/{namespace}/{name}`; this verb fetches and prints it.

use anyhow::{Context, Result, bail};
use clap::Args;
use orc_client::{Client, Method, encode};
use orc_scheduler::explain::{Explanation, render};

use super::{Session, Target};

#[derive(Args)]
pub struct ExplainArgs {
    /// What to explain: `pod`.
    pub kind: String,
    /// The pod's name.
    pub name: String,
    /// The scheduler's HTTP address (`orc server --scheduler-listen`;
    /// kube-scheduler's port is 10259).
    #[arg(long, env = "ORC_SCHEDULER", default_value = "http://127.0.0.1:10259")]
    pub scheduler: String,
    #[command(flatten)]
    pub target: Target,
}

// ANCHOR: run
pub async fn run(args: ExplainArgs) -> Result<()> {
    if !matches!(args.kind.as_str(), "pod" | "pods" | "po") {
        bail!(
            "orc explain explains pods only, not {:?}: try `orc explain pod NAME`",
            args.kind
        );
    }
    let session = Session::open(&args.target).await?;
    let path = format!(
        "/explain/pods/{}/{}",
        encode(&session.namespace),
        encode(&args.name)
    );
    let answer = Client::new(&args.scheduler)
        .send_path(Method::GET, &path, None, None)
        .await
        .with_context(|| {
            format!(
                "asking the scheduler at {} about pod {}/{} (is `orc server` running with \
                 --scheduler-listen, and is --scheduler its address?)",
                args.scheduler, session.namespace, args.name
            )
        })?;
    let explanation: Explanation = serde_json::from_value(answer)
        .context("reading the scheduler's explanation (a scheduler of another version?)")?;
    print!("{}", render(&explanation));
    Ok(())
}
// ANCHOR_END: run
