//! The tokens controller: long-lived ServiceAccount tokens in Secrets.
//!
//! Before Kubernetes 1.22 every ServiceAccount got a Secret of type
//! `kubernetes.io/service-account-token` holding a token that never
//! expired; pods mounted it. Pods now get short-lived tokens bound to
//! them (the `ServiceAccount` admission step and the node's token
//! manager), and since 1.24 no such Secret is made on its own. A user
//! who still needs a long-lived token (a CI system outside the cluster)
//! creates the Secret, naming the account in the annotation
//! `kubernetes.io/service-account.name`, and kube-controller-manager's
//! tokens controller fills it in: `token`, `ca.crt` and `namespace`. When
//! the account is deleted, so is the Secret, and the token stops working.
//!
//! This controller does the same, with Kubernetes' two informers: a token
//! Secret added or changed queues it; a ServiceAccount deleted queues
//! the Secrets that name it. A reconcile reads the account (from the
//! cache, or the API when the cache has not seen it yet) and carries out
//! what `decide.rs` says.
//!
//! One departure. Kubernetes' controller signs the token itself, with a
//! copy of the API server's service account key
//! (`--service-account-private-key-file`), in the legacy format: no
//! expiry, issuer `kubernetes/serviceaccount`, checked by the API server
//! against the Secret on every use. orc keeps that key in the API server
//! alone, so the controller asks for the token through the API: a
//! TokenRequest bound to the Secret (`boundObjectRef` of kind `Secret`,
//! which Kubernetes' TokenRequest accepts too), for the longest life the
//! API grants (2^32 seconds, about 136 years). The API server then
//! refuses it once the Secret or its account is gone, which is what the
//! legacy check amounted to.

pub mod decide;

use std::sync::Arc;

use orc_client::informer::{Cache, Informer, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError, Method};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::worker::{self, Action};
use decide::Verdict;
use orc_client::informer as informers;

fn secrets() -> &'static Resource {
    lookup("", "v1", "secrets").expect("the resource table serves Secrets")
}

fn service_accounts() -> &'static Resource {
    lookup("", "v1", "serviceaccounts").expect("the resource table serves ServiceAccounts")
}

/// The longest life a TokenRequest may ask for (Kubernetes' limit: 2^32
/// seconds): the nearest the API comes to a token that never expires.
pub const TOKEN_SECONDS: i64 = 1 << 32;

/// The controller. [`TokensController::run`] starts it.
pub struct TokensController {
    client: Client,
    /// The CA bundle (PEM) each Secret's `ca.crt` holds; `None` on a
    /// cluster without one.
    ca: Option<String>,
    /// Every `kubernetes.io/service-account-token` Secret (the informer
    /// asks for that type only, as Kubernetes' does).
    secrets: Arc<Cache>,
    /// Every ServiceAccount.
    accounts: Arc<Cache>,
    /// Secrets (`namespace/name`) to look at.
    queue: Arc<WorkQueue>,
}

impl TokensController {
    /// Fills and cleans up token Secrets through `client` until dropped,
    /// with `workers` Secrets reconciled at once; `ca` (PEM) goes into
    /// each one's `ca.crt`.
    pub async fn run(client: Client, ca: Option<String>, workers: usize) {
        let secret_informer = Informer::new(client.clone(), secrets(), None, "")
            .with_field_selector(&format!("type={}", decide::TOKEN_TYPE));
        let sa_informer = informers::everything(&client, service_accounts());
        let controller = Arc::new(TokensController {
            secrets: secret_informer.cache(),
            accounts: sa_informer.cache(),
            client,
            ca,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let secrets_synced =
            informers::follow(&mut tasks, secret_informer, move |n| c.secret_changed(n));
        let c = controller.clone();
        let sa_synced = informers::follow(&mut tasks, sa_informer, move |n| c.account_changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("serviceaccount_tokens_secret", controller.queue.clone());
        let synced = vec![secrets_synced, sa_synced];
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }

    /// A token Secret added or changed is looked at; a deleted one is gone
    /// with its token, nothing to do.
    fn secret_changed(&self, notification: Notification) {
        if let Notification::Added(s) | Notification::Updated { new: s, .. } = notification {
            self.queue.add(&informers::key_of(&s));
        }
    }

    /// A ServiceAccount added or deleted: the Secrets naming it are looked
    /// at (deleted with it, or filled now that it exists).
    fn account_changed(&self, notification: Notification) {
        let account = match notification {
            Notification::Added(a) | Notification::Deleted(a) => a,
            _ => return,
        };
        let meta = &account["metadata"];
        let ns = meta["namespace"].as_str().unwrap_or("");
        let name = meta["name"].as_str().unwrap_or("");
        for secret in self.secrets.in_namespace(ns) {
            if decide::names_account(&secret, ns, name) {
                self.queue.add(&informers::key_of(&secret));
            }
        }
    }

    /// ServiceAccount `ns/name` as it is now: the cache, or on a miss the
    /// API (the Secret may come just after its account, before the
    /// account's watch event: Kubernetes' controller reads it live too,
    /// rather than delete a Secret whose account is merely new).
    async fn account(&self, ns: &str, name: &str) -> Result<Option<Value>, ClientError> {
        if let Some(account) = self.accounts.get(&format!("{ns}/{name}")) {
            return Ok(Some(account));
        }
        match self.client.get(service_accounts(), Some(ns), name).await {
            Ok(account) => Ok(Some(account)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ANCHOR: reconcile
    /// Fills in, or deletes, the token Secret `key` (`namespace/name`).
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(secret) = self.secrets.get(key) else {
            return Ok(Action::await_change());
        };
        let meta = &secret["metadata"];
        let ns = meta["namespace"].as_str().unwrap_or("");
        let account_name = meta["annotations"][decide::NAME_ANNOTATION]
            .as_str()
            .unwrap_or("");
        if account_name.is_empty() {
            // The API server refuses such a Secret; nothing to fill.
            return Ok(Action::await_change());
        }
        let account = self.account(ns, account_name).await?;
        let written = match decide::decide(&secret, account.as_ref(), self.ca.as_deref()) {
            Verdict::InSync => return Ok(Action::await_change()),
            Verdict::Delete => {
                tracing::info!(secret = %key, account = %account_name, "deleting the token Secret of a deleted ServiceAccount");
                // Only this Secret: not another made since with its name.
                let options = json!({"preconditions": {"uid": meta["uid"]}});
                let name = meta["name"].as_str().unwrap_or("");
                self.client
                    .delete_with(secrets(), Some(ns), name, &options)
                    .await
            }
            Verdict::Fill {
                secret: filled,
                needs_token,
            } => {
                let filled = if needs_token {
                    let token = self.request_token(ns, account_name, &secret).await?;
                    decide::with_token(filled, &token)
                } else {
                    filled
                };
                self.client.update(secrets(), Some(ns), &filled).await
            }
        };
        match written {
            // 409: the cache lagged behind a write (its watch event queues
            // the Secret again); 404: the Secret went meanwhile.
            Ok(_) => Ok(Action::await_change()),
            Err(e) if matches!(e.code(), Some(409 | 404)) => Ok(Action::await_change()),
            Err(e) => Err(e),
        }
    }
    // ANCHOR_END: reconcile

    /// A token for ServiceAccount `ns/account`, bound to `secret`: the API
    /// server refuses it once the Secret or the account is gone.
    async fn request_token(
        &self,
        ns: &str,
        account: &str,
        secret: &Value,
    ) -> Result<String, ClientError> {
        let meta = &secret["metadata"];
        let request = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": TOKEN_SECONDS,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Secret",
                    "name": meta["name"], "uid": meta["uid"]},
            },
        });
        let path = format!("/api/v1/namespaces/{ns}/serviceaccounts/{account}/token");
        let body = Some(("application/json", request.to_string()));
        let answer = self
            .client
            .send_path(Method::POST, &path, None, body)
            .await?;
        match answer.pointer("/status/token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => Ok(token.to_string()),
            _ => Err(ClientError::Decode(format!(
                "the TokenRequest for {ns}/{account} answered no status.token"
            ))),
        }
    }
}
