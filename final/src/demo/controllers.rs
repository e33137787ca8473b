//! Chapter 05 in the demo: the controllers turn the Deployment into a
//! ReplicaSet and pods, and a foreground delete takes the tree away again.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use orc_client::Client;
use orc_client::resources::by_kind;
use serde_json::Value;

use super::cluster::kubectl;
use super::heading;

/// Runs the controllers against the demo's API server at `base` until the
/// Deployment `web` has its pods, shows them, then deletes it.
pub async fn run(client: &Client, base: &str, kubeconfig: &Path) -> Result<()> {
    heading("Chapter 05: controllers");
    let controllers = tokio::spawn(orc_controllers::run(orc_controllers::Config::new(base)));
    println!("the controllers (garbage collector, ReplicaSet, Deployment) are running");
    let deployments =
        by_kind("apps/v1", "Deployment").ok_or_else(|| anyhow!("the API serves no Deployments"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let web = client.get(deployments, Some("demo"), "web").await?;
        if web.pointer("/status/replicas").and_then(Value::as_i64) == Some(3) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the Deployment web got no pods in 30 s: {}", web["status"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "The Deployment controller made a ReplicaSet, and the ReplicaSet controller its pods:"
    );
    kubectl(
        kubeconfig,
        "get deployments,replicasets,pods -n demo -l app=web",
    )?;
    println!("\n(No scheduler yet, chapter 04: the pods wait for a node, Pending.)");
    println!("\nEach pod names its ReplicaSet as owner, which names the Deployment; deleting the");
    println!(
        "Deployment in the foreground lets the garbage collector take the tree away, leaves first:"
    );
    kubectl(
        kubeconfig,
        "delete deployment web -n demo --cascade=foreground",
    )?;
    kubectl(kubeconfig, "get replicasets,pods -n demo -l app=web")?;
    controllers.abort();
    Ok(())
}
