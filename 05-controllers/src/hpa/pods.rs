//! A target's pods as the replica calculator sees them: Kubernetes'
//! `groupPods` and `calculatePodRequests`, pure.

use jiff::{SignedDuration, Timestamp};
use orc_client::{conditions, time};
use serde_json::Value;

use super::metrics::{PodUsage, parse_milli};
use super::replicas::{PodSample, PodState};

use super::Tuning;

/// `t + d`, saturating: the times come from objects users write.
fn plus(t: Timestamp, d: impl TryInto<SignedDuration>) -> Timestamp {
    d.try_into()
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The sum of the pod's containers' requests of `resource`, in
/// milli-units; an error naming the first container without one.
pub fn request(pod: &Value, resource: &str) -> Result<i64, String> {
    let mut total = 0;
    for container in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let quantity = container
            .pointer(&format!("/resources/requests/{resource}"))
            .and_then(Value::as_str)
            .and_then(parse_milli);
        let Some(quantity) = quantity else {
            return Err(format!(
                "missing request for {resource} in container {} of Pod {}",
                container["name"].as_str().unwrap_or(""),
                pod.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ));
        };
        total += quantity;
    }
    Ok(total)
}

// ANCHOR: state
/// Where `pod` stands, given its metric (Kubernetes' `groupPods`): failed
/// or deleting pods are ignored, pending ones are not ready, and for CPU a
/// pod still in its first five minutes counts only once its metric was
/// taken entirely after it became ready (the five minutes and the 30 s
/// of the readiness delay are `tuning`'s).
pub fn state(
    pod: &Value,
    resource: &str,
    usage: Option<&PodUsage>,
    now: Timestamp,
    tuning: &Tuning,
) -> PodState {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
        || phase == Some("Failed")
    {
        return PodState::Ignored;
    }
    if phase == Some("Pending") {
        return PodState::NotReady;
    }
    let Some(usage) = usage else {
        return PodState::Ready; // missing: the calculator sees no usage
    };
    if resource != "cpu" {
        return PodState::Ready;
    }
    let ready = conditions::find(pod, "Ready");
    let (Some(ready), Some(started)) = (ready, time::at(pod, "/status/startTime")) else {
        return PodState::NotReady;
    };
    let is_ready = ready["status"] == "True";
    let changed = time::at(ready, "/lastTransitionTime").unwrap_or(Timestamp::UNIX_EPOCH);
    let unready = if plus(started, tuning.cpu_initialization_period) > now {
        // Starting: the window must begin after the pod became ready.
        let window = SignedDuration::from_secs(usage.window_seconds);
        !is_ready || usage.timestamp < plus(changed, window)
    } else {
        // Started long ago: unready only if it never was ready.
        !is_ready && plus(started, tuning.initial_readiness_delay) > changed
    };
    if unready {
        PodState::NotReady
    } else {
        PodState::Ready
    }
}
// ANCHOR_END: state

/// The calculator's view of `pods` for `resource`: each one's state,
/// request and usage. `Err` when a pod lacks a request and `requests` are
/// needed (a utilization target).
pub fn samples(
    pods: &[Value],
    resource: &str,
    usage: &[PodUsage],
    needs_requests: bool,
    now: Timestamp,
    tuning: &Tuning,
) -> Result<Vec<PodSample>, String> {
    let mut samples = Vec::new();
    for pod in pods {
        let name = pod.pointer("/metadata/name").and_then(Value::as_str);
        let found = usage.iter().find(|u| Some(u.pod.as_str()) == name);
        let request = if needs_requests {
            request(pod, resource)?
        } else {
            request(pod, resource).unwrap_or(0)
        };
        samples.push(PodSample {
            state: state(pod, resource, found, now, tuning),
            request,
            usage: found.and_then(|u| u.usage.get(resource).copied()),
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn pod(started: i64, ready_since: i64, ready: bool) -> Value {
        json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "200m"}}}]},
            "status": {"phase": "Running", "startTime": time::format(at(started)),
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                    "lastTransitionTime": time::format(at(ready_since))}]}})
    }

    fn usage(taken: i64) -> PodUsage {
        PodUsage {
            pod: "p".into(),
            usage: HashMap::from([("cpu".to_string(), 100)]),
            timestamp: at(taken),
            window_seconds: 30,
        }
    }

    #[test]
    fn cpu_of_a_starting_pod_counts_once_measured_while_ready() {
        // Started 60 s ago, ready 40 s ago; a window of 30 s ending now
        // began after it became ready: counted.
        assert_eq!(
            state(
                &pod(-60, -40, true),
                "cpu",
                Some(&usage(0)),
                at(0),
                &Tuning::default()
            ),
            PodState::Ready
        );
        // Ready only 10 s ago: the window saw start-up work.
        assert_eq!(
            state(
                &pod(-60, -10, true),
                "cpu",
                Some(&usage(0)),
                at(0),
                &Tuning::default()
            ),
            PodState::NotReady
        );
        // Started long ago and ready: counted; memory never waits.
        assert_eq!(
            state(
                &pod(-900, -10, true),
                "cpu",
                Some(&usage(0)),
                at(0),
                &Tuning::default()
            ),
            PodState::Ready
        );
        assert_eq!(
            state(
                &pod(-60, -10, true),
                "memory",
                Some(&usage(0)),
                at(0),
                &Tuning::default()
            ),
            PodState::Ready
        );
        // No metric: missing, whatever its readiness.
        assert_eq!(
            state(
                &pod(-60, -10, false),
                "cpu",
                None,
                at(0),
                &Tuning::default()
            ),
            PodState::Ready
        );
    }

    #[test]
    fn the_start_up_periods_are_the_tuning() {
        // Ready only 10 s ago, 60 s after start: inside the default five
        // minutes it waits; with a 30 s initialization period it counts.
        let short = Tuning {
            cpu_initialization_period: std::time::Duration::from_secs(30),
            ..Tuning::default()
        };
        assert_eq!(
            state(&pod(-60, -10, true), "cpu", Some(&usage(0)), at(0), &short),
            PodState::Ready
        );
        // Past initialization, never ready, turned unready 20 s after
        // starting: within the 30 s delay it is not ready yet; a 10 s
        // delay says it was ready once, and counts its CPU.
        assert_eq!(
            state(
                &pod(-900, -880, false),
                "cpu",
                Some(&usage(0)),
                at(0),
                &Tuning::default()
            ),
            PodState::NotReady
        );
        let quick = Tuning {
            initial_readiness_delay: std::time::Duration::from_secs(10),
            ..Tuning::default()
        };
        assert_eq!(
            state(
                &pod(-900, -880, false),
                "cpu",
                Some(&usage(0)),
                at(0),
                &quick
            ),
            PodState::Ready
        );
    }

    #[test]
    fn requests_are_summed_and_a_missing_one_is_named() {
        assert_eq!(request(&pod(0, 0, true), "cpu"), Ok(200));
        assert_eq!(
            request(&pod(0, 0, true), "memory"),
            Err("missing request for memory in container c of Pod p".into())
        );
    }
}
