//! Discovery: how clients learn which resources the server has.
//!
//! kubectl knows no resource by heart. `kubectl get deploy` first asks
//! `/api` and `/apis` for the groups, then `/api/v1` and
//! `/apis/<group>/<version>` for their resources, and finds the row whose
//! name, singular name or short name is `deploy`. That row tells it the URL
//! (`/apis/apps/v1/namespaces/<ns>/deployments`) and whether to put a
//! namespace in it. Everything here is generated from the resource table.
//!
//! Newer kubectl first asks for *aggregated* discovery (one document with
//! everything, selected by an `Accept` header). orc answers the classic
//! documents with `Content-Type: application/json`, and kubectl falls back
//! to walking them, as it does with older servers.

use serde_json::{Value, json};

use crate::status::{ApiError, Target};
use orc_client::resources::{RESOURCES, Resource, groups};

/// `/api`: the versions of the core group.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

/// `/apis`: every named group, with its versions in table order; the
/// first is the preferred one (`autoscaling`: v2, then v1), which is the
/// version kubectl reads and writes unless told otherwise. Then
/// `metrics.k8s.io`, which is not in the resource table (nothing of it is
/// stored: `metrics_api/` serves it from memory). On Kubernetes it comes
/// last too, as aggregated groups do.
pub fn group_list() -> Value {
    let mut named: Vec<(&str, Vec<Value>)> = Vec::new();
    for (group, version) in groups() {
        let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
        match named.iter_mut().find(|(name, _)| *name == group) {
            Some((_, versions)) => versions.push(gv),
            None => named.push((group, vec![gv])),
        }
    }
    let groups: Vec<Value> = named
        .into_iter()
        .chain([(
            crate::metrics_api::GROUP,
            vec![json!({"groupVersion": format!("{}/v1beta1", crate::metrics_api::GROUP), "version": "v1beta1"})],
        )])
        .map(|(group, versions)| {
            json!({"name": group, "preferredVersion": versions[0].clone(), "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`: one group of [`group_list`], as its own document.
pub fn api_group(name: &str) -> Result<axum::Json<Value>, ApiError> {
    let list = group_list();
    let group = list["groups"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["name"] == name))
        .ok_or_else(|| {
            ApiError::NotFound(Target {
                group: name.into(),
                kind: "group".into(),
                name: name.into(),
            })
        })?;
    let mut group = group.clone();
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    Ok(axum::Json(group))
}

// ANCHOR: resource_list
/// `/api/v1` or `/apis/<group>/<version>`: the resources of one group
/// version, with their subresources as `pods/status`-style rows.
pub fn resource_list(group: &str, version: &str) -> Result<axum::Json<Value>, ApiError> {
    let rows: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(rows_of)
        .collect();
    if rows.is_empty() {
        return Err(ApiError::NotFound(Target {
            group: group.into(),
            kind: "groupversion".into(),
            name: format!("{group}/{version}"),
        }));
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(axum::Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": rows,
    })))
}
// ANCHOR_END: resource_list

// ANCHOR: rows_of
/// The rows of one resource: its own, what `kubectl` matches names, short
/// names and categories against, then one per subresource.
fn rows_of(r: &Resource) -> Vec<Value> {
    let mut rows = vec![json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs(),
        "shortNames": r.short_names,
        "categories": categories(r.kind),
    })];
    let sub = |name: &str, kind: &str, verbs: &[&str]| json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
    if r.has_status {
        rows.push(sub("status", r.kind, &["get", "patch", "update"]));
    }
    if r.has_scale {
        let mut row = sub("scale", "Scale", &["get", "patch", "update"]);
        row["group"] = json!("autoscaling");
        row["version"] = json!("v1");
        rows.push(row);
    }
    if r.kind == "ServiceAccount" {
        let mut row = sub("token", "TokenRequest", &["create"]);
        row["group"] = json!("authentication.k8s.io");
        row["version"] = json!("v1");
        rows.push(row);
    }
    if r.kind == "Pod" {
        rows.push(sub("binding", "Binding", &["create"]));
        // `kubectl drain` looks for this row (group and version included)
        // to decide between evicting and plainly deleting.
        let mut eviction = sub("eviction", "Eviction", &["create"]);
        eviction["group"] = json!("policy");
        eviction["version"] = json!("v1");
        rows.push(eviction);
        rows.push(sub("log", "Pod", &["get"]));
    }
    rows
}
// ANCHOR_END: rows_of

/// The categories a kind belongs to: `kubectl get all` lists the kinds in
/// category `all` (Kubernetes' choice: workloads and services, not
/// configuration or secrets).
fn categories(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" | "Service" | "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job" => {
            &["all"]
        }
        _ => &[],
    }
}

/// `/version`, in the shape of Kubernetes' `version.Info`. kubectl warns
/// when client and server are more than one minor version apart, so orc
/// claims the version of the kubectl it is tested with.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": concat!("v1.32.0-orc.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists_pods_with_subresources() {
        let list = resource_list("", "v1").unwrap().0;
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"pods")
                && names.contains(&"pods/status")
                && names.contains(&"pods/binding")
        );
        let eviction = &list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods/eviction")
            .unwrap()
            .clone();
        assert_eq!(
            (&eviction["group"], &eviction["version"], &eviction["kind"]),
            (&json!("policy"), &json!("v1"), &json!("Eviction"))
        );
        let apps = resource_list("apps", "v1").unwrap().0;
        assert!(
            apps["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "deployments/scale")
        );
        assert!(resource_list("nope", "v1").is_err());
    }
}
