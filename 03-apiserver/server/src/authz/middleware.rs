//! The shell around the decision: runs after authentication, on every
//! request under the authenticated routes.
//!
//! 1. Impersonation (`Impersonate-User`, `Impersonate-Group`, what
//!    `kubectl --as` and `--as-group` send): the caller must be allowed
//!    the verb `impersonate` on `users` (or `serviceaccounts`) and
//!    `groups` by those names; the request then goes on as that user.
//! 2. The request's [`RequestInfo`], the authorizers' decision, and a 403
//!    in Kubernetes' words when it is refused.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::forbidden_message;
use super::request_info::{RequestInfo, request_info};
use crate::authn::UserInfo;
use crate::server::AppState;
use crate::status::ApiError;

/// The header naming the user to act as.
pub const IMPERSONATE_USER: &str = "impersonate-user";
/// A header (repeatable) naming a group to act as a member of.
pub const IMPERSONATE_GROUP: &str = "impersonate-group";

// ANCHOR: authorize
/// Authorization middleware: the request goes on only if allowed.
pub async fn authorize(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    let caller = request
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::anonymous);
    let audit = crate::audit::Context::of(request.extensions());
    let user = match impersonate(&state, &caller, request.headers()) {
        Ok(Some(user)) => {
            if let Some(audit) = &audit {
                audit.impersonated(&user);
            }
            user
        }
        Ok(None) => caller,
        Err(refused) => return refused.into_response(),
    };
    if !state.authorizer.enabled() {
        // `AlwaysAllow`: allowed, for no particular reason.
        if let Some(audit) = &audit {
            audit.authorized(true, "");
        }
    } else {
        let query: Vec<(String, String)> =
            form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let info = request_info(request.method().as_str(), request.uri().path(), &query);
        let decision = state.authorizer.authorize_request(&user, &info).await;
        if let Some(audit) = &audit {
            match &decision {
                super::Decision::Allow(reason) => audit.authorized(true, reason),
                super::Decision::Deny(reason) => audit.authorized(false, reason),
            }
        }
        if let super::Decision::Deny(reason) = decision {
            tracing::debug!(user = user.name, ?info, "forbidden");
            let message = forbidden_message(&user.name, &info, &reason);
            return ApiError::Forbidden(message).into_response();
        }
    }
    request.extensions_mut().insert(user);
    next.run(request).await
}
// ANCHOR_END: authorize

/// The user named by the impersonation headers, if any, once `caller` is
/// found allowed to act as them; else the 403.
fn impersonate(
    state: &AppState,
    caller: &UserInfo,
    headers: &HeaderMap,
) -> Result<Option<UserInfo>, ApiError> {
    let (name, groups) = impersonation_headers(headers);
    let Some(name) = name else {
        if groups.is_empty() {
            return Ok(None);
        }
        // Kubernetes refuses groups without a user: the user is required.
        return Err(ApiError::BadRequest(
            "requested [Impersonate-Group] without impersonating a user".into(),
        ));
    };
    for check in impersonation_checks(&name, &groups) {
        if !state.authorizer.authorize(caller, &check).allowed() {
            return Err(ApiError::Forbidden(forbidden_message(
                &caller.name,
                &check,
                "",
            )));
        }
    }
    Ok(Some(impersonated(&name, &groups)))
}

/// The `Impersonate-User` value and every `Impersonate-Group` value.
fn impersonation_headers(headers: &HeaderMap) -> (Option<String>, Vec<String>) {
    let text = |v: &axum::http::HeaderValue| v.to_str().ok().map(str::to_string);
    let name = headers.get(IMPERSONATE_USER).and_then(text);
    let groups = headers
        .get_all(IMPERSONATE_GROUP)
        .iter()
        .filter_map(text)
        .collect();
    (name, groups)
}

/// One `impersonate` request per name to check: the user (as a service
/// account when it is one) and each group.
fn impersonation_checks(name: &str, groups: &[String]) -> Vec<RequestInfo> {
    let check = |resource: &str, namespace: &str, name: &str| RequestInfo {
        is_resource_request: true,
        verb: "impersonate".into(),
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.into(),
        ..RequestInfo::default()
    };
    let service_account = name
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'));
    let mut checks = vec![match service_account {
        Some((ns, sa)) => check("serviceaccounts", ns, sa),
        None => check("users", "", name),
    }];
    checks.extend(groups.iter().map(|g| check("groups", "", g)));
    checks
}

/// The user a request acts as: the names given, in `system:authenticated`
/// as every user but the anonymous one is.
fn impersonated(name: &str, groups: &[String]) -> UserInfo {
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    if name == "system:anonymous" {
        return UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
    }
    UserInfo::authenticated(name, "", &groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::AUTHENTICATED;

    #[test]
    fn impersonating_checks_the_user_or_service_account_and_each_group() {
        let checks = impersonation_checks("bob", &["dev".into()]);
        let seen: Vec<(&str, &str, &str)> = checks
            .iter()
            .map(|c| (c.resource.as_str(), c.namespace.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(seen, [("users", "", "bob"), ("groups", "", "dev")]);
        assert!(
            checks
                .iter()
                .all(|c| c.verb == "impersonate" && c.api_group.is_empty())
        );
        let sa = impersonation_checks("system:serviceaccount:ns1:builder", &[]);
        assert_eq!(
            (sa[0].resource.as_str(), sa[0].namespace.as_str()),
            ("serviceaccounts", "ns1")
        );
        assert_eq!(sa[0].name, "builder");
    }

    #[test]
    fn the_impersonated_user_is_authenticated() {
        let user = impersonated("bob", &["dev".into()]);
        assert_eq!(user.groups, ["dev", AUTHENTICATED]);
    }
}
