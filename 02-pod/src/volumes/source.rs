//! The volume sources the agent fills with files, as serde types:
//! `configMap`, `secret`, `downwardAPI` and `projected`, with Kubernetes'
//! field names. (`emptyDir` and `hostPath`, plain directories, are in
//! [`crate::pod_spec`].)

use serde::{Deserialize, Serialize};

use crate::pod_spec::{FieldRef, Quantity, ResourceFieldRef};

/// The permission bits a projected file gets when neither the item's
/// `mode` nor the volume's `defaultMode` says otherwise: 0644, Kubernetes'
/// `ConfigMapVolumeSourceDefaultMode` (and the Secret's, and the rest).
pub const DEFAULT_MODE: u32 = 0o644;

/// One key of a ConfigMap or Secret as a file: `key` → `path` (relative to
/// the volume), with its own `mode`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyToPath {
    pub key: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `configMap: {name, items, defaultMode, optional}`: every key a file
/// (or only `items`), updated in place when the ConfigMap changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolumeSource {
    #[serde(default)]
    pub name: String,
    /// Only these keys, at these paths; a listed key that is missing is an
    /// error unless `optional`. Empty: every key, at its own name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<u32>,
    /// A missing ConfigMap gives an empty volume instead of a pod that
    /// waits with `FailedMount`.
    #[serde(default)]
    pub optional: bool,
}

/// `secret: {secretName, items, defaultMode, optional}`: as a ConfigMap,
/// the values decoded from base64. Note the field is `secretName` here
/// and `name` in a projected volume's source, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeSource {
    #[serde(default)]
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<u32>,
    #[serde(default)]
    pub optional: bool,
}

/// A ConfigMap or Secret inside a `projected` volume: `name`, `items`,
/// `optional` (the mode is the projected volume's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectProjection {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(default)]
    pub optional: bool,
}

/// One file of a `downwardAPI` volume: a pod field or a container's
/// resource, at `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiVolumeFile {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `downwardAPI: {items, defaultMode}`: the pod's own fields as files;
/// labels and annotations follow the pod's changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiVolumeSource {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DownwardApiVolumeFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<u32>,
}

/// The downward API inside a `projected` volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DownwardApiProjection {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DownwardApiVolumeFile>,
}

/// `serviceAccountToken: {audience, expirationSeconds, path}`: a token of
/// the pod's ServiceAccount in file `path`, which the node agent asks
/// TokenRequest for, bound to the pod, and replaces before it expires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountTokenProjection {
    /// Who the token is for; empty: the API server itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audience: String,
    /// How long each token lives (Kubernetes' default: an hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
    pub path: String,
}

impl ServiceAccountTokenProjection {
    /// Kubernetes' default lifetime when `expirationSeconds` is unset.
    pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

    /// The lifetime to ask for.
    pub fn expiration(&self) -> i64 {
        self.expiration_seconds
            .unwrap_or(Self::DEFAULT_EXPIRATION_SECONDS)
    }
}

/// One source of a `projected` volume: exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeProjection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ObjectProjection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectProjection>,
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiProjection>,
    /// A token of the pod's ServiceAccount, bound to the pod (the API
    /// server's `ServiceAccount` admission step adds one to every pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token: Option<ServiceAccountTokenProjection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_trust_bundle: Option<serde_json::Value>,
}

/// `projected: {sources, defaultMode}`: several sources in one directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectedVolumeSource {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<VolumeProjection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<u32>,
}

/// `emptyDir: {medium, sizeLimit}`. `medium: Memory` is a tmpfs of the
/// node mounted for the pod, capped at `sizeLimit`; the default medium is
/// a directory on the node's disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub medium: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}
