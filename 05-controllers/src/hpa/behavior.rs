//! `spec.behavior`: how fast an HPA may move, pure (Kubernetes'
//! `normalizeDesiredReplicasWithBehaviors`).
//!
//! Two brakes sit between what the metrics ask for and the new replica
//! count:
//!
//! - the **stabilization window**: the recommendation is the *highest* of
//!   the recent recommendations on the way down (the *lowest* on the way
//!   up), so a dip in load for a minute does not drop pods that the next
//!   minute needs again. The default window is 300 s down, 0 s up.
//! - the **policies**: at most so many pods (`Pods`) or so many percent
//!   (`Percent`) per `periodSeconds`, counted from the replicas at the
//!   start of the period; `selectPolicy` picks the policy that allows the
//!   most change (`Max`, the default), the least (`Min`), or none
//!   (`Disabled`).
//!
//! The controller keeps the history each HPA needs (its recommendations,
//! its recent scale events) in memory, as kube-controller-manager does: a
//! restarted controller starts with empty windows.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// One direction's rules (`behavior.scaleUp` or `behavior.scaleDown`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// How far back recommendations are remembered.
    pub stabilization_seconds: i64,
    /// `Max`, `Min` or `Disabled`.
    pub select: Select,
    /// The policies, each a limit per period.
    pub policies: Vec<Policy>,
}

/// Which policy wins when several allow different changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The one that allows the most change (the default).
    Max,
    /// The one that allows the least.
    Min,
    /// No change at all in this direction.
    Disabled,
}

/// At most `value` pods or percent per `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Whether `value` counts pods or percent.
    pub kind: PolicyKind,
    /// The limit.
    pub value: i64,
    /// The period the limit applies to.
    pub period_seconds: i64,
}

/// What a policy's `value` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A number of pods.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

impl Rules {
    /// Kubernetes' default scale-up rules: no window; per 15 s, the more
    /// of +4 pods and +100%.
    pub fn default_up() -> Rules {
        Rules {
            stabilization_seconds: 0,
            select: Select::Max,
            policies: vec![
                Policy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period_seconds: 15,
                },
                Policy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_seconds: 15,
                },
            ],
        }
    }

    /// Kubernetes' default scale-down rules: a 300 s window; then up to
    /// 100% per 15 s.
    pub fn default_down() -> Rules {
        Rules {
            stabilization_seconds: 300,
            select: Select::Max,
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 100,
                period_seconds: 15,
            }],
        }
    }

    /// The rules at `behavior.<direction>`, the defaults filling whatever
    /// is missing (the API server fills them on write; an HPA without any
    /// `behavior` gets the defaults whole).
    pub fn from_spec(rules: Option<&Value>, defaults: Rules) -> Rules {
        let Some(rules) = rules.filter(|r| r.is_object()) else {
            return defaults;
        };
        let select = match rules["selectPolicy"].as_str() {
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            Some("Max") => Select::Max,
            _ => defaults.select,
        };
        let policies: Vec<Policy> = rules["policies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(Policy {
                    kind: match p["type"].as_str()? {
                        "Pods" => PolicyKind::Pods,
                        "Percent" => PolicyKind::Percent,
                        _ => return None,
                    },
                    value: p["value"].as_i64()?,
                    period_seconds: p["periodSeconds"].as_i64()?,
                })
            })
            .collect();
        Rules {
            stabilization_seconds: rules["stabilizationWindowSeconds"]
                .as_i64()
                .unwrap_or(defaults.stabilization_seconds),
            select,
            policies: if policies.is_empty() {
                defaults.policies
            } else {
                policies
            },
        }
    }
}

/// What the controller remembers of one HPA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Each reconcile's recommendation (before the brakes), with its time.
    pub recommendations: Vec<(Timestamp, i64)>,
    /// Each scale-up: when, and by how many pods.
    pub ups: Vec<(Timestamp, i64)>,
    /// Each scale-down: when, and by how many pods.
    pub downs: Vec<(Timestamp, i64)>,
}

/// A condition's reason and message, as the controller reports it.
pub type Reason = (&'static str, &'static str);

/// What the brakes made of a recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Normalized {
    /// The replicas after the stabilization window.
    pub stabilized: i64,
    /// The replicas after the policies and the bounds: what to scale to.
    pub replicas: i64,
    /// For `ScalingLimited`: which limit decided, if any.
    pub limit: Reason,
}

/// The bounds and the current count a normalization works within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// `spec.minReplicas`.
    pub min: i64,
    /// `spec.maxReplicas`.
    pub max: i64,
    /// The target's current `spec.replicas`.
    pub current: i64,
}

// ANCHOR: normalize
/// Applies the window and the policies to `desired`, and remembers the
/// recommendation in `history`.
pub fn normalize(
    history: &mut History,
    (up, down): (&Rules, &Rules),
    bounds: Bounds,
    desired: i64,
    now: Timestamp,
) -> Normalized {
    let stabilized = stabilize(history, (up, down), bounds.current, desired, now);
    let (replicas, limit) = limit_rate(history, (up, down), bounds, stabilized, now);
    Normalized {
        stabilized,
        replicas,
        limit,
    }
}
// ANCHOR_END: normalize

/// `now - seconds`.
fn cutoff(now: Timestamp, seconds: i64) -> Timestamp {
    now.checked_sub(SignedDuration::from_secs(seconds))
        .unwrap_or(Timestamp::MIN)
}

/// The stabilization window: no higher than the lowest recommendation of
/// the up window, no lower than the highest of the down window (Kubernetes'
/// `stabilizeRecommendationWithBehaviors`). Records `desired`, replacing
/// a record older than both windows.
fn stabilize(
    history: &mut History,
    (up, down): (&Rules, &Rules),
    current: i64,
    desired: i64,
    now: Timestamp,
) -> i64 {
    let up_cutoff = cutoff(now, up.stabilization_seconds);
    let down_cutoff = cutoff(now, down.stabilization_seconds);
    let (mut up_floor, mut down_ceiling) = (desired, desired);
    let mut old = None;
    for (i, &(at, recommended)) in history.recommendations.iter().enumerate() {
        if at > up_cutoff {
            up_floor = up_floor.min(recommended);
        }
        if at > down_cutoff {
            down_ceiling = down_ceiling.max(recommended);
        }
        if at < up_cutoff && at < down_cutoff {
            old = Some(i);
        }
    }
    match old {
        Some(i) => history.recommendations[i] = (now, desired),
        None => history.recommendations.push((now, desired)),
    }
    current.max(up_floor).min(down_ceiling)
}

/// The pods added (or removed) within the last `period` seconds.
fn changed_within(events: &[(Timestamp, i64)], period: i64, now: Timestamp) -> i64 {
    let since = cutoff(now, period);
    events
        .iter()
        .filter(|(at, _)| *at > since)
        .map(|(_, n)| n)
        .sum()
}

/// The most replicas the scale-up policies allow now (Kubernetes'
/// `calculateScaleUpLimitWithScalingRules`).
fn scale_up_limit(current: i64, ups: &[(Timestamp, i64)], rules: &Rules, now: Timestamp) -> i64 {
    let proposals = rules.policies.iter().map(|p| {
        let start = current - changed_within(ups, p.period_seconds, now);
        match p.kind {
            PolicyKind::Pods => start + p.value,
            PolicyKind::Percent => (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64,
        }
    });
    match rules.select {
        Select::Disabled => current,
        Select::Max => proposals.max().unwrap_or(current),
        Select::Min => proposals.min().unwrap_or(current),
    }
}

/// The fewest replicas the scale-down policies allow now (Kubernetes'
/// `calculateScaleDownLimitWithBehaviors`).
fn scale_down_limit(
    current: i64,
    downs: &[(Timestamp, i64)],
    rules: &Rules,
    now: Timestamp,
) -> i64 {
    let proposals = rules.policies.iter().map(|p| {
        let start = current + changed_within(downs, p.period_seconds, now);
        match p.kind {
            PolicyKind::Pods => start - p.value,
            PolicyKind::Percent => (start as f64 * (1.0 - p.value as f64 / 100.0)) as i64,
        }
    });
    match rules.select {
        Select::Disabled => current,
        // Most change down is the lowest count.
        Select::Max => proposals.min().unwrap_or(current),
        Select::Min => proposals.max().unwrap_or(current),
    }
}

/// The policies and the bounds (Kubernetes'
/// `convertDesiredReplicasWithBehaviorRate`), with the reason for
/// `ScalingLimited`.
fn limit_rate(
    history: &History,
    (up, down): (&Rules, &Rules),
    bounds: Bounds,
    desired: i64,
    now: Timestamp,
) -> (i64, Reason) {
    let current = bounds.current;
    if desired > current {
        let rate = scale_up_limit(current, &history.ups, up, now).max(current);
        let (allowed, reason) = if bounds.max > rate {
            (rate, SCALE_UP_LIMIT)
        } else {
            (bounds.max, TOO_MANY)
        };
        if desired > allowed {
            return (allowed, reason);
        }
    } else if desired < current {
        let rate = scale_down_limit(current, &history.downs, down, now).min(current);
        let (allowed, reason) = if bounds.min < rate {
            (rate, SCALE_DOWN_LIMIT)
        } else {
            (bounds.min, TOO_FEW)
        };
        if desired < allowed {
            return (allowed, reason);
        }
    }
    (desired, WITHIN_RANGE)
}

/// `ScalingLimited` False: nothing held the count back.
pub const WITHIN_RANGE: Reason = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
/// `ScalingLimited` True: held at `maxReplicas`.
pub const TOO_MANY: Reason = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
/// `ScalingLimited` True: held at `minReplicas`.
pub const TOO_FEW: Reason = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
/// `ScalingLimited` True: a scale-up policy held it back.
pub const SCALE_UP_LIMIT: Reason = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
/// `ScalingLimited` True: a scale-down policy held it back.
pub const SCALE_DOWN_LIMIT: Reason = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);

/// Remembers a rescale from `from` to `to` at `now`, forgetting events
/// older than the longest period any policy looks at.
pub fn record_scale(
    history: &mut History,
    (up, down): (&Rules, &Rules),
    (from, to): (i64, i64),
    now: Timestamp,
) {
    let longest = |rules: &Rules| {
        rules
            .policies
            .iter()
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0)
    };
    let (events, rules, change) = if to > from {
        (&mut history.ups, up, to - from)
    } else {
        (&mut history.downs, down, from - to)
    };
    let since = cutoff(now, longest(rules));
    events.retain(|(at, _)| *at > since);
    events.push((now, change));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn bounds(current: i64) -> Bounds {
        Bounds {
            min: 1,
            max: 20,
            current,
        }
    }

    const DEFAULTS: fn() -> (Rules, Rules) = || (Rules::default_up(), Rules::default_down());

    #[test]
    fn scale_up_is_the_more_of_four_pods_or_double_per_period() {
        let (up, down) = DEFAULTS();
        let mut h = History::default();
        // From 1: 1+4 = 5 beats 2×1 = 2.
        let n = normalize(&mut h, (&up, &down), bounds(1), 10, at(0));
        assert_eq!((n.replicas, n.limit.0), (5, "ScaleUpLimit"));
        record_scale(&mut h, (&up, &down), (1, 5), at(0));
        // Within the same 15 s, counted from the period's start (1): still 5.
        let n = normalize(&mut h, (&up, &down), bounds(5), 10, at(5));
        assert_eq!(n.replicas, 5);
        // A period later, from 5: 2×5 = 10.
        let n = normalize(&mut h, (&up, &down), bounds(5), 12, at(20));
        assert_eq!((n.replicas, n.limit.0), (10, "ScaleUpLimit"));
        // maxReplicas caps it too.
        let n = normalize(
            &mut h,
            (&up, &down),
            Bounds {
                max: 6,
                ..bounds(5)
            },
            12,
            at(40),
        );
        assert_eq!((n.replicas, n.limit.0), (6, "TooManyReplicas"));
    }

    #[test]
    fn scale_down_waits_for_the_window() {
        let (up, down) = DEFAULTS();
        let mut h = History::default();
        normalize(&mut h, (&up, &down), bounds(5), 5, at(0));
        // Load drops: the last 300 s held a 5, so stay at 5.
        let n = normalize(&mut h, (&up, &down), bounds(5), 1, at(60));
        assert_eq!((n.stabilized, n.replicas), (5, 5));
        // Past the window: down to 1 at once (100% per 15 s).
        let n = normalize(&mut h, (&up, &down), bounds(5), 1, at(301));
        assert_eq!(
            (n.stabilized, n.replicas, n.limit.0),
            (1, 1, "DesiredWithinRange")
        );
        // minReplicas holds.
        let n = normalize(
            &mut h,
            (&up, &down),
            Bounds {
                min: 2,
                ..bounds(5)
            },
            1,
            at(400),
        );
        assert_eq!((n.replicas, n.limit.0), (2, "TooFewReplicas"));
    }

    #[test]
    fn user_policies_and_select_policy() {
        let spec = serde_json::json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Min",
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60},
                         {"type": "Percent", "value": 50, "periodSeconds": 60}]});
        let down = Rules::from_spec(Some(&spec), Rules::default_down());
        let up = Rules::default_up();
        let mut h = History::default();
        // Min of (10-1, 10×0.5) allows the least change: 9.
        let n = normalize(&mut h, (&up, &down), bounds(10), 2, at(0));
        assert_eq!((n.replicas, n.limit.0), (9, "ScaleDownLimit"));
        record_scale(&mut h, (&up, &down), (10, 9), at(0));
        // The minute is not over: counted from 10, 9 is all it allows.
        let n = normalize(&mut h, (&up, &down), bounds(9), 2, at(30));
        assert_eq!(n.replicas, 9);
        let disabled = Rules {
            select: Select::Disabled,
            ..Rules::default_up()
        };
        let n = normalize(&mut h, (&disabled, &down), bounds(9), 12, at(90));
        assert_eq!(n.replicas, 9);
    }
}
