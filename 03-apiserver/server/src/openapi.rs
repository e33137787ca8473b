//! `/openapi/v3`: just enough OpenAPI for kubectl to trust the server.
//!
//! Before `kubectl create -f`, kubectl validates the manifest. It first asks
//! the server's OpenAPI v3 documents whether the PATCH operation of the
//! object's kind accepts a `fieldValidation` query parameter. If it does,
//! kubectl skips its own schema check and sends `?fieldValidation=Strict`,
//! leaving validation to the server (Kubernetes ≥ 1.27 behaviour). Without
//! any OpenAPI at all, kubectl v1.32 refuses with "failed to download
//! openapi" unless run with `--validate=false`.
//!
//! orc serves exactly that answer: for each group version, a document whose
//! PATCH operations carry `x-kubernetes-group-version-kind` and the
//! `fieldValidation` parameter. It has no schemas, so `kubectl explain`
//! finds nothing; the server-side check (see `schema.rs`) does the work.
//!
//! For a kind orc does not serve (a CSIDriver, say), the
//! v3 documents have no PATCH, and kubectl falls back to validating
//! against the OpenAPI v2 document. [`V2_EMPTY`] is that document with no
//! definitions: kubectl then skips its client-side check, asks discovery
//! for the kind and says what Kubernetes says, `no matches for kind
//! "CSIDriver" in version "storage.k8s.io/v1"`, instead of `failed to download
//! openapi`.

use serde_json::{Map, Value, json};

use orc_client::resources::RESOURCES;

/// The URL path of a group version's document: `api/v1`, `apis/apps/v1`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group version's document is.
pub fn index() -> Value {
    let mut paths = Map::new();
    for r in RESOURCES {
        let path = gv_path(r.group, r.version);
        let url = format!("/openapi/v3/{path}");
        paths.insert(path, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

// ANCHOR: document
/// `/openapi/v3/<api|apis/group>/<version>`: one PATCH operation per kind
/// that says "this server validates fields itself".
pub fn document(path: &str) -> Option<Value> {
    let mut paths = Map::new();
    for r in RESOURCES
        .iter()
        .filter(|r| gv_path(r.group, r.version) == path)
    {
        let scope = if r.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let url = format!("/{path}/{scope}{}/{{name}}", r.plural);
        let patch = json!({
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(url, json!({ "patch": patch }));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "orc", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
// ANCHOR_END: document

/// `/openapi/v2`, as kubectl asks for it: Kubernetes' protobuf encoding
/// of the Swagger 2.0 `Document`. Every field of the message is optional,
/// so zero bytes are a valid, empty document: no definitions, nothing for
/// kubectl to validate against.
pub const V2_EMPTY: &[u8] = &[];

/// The `Content-Type` of the v2 document. kubectl asks for
/// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, but that
/// is no valid media type: Go's `mime` refuses the `@`, and kubectl then
/// fails on the answer's header. So the answer is labelled as plain bytes,
/// which kubectl reads without looking at the label.
pub const V2_PROTOBUF: &str = "application/octet-stream";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_name_every_kind() {
        let index = index();
        assert_eq!(
            index["paths"]["apis/apps/v1"]["serverRelativeURL"],
            "/openapi/v3/apis/apps/v1"
        );
        let core = document("api/v1").unwrap();
        let pod = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(pod["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(core["paths"]["/api/v1/nodes/{name}"].is_object());
        assert!(document("apis/nope/v1").is_none());
    }
}
