//! get and list.
//!
//! A list answers `{kind: PodList, metadata: {resourceVersion}, items}`.
//! The list's resourceVersion is the etcd revision the list was read at,
//! which is what makes "list, then watch from the list's version" lose no
//! event in between: the watch replays everything after that revision.
//!
//! `limit` and `continue` page through big collections. Like Kubernetes,
//! every page is read at the *first* page's revision, so the pages together
//! are one consistent snapshot; if that revision is compacted meanwhile, the
//! continue token has expired (410) and the client starts over.
//!
//! `resourceVersion` and `resourceVersionMatch` say how fresh the list must
//! be ([`ListRead`]): unset, the latest state; `NotOlderThan` (or a bare
//! version), at least that version; `Exact`, the state at exactly that
//! revision, read from etcd's history (410 once compacted). The watch
//! cache answers the first two when it can (`watch_cache/`); etcd the
//! rest, and those the cache cannot.
//!
//! A LIST is streamed: read in chunks at one revision (`listing.rs`) and
//! encoded object by object (`list_body.rs`), never the whole collection
//! in memory.

use serde_json::{Value, json};

use axum::response::Response;

use super::list_body::{ListBody, Shape};
use super::listing::{Entry, Listing};
use super::{ApiRequest, Reply, target};
use crate::server::AppState;
use crate::status::{ApiError, FieldCause, Target};
use crate::storage::{self, StorageError};
use orc_client::resources::Resource;
use orc_client::selectors::{ObjectFilter, labels};

/// GET on one object.
pub async fn get(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
) -> Result<Reply, ApiError> {
    let key = storage::key(resource, ns, name);
    let obj = state
        .store
        .get(&key)
        .await
        .map_err(|e| storage_error(e, resource, name))?;
    Ok(Reply::ok(obj))
}

/// GET on one object, as a Table when the client asks for one.
pub async fn get_shaped(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let reply = get(state, resource, ns, name).await?;
    if !request.wants_table() {
        return Ok(reply);
    }
    let rv = reply
        .body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    Ok(Reply::ok(crate::tables::table(
        resource.kind,
        std::slice::from_ref(&reply.body),
        rv,
        None,
        request.row_object(),
    )))
}

/// Turns a storage failure into the `Status` a client expects.
pub fn storage_error(error: StorageError, resource: &Resource, name: &str) -> ApiError {
    let t = target(resource, name);
    match error {
        StorageError::NotFound => ApiError::NotFound(t),
        StorageError::AlreadyExists => ApiError::AlreadyExists(t),
        StorageError::Conflict => ApiError::Conflict(t, StorageError::Conflict.to_string()),
        StorageError::Compacted => ApiError::Expired(
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter."
                .into(),
        ),
        // etcd refuses a request over `--max-request-bytes` itself, and
        // its gRPC server one over that plus 512 KiB before etcd sees it.
        StorageError::Etcd(e)
            if ["request is too large", "received message larger than max"]
                .iter()
                .any(|m| e.to_string().contains(m)) =>
        {
            ApiError::TooLargeToStore(e.to_string())
        }
        StorageError::Etcd(e) if crate::storage::is_unavailable(&e) => {
            ApiError::Unavailable(e.to_string())
        }
        full @ StorageError::NoSpace => ApiError::InsufficientStorage(full.to_string()),
        // kube-apiserver's words for any failure it did not foresee.
        unreadable @ StorageError::Unreadable { .. } => {
            ApiError::Internal(format!("Internal error occurred: {unreadable}"))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// The 409 a lost compare-and-swap answers.
pub fn conflict(resource: &Resource, name: &str) -> ApiError {
    storage_error(StorageError::Conflict, resource, name)
}

/// The filter a list or watch request asks for.
pub fn filter(
    resource: &Resource,
    ns: Option<&str>,
    request: &ApiRequest,
) -> Result<ObjectFilter, ApiError> {
    Ok(ObjectFilter {
        namespace: ns.map(String::from),
        labels: labels::parse(request.param("labelSelector"))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        // In the URL's version's names (`conversion/`).
        fields: crate::conversion::field_selector(resource, request.param("fieldSelector"))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
    })
}

// ANCHOR: list
/// GET on a collection (without `watch`), streamed: read from the watch
/// cache when it may answer, else from etcd a chunk at a time
/// (`listing.rs`), and encoded object by object into the
/// response (`list_body.rs`), so a LIST holds one chunk in memory, not
/// the collection.
pub async fn list(
    state: &AppState,
    resource: &'static Resource,
    ns: Option<&str>,
    request: &ApiRequest,
) -> Result<Response, ApiError> {
    let mut listing = Listing::new(state, resource, ns, request)?;
    // From memory when Kubernetes would answer it there (`watch_cache/`).
    crate::watch_cache::serve::serve(state, &mut listing).await?;
    let shape = if request.wants_table() {
        Shape::Table {
            rows: crate::tables::TableRows::of(resource.kind),
            row_object: request.row_object(),
        }
    } else {
        Shape::List { resource }
    };
    let mut body = ListBody::new(listing, shape);
    // The first chunk before the headers: its errors are still a Status,
    // its unreadable objects still a Warning.
    let warnings = body.first().await?;
    let mut response = body.into_response();
    super::add_warnings(&mut response, warnings);
    Ok(response)
}
// ANCHOR_END: list

/// The same LIST as one JSON value in memory: for DELETE of a
/// collection, which needs the names of everything it deletes anyway.
pub async fn list_buffered(
    state: &AppState,
    resource: &'static Resource,
    ns: Option<&str>,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let mut listing = Listing::new(state, resource, ns, request)?;
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    while let Some(page) = listing.read_chunk().await? {
        listing.walk(page, |entry| match entry {
            Entry::Item(obj) => items.push(obj),
            // Kubernetes fails the whole LIST over one unreadable object
            // (`StorageReadError`); orc answers the rest and names each one
            // left out, so one lost key does not hide every Secret.
            Entry::Unreadable(key, error) => {
                warnings.push(unreadable_warning(resource, &key, &error))
            }
        });
    }
    let mut metadata = json!({ "resourceVersion": listing.revision.to_string() });
    if let Some(token) = &listing.next {
        metadata["continue"] = json!(token);
    }
    Ok(Reply {
        warnings,
        ..Reply::ok(json!({
            "kind": resource.list_kind(),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": items,
        }))
    })
}

/// The warning a LIST carries for an object it could not read:
/// `secrets "db" in namespace "default" could not be read from storage
/// and is left out of this list: <why and what to do>`.
pub fn unreadable_warning(resource: &Resource, key: &str, error: &StorageError) -> String {
    let mut parts = key.rsplit('/');
    let name = parts.next().unwrap_or(key);
    let place = match (resource.namespaced, parts.next()) {
        (true, Some(ns)) => format!(" in namespace {ns:?}"),
        _ => String::new(),
    };
    format!(
        "{} {name:?}{place} could not be read from storage and is left out of this list: {error}",
        resource.plural
    )
}

// ANCHOR: list_read
/// How fresh a LIST must be, from its `resourceVersion` and
/// `resourceVersionMatch` (Kubernetes' `ValidateListOptions` rules and
/// words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRead {
    /// No version: the latest state, a consistent read.
    Latest,
    /// `resourceVersion=0`: any state, however old; the watch cache
    /// answers at once (`watch_cache/`), etcd the latest when it cannot.
    Any,
    /// `resourceVersion=N` bare or with `NotOlderThan`: a state at least
    /// as new as N. orc reads the latest and refuses an N from the future.
    NotOlderThan(i64),
    /// `resourceVersionMatch=Exact`: the state at revision N exactly.
    Exact(i64),
}

impl ListRead {
    /// Reads and checks the parameters; what Kubernetes refuses, refused
    /// with its messages (422 on `ListOptions`, 400 for a version that is
    /// not a number or one given with `continue`).
    pub fn from_request(request: &ApiRequest) -> Result<ListRead, ApiError> {
        let rv = request.param("resourceVersion");
        let matching = request.param("resourceVersionMatch");
        let continues = !request.param("continue").is_empty();
        let mut causes = Vec::new();
        if !matching.is_empty() {
            let field = "resourceVersionMatch";
            if rv.is_empty() {
                causes.push(FieldCause::forbidden(
                    field,
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if continues {
                causes.push(FieldCause::forbidden(
                    field,
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if matching != "Exact" && matching != "NotOlderThan" {
                causes.push(FieldCause::not_supported(
                    field,
                    matching,
                    &["Exact", "NotOlderThan", ""],
                ));
            }
            if matching == "Exact" && rv == "0" {
                causes.push(FieldCause::forbidden(
                    field,
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if !causes.is_empty() {
            let options = Target {
                group: String::new(),
                kind: "ListOptions.meta.k8s.io".into(),
                name: String::new(),
            };
            return Err(ApiError::Invalid(options, causes));
        }
        if continues && !rv.is_empty() && rv != "0" {
            return Err(ApiError::BadRequest(
                "specifying resource version is not allowed when using continue".into(),
            ));
        }
        let version: i64 = match rv {
            "" => 0,
            v => v.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::BadRequest(format!("invalid resourceVersion {v:?}: must be a number"))
            })?,
        };
        Ok(match (version, matching) {
            (0, _) if rv.is_empty() => ListRead::Latest,
            (0, _) => ListRead::Any,
            (n, "Exact") => ListRead::Exact(n),
            (n, _) => ListRead::NotOlderThan(n),
        })
    }

    // ANCHOR_END: list_read

    /// The etcd revision to read at (0: the latest).
    pub fn revision(self) -> i64 {
        match self {
            ListRead::Exact(n) => n,
            _ => 0,
        }
    }

    /// Whether a page read at `revision` is fresh enough.
    pub fn check(self, revision: i64) -> Result<(), ApiError> {
        match self {
            ListRead::NotOlderThan(asked) if asked > revision => {
                Err(ApiError::TooLargeResourceVersion {
                    asked,
                    current: revision,
                })
            }
            _ => Ok(()),
        }
    }

    /// A storage failure of this read as the client should see it.
    pub fn error(self, error: StorageError, resource: &Resource) -> ApiError {
        match (self, error) {
            (ListRead::Exact(_), StorageError::Compacted) => {
                ApiError::Expired("The resourceVersion for the provided list is too old.".into())
            }
            (ListRead::Exact(asked), StorageError::Etcd(e))
                if e.to_string().contains("future revision") =>
            {
                ApiError::TooLargeResourceVersion { asked, current: 0 }
            }
            (_, error) => storage_error(error, resource, ""),
        }
    }
}

/// A continue token: the revision and the next key, hex-encoded so it is
/// opaque to clients and safe in a URL.
pub(super) fn encode_continue(revision: i64, start: &str) -> String {
    format!("{revision}\n{start}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn decode_continue(token: &str, prefix: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid continue token {token:?}"));
    if token.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (revision, start) = text.split_once('\n').ok_or_else(bad)?;
    let revision: i64 = revision.parse().map_err(|_| bad())?;
    // A token from another resource would read keys outside this prefix.
    if !start.starts_with(prefix) {
        return Err(bad());
    }
    Ok((revision, start.to_string()))
}

/// An object's `resourceVersion` as a number (0 when absent).
pub fn resource_version(obj: &Value) -> Result<i64, ApiError> {
    match obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        None | Some("") => Ok(0),
        Some(rv) => rv.parse().map_err(|_| {
            ApiError::BadRequest(format!("invalid resourceVersion {rv:?}: must be a number"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let token = encode_continue(42, "/registry/pods/a/b\0");
        assert_eq!(
            decode_continue(&token, "/registry/pods/").unwrap(),
            (42, "/registry/pods/a/b\0".into())
        );
        assert!(decode_continue(&token, "/registry/secrets/").is_err());
        assert!(decode_continue("zz", "/").is_err());
    }
}
