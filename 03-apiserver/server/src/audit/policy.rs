//! `--audit-policy-file`: Kubernetes' audit `Policy` (`audit.k8s.io/v1`),
//! read, checked and asked "at which level is this request recorded?".
//!
//! ```yaml
//! apiVersion: audit.k8s.io/v1
//! kind: Policy
//! omitStages: [RequestReceived]          # for every rule
//! rules:                                 # the first rule that matches decides
//!   - level: None
//!     nonResourceURLs: ["/healthz*"]     # a trailing * matches a prefix
//!   - level: Metadata                    # who, what, when; never a body
//!     resources:
//!       - group: ""                      # the core group
//!         resources: [secrets, "pods/log", "*/status"]
//!   - level: Request                     # and the request's body
//!     verbs: [create, update, patch, delete]
//!   - level: Metadata                    # everything else
//! ```
//!
//! A request no rule matches is not recorded (`None`), as in Kubernetes.
//! The matching is `ruleMatches` of k8s.io/apiserver's `policy/checker.go`,
//! read through orc's [`RequestInfo`]: pure, and tested here. The checks
//! are `ValidatePolicy`'s, worded as Kubernetes words them with the field
//! path; unknown fields are errors too (a misspelt `omitStage` must not
//! record what its author meant to leave out).

use serde::Deserialize;

use crate::authn::UserInfo;
use crate::authz::request_info::RequestInfo;

/// How much of a request an event records, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum Level {
    /// Not recorded at all.
    None,
    /// Who, what, when and the answer's code: no bodies.
    Metadata,
    /// Metadata and the request's body (resource requests only).
    Request,
    /// Request and the response's body too.
    RequestResponse,
}

/// When, in handling a request, an event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Stage {
    /// As soon as the request is read and its user known.
    RequestReceived,
    /// A long-running request (watch, exec, logs): its headers sent.
    ResponseStarted,
    /// The answer sent in full.
    ResponseComplete,
    /// The handler panicked.
    Panic,
}

/// One `resources` element of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupResources {
    /// The API group, `""` for the core group.
    #[serde(default)]
    pub group: String,
    /// Plural names, `pods/log` for a subresource, `*`, `pods/*`,
    /// `*/status`; none: every resource of the group.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Object names; none: every object.
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// One rule: what it matches (every field given must match) and the
/// level it gives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyRule {
    /// Required: `None`, `Metadata`, `Request` or `RequestResponse`.
    pub level: Option<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Kubernetes' verbs (`get`, `list`, `watch`, `create`, ...).
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    /// `""` is a cluster-scoped resource.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Paths outside the API (`/healthz`, `/version`), with a trailing `*`.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    /// Stages not written for requests this rule matches (besides the
    /// policy's own `omitStages`).
    #[serde(default)]
    pub omit_stages: Vec<String>,
    /// Overrides the policy's `omitManagedFields` for this rule.
    pub omit_managed_fields: Option<bool>,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<serde_yaml::Value>,
    #[serde(default)]
    rules: Vec<PolicyRule>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    omit_managed_fields: bool,
}

/// The group and version a policy file must name.
pub const API_VERSION: &str = "audit.k8s.io/v1";

/// A checked policy, ready to be asked.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    /// The policy's own `omitStages`: what a request no rule matches
    /// would omit (it is not recorded anyway).
    omit_stages: Vec<Stage>,
    omit_managed_fields: bool,
}

/// A rule with its level and stages parsed.
#[derive(Debug, Clone)]
struct Rule {
    level: Level,
    /// The rule's stages and the policy's, together (Kubernetes'
    /// `unionStages`).
    omit_stages: Vec<Stage>,
    omit_managed_fields: bool,
    matcher: PolicyRule,
}

/// What the policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: Vec<Stage>,
    pub omit_managed_fields: bool,
}

impl Decision {
    /// Whether an event is written at `stage`.
    pub fn records(&self, stage: Stage) -> bool {
        self.level > Level::None && !self.omit_stages.contains(&stage)
    }
}

/// What is wrong with a policy file: Kubernetes' field path and words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

const LEVELS: &str = "\"None\", \"Metadata\", \"Request\", \"RequestResponse\"";
const STAGES: &str = "RequestReceived,ResponseStarted,ResponseComplete,Panic";

impl Policy {
    /// Parses and checks a policy file's text (YAML or JSON).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        // The path of a field serde refuses (`rules[2].omitStage`), not
        // just its line.
        let file: File = serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
            .map_err(|e| {
                let at = e.path().to_string();
                let at = if at == "." {
                    String::new()
                } else {
                    format!("{at}: ")
                };
                PolicyError(format!(
                    "{at}{} (the format is Kubernetes' audit Policy: apiVersion: {API_VERSION}, \
                     kind: Policy, rules: [...])",
                    e.inner()
                ))
            })?;
        if file.api_version.as_deref() != Some(API_VERSION) {
            return Err(PolicyError(format!(
                "apiVersion: Unsupported value: {:?}: supported values: {API_VERSION:?}",
                file.api_version.unwrap_or_default()
            )));
        }
        if file.kind.as_deref() != Some("Policy") {
            return Err(PolicyError(format!(
                "kind: Unsupported value: {:?}: supported values: \"Policy\"",
                file.kind.unwrap_or_default()
            )));
        }
        let _ = file.metadata;
        let omit_stages = stages("omitStages", &file.omit_stages)?;
        if file.rules.is_empty() {
            return Err(PolicyError(
                "rules: Required value: a policy without rules records nothing (add \
                 `- level: Metadata` to record every request's metadata)"
                    .into(),
            ));
        }
        let rules = file
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                checked(
                    &format!("rules[{i}]"),
                    rule,
                    &omit_stages,
                    file.omit_managed_fields,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            rules,
            omit_stages,
            omit_managed_fields: file.omit_managed_fields,
        })
    }

    // ANCHOR: level
    /// The level and omitted stages for a request by `user` (`None`
    /// before authentication found one): the first rule that matches
    /// decides; no rule, no record.
    pub fn decide(&self, user: Option<&UserInfo>, request: &RequestInfo) -> Decision {
        match self
            .rules
            .iter()
            .find(|r| matches(&r.matcher, user, request))
        {
            Some(rule) => Decision {
                level: rule.level,
                omit_stages: rule.omit_stages.clone(),
                omit_managed_fields: rule.omit_managed_fields,
            },
            None => Decision {
                level: Level::None,
                omit_stages: self.omit_stages.clone(),
                omit_managed_fields: self.omit_managed_fields,
            },
        }
    }
    // ANCHOR_END: level
}

/// One rule, checked as `validatePolicyRule` checks it.
fn checked(
    path: &str,
    rule: PolicyRule,
    policy_stages: &[Stage],
    policy_managed_fields: bool,
) -> Result<Rule, PolicyError> {
    let level = match rule.level.as_deref() {
        None | Some("") => {
            return Err(PolicyError(format!(
                "{path}.level: Required value: one of {LEVELS}"
            )));
        }
        Some(text) => level(text).ok_or_else(|| {
            PolicyError(format!(
                "{path}.level: Unsupported value: {text:?}: supported values: {LEVELS}"
            ))
        })?,
    };
    for (i, url) in rule.non_resource_urls.iter().enumerate() {
        if url == "*" {
            continue;
        }
        if !url.starts_with('/') {
            return Err(PolicyError(format!(
                "{path}.nonResourceURLs[{i}]: Invalid value: {url:?}: non-resource URL rules \
                 must begin with a '/' character"
            )));
        }
        if url[..url.len() - 1].contains('*') {
            return Err(PolicyError(format!(
                "{path}.nonResourceURLs[{i}]: Invalid value: {url:?}: non-resource URL \
                 wildcards '*' must be the final character of the rule"
            )));
        }
    }
    for (i, group) in rule.resources.iter().enumerate() {
        if !group.group.is_empty() && !is_dns_subdomain(&group.group) {
            return Err(PolicyError(format!(
                "{path}.resources[{i}].group: Invalid value: {:?}: a group is a lowercase DNS \
                 subdomain such as `apps` or `rbac.authorization.k8s.io` (no version)",
                group.group
            )));
        }
        if !group.resource_names.is_empty() && group.resources.is_empty() {
            return Err(PolicyError(format!(
                "{path}.resources[{i}].resourceNames: Invalid value: {:?}: using \
                 resourceNames requires at least one resource",
                group.resource_names
            )));
        }
    }
    let mut omit_stages = stages(&format!("{path}.omitStages"), &rule.omit_stages)?;
    if !rule.non_resource_urls.is_empty()
        && (!rule.resources.is_empty() || !rule.namespaces.is_empty())
    {
        return Err(PolicyError(format!(
            "{path}.nonResourceURLs: Invalid value: {:?}: rules cannot apply to both regular \
             resources and non-resource URLs (write two rules)",
            rule.non_resource_urls
        )));
    }
    for stage in policy_stages {
        if !omit_stages.contains(stage) {
            omit_stages.push(*stage);
        }
    }
    Ok(Rule {
        level,
        omit_stages,
        omit_managed_fields: rule.omit_managed_fields.unwrap_or(policy_managed_fields),
        matcher: rule,
    })
}

fn level(text: &str) -> Option<Level> {
    Some(match text {
        "None" => Level::None,
        "Metadata" => Level::Metadata,
        "Request" => Level::Request,
        "RequestResponse" => Level::RequestResponse,
        _ => return None,
    })
}

/// `omitStages` at `path`, each one a stage's name.
fn stages(path: &str, names: &[String]) -> Result<Vec<Stage>, PolicyError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Ok(match name.as_str() {
                "RequestReceived" => Stage::RequestReceived,
                "ResponseStarted" => Stage::ResponseStarted,
                "ResponseComplete" => Stage::ResponseComplete,
                "Panic" => Stage::Panic,
                _ => {
                    return Err(PolicyError(format!(
                        "{path}[{i}]: Invalid value: {name:?}: allowed stages are {STAGES}"
                    )));
                }
            })
        })
        .collect()
}

fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

// ANCHOR: matches
/// Whether `rule` matches: every field it gives must (Kubernetes'
/// `ruleMatches`).
fn matches(rule: &PolicyRule, user: Option<&UserInfo>, request: &RequestInfo) -> bool {
    if !rule.users.is_empty() && !user.is_some_and(|u| rule.users.contains(&u.name)) {
        return false;
    }
    if !rule.user_groups.is_empty()
        && !user.is_some_and(|u| u.groups.iter().any(|g| rule.user_groups.contains(g)))
    {
        return false;
    }
    if !rule.verbs.is_empty() && !rule.verbs.contains(&request.verb) {
        return false;
    }
    if !rule.namespaces.is_empty() || !rule.resources.is_empty() {
        return request.is_resource_request && matches_resource(rule, request);
    }
    if !rule.non_resource_urls.is_empty() {
        return !request.is_resource_request
            && rule
                .non_resource_urls
                .iter()
                .any(|spec| path_matches(&request.path, spec));
    }
    true
}
// ANCHOR_END: matches

/// `*`, the path itself, or a prefix ending in `*`.
fn path_matches(path: &str, spec: &str) -> bool {
    spec == "*"
        || spec == path
        || spec
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

/// A resource request against the rule's `namespaces` and `resources`.
fn matches_resource(rule: &PolicyRule, request: &RequestInfo) -> bool {
    if !rule.namespaces.is_empty() && !rule.namespaces.contains(&request.namespace) {
        return false;
    }
    if rule.resources.is_empty() {
        return true;
    }
    let resource = request.resource.as_str();
    let subresource = request.subresource.as_str();
    let combined = if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    };
    rule.resources
        .iter()
        .filter(|gr| gr.group == request.api_group)
        .any(|gr| {
            if gr.resources.is_empty() {
                return true;
            }
            let named = gr.resource_names.is_empty() || gr.resource_names.contains(&request.name);
            named
                && gr.resources.iter().any(|spec| {
                    spec == "*"
                        || *spec == combined
                        || (!subresource.is_empty() && spec.strip_prefix("*/") == Some(subresource))
                        || spec.strip_suffix("/*") == Some(resource)
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::request_info::request_info;

    fn info(method: &str, path: &str) -> RequestInfo {
        request_info(method, path, &[])
    }

    fn level_of(policy: &Policy, user: &UserInfo, method: &str, path: &str) -> Level {
        policy.decide(Some(user), &info(method, path)).level
    }

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", /version]
  - level: None
    userGroups: ["system:nodes"]
    verbs: [update]
    resources: [{group: coordination.k8s.io, resources: [leases]}]
  - level: Metadata
    resources: [{group: "", resources: [secrets, "pods/log", "*/status"]}]
  - level: RequestResponse
    users: [alice]
    resources: [{group: apps, resources: ["deployments/*"], resourceNames: [web]}]
    omitStages: [ResponseStarted]
  - level: Request
    verbs: [create, update, patch, delete, deletecollection]
  - level: Metadata
    namespaces: [kube-system]
"#;

    #[test]
    fn the_first_matching_rule_decides() {
        let policy = Policy::parse(POLICY).unwrap();
        let alice = UserInfo::authenticated("alice", "", &[]);
        let node = UserInfo::authenticated("system:node:a", "", &["system:nodes"]);
        assert_eq!(
            level_of(&policy, &alice, "GET", "/healthz/etcd"),
            Level::None
        );
        assert_eq!(level_of(&policy, &alice, "GET", "/version"), Level::None);
        // A prefix needs its `*`: `/version` does not match `/versions`.
        assert_eq!(level_of(&policy, &alice, "GET", "/versionx"), Level::None);
        let lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/a";
        assert_eq!(level_of(&policy, &node, "PUT", lease), Level::None);
        assert_eq!(level_of(&policy, &alice, "PUT", lease), Level::Request);
        // Secrets are Metadata even when written: rule 3 comes before 5.
        let secrets = "/api/v1/namespaces/default/secrets";
        assert_eq!(level_of(&policy, &alice, "POST", secrets), Level::Metadata);
        assert_eq!(
            level_of(&policy, &alice, "GET", "/api/v1/namespaces/d/pods/p/log"),
            Level::Metadata
        );
        assert_eq!(
            level_of(&policy, &alice, "PUT", "/api/v1/namespaces/d/pods/p/status"),
            Level::Metadata
        );
        // `deployments/*` is any subresource of web, for alice only.
        let scale = "/apis/apps/v1/namespaces/d/deployments/web/scale";
        assert_eq!(
            level_of(&policy, &alice, "GET", scale),
            Level::RequestResponse
        );
        let other = "/apis/apps/v1/namespaces/d/deployments/api/scale";
        assert_eq!(level_of(&policy, &alice, "GET", other), Level::None);
        assert_eq!(
            level_of(
                &policy,
                &alice,
                "GET",
                "/api/v1/namespaces/kube-system/pods"
            ),
            Level::Metadata
        );
        assert_eq!(
            level_of(&policy, &alice, "GET", "/api/v1/namespaces/default/pods"),
            Level::None
        );
    }

    #[test]
    fn stages_are_the_rules_and_the_policys() {
        let policy = Policy::parse(POLICY).unwrap();
        let alice = UserInfo::authenticated("alice", "", &[]);
        let scale = info("GET", "/apis/apps/v1/namespaces/d/deployments/web/scale");
        let decision = policy.decide(Some(&alice), &scale);
        assert!(!decision.records(Stage::RequestReceived));
        assert!(!decision.records(Stage::ResponseStarted));
        assert!(decision.records(Stage::ResponseComplete));
    }

    #[test]
    fn rules_with_users_do_not_match_an_unknown_user() {
        let policy = Policy::parse(POLICY).unwrap();
        let scale = info("GET", "/apis/apps/v1/namespaces/d/deployments/web/scale");
        assert_eq!(policy.decide(None, &scale).level, Level::None);
    }

    fn error(text: &str) -> String {
        Policy::parse(text).unwrap_err().0
    }

    #[test]
    fn bad_policies_are_refused_with_the_field_path() {
        let head = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n";
        assert_eq!(
            error(&format!("{head}- level: Everything\n")),
            "rules[0].level: Unsupported value: \"Everything\": supported values: \
             \"None\", \"Metadata\", \"Request\", \"RequestResponse\""
        );
        assert!(error(&format!("{head}- verbs: [get]\n")).starts_with("rules[0].level: Required"));
        assert_eq!(
            error(&format!(
                "{head}- level: None\n- level: None\n  omitStages: [Done]\n"
            )),
            "rules[1].omitStages[0]: Invalid value: \"Done\": allowed stages are \
             RequestReceived,ResponseStarted,ResponseComplete,Panic"
        );
        assert!(
            error(&format!(
                "{head}- level: None\n  nonResourceURLs: [\"/a*b\"]\n"
            ))
            .contains("must be the final character")
        );
        assert!(
            error(&format!(
                "{head}- level: None\n  nonResourceURLs: [/a]\n  namespaces: [x]\n"
            ))
            .contains("rules[0].nonResourceURLs: Invalid value")
        );
        assert!(
            error(&format!(
                "{head}- level: None\n  resources: [{{group: apps/v1}}]\n"
            ))
            .starts_with("rules[0].resources[0].group: Invalid value: \"apps/v1\"")
        );
        let unknown = error(&format!("{head}- level: None\n  omitStage: [Panic]\n"));
        assert!(unknown.contains("unknown field `omitStage`"), "{unknown}");
        assert!(
            error("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\n").starts_with("apiVersion")
        );
        assert!(
            error("apiVersion: audit.k8s.io/v1\nkind: Policy\n").starts_with("rules: Required")
        );
    }
}
