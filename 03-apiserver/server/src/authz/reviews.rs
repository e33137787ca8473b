//! Access reviews: asking the authorizer a question instead of making the
//! request (`authorization.k8s.io/v1`).
//!
//! - `SelfSubjectAccessReview`: "may *I* do this?" (`kubectl auth can-i
//!   list pods`). Anyone may ask it (`system:basic-user`).
//! - `SubjectAccessReview`: "may *this user* do this?", for components
//!   that authorize on the API server's behalf; a privileged question.
//! - `SelfSubjectRulesReview`: "what may I do in this namespace?"
//!   (`kubectl auth can-i --list`).
//!
//! A review is created and answered in the reply, never stored: the
//! object posted comes back with its `status` filled in.

use serde_json::{Value, json};

use super::Authorizer;
use super::policy::PolicyRule;
use super::rbac::Decision;
use super::request_info::RequestInfo;
use crate::authn::UserInfo;
use crate::handlers::Reply;
use crate::status::{ApiError, FieldCause, Target};
use orc_client::resources::Resource;

/// The question of a `spec` (its `resourceAttributes` or
/// `nonResourceAttributes`) as the authorizer reads requests.
pub fn attributes(spec: &Value) -> Result<RequestInfo, FieldCause> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    match (
        spec.get("resourceAttributes"),
        spec.get("nonResourceAttributes"),
    ) {
        (Some(r), None) => Ok(RequestInfo {
            is_resource_request: true,
            verb: text(r, "verb"),
            api_group: text(r, "group"),
            api_version: text(r, "version"),
            namespace: text(r, "namespace"),
            resource: text(r, "resource"),
            subresource: text(r, "subresource"),
            name: text(r, "name"),
            path: String::new(),
            // Kubernetes 1.32 asks with `fieldSelector.rawSelector`.
            field_selector: r
                .pointer("/fieldSelector/rawSelector")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }),
        (None, Some(n)) => Ok(RequestInfo {
            verb: text(n, "verb"),
            path: text(n, "path"),
            ..RequestInfo::default()
        }),
        (Some(_), Some(_)) => Err(FieldCause::invalid(
            "spec.nonResourceAttributes",
            &spec["nonResourceAttributes"],
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => Err(FieldCause::required("spec.resourceAttributes")),
    }
}

/// The user a `SubjectAccessReview` asks about.
fn subject(spec: &Value) -> Result<UserInfo, FieldCause> {
    let name = spec.get("user").and_then(Value::as_str).unwrap_or("");
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(String::from))
        .collect();
    if name.is_empty() && groups.is_empty() {
        return Err(FieldCause::required("spec.user"));
    }
    Ok(UserInfo {
        name: name.into(),
        uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").into(),
        groups,
    })
}

/// `status` of an access review for `decision`.
fn access_status(decision: &Decision) -> Value {
    match decision {
        Decision::Allow(reason) => json!({"allowed": true, "reason": reason}),
        Decision::Deny(reason) if reason.is_empty() => json!({"allowed": false}),
        Decision::Deny(reason) => json!({"allowed": false, "reason": reason}),
    }
}

/// `resourceRules` and `nonResourceRules` of a rules review.
fn rules_status(rules: &[PolicyRule], errors: &[String]) -> Value {
    let (paths, resources): (Vec<&PolicyRule>, Vec<&PolicyRule>) =
        rules.iter().partition(|r| !r.non_resource_urls.is_empty());
    let resource_rules: Vec<Value> = resources
        .iter()
        .map(|r| {
            let mut rule =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                rule["resourceNames"] = json!(r.resource_names);
            }
            rule
        })
        .collect();
    let non_resource_rules: Vec<Value> = paths
        .iter()
        .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
        .collect();
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    status
}

// ANCHOR: review
/// Answers a review of kind `resource.kind` posted by `user`: the body
/// with `status` filled in, 201 as for any create.
pub fn create(
    authorizer: &Authorizer,
    resource: &Resource,
    user: &UserInfo,
    mut review: Value,
) -> Result<Reply, ApiError> {
    let invalid = |cause: FieldCause| {
        ApiError::Invalid(
            Target {
                group: resource.group.into(),
                kind: resource.kind.into(),
                name: String::new(),
            },
            vec![cause],
        )
    };
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let status = match resource.kind {
        "SelfSubjectAccessReview" => {
            let question = attributes(&spec).map_err(invalid)?;
            access_status(&authorizer.authorize(user, &question))
        }
        "SubjectAccessReview" => {
            let question = attributes(&spec).map_err(invalid)?;
            let asked_about = subject(&spec).map_err(invalid)?;
            access_status(&authorizer.authorize(&asked_about, &question))
        }
        "SelfSubjectRulesReview" => {
            let namespace = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            let (rules, errors) = authorizer.rules_for(user, namespace);
            rules_status(&rules, &errors)
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "{other} is not an access review"
            )));
        }
    };
    review["status"] = status;
    review["apiVersion"] = json!(resource.api_version());
    review["kind"] = json!(resource.kind);
    if review.get("metadata").is_none() {
        review["metadata"] = json!({});
    }
    Ok(Reply {
        code: axum::http::StatusCode::CREATED,
        body: review,
        warnings: Vec::new(),
    })
}
// ANCHOR_END: review

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_read_as_requests() {
        let spec = json!({"resourceAttributes": {"verb": "get", "resource": "pods", "subresource": "log",
            "namespace": "a", "name": "web"}});
        let q = attributes(&spec).unwrap();
        assert!(q.is_resource_request);
        assert_eq!(
            (q.verb.as_str(), q.resource.as_str(), q.subresource.as_str()),
            ("get", "pods", "log")
        );
        let q = attributes(&json!({"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}))
            .unwrap();
        assert!(!q.is_resource_request);
        assert_eq!(q.path, "/healthz");
        assert!(attributes(&json!({})).is_err());
    }

    #[test]
    fn rules_split_into_resource_and_path_rules() {
        let rules: Vec<PolicyRule> = serde_json::from_value(json!([
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
            {"verbs": ["get"], "nonResourceURLs": ["/api"]},
        ]))
        .unwrap();
        let status = rules_status(&rules, &[]);
        assert_eq!(status["resourceRules"][0]["resourceNames"], json!(["a"]));
        assert_eq!(
            status["nonResourceRules"][0]["nonResourceURLs"],
            json!(["/api"])
        );
        assert_eq!(status["incomplete"], false);
    }
}
