//! The ingress in `orc up`: every node runs chapter 07's controller
//! inside its agent (`orc agent --ingress-*`), and the cluster gets orc's
//! IngressClass as its default.
//!
//! Where an Ingress is served: ports 80 and 443 of every node's address,
//! as k3s' bundled Traefik or ingress-nginx as a DaemonSet with host
//! ports. Each node's controller publishes *every* node's address in
//! `status.loadBalancer.ingress` (`kubectl get ingress` shows them as
//! ADDRESS): they must agree on the list, or each would rewrite the
//! others' status in turn. The list is fixed when `orc up` starts; a node
//! stopped later stays in it.

use std::net::IpAddr;

use anyhow::{Context, Result};
use orc_client::Client;
use orc_client::resources::by_kind;
use orc_ingress::routes::class::{CLASS, default_class};

use super::network::Network;

/// Where each node's ingress serves `/healthz` and `/metrics`
/// (ingress-nginx's port); `orc status` asks it there.
pub const ADMIN_PORT: u16 = 10254;

/// The ports every node's ingress listens on (`orc up --ingress-*-port`).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub http: u16,
    pub https: u16,
}

/// The `orc agent` flags that place a node's ingress: its ports, and
/// every node's address to publish.
pub fn agent_flags(network: &Network, ports: Ports) -> Vec<String> {
    let mut flags = vec![
        format!("--ingress-http-port={}", ports.http),
        format!("--ingress-https-port={}", ports.https),
        format!("--ingress-admin-port={ADMIN_PORT}"),
    ];
    flags.extend(
        network
            .nodes
            .iter()
            .map(|n| format!("--ingress-publish-address={}", IpAddr::V4(n.address))),
    );
    flags
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
    fn every_node_publishes_every_node_address() {
        let net = super::super::network::plan("orc-abc123", 2, "").unwrap();
        let flags = agent_flags(
            &net,
            Ports {
                http: 80,
                https: 443,
            },
        );
        assert_eq!(
            flags,
            [
                "--ingress-http-port=80",
                "--ingress-https-port=443",
                "--ingress-admin-port=10254",
                "--ingress-publish-address=192.168.200.1",
                "--ingress-publish-address=192.168.200.2",
            ]
        );
    }
}
