//! Who may use the agent's port: the API server says, as it says for the
//! kubelet's (`--authentication-token-webhook`,
//! `--authorization-mode=Webhook`; chapter 03, "Who may do what").
//!
//! Chapter 02's agent can only trust the API server's certificate. On the
//! API the agent can ask instead, so its port serves anyone RBAC allows:
//! a monitoring agent with a ServiceAccount bound to `nodes/stats` reads
//! `/stats/summary` on the node directly, and someone bound to
//! `nodes/proxy` may read logs and run commands on it without going
//! through the API server. The API server's own certificate is one user
//! among others: it passes because the bootstrap policy binds it to
//! `system:kubelet-api-admin` (what kubeadm's `kubeadm:kubelet-api-admin`
//! binding does), not because the agent knows its name.
//!
//! - [`decide`] (pure): the next step for a request, from the caches.
//! - [`ApiDelegation`] (this file): the [`PortAuthorizer`] that asks the
//!   API server each question [`decide`] cannot answer yet, as the node
//!   (which the Node authorizer lets create TokenReviews and
//!   SubjectAccessReviews, the `system:node` role's rules), and caches the
//!   answers.

pub mod decide;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use orc_client::{Client, ClientError, Method};
use orc_pod::agent::auth::{PortAuthorizer, PortRequest, Refusal};
use serde_json::{Value, json};

pub use decide::{AccessQuestion, CacheTtls, Caches, Fresh, Step, TokenVerdict, User, decide};

/// The agent's port judged by the API server.
pub struct ApiDelegation {
    /// The node's own client: the reviews are posted as the node.
    client: Client,
    /// This node's name: the `nodes/<name>` every question is about.
    node: String,
    ttls: CacheTtls,
    /// A std `Mutex`: held to read or record an answer, never across the
    /// review's `.await`.
    caches: Arc<Mutex<Caches>>,
}

impl ApiDelegation {
    pub fn new(client: Client, node: impl Into<String>, ttls: CacheTtls) -> ApiDelegation {
        ApiDelegation {
            client,
            node: node.into(),
            ttls,
            caches: Arc::default(),
        }
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ANCHOR: judge
    /// Decides, asks what is not known yet, records it, decides again:
    /// at most one TokenReview and one SubjectAccessReview per request.
    async fn judge(&self, request: &PortRequest) -> Result<(), Refusal> {
        let mut fresh = Fresh::default();
        loop {
            let step = decide(request, &fresh, &self.caches(), Instant::now());
            match step {
                Step::Admit => return Ok(()),
                Step::Refuse(refusal) => return Err(refusal),
                Step::ReviewToken(token) => {
                    // The API server unreachable: nobody can be
                    // authenticated by token, and the kubelet says 401.
                    let verdict = self.review_token(&token).await.map_err(|error| {
                        tracing::warn!(%error, "TokenReview failed: answering 401");
                        Refusal::unauthorized()
                    })?;
                    let now = Instant::now();
                    self.caches()
                        .remember_token(&token, verdict.clone(), &self.ttls, now);
                    fresh.token = Some(verdict);
                }
                Step::ReviewAccess(question) => {
                    // Not knowing is neither yes nor no: 500, not cached.
                    let allowed = self.review_access(&question).await.map_err(|error| {
                        tracing::warn!(%error, "SubjectAccessReview failed: answering 500");
                        Refusal::authorization_error(&question.user.name, &question.attributes)
                    })?;
                    let now = Instant::now();
                    self.caches()
                        .remember_access(question, allowed, &self.ttls, now);
                    fresh.access = Some(allowed);
                }
            }
        }
    }
    // ANCHOR_END: judge

    /// `POST tokenreviews`: who carries `token`, if the API server
    /// accepts it (for its own audiences: none is named).
    async fn review_token(&self, token: &str) -> Result<TokenVerdict, ClientError> {
        let review = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        });
        let answer = self
            .post("/apis/authentication.k8s.io/v1/tokenreviews", review)
            .await?;
        Ok(token_verdict(&answer))
    }

    // ANCHOR: review_access
    /// `POST subjectaccessreviews`: may the user do the request's verb on
    /// `nodes/<this node>/<subresource>`?
    async fn review_access(&self, question: &AccessQuestion) -> Result<bool, ClientError> {
        let user = &question.user;
        let mut spec = json!({
            "user": user.name,
            "groups": user.groups,
            "resourceAttributes": {
                "verb": question.attributes.verb,
                "group": "",
                "version": "v1",
                "resource": "nodes",
                "subresource": question.attributes.subresource,
                "name": self.node,
            },
        });
        if !user.uid.is_empty() {
            spec["uid"] = json!(user.uid);
        }
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        });
        let answer = self
            .post("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
            .await?;
        Ok(answer.pointer("/status/allowed") == Some(&Value::Bool(true)))
    }
    // ANCHOR_END: review_access

    async fn post(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.client
            .send_path(
                Method::POST,
                path,
                None,
                Some(("application/json", body.to_string())),
            )
            .await
    }
}

/// A TokenReview's `status` read: its user when `authenticated`.
fn token_verdict(review: &Value) -> TokenVerdict {
    let status = &review["status"];
    if status["authenticated"] != Value::Bool(true) {
        return TokenVerdict::Rejected;
    }
    let text = |key: &str| status["user"][key].as_str().unwrap_or("").to_string();
    let groups = status["user"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(String::from))
        .collect();
    match text("username") {
        name if name.is_empty() => TokenVerdict::Rejected,
        name => TokenVerdict::Authenticated(User {
            name,
            uid: text("uid"),
            groups,
        }),
    }
}

impl PortAuthorizer for ApiDelegation {
    fn authorize<'a>(&'a self, request: &'a PortRequest) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(self.judge(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_review_is_read_as_the_api_server_wrote_it() {
        let accepted = json!({"status": {"authenticated": true, "user": {
            "username": "system:serviceaccount:default:reader", "uid": "u-1",
            "groups": ["system:serviceaccounts", "system:authenticated"]}}});
        assert_eq!(
            token_verdict(&accepted),
            TokenVerdict::Authenticated(User {
                name: "system:serviceaccount:default:reader".into(),
                uid: "u-1".into(),
                groups: vec![
                    "system:serviceaccounts".into(),
                    "system:authenticated".into()
                ],
            })
        );
        let refused = json!({"status": {"authenticated": false, "error": "invalid token"}});
        assert_eq!(token_verdict(&refused), TokenVerdict::Rejected);
        assert_eq!(token_verdict(&json!({})), TokenVerdict::Rejected);
    }
}
