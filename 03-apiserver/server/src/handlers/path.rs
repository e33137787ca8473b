//! URL paths in Kubernetes' shape, parsed into what they address.
//!
//! ```text
//! /api/v1/pods                                  all pods, every namespace
//! /api/v1/namespaces/default/pods               the pods of one namespace
//! /api/v1/namespaces/default/pods/web           one pod
//! /api/v1/namespaces/default/pods/web/status    a subresource of it
//! /api/v1/nodes/n1                              a cluster-scoped object
//! /apis/apps/v1/namespaces/default/deployments  a named group
//! ```
//!
//! One ambiguity needs care: `/api/v1/namespaces/x/pods` is "the pods in
//! namespace x", but `/api/v1/namespaces/x/status` is "the status of
//! namespace x". Kubernetes resolves it the same way orc does: a known
//! subresource name after a namespace means the namespace's subresource.

use crate::status::{ApiError, Target};
use orc_client::resources::{Resource, lookup};

/// What a path under `/api` or `/apis` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiPath {
    /// `/api/v1` or `/apis/<group>/<version>`: the resource list.
    GroupVersion { group: String, version: String },
    /// A resource's objects: one namespace's, or all of them.
    Collection {
        resource: &'static Resource,
        namespace: Option<String>,
    },
    /// One object.
    Object {
        resource: &'static Resource,
        namespace: Option<String>,
        name: String,
    },
    /// A subresource (`status`, `scale`, `binding`) of one object.
    Subresource {
        resource: &'static Resource,
        namespace: Option<String>,
        name: String,
        subresource: String,
    },
}

/// Subresources orc serves; the namespace ambiguity above is resolved by this list.
const SUBRESOURCES: &[&str] = &["status", "scale", "binding", "finalize"];

// ANCHOR: parse_path
/// Parses the segments after `/api` (`core == true`) or `/apis`.
pub fn parse(core: bool, segments: &[&str]) -> Result<ApiPath, ApiError> {
    let (group, version, rest) = match (core, segments) {
        (true, [version, rest @ ..]) => ("", *version, rest),
        (false, [group, version, rest @ ..]) => (*group, *version, rest),
        _ => return Err(not_found_path(segments)),
    };
    let find = |plural: &str| {
        lookup(group, version, plural).ok_or_else(|| {
            ApiError::NotFound(Target {
                group: group.into(),
                kind: plural.into(),
                name: String::new(),
            })
        })
    };
    let namespaced = |ns: &str, plural: &str| -> Result<&'static Resource, ApiError> {
        let resource = find(plural)?;
        if resource.namespaced {
            Ok(resource)
        } else {
            // /namespaces/x/nodes: nodes have no namespace.
            Err(ApiError::NotFound(Target {
                group: group.into(),
                kind: plural.into(),
                name: ns.into(),
            }))
        }
    };
    let ns = |s: &str| Some(s.to_string());
    Ok(match rest {
        [] => ApiPath::GroupVersion {
            group: group.into(),
            version: version.into(),
        },
        [plural] => ApiPath::Collection {
            resource: find(plural)?,
            namespace: None,
        },
        ["namespaces", name, sub] if core && SUBRESOURCES.contains(sub) => ApiPath::Subresource {
            resource: find("namespaces")?,
            namespace: None,
            name: name.to_string(),
            subresource: sub.to_string(),
        },
        ["namespaces", n, plural] => ApiPath::Collection {
            resource: namespaced(n, plural)?,
            namespace: ns(n),
        },
        ["namespaces", n, plural, name] => ApiPath::Object {
            resource: namespaced(n, plural)?,
            namespace: ns(n),
            name: name.to_string(),
        },
        ["namespaces", n, plural, name, sub] => ApiPath::Subresource {
            resource: namespaced(n, plural)?,
            namespace: ns(n),
            name: name.to_string(),
            subresource: sub.to_string(),
        },
        // `pods/{name}/proxy/{path...}`: the path is the pod's, not the API's.
        ["namespaces", n, plural, name, "proxy", _, ..] => ApiPath::Subresource {
            resource: namespaced(n, plural)?,
            namespace: ns(n),
            name: name.to_string(),
            subresource: "proxy".into(),
        },
        [plural, name] => ApiPath::Object {
            resource: find(plural)?,
            namespace: None,
            name: name.to_string(),
        },
        [plural, name, sub] => ApiPath::Subresource {
            resource: find(plural)?,
            namespace: None,
            name: name.to_string(),
            subresource: sub.to_string(),
        },
        _ => return Err(not_found_path(segments)),
    })
}
// ANCHOR_END: parse_path

fn not_found_path(segments: &[&str]) -> ApiError {
    ApiError::NotFound(Target {
        group: String::new(),
        kind: "path".into(),
        name: segments.join("/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(core: bool, path: &str) -> ApiPath {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        parse(core, &segments).unwrap()
    }

    #[test]
    fn shapes() {
        assert!(matches!(p(true, "v1"), ApiPath::GroupVersion { .. }));
        assert!(matches!(
            p(true, "v1/pods"),
            ApiPath::Collection {
                namespace: None,
                ..
            }
        ));
        assert!(matches!(
            p(true, "v1/namespaces/a/pods"),
            ApiPath::Collection {
                namespace: Some(_),
                ..
            }
        ));
        assert!(matches!(p(true, "v1/namespaces/a"), ApiPath::Object { .. }));
        assert!(matches!(
            p(true, "v1/namespaces/a/status"),
            ApiPath::Subresource {
                namespace: None,
                ..
            }
        ));
        assert!(matches!(
            p(true, "v1/namespaces/a/pods/w/binding"),
            ApiPath::Subresource { .. }
        ));
        assert!(matches!(
            p(false, "apps/v1/namespaces/a/deployments/d/scale"),
            ApiPath::Subresource { .. }
        ));
        assert!(matches!(
            p(true, "v1/namespaces/a/pods/w:80/proxy/x/y"),
            ApiPath::Subresource { ref subresource, .. } if subresource == "proxy"
        ));
        assert!(matches!(
            p(true, "v1/nodes/n1"),
            ApiPath::Object {
                namespace: None,
                ..
            }
        ));
    }

    #[test]
    fn unknown_resources_are_404() {
        let segments = ["v1", "widgets"];
        assert_eq!(parse(true, &segments).unwrap_err().code().as_u16(), 404);
        assert!(parse(true, &["v1", "namespaces", "a", "nodes"]).is_err());
    }
}
