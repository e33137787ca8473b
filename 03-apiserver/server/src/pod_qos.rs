//! A pod's Quality of Service class: `status.qosClass`, which the API
//! server sets when the pod is created and nobody may change afterwards.
//!
//! The class follows from the containers' CPU and memory requests and
//! limits alone (chapter 02, "QoS classes"), so Kubernetes works it out
//! once, in the pod strategy's `PrepareForCreate` (`qos.GetPodQOS`), and
//! every later reader (`kubectl describe`, the eviction order, the node
//! agent's cgroup layout) sees the same answer. Spec resources cannot
//! change after creation in orc, so the class never needs recomputing.
//!
//! The node agent computes the same class from its typed pod to choose
//! the pod's cgroup (`orc_pod::sandbox::qos_class`); the API server links
//! no node code, so it reads the JSON here, as Kubernetes keeps one helper
//! for its internal types and one for `v1`.
//!
//! A status write that leaves the field out keeps the stored value (old
//! kubelets dropped it; Kubernetes backfills it the same way); one that
//! sends a different value is refused: `status.qosClass: field is immutable`.

use serde_json::{Value, json};

use crate::status::FieldCause;

/// The two resources the class is computed from; others (ephemeral
/// storage, extended resources) do not count.
const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

// ANCHOR: qos_class
/// `qos.GetPodQOS`: sums each resource's positive requests and limits over
/// all containers (init containers too). No request and no limit at all is
/// `BestEffort`; `Guaranteed` needs every container to limit both CPU and
/// memory and the requests to equal the limits; the rest is `Burstable`.
/// Runs after defaulting, which has copied each limit into a missing
/// request, as Kubernetes' defaulting does before `PrepareForCreate`.
pub fn qos_class(pod: &Value) -> &'static str {
    let mut requests = [0i128; 2];
    let mut limits = [0i128; 2];
    let mut guaranteed = true;
    let containers = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| pod.pointer(&format!("/spec/{list}"))?.as_array())
        .flatten();
    for container in containers {
        let amount = |kind: &str, i: usize| {
            container
                .pointer(&format!("/resources/{kind}/{}", QOS_RESOURCES[i]))
                .and_then(Value::as_str)
                .and_then(quantity_nanos)
                .filter(|n| *n > 0)
        };
        for i in 0..QOS_RESOURCES.len() {
            if let Some(n) = amount("requests", i) {
                requests[i] += n;
            }
            match amount("limits", i) {
                Some(n) => limits[i] += n,
                // A container without a CPU or memory limit may use
                // whatever the node has: not Guaranteed.
                None => guaranteed = false,
            }
        }
    }
    if requests == [0, 0] && limits == [0, 0] {
        return "BestEffort";
    }
    // Every request must equal its limit (a missing request was defaulted
    // to the limit, so an unequal one was given explicitly).
    if guaranteed && requests == limits {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
// ANCHOR_END: qos_class

/// `PrepareForCreate`'s part: the new pod's class, whatever the client sent.
pub fn prepare_create(pod: &mut Value) {
    let class = qos_class(pod);
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    pod["status"]["qosClass"] = json!(class);
}

/// A status write without `qosClass` keeps the stored one (Kubernetes'
/// `podStatusStrategy.PrepareForUpdate`).
pub fn keep_on_status_update(current: &Value, next: &mut Value) {
    let given = next.pointer("/status/qosClass").and_then(Value::as_str);
    if given.is_none_or(str::is_empty)
        && let Some(stored) = current.pointer("/status/qosClass").cloned()
    {
        if !next.get("status").is_some_and(Value::is_object) {
            next["status"] = json!({});
        }
        next["status"]["qosClass"] = stored;
    }
}

/// On update: the class may not change once set.
pub fn validate_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    let class = |v: &Value| {
        v.pointer("/status/qosClass")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if class(old) != class(new) {
        causes.push(FieldCause::invalid(
            "status.qosClass",
            &json!(class(new)),
            "field is immutable",
        ));
    }
}

/// A Kubernetes quantity (`250m`, `1.5`, `64Mi`, `1e3`) in billionths of
/// its unit, enough to add and compare requests and limits exactly. `None`
/// for what is not a quantity (validation refuses those elsewhere).
fn quantity_nanos(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    // The number as an integer of nanos: digits before and after the point.
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 9 {
        return None;
    }
    let whole: i128 = if whole.is_empty() || whole == "+" || whole == "-" {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: i128 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let sign = if number.starts_with('-') { -1 } else { 1 };
    let nanos = whole.abs() * 1_000_000_000 + frac;
    let scale = |n: i128, factor: i128| n.checked_mul(factor);
    let binary = |power: u32| 1i128 << (10 * power);
    let decimal = |power: u32| 10i128.pow(3 * power);
    let value = match suffix {
        "" => nanos,
        "n" => nanos / 1_000_000_000,
        "u" => nanos / 1_000_000,
        "m" => nanos / 1_000,
        "k" => scale(nanos, decimal(1))?,
        "M" => scale(nanos, decimal(2))?,
        "G" => scale(nanos, decimal(3))?,
        "T" => scale(nanos, decimal(4))?,
        "P" => scale(nanos, decimal(5))?,
        "E" => scale(nanos, decimal(6))?,
        "Ki" => scale(nanos, binary(1))?,
        "Mi" => scale(nanos, binary(2))?,
        "Gi" => scale(nanos, binary(3))?,
        "Ti" => scale(nanos, binary(4))?,
        "Pi" => scale(nanos, binary(5))?,
        "Ei" => scale(nanos, binary(6))?,
        exponent => {
            let power: u32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            scale(nanos, 10i128.checked_pow(power)?)?
        }
    };
    Some(sign * value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod of containers given as (requests, limits) JSON.
    fn pod(containers: &[(Value, Value)]) -> Value {
        let list: Vec<Value> = containers
            .iter()
            .map(|(r, l)| json!({"name": "c", "resources": {"requests": r, "limits": l}}))
            .collect();
        json!({"spec": {"containers": list}})
    }

    #[test]
    fn classes_follow_kubernetes_get_pod_qos() {
        let none = json!({});
        let cases = [
            (pod(&[(none.clone(), none.clone())]), "BestEffort"),
            // Zero counts as not given.
            (pod(&[(json!({"cpu": "0"}), none.clone())]), "BestEffort"),
            // Limits on both, requests equal (defaulting copies limits).
            (
                pod(&[(
                    json!({"cpu": "500m", "memory": "64Mi"}),
                    json!({"cpu": "0.5", "memory": "67108864"}),
                )]),
                "Guaranteed",
            ),
            // A request below its limit.
            (
                pod(&[(
                    json!({"cpu": "250m", "memory": "64Mi"}),
                    json!({"cpu": "500m", "memory": "64Mi"}),
                )]),
                "Burstable",
            ),
            // Only a CPU limit: memory is unlimited.
            (
                pod(&[(json!({"cpu": "1"}), json!({"cpu": "1"}))]),
                "Burstable",
            ),
            // One Guaranteed-looking container beside a BestEffort one.
            (
                pod(&[
                    (
                        json!({"cpu": "1", "memory": "1Gi"}),
                        json!({"cpu": "1", "memory": "1Gi"}),
                    ),
                    (none.clone(), none.clone()),
                ]),
                "Burstable",
            ),
            // Other resources do not count.
            (
                pod(&[(json!({"ephemeral-storage": "1Gi"}), none.clone())]),
                "BestEffort",
            ),
        ];
        for (pod, class) in cases {
            assert_eq!(qos_class(&pod), class, "{pod}");
        }
        // Init containers count too.
        let mut with_init = pod(&[(none.clone(), none.clone())]);
        with_init["spec"]["initContainers"] =
            json!([{"name": "i", "resources": {"requests": {"memory": "1Mi"}}}]);
        assert_eq!(qos_class(&with_init), "Burstable");
    }

    #[test]
    fn quantities_compare_exactly() {
        assert_eq!(quantity_nanos("500m"), quantity_nanos("0.5"));
        assert_eq!(quantity_nanos("64Mi"), Some((64i128 << 20) * 1_000_000_000));
        assert_eq!(quantity_nanos("1k"), quantity_nanos("1e3"));
        assert_eq!(quantity_nanos("1G"), quantity_nanos("1000M"));
        assert_ne!(quantity_nanos("1Gi"), quantity_nanos("1G"));
        assert_eq!(quantity_nanos("abc"), None);
        assert_eq!(quantity_nanos("1Xi"), None);
    }

    #[test]
    fn the_class_is_set_at_creation_kept_and_immutable() {
        let mut p = pod(&[(json!({"cpu": "100m"}), json!({}))]);
        p["status"] = json!({"phase": "Pending", "qosClass": "Guaranteed"});
        prepare_create(&mut p);
        assert_eq!(
            p["status"]["qosClass"], "Burstable",
            "the client's value is replaced"
        );
        assert_eq!(p["status"]["phase"], "Pending");

        // A node's status write without the field keeps it.
        let mut next = p.clone();
        next["status"] = json!({"phase": "Running"});
        keep_on_status_update(&p, &mut next);
        assert_eq!(next["status"]["qosClass"], "Burstable");
        let mut causes = vec![];
        validate_update(&p, &next, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");

        // A different value is refused, naming the field.
        next["status"]["qosClass"] = json!("BestEffort");
        validate_update(&p, &next, &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "status.qosClass");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"BestEffort\": field is immutable"
        );
    }
}
