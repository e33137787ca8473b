//! The ingress in `orc up`: every node runs chapter 07's controller
//! inside its agent (`orc agent --ingress-*`), and the cluster gets orc's
//! IngressClass as its default.
//!
//! Where an Ingress is served: ports 80 and 443 of every node's address,
//! as k3s' bundled Traefik or ingress-nginx as a DaemonSet with host
//! ports. Each agent labels its Node `ingress.orc.dev/proxy=true`, and
//! each node's controller publishes the address of every such node that
//! is Ready in `status.loadBalancer.ingress` (`kubectl get ingress` shows
//! them as ADDRESS): all read the same Nodes, so they agree on the list,
//! and a node stopped later leaves it once it is NotReady.

use anyhow::{Context, Result};
use orc_client::Client;
use orc_client::resources::by_kind;
use orc_ingress::routes::class::{CLASS, default_class};

/// Where each node's ingress serves `/healthz` and `/metrics`
/// (ingress-nginx's port); `orc status` asks it there.
pub const ADMIN_PORT: u16 = 10254;

/// The ports every node's ingress listens on (`orc up --ingress-*-port`).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub http: u16,
    pub https: u16,
}

/// The `orc agent` flags that place a node's ingress: its ports (what
/// it publishes, the agents find from the Nodes).
pub fn agent_flags(ports: Ports) -> Vec<String> {
    vec![
        format!("--ingress-http-port={}", ports.http),
        format!("--ingress-https-port={}", ports.https),
        format!("--ingress-admin-port={ADMIN_PORT}"),
    ]
}

/// Creates orc's IngressClass, the default, unless a class of that name
/// exists (one a person made or edited is left as it is). Made even with
/// `--disable ingress`: the class names `orc.dev/ingress`, which a
/// student's `orc-ingress` serves by default.
pub async fn ensure_default_class(client: &Client) -> Result<()> {
    let classes = by_kind("networking.k8s.io/v1", "IngressClass")
        .context("the resource table has no IngressClass")?;
    match client.create(classes, None, &default_class()).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating the default IngressClass {CLASS}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_serves_the_same_ports() {
        let flags = agent_flags(Ports {
            http: 80,
            https: 443,
        });
        assert_eq!(
            flags,
            [
                "--ingress-http-port=80",
                "--ingress-https-port=443",
                "--ingress-admin-port=10254",
            ]
        );
    }
}
