//! PriorityClasses and the `Priority` admission step (chapter 04).
//!
//! A pod's priority is a number the scheduler orders its queue by and
//! preemption compares, but users never write it: they name a
//! `scheduling.k8s.io/v1` PriorityClass in `spec.priorityClassName`, and
//! the API server copies the class's `value` into `spec.priority` (and its
//! `preemptionPolicy` into the pod) when the pod is created. That is
//! Kubernetes' `Priority` admission plugin; this file is orc's, with the
//! same rules and messages:
//!
//! - an unknown class refuses the pod (403, `no PriorityClass with name
//!   ... was found`);
//! - a pod naming no class gets the `globalDefault` class (the lowest one
//!   if several claim it), or priority 0;
//! - a pod that writes `spec.priority` itself must agree with its class;
//! - two classes cannot both be the global default.
//!
//! The classes are read from memory, not etcd: [`ClassCache`]
//! (`priority_cache.rs`) follows them through the watch hub.
//!
//! The two classes every Kubernetes cluster has, `system-cluster-critical`
//! and `system-node-critical`, are created when the server starts
//! ([`ensure_system_classes`]); other names starting with `system-` are
//! reserved, and a user's class may not go above one billion.

use serde_json::{Value, json};

use crate::priority_cache::{ClassCache, Known};
use crate::status::{ApiError, FieldCause};
use crate::storage::{self, StorageError, Store};
use orc_client::resources::{Resource, lookup};

/// Names with this prefix are the system's.
pub const SYSTEM_PREFIX: &str = "system-";
/// The highest value a user's class may have (Kubernetes'
/// `HighestUserDefinablePriority`); the system's classes are above it, so
/// no user's pod can preempt them.
pub const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;
/// The preemption policy a class (and a pod) gets when it names none.
pub const PREEMPT_LOWER: &str = "PreemptLowerPriority";

/// The system's classes: name, value, description (Kubernetes' own
/// values; the descriptions are orc's words).
pub const SYSTEM_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "For pods the node cannot run without: never moved off their node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "For pods the cluster cannot run without; they may move between nodes.",
    ),
];

/// The PriorityClass row of the resource table.
fn priority_classes() -> &'static Resource {
    lookup("scheduling.k8s.io", "v1", "priorityclasses")
        .expect("the resource table serves priorityclasses")
}

/// The etcd prefix of every PriorityClass (`/registry/priorityclasses/`).
pub fn prefix() -> String {
    storage::prefix(priority_classes(), None)
}

/// Creates the system's classes if they are missing (Kubernetes' API
/// server does it in a post-start hook).
pub async fn ensure_system_classes(store: &Store) -> Result<(), StorageError> {
    let classes = priority_classes();
    for (name, value, description) in SYSTEM_CLASSES {
        let obj = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {
                "name": name,
                "uid": crate::meta::new_uid(),
                "generation": 1,
                "creationTimestamp": orc_client::time::format(jiff::Timestamp::now()),
            },
            "value": value,
            "description": description,
            "preemptionPolicy": PREEMPT_LOWER,
        });
        match store
            .create(
                &storage::key(classes, None, name),
                obj,
                None,
                storage::Expiry::Never,
            )
            .await
        {
            Ok(_) | Err(StorageError::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Validates a PriorityClass (already defaulted).
pub fn validate(class: &Value, causes: &mut Vec<FieldCause>) {
    let name = class
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(value) = class.get("value").and_then(Value::as_i64) else {
        match class.get("value") {
            None | Some(Value::Null) => causes.push(FieldCause::required("value")),
            Some(v) => causes.push(FieldCause::invalid("value", v, "must be an integer")),
        }
        return;
    };
    if let Some(reserved) = name.strip_prefix(SYSTEM_PREFIX).map(|_| name) {
        let known = SYSTEM_CLASSES.iter().find(|(n, ..)| *n == reserved);
        let problem = match known {
            None => Some(format!("{reserved} is not a known system priority class")),
            Some((_, v, _)) if *v != value => {
                Some(format!("value of {reserved} PriorityClass must be {v}"))
            }
            Some(_) if is_global_default(class) => Some(format!(
                "globalDefault of {reserved} PriorityClass must be false"
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            causes.push(FieldCause::forbidden(
                "metadata.name",
                format!(
                    "priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system \
                     use only. error: {problem}"
                ),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        causes.push(FieldCause::forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    match class.get("preemptionPolicy").and_then(Value::as_str) {
        Some("PreemptLowerPriority" | "Never") => {}
        _ => causes.push(FieldCause::invalid(
            "preemptionPolicy",
            class.get("preemptionPolicy").unwrap_or(&Value::Null),
            "supported values: \"Never\", \"PreemptLowerPriority\"",
        )),
    }
}

/// A class's value may not change: pods created with it keep the old one.
pub fn validate_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    if old.get("value") != new.get("value") {
        causes.push(FieldCause::forbidden(
            "value",
            "may not be changed in an update.",
        ));
    }
}

/// Whether the class is marked `globalDefault`.
pub fn is_global_default(class: &Value) -> bool {
    class.get("globalDefault").and_then(Value::as_bool) == Some(true)
}

/// Every stored PriorityClass.
async fn list(store: &Store) -> Result<Vec<Value>, ApiError> {
    let prefix = storage::prefix(priority_classes(), None);
    let page = store.list(&prefix, "", 0, 0).await.map_err(internal)?;
    Ok(page.items.into_iter().map(|(_, obj)| obj).collect())
}

fn internal(error: StorageError) -> ApiError {
    ApiError::Internal(format!("reading PriorityClasses: {error}"))
}

/// Refuses a second global default (checked when a class is created).
pub async fn admit_class(store: &Store, class: &Value) -> Result<(), ApiError> {
    if !is_global_default(class) {
        return Ok(());
    }
    let name = class.pointer("/metadata/name").and_then(Value::as_str);
    for other in list(store).await? {
        let other_name = other.pointer("/metadata/name").and_then(Value::as_str);
        if is_global_default(&other) && other_name != name {
            return Err(ApiError::Forbidden(format!(
                "priorityclasses.scheduling.k8s.io \"{}\" is forbidden: PriorityClass {} is \
                 already marked as default. Only one default can exist",
                name.unwrap_or(""),
                other_name.unwrap_or("")
            )));
        }
    }
    Ok(())
}

// ANCHOR: admit_pod
/// Resolves a new pod's `spec.priority` and `spec.preemptionPolicy` from
/// its PriorityClass (or the global default).
pub async fn admit_pod(
    classes: &ClassCache,
    store: &Store,
    pod: &mut Value,
) -> Result<(), ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let forbidden =
        |why: String| ApiError::Forbidden(format!("pods \"{name}\" is forbidden: {why}"));
    let class_name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // From memory when the cache is sure; etcd otherwise (see
    // `priority_cache.rs`).
    let class = if class_name.is_empty() {
        match classes.global_default() {
            Known::Answer(class) => class,
            Known::Ask => global_default(store).await?,
        }
    } else if let Known::Answer(Some(class)) = classes.class(&class_name) {
        Some(class)
    } else {
        let key = storage::key(priority_classes(), None, &class_name);
        match store.get(&key).await {
            Ok(class) => Some(class),
            Err(StorageError::NotFound) => {
                return Err(forbidden(format!(
                    "no PriorityClass with name {class_name} was found"
                )));
            }
            Err(e) => return Err(internal(e)),
        }
    };
    // No class at all: priority 0, and preempting is allowed.
    let (class_name, value, policy) = match &class {
        Some(c) => (
            c.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(""),
            c.get("value").and_then(Value::as_i64).unwrap_or(0),
            c.get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or(PREEMPT_LOWER),
        ),
        None => ("", 0, PREEMPT_LOWER),
    };
    let spec = &mut pod["spec"];
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != value
    {
        return Err(forbidden(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority \
             admission controller computed {value} from the given PriorityClass name"
        )));
    }
    if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
        && class.is_some()
        && given != policy
    {
        return Err(forbidden(format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; \
             priority admission controller computed {policy} from the given PriorityClass name"
        )));
    }
    if !class_name.is_empty() {
        spec["priorityClassName"] = json!(class_name);
    }
    spec["priority"] = json!(value);
    spec["preemptionPolicy"] = json!(policy);
    Ok(())
}
// ANCHOR_END: admit_pod

/// The global default class: the lowest-valued one marked so, if any.
async fn global_default(store: &Store) -> Result<Option<Value>, ApiError> {
    Ok(list(store)
        .await?
        .into_iter()
        .filter(is_global_default)
        .min_by_key(|c| c.get("value").and_then(Value::as_i64).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(class: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(&class, &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn user_classes_stay_below_the_system_ones() {
        let class = |name: &str, value: i64| {
            json!({"metadata": {"name": name}, "value": value,
                   "preemptionPolicy": PREEMPT_LOWER})
        };
        assert!(causes(class("high", HIGHEST_USER_PRIORITY)).is_empty());
        assert_eq!(
            causes(class("higher", HIGHEST_USER_PRIORITY + 1)),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        assert!(causes(class("system-node-critical", 2_000_001_000)).is_empty());
        assert_eq!(
            causes(class("system-mine", 5)),
            [
                "metadata.name: Forbidden: priority class names with 'system-' prefix are \
                 reserved for system use only. error: system-mine is not a known system \
                 priority class"
            ]
        );
        assert_eq!(
            causes(json!({"metadata": {"name": "x"}, "preemptionPolicy": "Never"})),
            ["value: Required value"]
        );
    }
}
