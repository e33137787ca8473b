//! The names orc's local-path storage is recognised by, shared by the
//! provisioner (chapter 05's PersistentVolume controller) that makes the
//! volumes and the node agent that makes and removes their directories.
//!
//! Only the node can touch the node's disk, and components meet only at
//! the API: so the provisioner writes where the directory goes into the
//! PersistentVolume, and the agent reads it back from there. These names
//! are that agreement.

/// The provisioner name a StorageClass gives (`provisioner:`).
pub const PROVISIONER: &str = "orc.dev/local-path";
/// The StorageClass orc creates for it, the cluster's default.
pub const CLASS: &str = "local-path";
/// On a Node: the agent's state directory, under which the node's
/// local-path volumes live (`<state>/local-path/`).
pub const STATE_DIR_ANNOTATION: &str = "orc.dev/state-dir";
/// The directory under the state directory that holds the volumes.
pub const VOLUMES_DIR: &str = "local-path";
/// On a provisioned PersistentVolume: it stays until its node's agent has
/// removed the directory (then the agent removes this finalizer).
pub const CLEANUP_FINALIZER: &str = "orc.dev/local-path-cleanup";
/// Which provisioner made a volume (Kubernetes' annotation).
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
