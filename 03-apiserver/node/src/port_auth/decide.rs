//! The kubelet's webhook authentication and authorization, decided.
//!
//! A request on the agent's port is judged in two steps, each answered by
//! the API server once and then remembered for a while:
//!
//! 1. *who is it?* A client certificate from the cluster CA names its user
//!    itself (checked in the handshake). A bearer token is asked of the
//!    API server (a `TokenReview`); its answer is kept for
//!    `--authentication-token-webhook-cache-ttl` (2 minutes). Neither is
//!    401.
//! 2. *may they?* A `SubjectAccessReview` for the user, its groups and
//!    the [`NodeAttributes`] of the request on this node; an allowance is
//!    kept for `--authorization-webhook-cache-authorized-ttl` (5 minutes),
//!    a refusal for `--authorization-webhook-cache-unauthorized-ttl` (30
//!    seconds), so a new RoleBinding takes effect within half a minute but
//!    a removed one may keep working for five.
//!
//! [`decide`] is pure: given the request, what the caches and this
//! request's own reviews already know, and the time, it answers the next
//! [`Step`]: admit, refuse, or ask the API server one question. The shell
//! (`super::ApiDelegation`) asks, records the answer, and decides again.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use orc_client::token_key::TokenKey;
use orc_pod::agent::auth::{HEALTHZ, NodeAttributes, PortRequest, Refusal};

/// How long the API server's answers are kept: the kubelet's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTtls {
    /// A TokenReview's answer, either way.
    pub token: Duration,
    /// A SubjectAccessReview that allowed.
    pub authorized: Duration,
    /// A SubjectAccessReview that did not.
    pub unauthorized: Duration,
}

impl Default for CacheTtls {
    fn default() -> CacheTtls {
        CacheTtls {
            token: Duration::from_secs(120),
            authorized: Duration::from_secs(300),
            unauthorized: Duration::from_secs(30),
        }
    }
}

/// A user as the API server knows them: from a client certificate (CN
/// and O) or from a TokenReview's `status.user`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    pub name: String,
    /// Empty for a certificate's user.
    pub uid: String,
    pub groups: Vec<String>,
}

/// What a TokenReview answered about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenVerdict {
    Authenticated(User),
    /// Not a token the API server accepts (unknown, expired, bound to a
    /// deleted pod).
    Rejected,
}

/// A question for a SubjectAccessReview: may `user` do `attributes` on
/// this node? The node is the agent's own, so not part of the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessQuestion {
    pub user: User,
    pub attributes: NodeAttributes,
}

/// The next thing to do for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Serve it.
    Admit,
    /// Answer this instead.
    Refuse(Refusal),
    /// Ask the API server who carries this token (a TokenReview).
    ReviewToken(String),
    /// Ask the API server whether this may be done (a SubjectAccessReview).
    ReviewAccess(AccessQuestion),
}

/// What the reviews made for this request answered: consulted before the
/// caches, so a request is judged by its own answers even when a TTL of
/// zero keeps them out of the caches.
#[derive(Debug, Clone, Default)]
pub struct Fresh {
    pub token: Option<TokenVerdict>,
    pub access: Option<bool>,
}

/// The least entries a cache keeps before it starts forgetting.
const CACHE_ENTRIES: usize = 4096;

/// Answers kept until they expire, at most [`CACHE_ENTRIES`] of them.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: HashMap<K, (V, Instant)>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache {
            entries: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V> {
    /// The answer for `key` if it has not expired at `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, expires)| now < *expires)
            .map(|(value, _)| value)
    }

    /// Keeps `value` for `ttl` from `now` (a zero TTL keeps nothing). A
    /// full cache first forgets what has expired, then the answer closest
    /// to expiring: a flood of distinct tokens cannot grow it without end.
    pub fn insert(&mut self, key: K, value: V, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        if self.entries.len() >= CACHE_ENTRIES && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, expires)| now < *expires);
            if self.entries.len() >= CACHE_ENTRIES {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, expires))| *expires)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    self.entries.remove(&soonest);
                }
            }
        }
        self.entries.insert(key, (value, now + ttl));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The API server's remembered answers. Tokens are kept by their
/// [`TokenKey`] (an HMAC under a random key), as Kubernetes' cached token
/// authenticator keeps them: the cache holds no credential.
#[derive(Debug, Default)]
pub struct Caches {
    pub tokens: TtlCache<TokenKey, TokenVerdict>,
    pub access: TtlCache<AccessQuestion, bool>,
}

impl Caches {
    /// Records a TokenReview's answer for as long as `ttls` says.
    pub fn remember_token(
        &mut self,
        token: &str,
        verdict: TokenVerdict,
        ttls: &CacheTtls,
        now: Instant,
    ) {
        self.tokens
            .insert(TokenKey::of(token), verdict, ttls.token, now);
    }

    /// Records a SubjectAccessReview's answer: an allowance for longer
    /// than a refusal, as the kubelet keeps them.
    pub fn remember_access(
        &mut self,
        question: AccessQuestion,
        allowed: bool,
        ttls: &CacheTtls,
        now: Instant,
    ) {
        let ttl = match allowed {
            true => ttls.authorized,
            false => ttls.unauthorized,
        };
        self.access.insert(question, allowed, ttl, now);
    }
}

// ANCHOR: decide
/// The next step for `request` at `now`, given this request's `fresh`
/// answers and the `caches`.
pub fn decide(request: &PortRequest, fresh: &Fresh, caches: &Caches, now: Instant) -> Step {
    if request.path == HEALTHZ {
        return Step::Admit;
    }
    // Who: a certificate first (the kubelet's authenticators run in this
    // order), then a bearer token, whose answer may already be known.
    let user = match (&request.certificate.0, &request.bearer) {
        (Some(certified), _) => User {
            name: certified.name.clone(),
            uid: String::new(),
            groups: certified.groups.clone(),
        },
        (None, Some(token)) => {
            let known = fresh
                .token
                .as_ref()
                .or_else(|| caches.tokens.get(&TokenKey::of(token), now));
            match known {
                Some(TokenVerdict::Authenticated(user)) => user.clone(),
                Some(TokenVerdict::Rejected) => return Step::Refuse(Refusal::unauthorized()),
                None => return Step::ReviewToken(token.clone()),
            }
        }
        (None, None) => return Step::Refuse(Refusal::unauthorized()),
    };
    // May they: the same question for the same user is answered once.
    let attributes = NodeAttributes::of(&request.method, &request.path);
    let question = AccessQuestion { user, attributes };
    match fresh
        .access
        .or_else(|| caches.access.get(&question, now).copied())
    {
        Some(true) => Step::Admit,
        Some(false) => Step::Refuse(Refusal::forbidden(
            &question.user.name,
            &question.attributes,
        )),
        None => Step::ReviewAccess(question),
    }
}
// ANCHOR_END: decide

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, StatusCode};
    use orc_pod::agent::tls::{Client, ClientUser};

    fn with_token(token: &str, path: &str) -> PortRequest {
        PortRequest {
            certificate: Client(None),
            bearer: Some(token.into()),
            method: Method::GET,
            path: path.into(),
        }
    }

    fn reader() -> User {
        User {
            name: "system:serviceaccount:default:reader".into(),
            uid: "u-1".into(),
            groups: vec!["system:serviceaccounts".into()],
        }
    }

    const LOGS: &str = "/containerLogs/default/web/app";

    #[test]
    fn a_token_is_reviewed_then_its_access() {
        let caches = Caches::default();
        let now = Instant::now();
        let request = with_token("t", LOGS);
        assert_eq!(
            decide(&request, &Fresh::default(), &caches, now),
            Step::ReviewToken("t".into())
        );
        let mut fresh = Fresh {
            token: Some(TokenVerdict::Authenticated(reader())),
            access: None,
        };
        let question = AccessQuestion {
            user: reader(),
            attributes: NodeAttributes {
                verb: "get",
                subresource: "proxy",
            },
        };
        assert_eq!(
            decide(&request, &fresh, &caches, now),
            Step::ReviewAccess(question)
        );
        fresh.access = Some(false);
        let Step::Refuse(refusal) = decide(&request, &fresh, &caches, now) else {
            panic!("refused")
        };
        assert_eq!(refusal.status, StatusCode::FORBIDDEN);
        assert_eq!(
            refusal.text,
            "Forbidden (user=system:serviceaccount:default:reader, verb=get, \
             resource=nodes, subresource=proxy)"
        );
        fresh.access = Some(true);
        assert_eq!(decide(&request, &fresh, &caches, now), Step::Admit);
    }

    #[test]
    fn no_credential_or_a_rejected_token_is_401_and_health_is_open() {
        let caches = Caches::default();
        let now = Instant::now();
        let anonymous = PortRequest {
            bearer: None,
            ..with_token("", LOGS)
        };
        assert_eq!(
            decide(&anonymous, &Fresh::default(), &caches, now),
            Step::Refuse(Refusal::unauthorized())
        );
        let rejected = Fresh {
            token: Some(TokenVerdict::Rejected),
            access: None,
        };
        assert_eq!(
            decide(&with_token("bad", LOGS), &rejected, &caches, now),
            Step::Refuse(Refusal::unauthorized())
        );
        let health = PortRequest {
            bearer: None,
            ..with_token("", HEALTHZ)
        };
        assert_eq!(
            decide(&health, &Fresh::default(), &caches, now),
            Step::Admit
        );
    }

    #[test]
    fn a_certificate_is_its_own_user_and_needs_no_token_review() {
        let request = PortRequest {
            certificate: Client(Some(ClientUser {
                name: "kube-apiserver-kubelet-client".into(),
                groups: vec![],
            })),
            bearer: Some("ignored".into()),
            method: Method::POST,
            path: "/exec/default/web/app".into(),
        };
        let Step::ReviewAccess(question) = decide(
            &request,
            &Fresh::default(),
            &Caches::default(),
            Instant::now(),
        ) else {
            panic!("asks about access")
        };
        assert_eq!(question.user.name, "kube-apiserver-kubelet-client");
        assert_eq!(question.attributes.verb, "create");
    }

    #[test]
    fn answers_are_kept_for_the_kubelets_ttls() {
        let ttls = CacheTtls::default();
        let start = Instant::now();
        let mut caches = Caches::default();
        let request = with_token("t", "/stats/summary");
        caches.remember_token("t", TokenVerdict::Authenticated(reader()), &ttls, start);
        let question = AccessQuestion {
            user: reader(),
            attributes: NodeAttributes {
                verb: "get",
                subresource: "stats",
            },
        };
        caches.remember_access(question.clone(), true, &ttls, start);
        let at = |after: u64| start + Duration::from_secs(after);
        // Both known: no question asked for two minutes.
        assert_eq!(
            decide(&request, &Fresh::default(), &caches, at(119)),
            Step::Admit
        );
        // The token's answer expires at 2 minutes; the access one at 5.
        assert_eq!(
            decide(&request, &Fresh::default(), &caches, at(120)),
            Step::ReviewToken("t".into())
        );
        let fresh = Fresh {
            token: Some(TokenVerdict::Authenticated(reader())),
            access: None,
        };
        assert_eq!(decide(&request, &fresh, &caches, at(299)), Step::Admit);
        assert_eq!(
            decide(&request, &fresh, &caches, at(300)),
            Step::ReviewAccess(question.clone())
        );
        // A refusal is kept only 30 seconds: a new binding counts soon.
        caches.remember_access(question.clone(), false, &ttls, at(300));
        assert!(matches!(
            decide(&request, &fresh, &caches, at(329)),
            Step::Refuse(_)
        ));
        assert_eq!(
            decide(&request, &fresh, &caches, at(330)),
            Step::ReviewAccess(question)
        );
    }

    #[test]
    fn the_token_cache_keeps_an_hmac_of_the_token_not_the_token() {
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJyZWFkZXIifQ.c2lnbmF0dXJl";
        let mut caches = Caches::default();
        let now = Instant::now();
        let verdict = TokenVerdict::Authenticated(reader());
        caches.remember_token(token, verdict.clone(), &CacheTtls::default(), now);
        assert_eq!(caches.tokens.len(), 1);
        assert_eq!(caches.tokens.get(&TokenKey::of(token), now), Some(&verdict));
        let held = format!("{caches:?}");
        assert!(!held.contains(token), "{held}");
        let request = with_token(token, LOGS);
        assert!(matches!(
            decide(&request, &Fresh::default(), &caches, now),
            Step::ReviewAccess(_)
        ));
    }

    #[test]
    fn a_zero_ttl_keeps_nothing_and_a_full_cache_forgets_the_oldest() {
        let start = Instant::now();
        let mut cache = TtlCache::default();
        cache.insert("k".to_string(), 1, Duration::ZERO, start);
        assert!(cache.is_empty());
        for i in 0..CACHE_ENTRIES {
            cache.insert(i.to_string(), i, Duration::from_secs(60 + i as u64), start);
        }
        cache.insert("new".into(), 0, Duration::from_secs(1), start);
        assert_eq!(cache.len(), CACHE_ENTRIES);
        assert_eq!(
            cache.get(&"0".to_string(), start),
            None,
            "soonest to expire went"
        );
        assert_eq!(cache.get(&"1".to_string(), start), Some(&1));
        assert_eq!(cache.get(&"new".to_string(), start), Some(&0));
    }
}
