//! What a request asks to do, in the authorizer's words: Kubernetes'
//! `RequestInfo` (k8s.io/apiserver, `RequestInfoFactory`).
//!
//! The authorizer never sees HTTP. It sees a verb (`list`, not `GET`), an
//! API group, a resource and perhaps a subresource, a namespace and a
//! name; or, for a path outside `/api` and `/apis` (`/healthz`,
//! `/version`), the path itself and the lower-cased HTTP method. This file
//! derives those from the method, the path and the query, the way
//! kube-apiserver does, so a rule written for Kubernetes means the same
//! here:
//!
//! ```text
//! GET    /api/v1/namespaces/default/pods             list pods in default
//! GET    /api/v1/namespaces/default/pods?watch=true  watch pods in default
//! GET    /api/v1/namespaces/default/pods/web/log     get pods/log "web"
//! DELETE /apis/apps/v1/namespaces/x/deployments      deletecollection
//! GET    /api/v1/namespaces/x                        get namespaces "x" in x
//! GET    /healthz                                    get path "/healthz"
//! ```

/// What a request asks to do, as RBAC reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// False for a path outside the API (`/healthz`): then only `verb`
    /// and `path` mean anything, and rules match `nonResourceURLs`.
    pub is_resource_request: bool,
    /// The URL path, as sent.
    pub path: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; for a non-resource path the method, lower-cased.
    pub verb: String,
    /// The API group, empty for the core group.
    pub api_group: String,
    /// The version in the path (`v1`).
    pub api_version: String,
    /// The namespace, empty for a cluster-scoped request. A namespace
    /// object's own requests (`/api/v1/namespaces/x`) carry its name here
    /// too, as Kubernetes' do: a RoleBinding in `x` may grant reading `x`.
    pub namespace: String,
    /// The plural resource (`pods`).
    pub resource: String,
    /// `status`, `log`, `exec`, `scale`, ...; empty when none.
    pub subresource: String,
    /// The object's name, empty for a collection.
    pub name: String,
    /// A list's or watch's `fieldSelector`, as sent: the Node authorizer
    /// lets a node list pods only with `spec.nodeName=<itself>`
    /// (Kubernetes 1.32's `AuthorizeNodeWithSelectors`).
    pub field_selector: String,
}

/// Path segments after a namespace's name that are the namespace's own
/// subresources, not a resource inside it (`/namespaces/x/status`).
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

// ANCHOR: request_info
/// Reads a request as Kubernetes' `RequestInfoFactory.NewRequestInfo`
/// does. `query` is the decoded query string's pairs; only `watch` and
/// `fieldSelector` matter (a list narrowed to one `metadata.name` is
/// authorized as a request for that name).
pub fn request_info(method: &str, path: &str, query: &[(String, String)]) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.to_ascii_lowercase(),
        ..RequestInfo::default()
    };
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // `/api/v1/x` at least, or `/apis/group/version/x`: anything shorter
    // (`/api`, `/apis/apps/v1`) is discovery, a non-resource path.
    let rest = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            info.api_version = version.to_string();
            rest
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            info.api_group = group.to_string();
            info.api_version = version.to_string();
            rest
        }
        _ => return info,
    };
    info.is_resource_request = true;
    let mut rest = rest;
    // The old `/watch/...` prefix names the verb itself.
    let verb_in_path = matches!(rest.first(), Some(&"watch")) && rest.len() > 1;
    if verb_in_path {
        info.verb = "watch".into();
        rest = &rest[1..];
    } else {
        info.verb = verb_of(method).into();
    }
    if rest[0] == "namespaces" && rest.len() > 1 {
        info.namespace = rest[1].to_string();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    // resource / name / subresource / anything further is not interpreted
    info.resource = rest[0].to_string();
    info.name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
    info.subresource = rest.get(2).map(|s| s.to_string()).unwrap_or_default();
    refine_collection_verb(&mut info, query);
    info
}
// ANCHOR_END: request_info

/// The verb of a resource request's HTTP method, before looking at
/// whether it names an object.
fn verb_of(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
}

/// A `get` without a name is a `list` (or a `watch` with `watch=true`); a
/// `delete` without one is a `deletecollection`.
fn refine_collection_verb(info: &mut RequestInfo, query: &[(String, String)]) {
    if !info.name.is_empty() {
        return;
    }
    let param = |key: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    match info.verb.as_str() {
        "get" => {
            // Go's strconv.ParseBool, which the parameter codec uses.
            let watching = matches!(
                param("watch"),
                Some("1" | "t" | "T" | "true" | "TRUE" | "True")
            );
            info.verb = if watching { "watch" } else { "list" }.into();
            info.field_selector = param("fieldSelector").unwrap_or("").to_string();
            if let Some(name) = param("fieldSelector").and_then(exact_name) {
                info.name = name.to_string();
            }
        }
        "delete" => {
            info.verb = "deletecollection".into();
            info.field_selector = param("fieldSelector").unwrap_or("").to_string();
        }
        _ => {}
    }
}

/// The name a field selector requires exactly (`metadata.name=web` or
/// `metadata.name==web` as its only term), if it is a valid path segment.
fn exact_name(selector: &str) -> Option<&str> {
    if selector.contains(',') {
        return None;
    }
    let value = selector
        .strip_prefix("metadata.name==")
        .or_else(|| selector.strip_prefix("metadata.name="))?;
    let valid = !value.is_empty() && value != "." && value != ".." && !value.contains(['/', '%']);
    valid.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, target: &str) -> RequestInfo {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        request_info(method, path, &query)
    }

    /// (verb, group, namespace, resource, subresource, name)
    fn summary(i: &RequestInfo) -> (&str, &str, &str, &str, &str, &str) {
        (
            &i.verb,
            &i.api_group,
            &i.namespace,
            &i.resource,
            &i.subresource,
            &i.name,
        )
    }

    #[test]
    fn resource_requests_read_like_kubernetes() {
        let cases = [
            (
                "GET",
                "/api/v1/namespaces/default/pods",
                ("list", "", "default", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/default/pods?watch=true",
                ("watch", "", "default", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/pods?watch=1",
                ("watch", "", "", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/a/pods",
                ("watch", "", "a", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/web/log",
                ("get", "", "a", "pods", "log", "web"),
            ),
            (
                "POST",
                "/api/v1/namespaces/a/pods/web/exec",
                ("create", "", "a", "pods", "exec", "web"),
            ),
            (
                "PUT",
                "/api/v1/namespaces/a/pods/web/status",
                ("update", "", "a", "pods", "status", "web"),
            ),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/a/deployments/d/scale",
                ("patch", "apps", "a", "deployments", "scale", "d"),
            ),
            (
                "DELETE",
                "/apis/apps/v1/namespaces/a/deployments",
                ("deletecollection", "apps", "a", "deployments", "", ""),
            ),
            (
                "DELETE",
                "/api/v1/nodes/n1",
                ("delete", "", "", "nodes", "", "n1"),
            ),
            (
                "POST",
                "/api/v1/namespaces",
                ("create", "", "", "namespaces", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/x",
                ("get", "", "x", "namespaces", "", "x"),
            ),
            (
                "PUT",
                "/api/v1/namespaces/x/finalize",
                ("update", "", "x", "namespaces", "finalize", "x"),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dtoken",
                ("list", "", "a", "secrets", "", "token"),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Dt,type%3Dx",
                ("list", "", "a", "secrets", "", ""),
            ),
        ];
        for (method, target, want) in cases {
            let got = info(method, target);
            assert!(got.is_resource_request, "{method} {target}");
            assert_eq!(summary(&got), want, "{method} {target}");
        }
    }

    #[test]
    fn other_paths_are_non_resource_requests_with_the_method_as_verb() {
        for (method, path) in [
            ("GET", "/healthz"),
            ("GET", "/api"),
            ("GET", "/api/v1"),
            ("GET", "/apis/apps"),
            ("GET", "/apis/apps/v1"),
            ("POST", "/logs/x"),
        ] {
            let got = info(method, path);
            assert!(!got.is_resource_request, "{path}");
            assert_eq!(got.verb, method.to_lowercase());
            assert_eq!(got.path, path);
        }
    }
}
