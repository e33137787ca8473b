//! `spec.podFailurePolicy`: what a failed pod means, decided by the first
//! rule that matches it (Kubernetes' `matchPodFailurePolicy`). A rule
//! matches on the exit codes of the pod's containers (`onExitCodes`, exit
//! code 0 never counts) or on the pod's conditions (`onPodConditions`,
//! such as `DisruptionTarget`: the pod was evicted or preempted, not
//! broken). No rule matching: the failure counts, as without a policy.

use serde_json::Value;

use super::pods::container_statuses;
use crate::object::namespace_and_name;

/// What a failed pod does to its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fail the whole Job now; the message says which rule matched why.
    FailJob(String),
    /// Do not count it towards `backoffLimit`.
    Ignore,
    /// Count it, as any failure.
    Count,
}

// ANCHOR: judge
/// The verdict of `rules` on the failed `pod`.
pub fn judge(rules: &[Value], pod: &Value) -> Verdict {
    for (i, rule) in rules.iter().enumerate() {
        let Some(why) = matches(rule, pod) else {
            continue;
        };
        return match rule["action"].as_str().unwrap_or("") {
            "FailJob" => Verdict::FailJob(format!("{why} matching FailJob rule at index {i}")),
            "Ignore" => Verdict::Ignore,
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}
// ANCHOR_END: judge

/// Why `rule` matches `pod`, in the words of Kubernetes' message, if it
/// does.
fn matches(rule: &Value, pod: &Value) -> Option<String> {
    let (ns, name) = namespace_and_name(pod);
    if let Some(codes) = rule.get("onExitCodes").filter(|c| c.is_object()) {
        let only = codes["containerName"].as_str();
        let values: Vec<i64> = codes["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
        let wanted = |code: i64| match codes["operator"].as_str() {
            Some("NotIn") => !values.contains(&code),
            _ => values.contains(&code),
        };
        return container_statuses(pod)
            .filter(|s| only.is_none_or(|o| s["name"] == o))
            .filter_map(|s| {
                Some((
                    s["name"].as_str()?,
                    s.pointer("/state/terminated/exitCode")?.as_i64()?,
                ))
            })
            .find(|&(_, code)| code != 0 && wanted(code))
            .map(|(container, code)| {
                format!("Container {container} for pod {ns}/{name} failed with exit code {code}")
            });
    }
    let wanted = rule["onPodConditions"].as_array()?;
    let conditions = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)?;
    wanted.iter().find_map(|w| {
        let status = w["status"].as_str().unwrap_or("True");
        conditions
            .iter()
            .find(|c| c["type"] == w["type"] && c["status"] == status)
            .map(|c| {
                format!(
                    "Pod {ns}/{name} has condition {}",
                    c["type"].as_str().unwrap_or("")
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed(code: i64, conditions: Value) -> Value {
        json!({"metadata": {"namespace": "default", "name": "p"}, "status": {"phase": "Failed",
            "conditions": conditions,
            "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": code}}}]}})
    }

    fn rules() -> Vec<Value> {
        json!([
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}},
        ])
        .as_array()
        .unwrap()
        .clone()
    }

    #[test]
    fn the_first_matching_rule_decides() {
        assert_eq!(
            judge(&rules(), &failed(42, json!([]))),
            Verdict::FailJob(
                "Container main for pod default/p failed with exit code 42 matching FailJob rule at index 1".into()
            )
        );
        let evicted = failed(137, json!([{"type": "DisruptionTarget", "status": "True"}]));
        assert_eq!(judge(&rules(), &evicted), Verdict::Ignore);
        assert_eq!(judge(&rules(), &failed(1, json!([]))), Verdict::Count);
        assert_eq!(judge(&[], &failed(42, json!([]))), Verdict::Count);
    }
}
