//! `imagePullPolicy`: when the agent fetches a container's image before it
//! starts it, as the kubelet's image manager (`EnsureImageExists`) decides.
//!
//! - `Always`: fetch at every start, present or not. A tag is a name that
//!   can be moved; `Always` is how a restarted container picks up what the
//!   tag names *now*. A registry that answers "nothing changed" makes it
//!   cheap: only the manifest travels, the layers are already there.
//! - `IfNotPresent`: fetch only when the node does not have the image
//!   (the kubelet's `Pulled` event then says "already present on machine").
//! - `Never`: never fetch; a missing image is `ErrImageNeverPull`.
//!
//! A container that says nothing gets the API server's default, which the
//! agent repeats for static pods (they never pass through the API server):
//! `Always` for `:latest` or no tag, `IfNotPresent` otherwise.
//!
//! What "fetch" means depends on where the image comes from
//! ([`crate::image::ImageSource::pull`]): a registry is asked again; on a
//! node that never pulls (`--no-pull`), the store *is* the registry and the
//! tag is looked up again; the node's own `busybox` is built from its
//! binary when missing. Everything here is pure; `actions.rs` acts on it.

use serde::{Deserialize, Serialize};

/// `imagePullPolicy`, Kubernetes' three values.
// ANCHOR: pull_policy
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}
// ANCHOR_END: pull_policy

/// What the agent does about an image before it starts a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullDecision {
    /// Use the image on the node: `Pulled`, "already present on machine".
    UsePresent,
    /// Fetch it: `Pulling`, then `Pulled` (or `ErrImagePull`).
    Pull,
    /// Missing, and the policy forbids fetching: `ErrImageNeverPull`.
    NeverPull,
}

// ANCHOR: default_policy
/// The policy of a container that names none: `Always` when the image has
/// no tag or the tag `latest` (the image behind it may change at any
/// time), `IfNotPresent` for any other tag or a digest. A `:` before the
/// last `/` is a registry's port, not a tag.
pub fn default_policy(image: &str) -> PullPolicy {
    let name = image.split('@').next().unwrap_or(image);
    let digest = image.contains('@');
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, tag)| tag);
    match tag {
        Some("latest") => PullPolicy::Always,
        None if !digest => PullPolicy::Always,
        _ => PullPolicy::IfNotPresent,
    }
}
// ANCHOR_END: default_policy

// ANCHOR: decide
/// What to do about an image under `policy`, given whether the node has it.
pub fn decide(policy: PullPolicy, present: bool) -> PullDecision {
    match (policy, present) {
        (PullPolicy::Always, _) => PullDecision::Pull,
        (_, true) => PullDecision::UsePresent,
        (PullPolicy::IfNotPresent, false) => PullDecision::Pull,
        (PullPolicy::Never, false) => PullDecision::NeverPull,
    }
}
// ANCHOR_END: decide

/// The waiting message (and event) of a missing image under `Never`,
/// in the kubelet's words.
pub fn never_pull_message(image: &str) -> String {
    format!("Container image {image:?} is not present with pull policy of Never")
}

#[cfg(test)]
mod tests {
    use super::*;
    use PullDecision::*;
    use PullPolicy::*;

    #[test]
    fn latest_or_no_tag_means_always() {
        assert_eq!(default_policy("busybox"), Always);
        assert_eq!(default_policy("busybox:latest"), Always);
        assert_eq!(default_policy("127.0.0.1:5000/app"), Always);
        assert_eq!(default_policy("127.0.0.1:5000/app:latest"), Always);
        assert_eq!(default_policy("busybox:1.36"), IfNotPresent);
        assert_eq!(default_policy("127.0.0.1:5000/app:v2"), IfNotPresent);
        assert_eq!(default_policy("app@sha256:abcd"), IfNotPresent);
        assert_eq!(default_policy("app:latest@sha256:abcd"), Always);
    }

    #[test]
    fn each_policy_decides_as_the_kubelet() {
        assert_eq!(decide(Always, true), Pull);
        assert_eq!(decide(Always, false), Pull);
        assert_eq!(decide(IfNotPresent, true), UsePresent);
        assert_eq!(decide(IfNotPresent, false), Pull);
        assert_eq!(decide(Never, true), UsePresent);
        assert_eq!(decide(Never, false), NeverPull);
        assert_eq!(
            never_pull_message("app:2"),
            "Container image \"app:2\" is not present with pull policy of Never"
        );
    }
}
