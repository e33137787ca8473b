//! The node agent's ServiceAccount tokens: the kubelet's token manager.
//!
//! Every pod the API server admits gets a `kube-api-access-*` volume with
//! a `serviceAccountToken` source. The agent fills it with a token it asks
//! the API server for (`POST .../serviceaccounts/<name>/token`, a
//! TokenRequest) *bound to the pod*: `boundObjectRef` names the pod and
//! its uid, so the API server stops accepting the token once the pod is
//! deleted. Tokens expire, so the agent asks again once 80 % of a token's
//! life has passed (or after a day, whichever comes first); the periodic
//! volume refresh then swaps the new token in atomically.
//!
//! [`ServiceAccountTokens`] keeps the tokens by what they were asked for
//! (pod, account, audience, lifetime). The agent awaits
//! [`ServiceAccountTokens::fetch_for`] before a pod's first mount;
//! [`ServiceAccountTokens::token`] answers from memory at every sync and
//! renews a token that is due in the background.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orc_client::{Client, Method};
use orc_pod::pod_spec::Pod;
use orc_pod::volumes::source::ServiceAccountTokenProjection;
use serde_json::{Value, json};

/// The account a pod runs as when its spec names none (the API server's
/// admission step fills the field; this is for pods made without it).
const DEFAULT_ACCOUNT: &str = "default";

/// A token older than this is renewed whatever its lifetime (the
/// kubelet's `maxTTL`).
const MAX_AGE_SECONDS: i64 = 24 * 60 * 60;

/// What a token was asked for: the same request gets the same token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    namespace: String,
    account: String,
    pod: String,
    pod_uid: String,
    projection: ServiceAccountTokenProjection,
}

/// A token and its dates, seconds since the epoch.
#[derive(Debug, Clone)]
struct Issued {
    token: String,
    /// When it became valid: its expiry less the lifetime asked for.
    issued_at: i64,
    expires_at: i64,
}

/// What the manager holds for one key.
#[derive(Debug, Default)]
struct Entry {
    /// The latest token, if any was ever issued.
    issued: Option<Issued>,
    /// Why the last request failed: the `FailedMount` reason until one
    /// succeeds.
    error: Option<String>,
    /// A renewal is running in the background: one at a time.
    renewing: bool,
}

// ANCHOR: requires_refresh
/// Whether a token valid from `issued_at` to `expires_at` should be
/// replaced at `now`: once 80 % of its life has passed, or it is a day
/// old, as the kubelet's token manager decides. The other 20 % is the
/// margin for the API server being unreachable for a while.
pub fn requires_refresh(issued_at: i64, expires_at: i64, now: i64) -> bool {
    let (age, life) = (now - issued_at, expires_at - issued_at);
    // `age >= 0.8 * life`, in integers.
    age * 10 >= life * 8 || age >= MAX_AGE_SECONDS
}
// ANCHOR_END: requires_refresh

/// The tokens of this node's pods. Cheap to clone: the clones share them.
#[derive(Clone)]
pub struct ServiceAccountTokens {
    client: Client,
    /// A std `Mutex`: held only to read or write an entry, never across a
    /// request.
    entries: Arc<Mutex<HashMap<TokenKey, Entry>>>,
}

impl ServiceAccountTokens {
    /// Tokens asked of the API server through `client` (the node's own
    /// credential: the `system:node` role may create `serviceaccounts/token`).
    pub fn new(client: Client) -> ServiceAccountTokens {
        ServiceAccountTokens {
            client,
            entries: Arc::default(),
        }
    }

    /// Asks for every token `pod` needs that is missing, expired or due,
    /// and waits for the answers: before a pod's first mount, so that its
    /// containers start with a token rather than a `FailedMount`.
    pub async fn fetch_for(&self, pod: &Pod) {
        let now = now();
        for key in keys(pod) {
            let due = self
                .lock()
                .get(&key)
                .and_then(|e| e.issued.as_ref())
                .is_none_or(|t| requires_refresh(t.issued_at, t.expires_at, now));
            if due {
                self.renew(key).await;
            }
        }
    }

    // ANCHOR: token
    /// The token for `projection` of `pod`, from memory. One that is due
    /// is still answered (it has a fifth of its life left) and renewed in
    /// the background; the next sync writes the new one. `Err` is the
    /// reason the volume cannot be set up yet.
    pub fn token(
        &self,
        pod: &Pod,
        projection: &ServiceAccountTokenProjection,
    ) -> Result<String, String> {
        let key = key(pod, projection);
        let now = now();
        let mut entries = self.lock();
        let entry = entries.entry(key.clone()).or_default();
        let valid = entry.issued.clone().filter(|t| now < t.expires_at);
        let due = valid
            .as_ref()
            .is_none_or(|t| requires_refresh(t.issued_at, t.expires_at, now));
        if due && !entry.renewing {
            // In the background: a sync must not wait on the API server.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                entry.renewing = true;
                let manager = self.clone();
                runtime.spawn(async move { manager.renew(key).await });
            }
        }
        match valid {
            Some(t) => Ok(t.token),
            None => Err(format!(
                "failed to fetch token: {}",
                entry
                    .error
                    .as_deref()
                    .unwrap_or("no token yet; asking the API server")
            )),
        }
    }
    // ANCHOR_END: token

    /// Asks the API server for the token of `key` and keeps it, or keeps
    /// why it could not; drops the tokens that have expired meanwhile
    /// (their pods are gone, or no longer mount them).
    async fn renew(&self, key: TokenKey) {
        let asked_at = now();
        let answer = self.request(&key).await;
        let mut entries = self.lock();
        // An entry with an error stays: it is the reason a pod waits.
        entries.retain(|k, e| {
            k == &key
                || e.renewing
                || e.error.is_some()
                || e.issued.as_ref().is_some_and(|t| asked_at < t.expires_at)
        });
        let entry = entries.entry(key.clone()).or_default();
        entry.renewing = false;
        match answer {
            Ok(issued) => {
                tracing::debug!(pod = %key.pod, account = %key.account, "service account token issued");
                entry.issued = Some(issued);
                entry.error = None;
            }
            Err(error) => {
                tracing::warn!(pod = %key.pod, account = %key.account, "token request: {error}");
                entry.error = Some(error);
            }
        }
    }

    // ANCHOR: request
    /// `POST /api/v1/namespaces/<ns>/serviceaccounts/<account>/token`
    /// with a TokenRequest bound to the pod (its name *and* uid: a new
    /// pod of the same name does not inherit the token).
    async fn request(&self, key: &TokenKey) -> Result<Issued, String> {
        let lifetime = key.projection.expiration();
        let mut spec = json!({
            "expirationSeconds": lifetime,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": key.pod,
                "uid": key.pod_uid,
            },
        });
        if !key.projection.audience.is_empty() {
            spec["audiences"] = json!([key.projection.audience]);
        }
        let body = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": spec,
        });
        let path = format!(
            "/api/v1/namespaces/{}/serviceaccounts/{}/token",
            key.namespace, key.account
        );
        let answer = self
            .client
            .send_path(
                Method::POST,
                &path,
                None,
                Some(("application/json", body.to_string())),
            )
            .await
            .map_err(|e| e.to_string())?;
        read_answer(&answer, lifetime)
    }
    // ANCHOR_END: request

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenKey, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The token and dates of a TokenRequest's answer. The API server may
/// shorten the lifetime asked for; the expiry it answers is what counts.
fn read_answer(answer: &Value, lifetime: i64) -> Result<Issued, String> {
    let token = answer
        .pointer("/status/token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("the TokenRequest's answer has no status.token")?;
    let expires_at = answer
        .pointer("/status/expirationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .ok_or("the TokenRequest's answer has no status.expirationTimestamp")?
        .as_second();
    let lifetime = answer
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(lifetime);
    Ok(Issued {
        token: token.to_string(),
        issued_at: expires_at - lifetime,
        expires_at,
    })
}

/// The key of every `serviceAccountToken` source of `pod`'s volumes.
fn keys(pod: &Pod) -> Vec<TokenKey> {
    pod.spec
        .volumes
        .iter()
        .filter_map(|v| v.projected.as_ref())
        .flat_map(|p| &p.sources)
        .filter_map(|s| s.service_account_token.as_ref())
        .map(|projection| key(pod, projection))
        .collect()
}

fn key(pod: &Pod, projection: &ServiceAccountTokenProjection) -> TokenKey {
    let account = match pod.spec.service_account_name.as_str() {
        "" => DEFAULT_ACCOUNT,
        named => named,
    };
    TokenKey {
        namespace: pod.metadata.namespace.clone(),
        account: account.to_string(),
        pod: pod.metadata.name.clone(),
        pod_uid: pod.metadata.uid.clone(),
        projection: projection.clone(),
    }
}

/// Seconds since the epoch: tokens carry wall-clock dates.
fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_after_four_fifths_of_its_life() {
        let issued = 1_000_000;
        // 3607 s: due from 2885.6 s on, so at 2886 s.
        assert!(!requires_refresh(issued, issued + 3607, issued + 2885));
        assert!(requires_refresh(issued, issued + 3607, issued + 2886));
        // A year-long token is renewed after a day anyway.
        let year = 365 * 24 * 3600;
        assert!(!requires_refresh(
            issued,
            issued + year,
            issued + MAX_AGE_SECONDS - 1
        ));
        assert!(requires_refresh(
            issued,
            issued + year,
            issued + MAX_AGE_SECONDS
        ));
    }

    #[test]
    fn the_answer_gives_the_token_and_its_dates() {
        let answer = json!({
            "spec": {"expirationSeconds": 3607},
            "status": {"token": "eyJ.x.y", "expirationTimestamp": "2026-01-01T01:00:07Z"},
        });
        let issued = read_answer(&answer, 3607).unwrap();
        assert_eq!(issued.token, "eyJ.x.y");
        assert_eq!(issued.expires_at - issued.issued_at, 3607);
        let expires: jiff::Timestamp = "2026-01-01T01:00:07Z".parse().unwrap();
        assert_eq!(issued.expires_at, expires.as_second());
        assert!(read_answer(&json!({"status": {}}), 3607).is_err());
    }

    #[test]
    fn every_token_source_of_the_pod_is_keyed_with_its_account() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {
                "containers": [{"name": "a", "image": "i"}],
                "volumes": [
                    {"name": "kube-api-access-abcde", "projected": {"sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                        {"serviceAccountToken": {"path": "vault", "audience": "vault"}},
                    ]}},
                    {"name": "data", "emptyDir": {}},
                ],
            },
        }))
        .unwrap();
        let keys = keys(&pod);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].account, "default");
        assert_eq!(keys[0].pod_uid, "u1");
        assert_eq!(keys[1].projection.audience, "vault");
        assert_eq!(keys[1].projection.expiration(), 3600);
    }
}
