//! Taints and tolerations.
//!
//! A node's *taint* (`dedicated=gpu:NoSchedule`) repels pods; a pod's
//! *toleration* lets it ignore one. The effect says how hard the repulsion
//! is: `NoSchedule` (no new pods), `PreferNoSchedule` (avoid if possible:
//! a score, not a filter), `NoExecute` (no new pods, and running ones are
//! evicted by the node lifecycle controller). Cordoning a node
//! (`kubectl cordon`) is a taint too: `node.kubernetes.io/unschedulable`.

use serde_json::Value;

/// The taint the node lifecycle controller (chapter 05) puts on a node
/// whose `Ready` condition is `False`: its agent says it cannot run pods.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint it puts on a node whose `Ready` condition is `Unknown`: the
/// agent stopped reporting, so nobody knows what still runs there.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// A taint's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl Effect {
    fn parse(text: &str) -> Option<Effect> {
        match text {
            "NoSchedule" => Some(Effect::NoSchedule),
            "PreferNoSchedule" => Some(Effect::PreferNoSchedule),
            "NoExecute" => Some(Effect::NoExecute),
            _ => None,
        }
    }
}

/// One of a node's `spec.taints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: Effect,
}

/// A toleration's operator: `Equal` (the default) compares the value,
/// `Exists` takes any value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equal,
    Exists,
}

/// One of a pod's `spec.tolerations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    /// Empty with `Exists`: every key.
    pub key: String,
    pub operator: Operator,
    pub value: String,
    /// `None`: every effect.
    pub effect: Option<Effect>,
}

// ANCHOR: tolerates
/// Whether `toleration` tolerates `taint`, as Kubernetes'
/// `Toleration.ToleratesTaint`: the effect matches (or the toleration
/// names none), the key matches (or is empty, which only `Exists` may
/// be), and the value is equal, unless the operator is `Exists`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    if !toleration.key.is_empty() && toleration.key != taint.key {
        return false;
    }
    match toleration.operator {
        Operator::Exists => true,
        Operator::Equal => toleration.value == taint.value,
    }
}

/// The first of `taints` whose effect `applies` and that none of
/// `tolerations` tolerates (Kubernetes' `FindMatchingUntoleratedTaint`).
pub fn untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    applies: impl Fn(Effect) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| applies(t.effect))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}
// ANCHOR_END: tolerates

/// `spec.taints` of a node. Taints with an effect Kubernetes does not know
/// are refused by its API validation; here they are skipped, as they can
/// repel nothing.
pub fn parse_taints(list: Option<&Value>) -> Vec<Taint> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let text = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Some(Taint {
                key: text("key"),
                value: text("value"),
                effect: Effect::parse(&text("effect"))?,
            })
        })
        .collect()
}

/// `spec.tolerations` of a pod; an error names the bad field.
pub fn parse_tolerations(list: Option<&Value>) -> Result<Vec<Toleration>, String> {
    let mut tolerations = Vec::new();
    for (i, t) in list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("spec.tolerations[{i}]");
        let text = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operator = match text("operator").as_str() {
            "" | "Equal" => Operator::Equal,
            "Exists" => Operator::Exists,
            other => {
                return Err(format!("{path}.operator: {other:?} is not Equal or Exists"));
            }
        };
        let effect = match text("effect").as_str() {
            "" => None,
            other => Some(Effect::parse(other).ok_or_else(|| {
                format!("{path}.effect: {other:?} is not NoSchedule, PreferNoSchedule or NoExecute")
            })?),
        };
        if text("key").is_empty() && operator != Operator::Exists {
            return Err(format!(
                "{path}.operator: must be Exists when the key is empty"
            ));
        }
        tolerations.push(Toleration {
            key: text("key"),
            operator,
            value: text("value"),
            effect,
        });
    }
    Ok(tolerations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(key: &str, value: &str, effect: Effect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    fn toleration(
        key: &str,
        operator: Operator,
        value: &str,
        effect: Option<Effect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn tolerations_match_key_value_and_effect() {
        let gpu = taint("dedicated", "gpu", Effect::NoSchedule);
        let equal = toleration("dedicated", Operator::Equal, "gpu", None);
        assert!(tolerates(&equal, &gpu));
        let other_value = toleration("dedicated", Operator::Equal, "db", None);
        assert!(!tolerates(&other_value, &gpu));
        let exists = toleration("dedicated", Operator::Exists, "", Some(Effect::NoSchedule));
        assert!(tolerates(&exists, &gpu));
        let wrong_effect = toleration("dedicated", Operator::Exists, "", Some(Effect::NoExecute));
        assert!(!tolerates(&wrong_effect, &gpu));
        let everything = toleration("", Operator::Exists, "", None);
        assert!(tolerates(&everything, &gpu));
    }

    #[test]
    fn the_first_untolerated_taint_is_found() {
        let taints = [
            taint("soft", "", Effect::PreferNoSchedule),
            taint("a", "1", Effect::NoSchedule),
            taint("b", "2", Effect::NoExecute),
        ];
        let hard = |e: Effect| e != Effect::PreferNoSchedule;
        let tolerate_a = [toleration("a", Operator::Equal, "1", None)];
        assert_eq!(untolerated(&taints, &tolerate_a, hard), Some(&taints[2]));
        assert_eq!(untolerated(&taints, &[], hard), Some(&taints[1]));
    }

    #[test]
    fn malformed_tolerations_are_named() {
        let bad = json!([{"key": "a", "operator": "Maybe"}]);
        assert_eq!(
            parse_tolerations(Some(&bad)).unwrap_err(),
            "spec.tolerations[0].operator: \"Maybe\" is not Equal or Exists"
        );
        let ok = json!([{"operator": "Exists"}]);
        assert_eq!(parse_tolerations(Some(&ok)).unwrap().len(), 1);
    }
}
