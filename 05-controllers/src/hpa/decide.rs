//! One HPA's reconcile, pure: from the target's scale, its pods and their
//! metrics to the replica count, the status and the events (Kubernetes'
//! `reconcileAutoscaler` and `computeReplicasForMetrics`).

use jiff::Timestamp;
use orc_client::events::Note;
use orc_client::time;
use serde_json::{Value, json};

use super::Tuning;
use super::behavior::{self, Bounds, History, Rules};
use super::metrics::{PodUsage, format_milli, parse_milli};
use super::pods;
use super::replicas::{self, Target};

/// Everything a reconcile read, for [`decide`].
pub struct Observed<'a> {
    /// The HPA.
    pub hpa: &'a Value,
    /// The target's `Scale` (`spec.replicas`, `status.selector`), or why
    /// it could not be read.
    pub scale: Result<&'a Value, String>,
    /// The pods the scale's selector matches.
    pub pods: &'a [Value],
    /// Their metrics, or why the metrics API did not answer.
    pub usage: Result<&'a [PodUsage], String>,
    /// The controller's clock.
    pub now: Timestamp,
    /// The controller's flags: tolerance, windows, delays.
    pub tuning: &'a Tuning,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Scale the target to this many replicas, for this reason (the
    /// `SuccessfulRescale` event's).
    pub rescale: Option<(i64, String)>,
    /// The new `status` (conditions included); the shell adds
    /// `lastScaleTime` and the rescale's own condition once it succeeded.
    pub status: Value,
    /// Events to record.
    pub events: Vec<Note>,
}

/// One metric's result: the replicas it asks for and its status entry, or
/// the condition reason and the error.
type MetricResult = Result<(i64, String, Value), (&'static str, String)>;

/// The HPA's spec, read once.
struct Spec {
    min: i64,
    max: i64,
    up: Rules,
    down: Rules,
}

impl Spec {
    /// The spec of `hpa`; a scale-down window it does not set is
    /// `--horizontal-pod-autoscaler-downscale-stabilization`'s.
    fn of(hpa: &Value, tuning: &Tuning) -> Spec {
        let behavior = hpa.pointer("/spec/behavior");
        Spec {
            min: hpa
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            max: hpa
                .pointer("/spec/maxReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            up: Rules::from_spec(behavior.and_then(|b| b.get("scaleUp")), Rules::default_up()),
            down: Rules::from_spec(
                behavior.and_then(|b| b.get("scaleDown")),
                Rules {
                    stabilization_seconds: i64::try_from(tuning.downscale_stabilization.as_secs())
                        .unwrap_or(i64::MAX),
                    ..Rules::default_down()
                },
            ),
        }
    }
}

// ANCHOR: decide
/// Decides the reconcile of `observed.hpa`, remembering the recommendation
/// and the scale in `history`.
pub fn decide(observed: &Observed, history: &mut History) -> Decision {
    let hpa = observed.hpa;
    let mut conditions = Conditions::of(hpa, observed.now);
    let mut events = Vec::new();
    let scale = match &observed.scale {
        Ok(scale) => *scale,
        Err(e) => {
            let message =
                format!("the HPA controller was unable to get the target's current scale: {e}");
            conditions.set("AbleToScale", false, "FailedGetScale", &message);
            events.push(Note::warning("FailedGetScale", e.clone()));
            let status = status(hpa, None, None, json!([]), conditions);
            return Decision {
                rescale: None,
                status,
                events,
            };
        }
    };
    conditions.set(
        "AbleToScale",
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );
    let spec = Spec::of(hpa, observed.tuning);
    let current = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut metric_statuses = json!([]);
    let (desired, reason) = if current == 0 && spec.min != 0 {
        let why = "scaling is disabled since the replica count of the target is zero";
        conditions.set("ScalingActive", false, "ScalingDisabled", why);
        (0, String::new())
    } else if current > spec.max {
        (
            spec.max,
            "Current number of replicas above Spec.MaxReplicas".to_string(),
        )
    } else if current < spec.min {
        (
            spec.min,
            "Current number of replicas below Spec.MinReplicas".to_string(),
        )
    } else {
        let results = metric_results(observed, current);
        metric_statuses = json!(
            results
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .map(|r| r.2.clone())
                .collect::<Vec<_>>()
        );
        let Some((proposed, metric)) = combine(&results, current, &mut conditions, &mut events)
        else {
            let status = status(hpa, Some(current), None, metric_statuses, conditions);
            return Decision {
                rescale: None,
                status,
                events,
            };
        };
        let bounds = Bounds {
            min: spec.min,
            max: spec.max,
            current,
        };
        let n = behavior::normalize(
            history,
            (&spec.up, &spec.down),
            bounds,
            proposed,
            observed.now,
        );
        note_brakes(&mut conditions, proposed, &n);
        let reason = match n.replicas.cmp(&current) {
            std::cmp::Ordering::Greater => format!("{metric} above target"),
            _ => "All metrics below target".to_string(),
        };
        (n.replicas, reason)
    };
    let rescale = (desired != current).then_some((desired, reason));
    if rescale.is_some() {
        behavior::record_scale(
            history,
            (&spec.up, &spec.down),
            (current, desired),
            observed.now,
        );
    }
    let shown = if rescale.is_some() { desired } else { current };
    let status = status(hpa, Some(current), Some(shown), metric_statuses, conditions);
    Decision {
        rescale,
        status,
        events,
    }
}
// ANCHOR_END: decide

/// `AbleToScale` and `ScalingLimited` after the window and the policies.
fn note_brakes(conditions: &mut Conditions, proposed: i64, n: &behavior::Normalized) {
    if n.stabilized != proposed {
        conditions.set(
            "AbleToScale",
            true,
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        );
    } else {
        conditions.set(
            "AbleToScale",
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        );
    }
    let limited = n.replicas != n.stabilized;
    conditions.set("ScalingLimited", limited, n.limit.0, n.limit.1);
}

/// The highest proposal of the valid metrics, and its metric's name; or
/// `None` when the metrics cannot be trusted (all invalid, or some invalid
/// and the rest would scale down: a missing metric must not shrink the
/// target).
fn combine(
    results: &[MetricResult],
    current: i64,
    conditions: &mut Conditions,
    events: &mut Vec<Note>,
) -> Option<(i64, String)> {
    let mut best: Option<(i64, String)> = None;
    let mut first_error: Option<&(&'static str, String)> = None;
    for result in results {
        match result {
            Ok((replicas, name, _)) => {
                if best.as_ref().is_none_or(|(b, _)| replicas > b) {
                    best = Some((*replicas, name.clone()));
                }
            }
            Err(error) => {
                events.push(Note::warning(error.0, error.1.clone()));
                first_error = first_error.or(Some(error));
            }
        }
    }
    let invalid = results.iter().filter(|r| r.is_err()).count();
    if let Some((reason, message)) = first_error {
        if best.is_none() || best.as_ref().is_some_and(|(b, _)| *b < current) {
            let why = format!("the HPA was unable to compute the replica count: {message}");
            conditions.set("ScalingActive", false, reason, &why);
            events.push(Note::warning(
                "FailedComputeMetricsReplicas",
                format!(
                    "invalid metrics ({invalid} invalid out of {}), first error is: {message}",
                    results.len()
                ),
            ));
            return None;
        }
    }
    let (replicas, name) = best?;
    let why = format!("the HPA was able to successfully calculate a replica count from {name}");
    conditions.set("ScalingActive", true, "ValidMetricFound", &why);
    Some((replicas, name))
}

/// Each metric of the spec, computed.
fn metric_results(observed: &Observed, current: i64) -> Vec<MetricResult> {
    observed
        .hpa
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|metric| resource_metric(observed, metric, current))
        .collect()
}

/// A `Resource` metric: the replicas it asks for, its name for messages,
/// and its `status.currentMetrics` entry.
fn resource_metric(observed: &Observed, metric: &Value, current: i64) -> MetricResult {
    let name = metric
        .pointer("/resource/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let target = &metric["resource"]["target"];
    let (target, label, what) = match target["type"].as_str() {
        Some("AverageValue") => {
            let value = target["averageValue"]
                .as_str()
                .and_then(parse_milli)
                .unwrap_or(0)
                .max(1);
            (
                Target::AverageValue(value),
                format!("{name} resource"),
                "usage",
            )
        }
        _ => {
            let percent = target["averageUtilization"].as_i64().unwrap_or(1).max(1);
            (
                Target::Utilization(percent),
                format!("{name} resource utilization (percentage of request)"),
                "utilization",
            )
        }
    };
    let fail = |e: String| {
        (
            "FailedGetResourceMetric",
            format!("failed to get {name} {what}: {e}"),
        )
    };
    let usage = observed
        .usage
        .as_ref()
        .map_err(|e| fail(format!("unable to get metrics for resource {name}: {e}")))?;
    if usage.is_empty() {
        return Err(fail(format!(
            "unable to get metrics for resource {name}: no metrics returned from resource metrics API"
        )));
    }
    let needs_requests = matches!(target, Target::Utilization(_));
    let samples = pods::samples(
        observed.pods,
        name,
        usage,
        needs_requests,
        observed.now,
        observed.tuning,
    )
    .map_err(fail)?;
    let proposal =
        replicas::desired_replicas_within(current, &samples, target, observed.tuning.tolerance)
            .map_err(|e| fail(e.to_string()))?;
    let mut current_value = json!({"averageValue": format_milli(proposal.average)});
    if needs_requests {
        current_value["averageUtilization"] = json!(proposal.utilization);
    }
    let entry = json!({"type": "Resource", "resource": {"name": name, "current": current_value}});
    Ok((proposal.replicas, label, entry))
}

/// The status to write: counts, metrics, conditions; what is not known
/// this time is kept from the HPA's status.
fn status(
    hpa: &Value,
    current: Option<i64>,
    desired: Option<i64>,
    metrics: Value,
    conditions: Conditions,
) -> Value {
    let old = &hpa["status"];
    let keep =
        |field: &str, new: Option<i64>| new.map(|n| json!(n)).unwrap_or_else(|| old[field].clone());
    let mut status = json!({
        "currentReplicas": keep("currentReplicas", current),
        "desiredReplicas": keep("desiredReplicas", desired),
        "currentMetrics": metrics,
        "conditions": conditions.list,
    });
    if let Some(generation) = hpa.pointer("/metadata/generation") {
        status["observedGeneration"] = generation.clone();
    }
    if let Some(last) = old.get("lastScaleTime").filter(|t| !t.is_null()) {
        status["lastScaleTime"] = last.clone();
    }
    status
}

/// The HPA's conditions, changed one at a time; a condition keeps its
/// `lastTransitionTime` while its status stays (Kubernetes' `setCondition`).
pub struct Conditions {
    /// In Kubernetes' order: AbleToScale, ScalingActive, ScalingLimited.
    pub list: Vec<Value>,
    now: Timestamp,
}

impl Conditions {
    /// The HPA's current conditions.
    pub fn of(hpa: &Value, now: Timestamp) -> Conditions {
        let list = hpa
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Conditions { list, now }
    }

    /// Sets condition `kind`.
    pub fn set(&mut self, kind: &str, status: bool, reason: &str, message: &str) {
        let status = if status { "True" } else { "False" };
        let at = match self.list.iter().find(|c| c["type"] == kind) {
            Some(old) if old["status"] == status => old["lastTransitionTime"].clone(),
            _ => json!(time::format(self.now)),
        };
        let condition = json!({"type": kind, "status": status, "lastTransitionTime": at,
            "reason": reason, "message": message});
        match self.list.iter_mut().find(|c| c["type"] == kind) {
            Some(old) => *old = condition,
            None => self.list.push(condition),
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
