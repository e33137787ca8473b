//! HorizontalPodAutoscalers' admission: defaulted and validated as
//! Kubernetes' `pkg/apis/autoscaling` does (chapter 05, "Autoscaling").
//!
//! An HPA is stored as `autoscaling/v2` (`conversion/autoscaling_v1.rs` converts the
//! older version `kubectl autoscale` writes), so everything here reads the
//! v2 shape: `spec.scaleTargetRef`, `spec.minReplicas`, `spec.maxReplicas`,
//! `spec.metrics[]` and `spec.behavior`.
//!
//! orc serves no custom or external metrics API, only the resource
//! metrics of `metrics.k8s.io` (each pod's CPU and memory). So a metric of
//! type `Pods`, `Object`, `External` or `ContainerResource`, or a resource
//! other than `cpu` and `memory`, is refused with a 422 naming the field:
//! an autoscaler that could never read its metric would only report
//! `ScalingActive: False` forever.

use serde_json::{Value, json};

use crate::batch::set_default;
use crate::status::FieldCause;

/// Kubernetes' `DefaultCPUUtilization`: the metric an HPA without any
/// gets (80% of the pods' CPU requests).
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// The resources the metrics API reports per pod.
const RESOURCES: &[&str] = &["cpu", "memory"];

/// The longest `periodSeconds` of a scaling policy: 30 minutes.
const MAX_PERIOD_SECONDS: i64 = 1800;
/// The longest stabilization window: one hour.
const MAX_STABILIZATION_SECONDS: i64 = 3600;

// ANCHOR: defaults
/// Kubernetes' `SetDefaults_HorizontalPodAutoscaler` (autoscaling/v2):
/// at least one replica, CPU at 80% when no metric is given, and, when a
/// `behavior` is given, every rule it leaves out filled from the default
/// rules (`GenerateHPAScaleUpRules`, `GenerateHPAScaleDownRules`) except
/// the scale-down window, which stays unset so the controller's flag
/// decides it. An HPA without `behavior` keeps none: the controller
/// applies the defaults.
pub fn default_hpa(hpa: &mut Value) {
    let Some(spec) = hpa.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(spec, "minReplicas", json!(1));
    if spec["metrics"].as_array().is_none_or(Vec::is_empty) {
        spec["metrics"] = json!([cpu_utilization(DEFAULT_CPU_UTILIZATION)]);
    }
    if let Some(behavior) = spec.get_mut("behavior").filter(|b| b.is_object()) {
        fill_rules(behavior, "scaleUp", &default_scale_up());
        fill_rules(behavior, "scaleDown", &default_scale_down());
    }
}
// ANCHOR_END: defaults

/// A `Resource` metric on CPU with an average utilization target.
pub fn cpu_utilization(percent: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": percent}}})
}

/// Kubernetes' default scale-up rules: no stabilization, and per 15 s the
/// larger of doubling or adding four pods.
pub fn default_scale_up() -> Value {
    json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]})
}

/// Kubernetes' default scale-down rules: any number of pods per 15 s.
///
/// No `stabilizationWindowSeconds`, on purpose, as in Kubernetes'
/// `defaultHPAScaleDownRules`: the window an HPA leaves out is the
/// controller manager's `--horizontal-pod-autoscaler-downscale-stabilization`
/// (5 minutes unless set), which the API server cannot know. Writing 300
/// here would make that flag dead for every HPA that has a `behavior`.
pub fn default_scale_down() -> Value {
    json!({"selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]})
}

/// Fills the fields of `behavior.<direction>` the user left out from
/// `defaults` (`copyHPAScalingRules`): only the fields `defaults` has, so
/// a field without a default stays unset.
fn fill_rules(behavior: &mut Value, direction: &str, defaults: &Value) {
    set_default(behavior, direction, json!({}));
    let rules = &mut behavior[direction];
    if !rules.is_object() {
        return; // validation names it
    }
    for (field, default) in defaults.as_object().into_iter().flatten() {
        set_default(rules, field, default.clone());
    }
}

// ANCHOR: validate
/// Kubernetes' `ValidateHorizontalPodAutoscalerSpec`, with its messages,
/// plus orc's refusal of the metric sources it has no API for.
pub fn validate_hpa(hpa: &Value, causes: &mut Vec<FieldCause>) {
    let spec = hpa.get("spec").unwrap_or(&Value::Null);
    validate_target_ref(spec.get("scaleTargetRef"), causes);
    validate_replicas(spec, causes);
    for (i, metric) in items(spec, "metrics").enumerate() {
        validate_metric(metric, &format!("spec.metrics[{i}]"), causes);
    }
    if let Some(behavior) = spec.get("behavior").filter(|b| !b.is_null()) {
        for direction in ["scaleUp", "scaleDown"] {
            if let Some(rules) = behavior.get(direction).filter(|r| !r.is_null()) {
                validate_rules(rules, &format!("spec.behavior.{direction}"), causes);
            }
        }
    }
}
// ANCHOR_END: validate

/// The array at `value.<field>`, or nothing.
fn items<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `ValidateCrossVersionObjectReference`: a kind and a name, each one
/// URL path segment (the controller puts both in the target's URL).
fn validate_target_ref(reference: Option<&Value>, causes: &mut Vec<FieldCause>) {
    let reference = reference.unwrap_or(&Value::Null);
    for field in ["kind", "name"] {
        let at = format!("spec.scaleTargetRef.{field}");
        match reference.get(field).and_then(Value::as_str) {
            None | Some("") => causes.push(FieldCause::required(at)),
            Some(value) if value == "." || value == ".." || value.contains(['/', '%']) => causes
                .push(FieldCause::invalid(
                    at,
                    &json!(value),
                    "may not be '.', '..' or contain '/' or '%'",
                )),
            Some(_) => {}
        }
    }
}

/// `minReplicas` at least 1 (scale to zero is an alpha feature, off),
/// `maxReplicas` above zero and not below `minReplicas`.
fn validate_replicas(spec: &Value, causes: &mut Vec<FieldCause>) {
    let min = spec.get("minReplicas").and_then(Value::as_i64);
    if let Some(min) = min.filter(|&m| m < 1) {
        causes.push(FieldCause::invalid(
            "spec.minReplicas",
            &json!(min),
            "must be greater than or equal to 1",
        ));
    }
    let max = spec.get("maxReplicas").and_then(Value::as_i64).unwrap_or(0);
    if max < 1 {
        causes.push(FieldCause::invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than 0",
        ));
    } else if min.is_some_and(|min| max < min) {
        causes.push(FieldCause::invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to `minReplicas`",
        ));
    }
}

/// One metric: a `Resource` metric on CPU or memory with a target.
fn validate_metric(metric: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    match metric.get("type").and_then(Value::as_str) {
        None | Some("") => causes.push(FieldCause::required_because(
            format!("{at}.type"),
            "must specify a metric source type",
        )),
        Some("Resource") => {}
        Some(kind @ ("Pods" | "Object" | "External" | "ContainerResource")) => {
            return causes.push(FieldCause::forbidden(
                format!("{at}.type"),
                format!(
                    "orc serves no metrics API for {kind} metrics: only Resource metrics \
                     (cpu, memory) can be read; use type Resource"
                ),
            ));
        }
        Some(other) => {
            return causes.push(FieldCause::not_supported(
                format!("{at}.type"),
                other,
                &[
                    "ContainerResource",
                    "External",
                    "Object",
                    "Pods",
                    "Resource",
                ],
            ));
        }
    }
    let resource = metric.get("resource").unwrap_or(&Value::Null);
    match resource.get("name").and_then(Value::as_str) {
        None | Some("") => causes.push(FieldCause::required_because(
            format!("{at}.resource.name"),
            "must specify a resource name",
        )),
        Some(name) if !RESOURCES.contains(&name) => {
            causes.push(FieldCause::not_supported(
                format!("{at}.resource.name"),
                name,
                RESOURCES,
            ));
        }
        Some(_) => {}
    }
    validate_target(
        resource.get("target"),
        &format!("{at}.resource.target"),
        causes,
    );
}

/// `validateMetricTarget`, for a resource metric: `Utilization` with a
/// positive `averageUtilization`, or `AverageValue` with a quantity.
fn validate_target(target: Option<&Value>, at: &str, causes: &mut Vec<FieldCause>) {
    let target = target.unwrap_or(&Value::Null);
    match target.get("type").and_then(Value::as_str) {
        None | Some("") => causes.push(FieldCause::required_because(
            format!("{at}.type"),
            "must specify a metric target type",
        )),
        Some("Utilization") => match target.get("averageUtilization") {
            Some(u) if u.as_i64().is_some_and(|u| u > 0) => {}
            Some(u) => causes.push(FieldCause::invalid(
                format!("{at}.averageUtilization"),
                u,
                "must be greater than 0",
            )),
            None => causes.push(FieldCause::required_because(
                format!("{at}.averageUtilization"),
                "must set either a target raw value or a target utilization",
            )),
        },
        Some("AverageValue") => {
            let value = target.get("averageValue").unwrap_or(&Value::Null);
            if !value.as_str().is_some_and(quantity_is_positive) {
                causes.push(FieldCause::invalid(
                    format!("{at}.averageValue"),
                    value,
                    "must be positive",
                ));
            }
        }
        Some("Value") => causes.push(FieldCause::invalid(
            format!("{at}.type"),
            &json!("Value"),
            "must be either Utilization or AverageValue for a resource metric",
        )),
        Some(other) => causes.push(FieldCause::invalid(
            format!("{at}.type"),
            &json!(other),
            "must be either Utilization, Value, or AverageValue",
        )),
    }
}

/// Whether `quantity` looks like a Kubernetes quantity above zero
/// (`500m`, `64Mi`): its number has a digit other than 0. Only the form is
/// checked here; the controller reads the amount.
fn quantity_is_positive(quantity: &str) -> bool {
    let number: &str = quantity
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("");
    quantity.starts_with(|c: char| c.is_ascii_digit())
        && number.contains(|c: char| ('1'..='9').contains(&c))
}

/// `validateScalingRules`: a window of at most an hour, a known
/// `selectPolicy`, and at least one policy, each with a positive value
/// and a period of at most 30 minutes.
fn validate_rules(rules: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    if let Some(window) = rules.get("stabilizationWindowSeconds") {
        if window
            .as_i64()
            .is_none_or(|w| !(0..=MAX_STABILIZATION_SECONDS).contains(&w))
        {
            causes.push(FieldCause::invalid(
                format!("{at}.stabilizationWindowSeconds"),
                window,
                "must be greater than or equal to zero and less than or equal to 3600",
            ));
        }
    }
    if let Some(select) = rules.get("selectPolicy").and_then(Value::as_str) {
        if !["Max", "Min", "Disabled"].contains(&select) {
            causes.push(FieldCause::not_supported(
                format!("{at}.selectPolicy"),
                select,
                &["Disabled", "Max", "Min"],
            ));
        }
    }
    let policies: Vec<&Value> = items(rules, "policies").collect();
    if policies.is_empty() {
        causes.push(FieldCause::required_because(
            format!("{at}.policies"),
            "must specify at least one Policy",
        ));
    }
    for (i, policy) in policies.into_iter().enumerate() {
        let at = format!("{at}.policies[{i}]");
        match policy.get("type").and_then(Value::as_str) {
            Some("Pods" | "Percent") => {}
            other => causes.push(FieldCause::not_supported(
                format!("{at}.type"),
                other.unwrap_or(""),
                &["Percent", "Pods"],
            )),
        }
        let value = policy.get("value").unwrap_or(&Value::Null);
        if value.as_i64().is_none_or(|v| v <= 0) {
            causes.push(FieldCause::invalid(
                format!("{at}.value"),
                value,
                "must be greater than zero",
            ));
        }
        let period = policy.get("periodSeconds").unwrap_or(&Value::Null);
        if period
            .as_i64()
            .is_none_or(|p| !(1..=MAX_PERIOD_SECONDS).contains(&p))
        {
            causes.push(FieldCause::invalid(
                format!("{at}.periodSeconds"),
                period,
                "must be greater than zero and less than or equal to 1800",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    fn messages(obj: &Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate_hpa(obj, &mut causes);
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn defaults_give_cpu_at_80_and_fill_behavior() {
        let mut obj = hpa(
            json!({"maxReplicas": 3, "behavior": {"scaleDown": {"policies": [
            {"type": "Pods", "value": 1, "periodSeconds": 60}]}}}),
        );
        default_hpa(&mut obj);
        assert_eq!(obj["spec"]["minReplicas"], 1);
        assert_eq!(obj["spec"]["metrics"][0], cpu_utilization(80));
        assert_eq!(obj["spec"]["behavior"]["scaleUp"], default_scale_up());
        let down = &obj["spec"]["behavior"]["scaleDown"];
        assert_eq!(down["policies"][0]["value"], 1);
        assert_eq!(down["selectPolicy"], "Max");
        // The scale-down window is left to the controller's flag.
        assert!(down.get("stabilizationWindowSeconds").is_none());
        // No behavior: none added; the controller applies the defaults.
        let mut plain = hpa(json!({"maxReplicas": 3}));
        default_hpa(&mut plain);
        assert!(plain["spec"].get("behavior").is_none());
    }

    #[test]
    fn a_behavior_without_scale_down_gets_the_rules_but_no_window() {
        // As `kubectl get hpa -o yaml` shows on Kubernetes for an HPA whose
        // behavior names only scaleUp: scaleDown's policy and selectPolicy,
        // and no stabilizationWindowSeconds.
        let mut obj = hpa(json!({"maxReplicas": 3, "behavior": {"scaleUp": {
            "stabilizationWindowSeconds": 30}}}));
        default_hpa(&mut obj);
        let behavior = &obj["spec"]["behavior"];
        assert_eq!(
            behavior["scaleDown"],
            json!({"selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15}]})
        );
        assert_eq!(behavior["scaleUp"]["stabilizationWindowSeconds"], 30);
        assert_eq!(behavior["scaleUp"]["policies"].as_array().unwrap().len(), 2);
        // A window the user gives is kept as given.
        let mut own = hpa(json!({"maxReplicas": 3, "behavior": {"scaleDown": {
            "stabilizationWindowSeconds": 60}}}));
        default_hpa(&mut own);
        assert_eq!(
            own["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            60
        );
    }

    #[test]
    fn replicas_and_target_ref_with_kubernetes_messages() {
        let obj = hpa(
            json!({"minReplicas": 0, "maxReplicas": 0, "scaleTargetRef": {"kind": "Deployment"}}),
        );
        assert_eq!(
            messages(&obj),
            [
                "spec.scaleTargetRef.name: Required value",
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
            ]
        );
        let obj = hpa(json!({"minReplicas": 5, "maxReplicas": 2,
            "scaleTargetRef": {"kind": "Deployment", "name": "web"}}));
        assert_eq!(
            messages(&obj),
            ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]
        );
    }

    #[test]
    fn metrics_orc_cannot_read_are_refused_by_field() {
        let obj = hpa(json!({"minReplicas": 1, "maxReplicas": 2,
        "scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "metrics": [
            {"type": "Pods", "pods": {}},
            {"type": "Resource", "resource": {"name": "gpu", "target": {"type": "Utilization", "averageUtilization": 0}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
        ]}));
        let found = messages(&obj);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("spec.metrics[0].type: Forbidden: orc serves no metrics API"));
        assert!(found[1].starts_with("spec.metrics[1].resource.name: Unsupported value: \"gpu\""));
        assert_eq!(
            found[2],
            "spec.metrics[1].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
        );
    }

    #[test]
    fn behavior_policies_are_checked() {
        let obj = hpa(json!({"minReplicas": 1, "maxReplicas": 2,
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "behavior": {"scaleUp": {"selectPolicy": "Most", "policies": [
                {"type": "Pods", "value": 0, "periodSeconds": 1801}]},
                "scaleDown": {"policies": []}}}));
        let found = messages(&obj);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("spec.behavior.scaleUp.selectPolicy: Unsupported value"));
        assert_eq!(
            found[3],
            "spec.behavior.scaleDown.policies: Required value: must specify at least one Policy"
        );
    }
}
