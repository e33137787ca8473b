//! Subresources: `status`, `scale`, `binding` and `eviction`.
//!
//! A subresource is a second door into the same stored object, with its
//! own rules about what may change, so that different actors can hold
//! different permissions and never clobber each other:
//!
//! - `/status`: controllers and node agents report what *is*; only
//!   `.status` changes.
//! - `/scale`: an `autoscaling/v1 Scale` view of a Deployment or
//!   ReplicaSet; writing it changes only `spec.replicas` (`kubectl scale`
//!   and autoscalers use it without knowing the workload's kind).
//! - `/binding`: the scheduler assigns a pod to a node, once. A second
//!   binding is a 409, which is what makes two schedulers racing safe.
//! - `/eviction`: a delete that asks the pod's PodDisruptionBudget
//!   first, and is refused with a 429 while the budget allows no
//!   disruption (`eviction.rs`).
//! - `serviceaccounts/<name>/token`: a TokenRequest, answered with a
//!   signed token for the ServiceAccount (`authn/token_request.rs`);
//!   nothing is stored.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::dry_run::DryRun;
use super::write::{Part, Rules, guaranteed_update, patch_part, replace};
use super::{ApiRequest, Reply, read, target};
use crate::codec::{Format, decode};
use crate::server::AppState;
use crate::status::ApiError;
use orc_client::resources::Resource;

/// Routes a subresource request.
pub async fn handle(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    subresource: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let method = request.method.clone();
    match (subresource, method) {
        ("status", Method::GET) if resource.has_status => {
            read::get(state, resource, ns, name).await
        }
        ("status", Method::PUT) if resource.has_status => {
            replace(state, resource, ns, name, request, Part::Status).await
        }
        ("status", Method::PATCH) if resource.has_status => {
            patch_part(state, resource, ns, name, request, Part::Status).await
        }
        ("scale", Method::GET) if resource.has_scale => {
            let obj = read::get(state, resource, ns, name).await?.body;
            Ok(Reply::ok(scale_of(&obj)))
        }
        ("scale", Method::PUT | Method::PATCH) if resource.has_scale => {
            scale(state, resource, ns, name, request).await
        }
        // The namespace controller's door: only `spec.finalizers` changes.
        ("finalize", Method::PUT) if resource.kind == "Namespace" => {
            replace(state, resource, ns, name, request, Part::Finalize).await
        }
        ("binding", Method::POST) if resource.kind == "Pod" => {
            bind(state, resource, ns, name, request).await
        }
        ("eviction", Method::POST) if resource.kind == "Pod" => {
            let ns = ns.unwrap_or("default");
            super::eviction::evict(state, resource, ns, name, request).await
        }
        // TokenRequest: a token for the ServiceAccount (`authn/token_request.rs`).
        ("token", Method::POST) if resource.kind == "ServiceAccount" => {
            let ns = ns.unwrap_or("default");
            crate::authn::token_request::create_token(state, ns, name, request).await
        }
        ("status" | "scale" | "binding" | "eviction" | "finalize" | "token", _)
            if known(resource, subresource) =>
        {
            Err(ApiError::MethodNotAllowed)
        }
        _ => Err(ApiError::NotFound(target(
            resource,
            &format!("{name}/{subresource}"),
        ))),
    }
}

fn known(resource: &Resource, subresource: &str) -> bool {
    match subresource {
        "status" => resource.has_status,
        "scale" => resource.has_scale,
        "binding" | "eviction" => resource.kind == "Pod",
        "finalize" => resource.kind == "Namespace",
        "token" => resource.kind == "ServiceAccount",
        _ => false,
    }
}

// ANCHOR: scale
/// The `autoscaling/v1 Scale` view of a workload.
pub fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let selector = obj
        .pointer("/spec/selector")
        .map(orc_client::selectors::labels::from_label_selector)
        .map(|s| selector_string(&s))
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": { "replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0)) },
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}
// ANCHOR_END: scale

/// A selector written back as a string (`app=web,tier in (a,b)`), the form
/// `Scale.status.selector` carries.
fn selector_string(selector: &orc_client::selectors::labels::Selector) -> String {
    use orc_client::selectors::labels::Requirement::*;
    selector
        .requirements
        .iter()
        .map(|r| match r {
            Equals(k, v) => format!("{k}={v}"),
            NotEquals(k, v) => format!("{k}!={v}"),
            In(k, vs) => format!("{k} in ({})", vs.join(",")),
            NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
            Exists(k) => k.clone(),
            DoesNotExist(k) => format!("!{k}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// PUT or PATCH on `/scale`: only `spec.replicas` reaches the object.
async fn scale(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let (is_put, body) = (request.method == Method::PUT, request.body.clone());
    // A PATCH's Content-Type names its patch format, read in the closure.
    let format = if is_put {
        Format::of_body(request.content_type())?
    } else {
        Format::Json
    };
    let pinned = if is_put {
        read::resource_version(&decode(&body, format)?)?
    } else {
        0
    };
    let reply = guaranteed_update(
        state,
        resource,
        ns,
        name,
        Rules {
            precondition: pinned,
            part: Part::Main,
            directive: "Ignore",
            duplicates: &[],
            dry_run: DryRun::of(
                request,
                if is_put {
                    "UpdateOptions"
                } else {
                    "PatchOptions"
                },
            )?,
        },
        |current| {
            let current_scale = scale_of(current);
            let wanted = if is_put {
                decode(&body, format)?
            } else {
                let kind = crate::patch::PatchKind::from_content_type(request.content_type())?;
                crate::patch::apply(kind, "Scale", &current_scale, &body)?
            };
            let Some(replicas) = wanted_replicas(&wanted).filter(|r| *r >= 0) else {
                return Err(ApiError::Invalid(
                    target(resource, name),
                    vec![crate::status::FieldCause::invalid(
                        "spec.replicas",
                        wanted.pointer("/spec/replicas").unwrap_or(&Value::Null),
                        "must be greater than or equal to 0",
                    )],
                ));
            };
            let mut next = current.clone();
            next["spec"]["replicas"] = json!(replicas);
            Ok(next)
        },
    )
    .await?;
    Ok(Reply::ok(scale_of(&reply.body)))
}

/// The replica count a Scale body asks for. A missing (or null)
/// `spec.replicas` means 0: `autoscaling/v1` declares the field
/// `omitempty`, so client-go leaves it out of every Scale that asks for
/// zero, and Kubernetes reads the absent field as Go's zero value. `None`
/// for a count that is not an integer.
fn wanted_replicas(scale: &Value) -> Option<i64> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Some(0),
        Some(count) => count.as_i64(),
    }
}

// ANCHOR: binding
/// POST on `pods/<name>/binding`: set `spec.nodeName`, once, and mark the
/// pod `PodScheduled: True`, as Kubernetes' binding storage does (the
/// scheduler writes only the `False` side of that condition).
async fn bind(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let binding = decode(&request.body, Format::of_body(request.content_type())?)?;
    if binding
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "Binding")
    {
        return Err(ApiError::BadRequest(
            "the body of a binding must be a Binding".into(),
        ));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::Invalid(
            target(resource, name),
            vec![crate::status::FieldCause::required("target.name")],
        ));
    }
    guaranteed_update(
        state,
        resource,
        ns,
        name,
        Rules {
            precondition: 0,
            part: Part::Binding,
            directive: "Ignore",
            duplicates: &[],
            dry_run: DryRun::of(request, "CreateOptions")?,
        },
        |current| {
            let bound = current
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !bound.is_empty() {
                return Err(ApiError::Conflict(
                    target(resource, name),
                    format!("pod {name} is already assigned to node {bound:?}"),
                ));
            }
            let mut next = current.clone();
            next["spec"]["nodeName"] = json!(node);
            set_scheduled(&mut next);
            Ok(next)
        },
    )
    .await?;
    let mut status = crate::status::success(&target(resource, name));
    status["code"] = json!(201);
    Ok(Reply {
        code: StatusCode::CREATED,
        body: status,
        warnings: Vec::new(),
    })
}
// ANCHOR_END: binding

/// Sets the pod's `PodScheduled` condition to `True` (no reason, no
/// message, as Kubernetes leaves them); its transition time moves only if
/// the status changes.
fn set_scheduled(pod: &mut Value) {
    let now = orc_client::time::format(jiff::Timestamp::now());
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    if !pod["status"].get("conditions").is_some_and(Value::is_array) {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else {
        return;
    };
    let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
        "lastTransitionTime": now});
    match conditions.iter_mut().find(|c| c["type"] == "PodScheduled") {
        Some(c) if c["status"] == "True" => {}
        Some(c) => *c = scheduled,
        None => conditions.push(scheduled),
    }
}
