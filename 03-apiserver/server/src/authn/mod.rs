//! Authentication: who is asking.
//!
//! kube-apiserver answers every request in two steps: *authentication*
//! finds the user (a name, a uid and groups), then *authorization* decides
//! whether that user may do the request (chapter 03, "Who may do what").
//! This module is the first step. Each authenticator looks at the request
//! and either names a user, says "not mine" (the next one is asked), or
//! rejects the credential outright (401). The user found travels with the
//! request as a [`UserInfo`] extension, for the authorizer and the audit
//! log to read.
//!
//! Layout:
//! - this file: [`UserInfo`], and [`Authenticators`], which asks each
//!   authenticator in kube-apiserver's order (client certificate, then
//!   bearer token) and decides between a user, anonymous and 401 (pure).
//! - [`token_file`]: static bearer tokens from a file, the format of
//!   kube-apiserver's `--token-auth-file`.
//! - [`x509`]: client certificates (`--client-ca-file`): CN the user, O
//!   the groups.
//! - [`service_account`]: service account tokens, JWTs the API server
//!   signs (claims, sign, verify; pure).
//! - [`token_request`]: `serviceaccounts/<name>/token` (TokenRequest),
//!   TokenReview, and the check that a token's ServiceAccount and pod
//!   still exist.
//! - [`self_subject_review`]: "who am I?" (`kubectl auth whoami`).

pub mod self_subject_review;
pub mod service_account;
pub mod token_file;
pub mod token_request;
pub mod x509;

use std::sync::Arc;

use service_account::{Claims, TokenError, TokenKeys};
use token_file::TokenFile;

/// The user a request was authenticated as, in Kubernetes' terms
/// (`user.Info` in k8s.io/apiserver): RBAC subjects match on `name` (kind
/// User) and on `groups` (kind Group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// `kube-admin`, `system:node:n1`, `system:serviceaccount:ns:sa`.
    pub name: String,
    /// A unique id, empty when the credential carries none.
    pub uid: String,
    /// Every authenticated user is also in `system:authenticated`, which
    /// the authenticator adds, as Kubernetes does.
    pub groups: Vec<String>,
}

/// Every authenticated user belongs to this group.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group that Kubernetes' default RBAC makes cluster-admin.
pub const MASTERS: &str = "system:masters";

impl UserInfo {
    /// An authenticated user: `system:authenticated` is added to `groups`.
    pub fn authenticated(name: &str, uid: &str, groups: &[&str]) -> UserInfo {
        let mut all: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        if !all.iter().any(|g| g == AUTHENTICATED) {
            all.push(AUTHENTICATED.into());
        }
        UserInfo {
            name: name.into(),
            uid: uid.into(),
            groups: all,
        }
    }

    /// The user of a request that carries no credential.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        }
    }
}

/// The authenticators a server runs. With none configured, every request
/// is `system:anonymous` (plain HTTP for tests on loopback only); with any,
/// a request that none of them recognises is refused with 401.
#[derive(Debug, Clone, Default)]
pub struct Authenticators {
    /// `--token-auth-file`'s tokens.
    pub tokens: Option<TokenFile>,
    /// Whether TLS verifies client certificates (`--client-ca-file`): a
    /// certificate that reaches a request has then chained to that CA.
    pub client_certificates: bool,
    /// The service account key (`--service-account-signing-key-file`):
    /// tokens it signed authenticate as their ServiceAccount, and
    /// TokenRequest issues them. Shared: tokens are checked on every
    /// request and the key never changes while the server runs.
    pub service_accounts: Option<Arc<TokenKeys>>,
}

/// What authentication found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A user, final.
    User(UserInfo),
    /// A service account token whose signature, dates and audience hold.
    /// Whether its ServiceAccount and pod still exist is a lookup, left
    /// to the caller (`token_request::check_bound`): until it passes, the
    /// request has no user. Boxed: the claims are far larger than a user.
    ServiceAccount(Box<Claims>),
}

/// Why a request was refused (the 401's cause, for the server's log; the
/// client is told only `Unauthorized`, as Kubernetes does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error("no credentials")]
    NoCredentials,
    #[error("an unknown bearer token")]
    UnknownToken,
    #[error("{0}")]
    Certificate(#[from] x509::X509Error),
    #[error("service account token: {0}")]
    ServiceAccount(TokenError),
}

impl Authenticators {
    /// Whether any authenticator is configured.
    pub fn enabled(&self) -> bool {
        self.tokens.is_some() || self.client_certificates || self.service_accounts.is_some()
    }

    /// The audiences the API server accepts tokens for
    /// (`--api-audiences`: the service account issuer).
    pub fn api_audiences(&self) -> Vec<String> {
        self.service_accounts
            .as_ref()
            .map(|keys| keys.audiences().to_vec())
            .unwrap_or_default()
    }

    /// Who the bearer `token` is, for `audiences` at `now` (seconds since
    /// the epoch): the token file first, then service account tokens.
    pub fn authenticate_token(
        &self,
        token: &str,
        audiences: &[String],
        now: i64,
    ) -> Result<Found, Unauthenticated> {
        if let Some(user) = self.tokens.as_ref().and_then(|t| t.user(token)) {
            return Ok(Found::User(user.clone()));
        }
        match &self.service_accounts {
            Some(keys) => match keys.verify(token, audiences, now) {
                Ok(claims) => Ok(Found::ServiceAccount(Box::new(claims))),
                Err(TokenError::NotOurs) => Err(Unauthenticated::UnknownToken),
                Err(error) => Err(Unauthenticated::ServiceAccount(error)),
            },
            None => Err(Unauthenticated::UnknownToken),
        }
    }

    // ANCHOR: decide
    /// The user of a request with the client certificate `peer` (DER, as
    /// TLS verified it) and `headers`, at `now` (seconds since the epoch).
    /// kube-apiserver's order: a certificate first, then a bearer token
    /// (the token file's, then a service account's); a credential that
    /// is offered and wrong is refused, never ignored for anonymous.
    pub fn authenticate(
        &self,
        peer: Option<&[u8]>,
        headers: &axum::http::HeaderMap,
        now: i64,
    ) -> Result<Found, Unauthenticated> {
        if let Some(der) = peer.filter(|_| self.client_certificates) {
            return Ok(Found::User(x509::user(der)?));
        }
        match bearer_token(headers) {
            Some(token) if self.enabled() => {
                self.authenticate_token(token, &self.api_audiences(), now)
            }
            _ if self.enabled() => Err(Unauthenticated::NoCredentials),
            _ => Ok(Found::User(UserInfo::anonymous())),
        }
    }
    // ANCHOR_END: decide
}

/// The bearer token of a request, if it has one. The scheme is matched
/// case-insensitively (RFC 9110 §11.1), as Go's net/http and
/// kube-apiserver do.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticated_users_are_in_system_authenticated_once() {
        let user = UserInfo::authenticated("alice", "1", &["dev", AUTHENTICATED]);
        assert_eq!(user.groups, ["dev", AUTHENTICATED]);
    }

    fn bearer(token: &str) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        headers
    }

    /// The user found, for authenticators with no service account key.
    fn user(found: Result<Found, Unauthenticated>) -> Result<UserInfo, Unauthenticated> {
        found.map(|f| match f {
            Found::User(user) => user,
            Found::ServiceAccount(claims) => panic!("a service account token: {claims:?}"),
        })
    }

    #[test]
    fn with_no_authenticator_everyone_is_anonymous() {
        let none = Authenticators::default();
        let user = user(none.authenticate(None, &bearer("x"), 0)).unwrap();
        assert_eq!(user, UserInfo::anonymous());
    }

    #[test]
    fn a_certificate_comes_first_and_wrong_credentials_are_refused() {
        let ca = crate::pki::CertificateAuthority::generate("ca").unwrap();
        let issued = ca
            .issue(
                &crate::pki::Subject::in_group("kubernetes-admin", MASTERS),
                &crate::pki::Usage::Client,
            )
            .unwrap();
        let der = {
            use rustls_pki_types::pem::PemObject;
            rustls_pki_types::CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap()
        };
        let authn = Authenticators {
            tokens: Some(TokenFile::parse("t0k,alice,1").unwrap()),
            client_certificates: true,
            service_accounts: None,
        };
        let found = user(authn.authenticate(Some(&der), &bearer("t0k"), 0)).unwrap();
        assert_eq!(found.name, "kubernetes-admin");
        assert_eq!(
            user(authn.authenticate(None, &bearer("t0k"), 0))
                .unwrap()
                .name,
            "alice"
        );
        assert_eq!(
            authn.authenticate(None, &bearer("nope"), 0),
            Err(Unauthenticated::UnknownToken)
        );
        let empty = axum::http::HeaderMap::new();
        assert_eq!(
            authn.authenticate(None, &empty, 0),
            Err(Unauthenticated::NoCredentials)
        );
        // Certificates only: a token is not a credential this server knows.
        let certs_only = Authenticators {
            tokens: None,
            client_certificates: true,
            service_accounts: None,
        };
        assert_eq!(
            certs_only.authenticate(None, &bearer("t0k"), 0),
            Err(Unauthenticated::UnknownToken)
        );
    }

    #[test]
    fn service_account_tokens_come_after_the_token_file() {
        use service_account::*;
        let keys = TokenKeys::from_pem(&generate_key_pem().unwrap(), DEFAULT_ISSUER).unwrap();
        let claims = Claims {
            aud: vec![DEFAULT_ISSUER.into()],
            exp: 2000,
            iat: 1000,
            iss: DEFAULT_ISSUER.into(),
            jti: String::new(),
            kubernetes: Bound {
                namespace: "ns".into(),
                serviceaccount: ObjectRef {
                    name: "sa".into(),
                    uid: "u".into(),
                },
                pod: None,
                secret: None,
            },
            nbf: 1000,
            sub: "system:serviceaccount:ns:sa".into(),
        };
        let token = keys.sign(&claims);
        let authn = Authenticators {
            tokens: Some(TokenFile::parse("t0k,alice,1").unwrap()),
            client_certificates: false,
            service_accounts: Some(Arc::new(keys)),
        };
        assert_eq!(
            authn.authenticate(None, &bearer(&token), 1500),
            Ok(Found::ServiceAccount(Box::new(claims)))
        );
        assert_eq!(
            authn.authenticate(None, &bearer(&token), 2000),
            Err(Unauthenticated::ServiceAccount(TokenError::Expired))
        );
        assert_eq!(
            user(authn.authenticate(None, &bearer("t0k"), 1500))
                .unwrap()
                .name,
            "alice"
        );
        assert_eq!(
            authn.authenticate(None, &bearer("a.b.c"), 1500),
            Err(Unauthenticated::UnknownToken)
        );
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("authorization", "bearer abc ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
