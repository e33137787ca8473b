//! A silent node's pods, marked not ready: Kubernetes' `MarkPodsNotReady`,
//! decided purely.
//!
//! A node whose agent went quiet may still run its pods, or may be gone
//! with them; nobody can tell. Taint eviction waits minutes
//! (`tolerationSeconds`, 300 by default) before it moves them, but a
//! Service should stop sending them traffic at once. So when the node
//! lifecycle controller stops hearing from a node, it sets each of the
//! node's pods `Ready=False` through the `status` subresource: the
//! EndpointSlice controller then lists them as not ready, and traffic goes
//! to the pods that can answer. Only the `Ready` condition changes
//! (Kubernetes leaves `ContainersReady` as the agent last said); when the
//! agent speaks again it reports each pod's true state, which puts
//! `Ready` back (`03-apiserver/node/src/status_sync.rs`).

use jiff::Timestamp;
use orc_client::time;
use serde_json::{Value, json};

// ANCHOR: not_ready
/// The `status.conditions` to write so that `pod` reads not ready at
/// `now`, or `None` when it already does (or has no `Ready` condition:
/// a pod not started yet, which no Service counts anyway). The condition
/// keeps its reason and message, as Kubernetes' `UpdatePodCondition` does;
/// its status turns `False` and its transition time is now.
pub fn not_ready_conditions(pod: &Value, now: Timestamp) -> Option<Value> {
    let mut conditions = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()?;
    let ready = conditions.iter_mut().find(|c| c["type"] == "Ready")?;
    if ready["status"] == "False" {
        return None;
    }
    ready["status"] = json!("False");
    ready["lastTransitionTime"] = json!(time::format(now));
    Some(json!(conditions))
}
// ANCHOR_END: not_ready

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ready_condition_turns_false() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let pod = json!({"status": {"conditions": [
            {"type": "ContainersReady", "status": "True"},
            {"type": "Ready", "status": "True", "lastTransitionTime": "then"}]}});
        let conditions = not_ready_conditions(&pod, now).unwrap();
        assert_eq!(
            conditions[0],
            json!({"type": "ContainersReady", "status": "True"})
        );
        assert_eq!(
            conditions[1],
            json!({"type": "Ready", "status": "False", "lastTransitionTime": time::format(now)})
        );
        let marked = json!({"status": {"conditions": conditions}});
        assert_eq!(not_ready_conditions(&marked, now), None, "once");
        let pending = json!({"status": {"phase": "Pending"}});
        assert_eq!(not_ready_conditions(&pending, now), None);
    }
}
