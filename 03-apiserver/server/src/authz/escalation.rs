//! Escalation prevention: nobody grants rights they do not hold.
//!
//! Whoever may create Roles or RoleBindings could otherwise write a role
//! allowing everything and bind it to themselves. Kubernetes' RBAC storage
//! refuses that (pkg/registry/rbac): a Role or ClusterRole may be written
//! only by a user whose own rules, in its namespace, *cover* every rule it
//! holds; a binding only by one whose rules cover its role's. Two verbs
//! lift the check for those trusted with it: `escalate` on roles and
//! `bind` on the role a binding names. `system:masters` is never checked.

use serde_json::Value;

use super::Authorizer;
use super::policy::{PolicyRule, RoleRef};
use super::request_info::RequestInfo;
use crate::authn::{MASTERS, UserInfo};
use crate::status::ApiError;
use orc_client::resources::{RBAC_GROUP, Resource};

/// One rule broken down to a single verb on a single thing, so "covers"
/// is asked one atom at a time (Kubernetes' `BreakdownRule`).
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |v: &String| vec![v.clone()];
    let mut atoms = Vec::new();
    for verb in &rule.verbs {
        for url in &rule.non_resource_urls {
            atoms.push(PolicyRule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..PolicyRule::default()
            });
        }
        for group in &rule.api_groups {
            for resource in &rule.resources {
                let base = PolicyRule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    atoms.push(base);
                } else {
                    atoms.extend(rule.resource_names.iter().map(|n| PolicyRule {
                        resource_names: one(n),
                        ..base.clone()
                    }));
                }
            }
        }
    }
    atoms
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == value)
}

/// Whether `owner` allows everything the single-atom `atom` does
/// (Kubernetes' `ruleCovers`): stars cover, a `*/sub` covers any
/// resource's `sub`, a rule without names covers any name.
fn covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let all =
        |list: &[String], wanted: &[String]| has(list, "*") || wanted.iter().all(|w| has(list, w));
    let resources = atom.resources.iter().all(|r| {
        has(&owner.resources, "*")
            || has(&owner.resources, r)
            || r.split_once('/')
                .is_some_and(|(_, sub)| has(&owner.resources, &format!("*/{sub}")))
    });
    let urls = atom.non_resource_urls.iter().all(|u| {
        owner.non_resource_urls.iter().any(|o| {
            o == u
                || o.strip_suffix('*')
                    .is_some_and(|prefix| u.starts_with(prefix))
        })
    });
    let names = owner.resource_names.is_empty()
        || (!atom.resource_names.is_empty() && all(&owner.resource_names, &atom.resource_names));
    all(&owner.verbs, &atom.verbs)
        && all(&owner.api_groups, &atom.api_groups)
        && resources
        && urls
        && names
}

/// The atoms of `wanted` that no rule of `held` covers.
pub fn not_held(held: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<PolicyRule> {
    wanted
        .iter()
        .flat_map(breakdown)
        .filter(|atom| !held.iter().any(|h| covers(h, atom)))
        .collect()
}

/// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}`,
/// Kubernetes' compact form of a rule.
fn compact(rule: &PolicyRule) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    for (name, values) in [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("ResourceNames", &rule.resource_names),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("Verbs", &rule.verbs),
    ] {
        if !values.is_empty() || name == "APIGroups" && !rule.resources.is_empty() {
            parts.push(format!("{name}:[{}]", list(values)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// A permission check on an RBAC object, as the authorizer reads requests.
fn rbac_check(verb: &str, resource: &str, namespace: &str, name: &str) -> RequestInfo {
    RequestInfo {
        is_resource_request: true,
        verb: verb.into(),
        api_group: RBAC_GROUP.into(),
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.into(),
        ..RequestInfo::default()
    }
}

// ANCHOR: escalation
/// Refuses a write of `obj` (a Role, ClusterRole or binding) by `user`
/// that would grant rights `user` does not hold.
pub fn check(
    authorizer: &Authorizer,
    user: &UserInfo,
    resource: &Resource,
    obj: &Value,
) -> Result<(), ApiError> {
    if !authorizer.enabled() || user.groups.iter().any(|g| g == MASTERS) {
        return Ok(());
    }
    let text = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (name, namespace) = (text("/metadata/name"), text("/metadata/namespace"));
    let forbidden = |why: String| {
        ApiError::Forbidden(format!(
            "{}.{RBAC_GROUP} {name:?} is forbidden: {why}",
            resource.plural
        ))
    };
    let wanted: Vec<PolicyRule> = match resource.kind {
        "Role" | "ClusterRole" => {
            let escalate = rbac_check("escalate", resource.plural, &namespace, &name);
            if authorizer.authorize(user, &escalate).allowed() {
                return Ok(());
            }
            if obj.get("aggregationRule").is_some_and(|r| !r.is_null()) {
                return Err(forbidden(
                    "must have cluster-admin privileges to use the aggregationRule".into(),
                ));
            }
            serde_json::from_value(obj.get("rules").cloned().unwrap_or_default())
                .unwrap_or_default()
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref: RoleRef =
                serde_json::from_value(obj["roleRef"].clone()).unwrap_or_default();
            let plural = if role_ref.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            let bind = rbac_check("bind", plural, &namespace, &role_ref.name);
            if authorizer.authorize(user, &bind).allowed() {
                return Ok(());
            }
            authorizer
                .role_rules(&role_ref, &namespace)
                .map_err(forbidden)?
        }
        _ => return Ok(()),
    };
    let (held, _) = authorizer.rules_for(user, &namespace);
    let missing = not_held(&held, &wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    let rules: Vec<String> = missing.iter().map(compact).collect();
    Err(forbidden(format!(
        "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        groups.join(" "),
        rules.join("\n")
    )))
}
// ANCHOR_END: escalation

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: Value) -> Vec<PolicyRule> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn held_rules_cover_what_they_allow_and_no_more() {
        let held = rules(json!([
            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "*/status"]},
            {"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]},
        ]));
        let ok = rules(json!([
            {"verbs": ["list"], "apiGroups": [""], "resources": ["pods", "services/status"]},
            {"verbs": ["delete"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz/etcd"]},
        ]));
        assert_eq!(not_held(&held, &ok), []);
        let too_much = rules(json!([
            {"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]},
            {"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]},
        ]));
        let missing: Vec<String> = not_held(&held, &too_much).iter().map(compact).collect();
        assert_eq!(
            missing,
            [
                "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\"]}",
                "{APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"get\"]}",
                "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"*\"]}",
            ]
        );
    }
}
