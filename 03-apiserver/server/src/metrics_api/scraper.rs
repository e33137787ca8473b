//! The scraper: every resolution, every node's `/stats/summary`.
//!
//! metrics-server's loop, in the API server: list the Nodes, ask each
//! node's agent for its summary at the same time (one slow node does not
//! delay the others' figures, and each request gives up after the
//! resolution, before the next round), and hand every answer to the
//! [`UsageStore`](super::window::UsageStore). A node that does not answer
//! is forgotten until it does, so its stale figures are never served:
//! `kubectl top node` shows it as `<unknown>`, as it does with
//! metrics-server.
//!
//! The agent is reached through [`crate::handlers::logs::agent_client`],
//! the same address and client `kubectl logs` uses: securing that hop
//! secures this one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::SharedUsage;
use super::window::Summary;
use crate::handlers::logs::{agent_client, error_chain};
use crate::server::AppState;

// ANCHOR: scrape_every
/// Scrapes every `resolution`, for ever (the server's task ends it).
pub async fn scrape_every(state: Arc<AppState>, resolution: Duration) {
    let mut ticks = tokio::time::interval(resolution);
    // A slow round is not followed by a burst of catch-up rounds.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        scrape_once(&state, &state.usage, resolution).await;
    }
}
// ANCHOR_END: scrape_every

/// One round: every node's summary into `usage`.
pub async fn scrape_once(state: &AppState, usage: &SharedUsage, timeout: Duration) {
    let Some(nodes) = lookup_nodes(state).await else {
        return;
    };
    let mut requests = tokio::task::JoinSet::new();
    for node in nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or("").to_string();
        let agent = agent_client(state, &node).map(|(base, agents)| (base, agents.http().clone()));
        requests.spawn(async move {
            let summary = match agent {
                Ok((base, client)) => fetch(&base, &client, timeout).await,
                Err(error) => Err(error.to_string()),
            };
            (name, summary)
        });
    }
    let mut answered = vec![];
    while let Some(joined) = requests.join_next().await {
        let Ok((name, summary)) = joined else {
            continue;
        };
        match summary {
            Ok(summary) => {
                usage
                    .write()
                    .expect("usage lock poisoned")
                    .record(&name, &summary);
                answered.push(name);
            }
            Err(error) => tracing::debug!(node = %name, %error, "scraping the node's agent"),
        }
    }
    usage
        .write()
        .expect("usage lock poisoned")
        .keep_nodes(&answered);
}

/// The Node objects, from etcd.
async fn lookup_nodes(state: &AppState) -> Option<Vec<Value>> {
    let resource = orc_client::resources::lookup("", "v1", "nodes")?;
    let prefix = crate::storage::prefix(resource, None);
    match state.store.list(&prefix, "", 0, 0).await {
        Ok(page) => Some(page.items.into_iter().map(|(_, node)| node).collect()),
        Err(error) => {
            tracing::warn!(%error, "listing nodes to scrape");
            None
        }
    }
}

/// The summary of the agent at `base`, or why there is none.
async fn fetch(base: &str, client: &reqwest::Client, timeout: Duration) -> Result<Summary, String> {
    let url = format!("{base}/stats/summary");
    let response = client
        .get(&url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
    if !response.status().is_success() {
        let code = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(format!("{url}: {code}: {}", text.trim_end()));
    }
    response
        .json()
        .await
        .map_err(|e| format!("{url}: {}", error_chain(&e)))
}
