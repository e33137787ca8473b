//! The ConfigMaps, Secrets and PersistentVolumeClaims a node's pods name,
//! for chapter 02's agent.
//!
//! The agent resolves `env[].valueFrom` and `envFrom` when a container
//! starts, through its [`ObjectSource`] seam. [`ApiObjects`] answers from
//! two informers, one over ConfigMaps and one over Secrets, so a lookup
//! costs no request and an object created after the pod is seen at the
//! next sync (the agent retries a container waiting in
//! `CreateContainerConfigError`).
//!
//! The kubelet watches only the objects its pods reference (its
//! `configMapManager` and `secretManager`, one watch per object) and the
//! API server's node authorizer lets it read no others. orc has no
//! authorization yet (chapter 03), so one informer per kind is the simpler
//! choice; it keeps every Secret of the cluster in the agent's memory,
//! which a real cluster must not do.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use orc_client::informer::Cache;
use orc_pod::env::{ClaimedVolume, ObjectSource, TokensFetched};
use orc_pod::pod_spec::Pod;
use orc_pod::volumes::source::ServiceAccountTokenProjection;
use serde_json::Value;

use crate::tokens::ServiceAccountTokens;

/// ConfigMaps, Secrets, claims and volumes from informers' caches, and
/// the pods' ServiceAccount tokens from TokenRequest (`tokens.rs`).
pub struct ApiObjects {
    pub config_maps: Arc<Cache>,
    pub secrets: Arc<Cache>,
    /// PersistentVolumeClaims (keys `namespace/name`).
    pub claims: Arc<Cache>,
    /// PersistentVolumes (keys: names).
    pub volumes: Arc<Cache>,
    pub tokens: ServiceAccountTokens,
}

impl ObjectSource for ApiObjects {
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        let Some(object) = self.config_maps.get(&format!("{namespace}/{name}")) else {
            return Ok(None);
        };
        Ok(Some(strings(&object["data"], |text| Ok(text.to_string()))?))
    }

    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        let Some(object) = self.secrets.get(&format!("{namespace}/{name}")) else {
            return Ok(None);
        };
        // `data` is base64 on the wire; the API server has already merged
        // `stringData` into it.
        Ok(Some(strings(&object["data"], |text| {
            decode(text, "secret", namespace, name)
        })?))
    }

    fn fetch_service_account_tokens<'a>(&'a self, pod: &'a Pod) -> TokensFetched<'a> {
        Box::pin(self.tokens.fetch_for(pod))
    }

    fn service_account_token(
        &self,
        pod: &Pod,
        projection: &ServiceAccountTokenProjection,
    ) -> Result<String, String> {
        self.tokens.token(pod, projection)
    }

    fn config_map_binary_data(&self, namespace: &str, name: &str) -> BTreeMap<String, Vec<u8>> {
        let Some(object) = self.config_maps.get(&format!("{namespace}/{name}")) else {
            return BTreeMap::new();
        };
        // The API server checked the base64 on write; a value that is not
        // is left out, and said so.
        strings(&object["binaryData"], |text| {
            decode(text, "configmap", namespace, name)
        })
        .unwrap_or_else(|e| {
            tracing::warn!("{e}");
            BTreeMap::new()
        })
    }

    fn claimed_volume(&self, namespace: &str, name: &str) -> Result<ClaimedVolume, String> {
        let Some(claim) = self.claims.get(&format!("{namespace}/{name}")) else {
            return Err(format!("persistentvolumeclaim \"{name}\" not found"));
        };
        crate::local_volumes::claimed_volume(&claim, |pv| self.volumes.get(pv))
    }
}

/// One base64 value of object `kind` `namespace/name`.
fn decode(text: &str, kind: &str, namespace: &str, name: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("{kind} {namespace}/{name}: data is not base64: {e}"))
}

/// A `data` map of strings, each converted by `convert`.
fn strings<T>(
    data: &Value,
    convert: impl Fn(&str) -> Result<T, String>,
) -> Result<BTreeMap<String, T>, String> {
    let mut out = BTreeMap::new();
    for (key, value) in data.as_object().into_iter().flatten() {
        out.insert(key.clone(), convert(value.as_str().unwrap_or_default())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_come_from_the_caches_with_secrets_decoded() {
        let objects = ApiObjects {
            config_maps: Arc::new(Cache::default()),
            secrets: Arc::new(Cache::default()),
            claims: Arc::new(Cache::default()),
            volumes: Arc::new(Cache::default()),
            tokens: ServiceAccountTokens::new(orc_client::Client::new("http://127.0.0.1:1")),
        };
        objects.config_maps.replace(vec![json!({
            "metadata": {"name": "web", "namespace": "shop"}, "data": {"port": "8080"}
        })]);
        objects.secrets.replace(vec![json!({
            "metadata": {"name": "db", "namespace": "shop"}, "data": {"password": "czNjcjN0"}
        })]);
        let web = objects.config_map("shop", "web").unwrap().unwrap();
        assert_eq!(web["port"], "8080");
        assert_eq!(objects.config_map("default", "web"), Ok(None));
        let db = objects.secret("shop", "db").unwrap().unwrap();
        assert_eq!(db["password"], b"s3cr3t");
    }
}
