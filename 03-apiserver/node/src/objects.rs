//! The ConfigMaps, Secrets and PersistentVolumeClaims a node's pods name,
//! for chapter 02's agent.
//!
//! The agent resolves `env[].valueFrom` and `envFrom` when a container
//! starts, and fills ConfigMap and Secret volumes at every sync, through
//! its [`ObjectSource`] seam. [`ApiObjects`] answers from memory, so a
//! lookup costs no request: before a pod's volumes are first set up the
//! agent awaits [`ObjectSource::fetch_for_pod`], which starts one watch
//! per Secret and ConfigMap the pod names ([`ObjectWatches`], as the
//! kubelet's managers do: the Node authorizer lets a node read only
//! those) and asks for its ServiceAccount tokens. An object created after
//! the pod is seen at the next sync (the agent retries a container
//! waiting in `CreateContainerConfigError`).
//!
//! Claims and their volumes are got by name before each container start
//! ([`ClaimedVolumes`]): the Node authorizer lets a node get its pods'
//! claims and their volumes, and never list or watch them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine;
use orc_client::informer::Cache;
use orc_client::pod_references::references;
use orc_pod::env::{ClaimedVolume, Fetched, ObjectSource};
use orc_pod::pod_spec::Pod;
use orc_pod::volumes::source::ServiceAccountTokenProjection;
use serde_json::Value;

use crate::local_volumes::ClaimedVolumes;
use crate::object_watches::ObjectWatches;
use crate::tokens::ServiceAccountTokens;

/// ConfigMaps and Secrets from one watch each, claims and volumes got by
/// name, and the pods' ServiceAccount tokens from TokenRequest
/// (`tokens.rs`).
pub struct ApiObjects {
    /// The node's pods as the API has them (keys `namespace/name`): what
    /// they name is what is followed.
    pub pods: Arc<Cache>,
    pub config_maps: ObjectWatches,
    pub secrets: ObjectWatches,
    /// The PersistentVolumeClaims the pods name, and their volumes.
    pub claims: ClaimedVolumes,
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

    fn fetch_for_pod<'a>(&'a self, pod: &'a Pod) -> Fetched<'a> {
        Box::pin(async move {
            let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
            // A static pod (from a manifest file) is not in the API: it
            // may name nothing there.
            if let Some(object) = self.pods.get(&key) {
                let names = references(&object);
                let ns = &pod.metadata.namespace;
                self.secrets.ensure(ns, &names.secrets).await;
                self.config_maps.ensure(ns, &names.config_maps).await;
                self.claims.fetch(ns, &names.claims).await;
            }
            self.tokens.fetch_for(pod).await;
        })
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
        self.claims.get(namespace, name)
    }
}

impl ApiObjects {
    // ANCHOR: follow_referenced
    /// Follows the Secrets and ConfigMaps the node's pods name, and no
    /// others, and forgets the claims they no longer name: called at
    /// every change to the node's pods.
    pub fn follow_referenced(&self) {
        let (mut secrets, mut config_maps) = (BTreeSet::new(), BTreeSet::new());
        let mut claims = BTreeSet::new();
        for pod in self.pods.list() {
            let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str);
            let ns = ns.unwrap_or_default();
            let names = references(&pod);
            secrets.extend(names.secrets.iter().map(|n| format!("{ns}/{n}")));
            config_maps.extend(names.config_maps.iter().map(|n| format!("{ns}/{n}")));
            claims.extend(names.claims.iter().map(|n| format!("{ns}/{n}")));
        }
        self.secrets.follow_only(&secrets);
        self.config_maps.follow_only(&config_maps);
        self.claims.keep_only(&claims);
    }
    // ANCHOR_END: follow_referenced
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
        let client = orc_client::Client::new("http://127.0.0.1:1");
        let kind = |plural| orc_client::resources::lookup("", "v1", plural).unwrap();
        let objects = ApiObjects {
            pods: Arc::new(Cache::default()),
            config_maps: ObjectWatches::new(client.clone(), kind("configmaps")).holding(vec![
                json!({"metadata": {"name": "web", "namespace": "shop"}, "data": {"port": "8080"}}),
            ]),
            secrets: ObjectWatches::new(client.clone(), kind("secrets")).holding(vec![json!({
                "metadata": {"name": "db", "namespace": "shop"}, "data": {"password": "czNjcjN0"}
            })]),
            claims: ClaimedVolumes::new(client.clone()),
            tokens: ServiceAccountTokens::new(client),
        };
        let web = objects.config_map("shop", "web").unwrap().unwrap();
        assert_eq!(web["port"], "8080");
        assert_eq!(objects.config_map("default", "web"), Ok(None));
        let db = objects.secret("shop", "db").unwrap().unwrap();
        assert_eq!(db["password"], b"s3cr3t");
    }
}
