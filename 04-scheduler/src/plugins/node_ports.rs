//! `NodePorts`: two pods on one node cannot take the same host port.

use crate::cache::NodeInfo;
use crate::framework::{Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::pod::{HostPort, Part};

/// Kubernetes' reason.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The plugin.
pub struct NodePorts;

const ALL_ADDRESSES: &str = "0.0.0.0";

// ANCHOR: port_conflict
/// Whether `wanted` clashes with a port already `used` on the node, as
/// Kubernetes' `HostPortInfo.CheckConflict`: same protocol and port, and
/// either side listening on every address, or both on the same one.
pub fn conflicts(wanted: &HostPort, used: &[HostPort]) -> bool {
    used.iter().any(|u| {
        u.protocol == wanted.protocol
            && u.port == wanted.port
            && (wanted.ip == ALL_ADDRESSES || u.ip == ALL_ADDRESSES || u.ip == wanted.ip)
    })
}
// ANCHOR_END: port_conflict

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }

    fn events(&self) -> Events {
        Events::POD_DELETED.or(Events::NODE_ADDED)
    }

    fn pre_filter(&self, cycle: Cycle, _state: &mut CycleState) -> Result<PreFilterResult, Status> {
        if let Some(problem) = cycle.pod.problem(Part::HostPorts) {
            return Err(Status::unresolvable(problem));
        }
        if cycle.pod.host_ports.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        Ok(PreFilterResult::AllNodes)
    }

    fn filter(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> Status {
        if cycle
            .pod
            .host_ports
            .iter()
            .any(|p| conflicts(p, &node.used_ports))
        {
            Status::unschedulable(vec![REASON.into()])
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(protocol: &str, ip: &str, port: i64) -> HostPort {
        HostPort {
            protocol: protocol.into(),
            ip: ip.into(),
            port,
        }
    }

    #[test]
    fn clashes_by_protocol_port_and_address() {
        let used = [port("TCP", "10.0.0.1", 80)];
        assert!(conflicts(&port("TCP", "0.0.0.0", 80), &used));
        assert!(conflicts(&port("TCP", "10.0.0.1", 80), &used));
        assert!(!conflicts(&port("TCP", "10.0.0.2", 80), &used));
        assert!(!conflicts(&port("UDP", "0.0.0.0", 80), &used));
        assert!(conflicts(
            &port("TCP", "10.0.0.2", 80),
            &[port("TCP", "0.0.0.0", 80)]
        ));
    }
}
