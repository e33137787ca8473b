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
//! - [`token_file`]: static bearer tokens from a file, the format of
//!   kube-apiserver's `--token-auth-file`.

pub mod token_file;

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
