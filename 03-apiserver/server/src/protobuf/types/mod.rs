//! orc's protobuf schema: one file per API group, and which message a
//! top-level `apiVersion`/`kind` decodes with.
//!
//! Each table lists, per message, field number → JSON name and kind of
//! value, for every field Kubernetes v1.32 defines on that message, so a
//! body from kubectl or any client-go program decodes to exactly the JSON
//! it would have sent. Core `v1` is split by topic (objects, pods,
//! containers, volumes, nodes) to keep each file about one thing.

use super::message::Message;

pub mod apps;
pub mod autoscaling;
pub mod batch;
pub mod container;
pub mod coordination;
pub mod core;
pub mod meta;
pub mod networking;
pub mod node;
pub mod pod;
pub mod volume;

// ANCHOR: roots
/// The message a top-level object of `api_version` and `kind` is encoded
/// with: the kinds orc serves, plus the bodies of the `scale` and
/// `binding` subresources and `DeleteOptions`.
pub fn root(api_version: &str, kind: &str) -> Option<&'static Message> {
    Some(match (api_version, kind) {
        ("v1", "ConfigMap") => &core::CONFIG_MAP,
        ("v1", "Secret") => &core::SECRET,
        ("v1", "Namespace") => &core::NAMESPACE,
        ("v1", "Service") => &core::SERVICE,
        ("v1", "Endpoints") => &core::ENDPOINTS,
        ("v1", "Event") => &core::EVENT,
        ("v1", "Binding") => &core::BINDING,
        ("v1", "Pod") => &pod::POD,
        ("v1", "Node") => &node::NODE,
        ("apps/v1", "Deployment") => &apps::DEPLOYMENT,
        ("apps/v1", "ReplicaSet") => &apps::REPLICA_SET,
        ("apps/v1", "DaemonSet") => &apps::DAEMON_SET,
        ("batch/v1", "Job") => &batch::JOB,
        ("networking.k8s.io/v1", "Ingress") => &networking::INGRESS,
        ("coordination.k8s.io/v1", "Lease") => &coordination::LEASE,
        ("autoscaling/v1", "Scale") => &autoscaling::SCALE,
        // Every group version registers DeleteOptions, so its apiVersion
        // is whichever the client's scheme picked.
        (_, "DeleteOptions") => &meta::DELETE_OPTIONS,
        _ => return None,
    })
}
// ANCHOR_END: roots
