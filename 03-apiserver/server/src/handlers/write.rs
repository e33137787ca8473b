//! create, update, patch and delete.
//!
//! Every write follows the same steps as in Kubernetes' generic registry:
//! decode the body, check it names the resource of the URL, let the server
//! set what the server owns (uid, creationTimestamp, generation, status on
//! a main-resource update), default, validate, and only then write to etcd
//! with a compare-and-swap. Nothing reaches etcd before validation passes,
//! so a refused request leaves no partial write behind.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::dry_run::DryRun;
use super::read::{conflict, resource_version, storage_error};
use super::{ApiRequest, Reply, target};
use crate::codec::{Format, decode};
use jiff::Timestamp;
use orc_client::names::random_suffix;
use orc_client::time;

use crate::meta::{ObjectMeta, new_uid};
use crate::server::AppState;
use crate::status::{ApiError, Target};
use crate::storage::{self, Expiry, StorageError};
use orc_client::resources::{Resource, lookup};

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: everything but `.status` (for kinds with a status subresource).
    Main,
    /// The status subresource: only `.status`.
    Status,
    /// The binding subresource: the whole pod, because a binding writes
    /// `spec.nodeName` and the `PodScheduled` condition in one update, as
    /// Kubernetes' `BindingREST` does.
    Binding,
    /// A namespace's `finalize` subresource: only `spec.finalizers`.
    Finalize,
}

/// Decodes a body and checks `apiVersion`/`kind` against the URL; answers
/// it as the version etcd holds, and the warnings for the fields its own
/// version does not have that the conversion dropped ([`foreign`]).
pub fn decode_body(
    resource: &Resource,
    request: &ApiRequest,
) -> Result<(Value, Vec<String>), ApiError> {
    let mut obj = decode(&request.body, Format::of_body(request.content_type())?)?;
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if (!kind.is_empty() && kind != resource.kind)
        || (!api_version.is_empty() && api_version != resource.api_version())
    {
        return Err(ApiError::BadRequest(format!(
            "the object has apiVersion {api_version:?} and kind {kind:?}, but the URL is for {} {}",
            resource.api_version(),
            resource.kind
        )));
    }
    // Filling them in lets `curl -d '{"metadata":...}'` work, as Kubernetes does.
    obj["apiVersion"] = json!(resource.api_version());
    obj["kind"] = json!(resource.kind);
    // A converted row's body (autoscaling/v1, events.k8s.io/v1) is stored
    // as the version etcd holds (`conversion/`).
    let foreign = foreign(resource, &obj, request.param("fieldValidation"))?;
    Ok((crate::conversion::stored(resource, obj), foreign))
}

/// What `fieldValidation` makes of a body's problems (unknown or
/// duplicate fields): `Strict` refuses them in one 400, `Ignore` drops
/// them, anything else (`Warn`, the default) answers them as warnings.
fn by_directive(problems: Vec<String>, directive: &str) -> Result<Vec<String>, ApiError> {
    match directive {
        "Strict" if !problems.is_empty() => Err(ApiError::BadRequest(format!(
            "strict decoding error: {}",
            problems.join(", ")
        ))),
        "Ignore" => Ok(Vec::new()),
        _ => Ok(problems),
    }
}

/// The unknown-field warnings for the fields of `served`, a body or a
/// patched object in a converted row's version, that this version does not
/// have and its conversion drops (a core `message` sent to
/// `events.k8s.io/v1`): checked before the conversion, since the stored
/// version has them. `Strict` refuses them as [`admit`] refuses unknown
/// fields; `Ignore` drops the warnings.
fn foreign(resource: &Resource, served: &Value, directive: &str) -> Result<Vec<String>, ApiError> {
    let problems: Vec<String> = crate::conversion::foreign_fields(resource, served)
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    by_directive(problems, directive)
}

/// Checks the body's namespace against the URL's and fills it in.
fn reconcile_namespace(
    meta: &mut ObjectMeta,
    resource: &Resource,
    ns: Option<&str>,
) -> Result<(), ApiError> {
    match ns {
        Some(ns) if resource.namespaced => {
            if !meta.namespace.is_empty() && meta.namespace != ns {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            meta.namespace = ns.to_string();
        }
        _ => meta.namespace.clear(),
    }
    Ok(())
}

/// Defaults and validates `obj`; `old` is the stored object on update.
/// Answers the unknown-field warnings, or refuses them when the client
/// asked for `fieldValidation=Strict` (kubectl does, once `/openapi/v3`
/// says the server supports it); `Ignore` drops the warnings.
fn admit(
    resource: &Resource,
    obj: &mut Value,
    old: Option<&Value>,
    directive: &str,
    duplicates: &[String],
) -> Result<Vec<String>, ApiError> {
    crate::defaults::apply(resource.kind, obj);
    if resource.kind == "Service" {
        // Kept values, values given back, IP families (`services/spec.rs`).
        crate::services::spec::normalize(obj, old);
    }
    // The object must decode as its Kubernetes type (a 400 if not), and
    // the checks every object of the type takes add their causes to the
    // kind's own; a field the kind's check already blames (its narrower
    // enum, say) is not blamed twice.
    let typed = crate::typed::check(obj).map_err(|e| undecodable(resource, e))?;
    let mut causes = crate::validation::validate(resource, obj);
    match old {
        Some(old) => causes.extend(crate::validation::validate_update(resource, old, obj)),
        None => causes.extend(crate::validation::validate_create(resource, obj)),
    }
    for cause in typed {
        if !causes.iter().any(|c| c.field == cause.field) {
            causes.push(cause);
        }
    }
    if !causes.is_empty() {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let t = Target {
            group: resource.group.into(),
            kind: resource.kind.into(),
            name: name.into(),
        };
        return Err(ApiError::Invalid(t, causes));
    }
    // Kubernetes' order: the unknown fields, then the duplicates.
    let problems: Vec<String> = crate::schema::unknown_fields(resource.kind, obj)
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .chain(duplicates.iter().map(|f| format!("duplicate field {f:?}")))
        .collect();
    by_directive(problems, directive)
}

/// Kubernetes' answer to a body that does not decode as its kind's type:
/// `Pod in version "v1" cannot be handled as a Pod: <Go's error>`.
fn undecodable(resource: &Resource, e: crate::typed::Undecodable) -> ApiError {
    ApiError::Undecodable {
        message: format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: {}",
            e.message,
            kind = resource.kind,
            version = resource.version,
        ),
        field: e.field,
    }
}

// ANCHOR: create
/// POST on a collection.
pub async fn create(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    if resource.namespaced && ns.is_none() {
        return Err(ApiError::MethodNotAllowed);
    }
    let (mut obj, foreign) = decode_body(resource, request)?;
    let mut meta = ObjectMeta::of(&obj)?;
    reconcile_namespace(&mut meta, resource, ns)?;
    if meta.name.is_empty() && !meta.generate_name.is_empty() {
        meta.name = format!("{}{}", meta.generate_name, random_suffix());
    }
    // What the server owns, whatever the client sent.
    meta.uid = new_uid();
    meta.resource_version.clear();
    meta.generation = Some(1);
    meta.creation_timestamp = Some(time::format(Timestamp::now()));
    meta.deletion_timestamp = None;
    meta.store(&mut obj);
    if resource.kind == "Pod" && obj.pointer("/status/phase").is_none() {
        obj["status"] = json!({"phase": "Pending"});
    }
    if resource.kind == "Namespace" {
        super::namespaces::prepare_create(&mut obj);
    }
    crate::volumes::prepare_create(resource.kind, &mut obj, &time::format(Timestamp::now()));
    // Kubernetes' `NamespaceLifecycle` admission: the namespace must exist
    // and not be terminating. `parent` is its key when only etcd can tell.
    let parent = crate::namespace_lifecycle::admit_create(state, resource, ns, &meta.name).await?;
    // A node creates only its own Node and mirror pods (`NodeRestriction`).
    crate::node_restriction::admit_create(&request.user, resource, &obj)?;
    // Admission that reads other objects (Kubernetes' `ServiceAccount` and
    // `Priority` plugins, in Kubernetes' order).
    match resource.kind {
        "Pod" => {
            if state.service_account_admission {
                let ns = ns.unwrap_or("");
                crate::service_account_admission::admit_pod(&state.store, ns, &mut obj).await?;
            }
            crate::priority::admit_pod(&state.priority_classes, &state.store, &mut obj).await?;
            crate::default_tolerations::admit_pod(&mut obj);
        }
        "PriorityClass" => crate::priority::admit_class(&state.store, &obj).await?,
        "PersistentVolumeClaim" => crate::volumes::admit_claim(&state.store, &mut obj).await?,
        _ => {}
    }
    // `StorageObjectInUseProtection`: a claim or volume is kept while in use.
    crate::storage_protection::admit_create(resource.kind, &mut obj);
    crate::authz::escalation::check(&state.authorizer, &request.user, resource, &obj)?;
    let duplicates = crate::codec::duplicate_fields(&request.body, request.content_type());
    let admitted = admit(
        resource,
        &mut obj,
        None,
        request.param("fieldValidation"),
        &duplicates,
    )?;
    // Kubernetes' order: unknown fields first.
    let warnings: Vec<String> = foreign.into_iter().chain(admitted).collect();
    // After defaulting, which `admit` did: a limit without a request has
    // become a request, as the class expects.
    if resource.kind == "Pod" {
        crate::pod_qos::prepare_create(&mut obj);
    }
    let key = storage::key(resource, ns, &meta.name);
    if DryRun::of(request, "CreateOptions")?.is_dry() {
        rehearse_create(state, resource, &key, parent.as_deref()).await?;
        return Ok(Reply {
            code: StatusCode::CREATED,
            body: obj,
            warnings,
        });
    }
    let stored = match store_new(state, resource, &key, obj, parent.as_deref()).await? {
        Ok(stored) => stored,
        Err(StorageError::ParentNotFound) => {
            return Err(ApiError::NotFound(target(namespaces()?, ns.unwrap_or(""))));
        }
        Err(e) => return Err(storage_error(e, resource, &meta.name)),
    };
    Ok(Reply {
        code: StatusCode::CREATED,
        body: stored,
        warnings,
    })
}
// ANCHOR_END: create

/// The checks a create's transaction would make, made by reading: the
/// name must be free and the namespace must exist. Kubernetes' dry-run
/// storage does the same, so a dry run answers 409 or 404 where the real
/// create would.
async fn rehearse_create(
    state: &AppState,
    resource: &Resource,
    key: &str,
    parent: Option<&str>,
) -> Result<(), ApiError> {
    let name = key.rsplit('/').next().unwrap_or("");
    match state.store.get(key).await {
        Ok(_) => return Err(ApiError::AlreadyExists(target(resource, name))),
        Err(StorageError::NotFound) => {}
        Err(e) => return Err(storage_error(e, resource, name)),
    }
    if let Some(parent) = parent {
        let namespaces = namespaces()?;
        let ns = parent.rsplit('/').next().unwrap_or("");
        match state.store.get(parent).await {
            Ok(_) => {}
            Err(StorageError::NotFound) => return Err(ApiError::NotFound(target(namespaces, ns))),
            Err(e) => return Err(storage_error(e, namespaces, ns)),
        }
    }
    Ok(())
}

/// Stores a new object: a Service through its allocator, which takes its
/// cluster IP and node ports in the same transaction (`services/`). A
/// refused allocation is the outer error; the storage outcome the inner.
async fn store_new(
    state: &AppState,
    resource: &Resource,
    key: &str,
    obj: Value,
    parent: Option<&str>,
) -> Result<Result<Value, StorageError>, ApiError> {
    if resource.kind == "Service" {
        return crate::services::create(state, key, obj, parent).await;
    }
    let expiry = expiry(state, resource);
    Ok(state.store.create(key, obj, parent, expiry).await)
}

/// Replaces `current`, read at `revision`, with `next`: a Service through
/// its allocator, which takes the values `next` adds and gives back those
/// it drops in the same transaction.
async fn store_update(
    state: &AppState,
    resource: &Resource,
    key: &str,
    (current, revision): (&Value, i64),
    next: &Value,
) -> Result<Result<Value, StorageError>, ApiError> {
    if resource.kind == "Service" {
        return crate::services::update(state, key, current, next, revision).await;
    }
    let expiry = expiry(state, resource);
    Ok(state.store.update(key, next, revision, expiry).await)
}

// ANCHOR: expiry
/// How long a write of `resource` lives: an Event `--event-ttl` from its
/// last write (kube-apiserver's Event registry gives every create and
/// update that TTL), every other object until it is deleted. Decided by
/// the key's directory, `/registry/events/`, which holds core v1 Events
/// and would hold `events.k8s.io` ones too: Kubernetes stores both there.
pub(super) fn expiry(state: &AppState, resource: &Resource) -> Expiry {
    if storage::resource_prefix(resource) == "events" {
        Expiry::After(state.event_ttl)
    } else {
        Expiry::Never
    }
}
// ANCHOR_END: expiry

/// Deletes `current`, read at `revision`: a Service gives back its
/// cluster IP and node ports in the same transaction.
pub(super) async fn store_delete(
    state: &AppState,
    resource: &Resource,
    key: &str,
    current: &Value,
    revision: i64,
) -> Result<i64, StorageError> {
    if resource.kind == "Service" {
        return crate::services::delete(state, key, current, revision).await;
    }
    state.store.delete(key, revision).await
}

/// The stored object at `key` and its revision, or 409 when the client's
/// `precondition` (a resourceVersion; 0: none) no longer holds: the first
/// step of every read-modify-write retry.
pub(super) async fn read_current(
    state: &AppState,
    resource: &Resource,
    key: &str,
    name: &str,
    precondition: i64,
) -> Result<(Value, i64), ApiError> {
    let (current, revision, _) = read_for_update(state, resource, key, name, precondition).await?;
    Ok((current, revision))
}

/// [`read_current`], and whether the stored bytes are stale: written with
/// an encryption key other than the one that writes now.
async fn read_for_update(
    state: &AppState,
    resource: &Resource,
    key: &str,
    name: &str,
    precondition: i64,
) -> Result<(Value, i64, bool), ApiError> {
    let (current, stale) = state
        .store
        .get_with_staleness(key)
        .await
        .map_err(|e| storage_error(e, resource, name))?;
    let revision = resource_version(&current)?;
    if precondition != 0 && precondition != revision {
        return Err(conflict(resource, name));
    }
    Ok((current, revision, stale))
}

/// The namespaces row of the resource table.
pub(crate) fn namespaces() -> Result<&'static Resource, ApiError> {
    lookup("", "v1", "namespaces")
        .ok_or_else(|| ApiError::Internal("no namespaces resource".into()))
}

// ANCHOR: prepare_update
/// The object to store when `current` is replaced by `proposed` through `part`.
///
/// Server-owned metadata comes from `current`; a main update keeps the old
/// status and a status update keeps everything but the status, so users
/// (spec) and controllers (status) never overwrite each other's half.
pub fn prepare_update(
    resource: &Resource,
    current: &Value,
    mut proposed: Value,
    part: Part,
) -> Result<Value, ApiError> {
    let old = ObjectMeta::of(current)?;
    if part == Part::Finalize {
        return Ok(super::namespaces::finalize(current, &proposed));
    }
    if resource.kind == "Namespace" {
        super::namespaces::keep_spec_finalizers(current, &mut proposed);
    }
    if part == Part::Status {
        let mut next = current.clone();
        // A body without a status clears it (Go's zero value), which orc
        // stores as no `status` at all rather than `"status": null`.
        match proposed.get("status").filter(|s| !s.is_null()) {
            Some(status) => next["status"] = status.clone(),
            None => {
                if let Some(map) = next.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        if resource.kind == "Pod" {
            crate::pod_qos::keep_on_status_update(current, &mut next);
        }
        return Ok(next);
    }
    let mut meta = ObjectMeta::of(&proposed)?;
    meta.uid = old.uid;
    meta.creation_timestamp = old.creation_timestamp;
    meta.namespace = old.namespace;
    // Once deletion has begun it cannot be undone.
    meta.deletion_timestamp = old.deletion_timestamp.or(meta.deletion_timestamp);
    meta.resource_version = old.resource_version;
    if resource.has_status && part != Part::Binding {
        match current.get("status") {
            Some(status) => proposed["status"] = status.clone(),
            None => {
                if let Some(map) = proposed.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    let generation = old.generation.unwrap_or(1);
    meta.generation = Some(if spec_changed(current, &proposed) {
        generation + 1
    } else {
        generation
    });
    meta.store(&mut proposed);
    Ok(proposed)
}
// ANCHOR_END: prepare_update

/// Whether anything but `metadata` and `status` differs: Kubernetes bumps
/// `generation` only for such changes.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("metadata");
            map.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// The conditions of one guaranteed update.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The resourceVersion the client pinned, 0 for none.
    pub precondition: i64,
    /// Which part of the object the write may change.
    pub part: Part,
    /// The `fieldValidation` directive (`Strict`, `Warn`, `Ignore`).
    pub directive: &'a str,
    /// Fields the body gave twice (`spec.replicas`): the last one counts,
    /// and `directive` says whether that is a warning or an error.
    pub duplicates: &'a [String],
    /// `dryRun=All`: everything but the write.
    pub dry_run: DryRun,
}

// ANCHOR: guaranteed_update
/// Read, change, compare-and-swap; retry on a lost race unless the client
/// pinned a resourceVersion. This is Kubernetes' `GuaranteedUpdate`: a
/// write without a precondition *will* apply, however many writers it
/// races with, because each retry re-applies `change` to the newest
/// object (a client that wants "only if nobody changed it" sends a
/// resourceVersion, and gets 409).
///
/// `change` turns the current object into the proposed one; `precondition`
/// is the resourceVersion the client sent (0 for none). A dry run answers
/// what would be stored, at the current object's resourceVersion.
pub async fn guaranteed_update(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    rules: Rules<'_>,
    change: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Reply, ApiError> {
    let Rules {
        precondition,
        part,
        directive,
        duplicates,
        dry_run,
    } = rules;
    let key = storage::key(resource, ns, name);
    loop {
        let (current, revision, stale) =
            read_for_update(state, resource, &key, name, precondition).await?;
        let proposed = change(&current)?;
        let mut next = prepare_update(resource, &current, proposed, part)?;
        let warnings = admit(resource, &mut next, Some(&current), directive, duplicates)?;
        if dry_run.is_dry() {
            return Ok(Reply {
                code: StatusCode::OK,
                body: next,
                warnings,
            });
        }
        if next == current && !stale {
            // Nothing changed: no write, no new revision, no watch event,
            // as Kubernetes' GuaranteedUpdate skips a write whose bytes are
            // the stored ones. A controller writing back the status it
            // read would otherwise wake every watcher of the object,
            // itself included, for nothing. An object written with an
            // older encryption key is rewritten all the same: that is how
            // `kubectl replace` of every Secret rotates keys.
            return Ok(Reply {
                code: StatusCode::OK,
                body: current,
                warnings,
            });
        }
        let meta = ObjectMeta::of(&next)?;
        match store_or_delete(state, resource, &key, (&current, revision), &next, &meta).await? {
            Ok(stored) => {
                return Ok(Reply {
                    code: StatusCode::OK,
                    body: stored,
                    warnings,
                });
            }
            Err(StorageError::Conflict) if precondition == 0 => continue,
            Err(StorageError::Conflict) => return Err(conflict(resource, name)),
            Err(e) => return Err(storage_error(e, resource, name)),
        }
    }
}
// ANCHOR_END: guaranteed_update

/// Stores `next` (whose metadata is `meta`) under `key` if the key is
/// still at `revision`. But when the last finalizer is gone from an object
/// being deleted, deletes it instead. (A pod in its grace period stays: its
/// node deletes it.)
async fn store_or_delete(
    state: &AppState,
    resource: &Resource,
    key: &str,
    (current, revision): (&Value, i64),
    next: &Value,
    meta: &ObjectMeta,
) -> Result<Result<Value, StorageError>, ApiError> {
    let remove = if resource.kind == "Namespace" {
        super::namespaces::ready_to_remove(next, meta)
    } else {
        meta.deletion_timestamp.is_some()
            && meta.finalizers.is_empty()
            && meta.deletion_grace_period_seconds.unwrap_or(0) == 0
    };
    if remove {
        Ok(store_delete(state, resource, key, current, revision)
            .await
            .map(|_| next.clone()))
    } else {
        store_update(state, resource, key, (current, revision), next).await
    }
}

/// Checks that a body's name (if any) is the URL's.
pub fn check_name(obj: &Value, name: &str) -> Result<(), ApiError> {
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n != name => Err(ApiError::BadRequest(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

/// PUT on an object (or, with `part == Status`, on its status).
pub async fn replace(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    request: &ApiRequest,
    part: Part,
) -> Result<Reply, ApiError> {
    let (mut obj, foreign) = decode_body(resource, request)?;
    check_name(&obj, name)?;
    let mut meta = ObjectMeta::of(&obj)?;
    reconcile_namespace(&mut meta, resource, ns)?;
    meta.name = name.to_string();
    meta.store(&mut obj);
    let precondition = resource_version(&obj)?;
    crate::authz::escalation::check(&state.authorizer, &request.user, resource, &obj)?;
    let directive = request.param("fieldValidation");
    let duplicates = crate::codec::duplicate_fields(&request.body, request.content_type());
    let dry_run = DryRun::of(request, "UpdateOptions")?;
    guaranteed_update(
        state,
        resource,
        ns,
        name,
        Rules {
            precondition,
            part,
            directive,
            duplicates: &duplicates,
            dry_run,
        },
        |current| {
            let status = part == Part::Status;
            crate::node_restriction::admit_update(&request.user, resource, status, current, &obj)?;
            Ok(obj.clone())
        },
    )
    .await
    .map(|reply| with_first(reply, foreign))
}

/// `reply` with `warnings` before its own (unknown fields come first).
fn with_first(mut reply: Reply, mut warnings: Vec<String>) -> Reply {
    warnings.append(&mut reply.warnings);
    reply.warnings = warnings;
    reply
}

/// PATCH on an object or its status. A patch that sets
/// `metadata.resourceVersion` pins it; otherwise it is re-applied to the
/// newest object after a lost race, as Kubernetes does.
pub async fn patch_part(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    request: &ApiRequest,
    part: Part,
) -> Result<Reply, ApiError> {
    let kind = crate::patch::PatchKind::from_content_type(request.content_type())?;
    let dry_run = DryRun::of(request, "PatchOptions")?;
    let body = request.body.clone();
    let pinned = AtomicI64::new(0);
    let directive = request.param("fieldValidation");
    // The last attempt's (`change` runs again after a lost race).
    let foreign_warnings = std::sync::Mutex::new(Vec::new());
    let change = |current: &Value| {
        // A patch is written against the URL's version: applied to the
        // object as that version, then stored as the version etcd holds.
        let served = crate::conversion::served(resource, current.clone());
        let patched = crate::patch::apply(kind, resource.kind, &served, &body)?;
        *foreign_warnings.lock().unwrap_or_else(|p| p.into_inner()) =
            foreign(resource, &patched, directive)?;
        let patched = crate::conversion::stored(resource, patched);
        check_name(&patched, name)?;
        if patched.pointer("/metadata/resourceVersion")
            != current.pointer("/metadata/resourceVersion")
        {
            pinned.store(resource_version(&patched)?, Ordering::Relaxed);
        }
        let pin = pinned.load(Ordering::Relaxed);
        if pin != 0 && pin != resource_version(current)? {
            return Err(conflict(resource, name));
        }
        let patched = decode_patched(resource, patched)?;
        crate::authz::escalation::check(&state.authorizer, &request.user, resource, &patched)?;
        let status = part == Part::Status;
        crate::node_restriction::admit_update(&request.user, resource, status, current, &patched)?;
        Ok(patched)
    };
    let reply = guaranteed_update(
        state,
        resource,
        ns,
        name,
        Rules {
            precondition: 0,
            part,
            directive,
            // A patch is not checked for repeated keys (a patch's keys are
            // instructions, merged into the stored object).
            duplicates: &[],
            dry_run,
        },
        change,
    )
    .await?;
    let foreign = foreign_warnings
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok(with_first(reply, foreign))
}

/// A patched object must still be of the URL's kind.
fn decode_patched(resource: &Resource, patched: Value) -> Result<Value, ApiError> {
    let kind = patched.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != resource.kind {
        return Err(ApiError::BadRequest(format!(
            "a patch may not change the kind ({kind:?})"
        )));
    }
    Ok(patched)
}
