//! Resource names, resolved through the server's discovery documents.
//!
//! The CLI knows no resource by heart, as kubectl does not: `orc get deploy`
//! reads `/api/v1`, `/apis` and `/apis/<group>/<version>` and finds the row
//! whose plural, singular, short name or kind is `deploy`. The row gives the
//! URL and whether it holds a namespace, so a resource the server adds
//! later works without a new CLI.

use anyhow::{Context, Result, anyhow};
use orc_client::{Client, Method, path_of};
use serde_json::Value;

/// One resource as discovery describes it.
#[derive(Debug, Clone)]
pub struct ApiResource {
    /// `""` for the core group, `apps`, ...
    pub group: String,
    pub version: String,
    /// `pods`: the URL segment.
    pub plural: String,
    /// `pod`: what `orc` prints (`pod/web created`).
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    short_names: Vec<String>,
    /// Groups a resource belongs to: `all` is what `orc get all` lists.
    categories: Vec<String>,
}

impl ApiResource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// How kubectl names the type in its output: `pod`, `deployment.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.singular.clone()
        } else {
            format!("{}.{}", self.singular, self.group)
        }
    }

    /// The URL of the collection (`name` `None`) or of one object; `ns`
    /// `None` for a namespaced resource means across all namespaces.
    pub fn path(&self, ns: Option<&str>, name: Option<&str>) -> String {
        let (group, version, plural) = (&self.group, &self.version, &self.plural);
        path_of(group, version, plural, self.namespaced, ns, name)
    }

    fn answers_to(&self, name: &str) -> bool {
        self.plural == name
            || self.singular == name
            || self.kind.to_lowercase() == name
            || self.short_names.iter().any(|s| s == name)
    }
}

/// Every resource the server serves, core group first (so `po` finds
/// `pods` before anything a named group adds, as in kubectl).
pub struct Discovery {
    resources: Vec<ApiResource>,
}

impl Discovery {
    /// Walks `/api/v1`, `/apis` and each group's preferred version.
    pub async fn fetch(client: &Client, server: &str) -> Result<Discovery> {
        let get = |path: String| async move {
            client
                .send_path(Method::GET, &path, None, None)
                .await
                .with_context(|| {
                    format!("reading {path} from the API server at {server}; is it running? (`orc demo` starts one)")
                })
        };
        let mut documents = vec![get("/api/v1".into()).await?];
        let groups = get("/apis".into()).await?;
        for group in groups["groups"].as_array().into_iter().flatten() {
            if let Some(gv) = group
                .pointer("/preferredVersion/groupVersion")
                .and_then(Value::as_str)
            {
                documents.push(get(format!("/apis/{gv}")).await?);
            }
        }
        Ok(Discovery::from_documents(&documents))
    }

    /// The resources of `APIResourceList` documents, subresources left out.
    pub fn from_documents(documents: &[Value]) -> Discovery {
        let mut resources = Vec::new();
        for doc in documents {
            let gv = doc["groupVersion"].as_str().unwrap_or("v1");
            let (group, version) = gv.split_once('/').unwrap_or(("", gv));
            for row in doc["resources"].as_array().into_iter().flatten() {
                let text = |k: &str| row[k].as_str().unwrap_or("").to_string();
                // `pods/status` and friends are subresources, not types.
                if text("name").contains('/') {
                    continue;
                }
                resources.push(ApiResource {
                    group: group.into(),
                    version: version.into(),
                    plural: text("name"),
                    singular: text("singularName"),
                    kind: text("kind"),
                    namespaced: row["namespaced"] == true,
                    short_names: strings(&row["shortNames"]),
                    categories: strings(&row["categories"]),
                });
            }
        }
        Discovery { resources }
    }

    /// The resource a user typed: `pods`, `pod`, `po`, `Pod`, or a name
    /// qualified with its group: `deployments.apps`.
    pub fn by_name(&self, typed: &str) -> Result<&ApiResource> {
        let lower = typed.to_lowercase();
        let found = self
            .resources
            .iter()
            .find(|r| r.answers_to(&lower))
            .or_else(|| {
                let (name, group) = lower.split_once('.')?;
                self.resources
                    .iter()
                    .find(|r| r.group == group && r.answers_to(name))
            });
        found.ok_or_else(|| anyhow!("the server doesn't have a resource type \"{typed}\""))
    }

    /// Every resource of `pods,svc` or of a category (`all`), in
    /// discovery order.
    pub fn by_names(&self, typed: &str) -> Result<Vec<ApiResource>> {
        let mut found = Vec::new();
        for one in typed.split(',') {
            match self.by_name(one) {
                Ok(resource) => found.push(resource.clone()),
                Err(error) => {
                    let before = found.len();
                    found.extend(
                        self.resources
                            .iter()
                            .filter(|r| r.categories.iter().any(|c| c == one))
                            .cloned(),
                    );
                    if found.len() == before {
                        return Err(error);
                    }
                }
            }
        }
        Ok(found)
    }

    /// The resource a manifest's `apiVersion` and `kind` name.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Result<&ApiResource> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.api_version() == api_version)
            .ok_or_else(|| anyhow!("no matches for kind \"{kind}\" in version \"{api_version}\""))
    }
}

/// The strings of a JSON array (absent: none).
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn discovery() -> Discovery {
        let row = |name: &str, singular: &str, kind: &str, short: &[&str]| {
            json!({"name": name, "singularName": singular, "kind": kind, "namespaced": true,
                   "shortNames": short, "categories": ["all"]})
        };
        Discovery::from_documents(&[
            json!({"groupVersion": "v1", "resources": [
                row("pods", "pod", "Pod", &["po"]),
                row("pods/status", "", "Pod", &[]),
            ]}),
            json!({"groupVersion": "apps/v1", "resources": [
                row("deployments", "deployment", "Deployment", &["deploy"]),
            ]}),
        ])
    }

    #[test]
    fn names_resolve_as_in_kubectl() {
        let d = discovery();
        for typed in ["pods", "pod", "po", "Pod", "PODS"] {
            assert_eq!(d.by_name(typed).unwrap().plural, "pods", "{typed}");
        }
        let deploy = d.by_name("deployments.apps").unwrap();
        assert_eq!(
            deploy.path(Some("d"), Some("w")),
            "/apis/apps/v1/namespaces/d/deployments/w"
        );
        assert_eq!(deploy.qualified(), "deployment.apps");
        assert_eq!(
            d.by_name("deploy").unwrap().path(None, None),
            "/apis/apps/v1/deployments"
        );
        assert_eq!(
            d.by_name("pods/status").unwrap_err().to_string(),
            "the server doesn't have a resource type \"pods/status\""
        );
        assert_eq!(d.by_names("all").unwrap().len(), 2);
        assert_eq!(
            d.by_kind("apps/v1", "Deployment").unwrap().plural,
            "deployments"
        );
        assert!(d.by_kind("v1", "Deployment").is_err());
    }
}
