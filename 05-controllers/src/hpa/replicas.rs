//! How many replicas one metric asks for: Kubernetes' replica calculator
//! (`pkg/controller/podautoscaler/replica_calculator.go`), pure (lab 05).
//!
//! The rule is a proportion: if the pods use three times what they should,
//! three times as many pods would each use what they should. So
//! `desired = ceil(ready pods × usage / target)`. Three refinements keep it
//! from flapping or over-reacting:
//!
//! - a **tolerance**: within 10% of the target, nothing changes;
//! - pods **without a metric** count as using nothing on a scale-up and
//!   their whole request (or the target, if higher) on a scale-down, so a
//!   missing number can only damp a change, never cause one;
//! - pods **not yet ready** (still starting, whose CPU is busy with start-up
//!   work) count as using nothing, and only on a scale-up.
//!
//! The chapter works an example through: `chapters/src/05-controllers.md`,
//! "Autoscaling".

/// Within this fraction of the target nothing changes: the default of
/// Kubernetes' `--horizontal-pod-autoscaler-tolerance`.
pub const TOLERANCE: f64 = 0.1;

/// One pod, as the calculator sees it: its state, its request and what
/// the metrics API said it used (milli-units: millicores for CPU,
/// thousandths of a byte for memory, as Kubernetes counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodSample {
    /// Whether the pod counts at all, and how.
    pub state: PodState,
    /// The sum of its containers' requests of the resource.
    pub request: i64,
    /// Its usage, or `None` when the metrics API did not report it.
    pub usage: Option<i64>,
}

/// Where a pod stands for the calculator (Kubernetes' `groupPods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    /// Running and ready: its usage is the signal.
    Ready,
    /// Pending, or its CPU is still warming up: counts as using nothing,
    /// and only when scaling up.
    NotReady,
    /// Failed or being deleted: left out entirely.
    Ignored,
}

/// What a metric is compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A percentage of the pods' requests (`averageUtilization`).
    Utilization(i64),
    /// An amount per pod, in milli-units (`averageValue`).
    AverageValue(i64),
}

/// What the calculator found: the replicas wanted, and what to report in
/// `status.currentMetrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// The replica count this metric asks for.
    pub replicas: i64,
    /// The ready pods' usage as a percentage of their requests (for a
    /// `Utilization` target; 0 otherwise).
    pub utilization: i64,
    /// The ready pods' average usage, in milli-units.
    pub average: i64,
}

/// Why no count could be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalculationError {
    /// The selector matched no pod.
    NoPods,
    /// No ready pod had a metric (Kubernetes' words).
    NoMetrics,
    /// A `Utilization` target, but the pods request none of the resource.
    NoRequests,
}

impl std::fmt::Display for CalculationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CalculationError::NoPods => {
                "no pods returned by selector while calculating replica count"
            }
            CalculationError::NoMetrics => {
                "did not receive metrics for targeted pods (pods might be unready)"
            }
            CalculationError::NoRequests => "no metrics returned matched known pods",
        })
    }
}

/// The sums of one group of pods: usage and requests, and how many.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    usage: i64,
    request: i64,
    pods: i64,
}

impl Sums {
    fn add(&mut self, usage: i64, request: i64) {
        self.usage += usage;
        self.request += request;
        self.pods += 1;
    }

    /// The usage ratio to `target` and what to report (utilization %,
    /// average): Kubernetes' `GetResourceUtilizationRatio` and
    /// `GetMetricUsageRatio`. The utilization is rounded down to a whole
    /// percent first, as Kubernetes does, and the ratio taken from that.
    fn ratio(&self, target: Target) -> Result<(f64, i64, i64), CalculationError> {
        if self.pods == 0 {
            return Err(CalculationError::NoMetrics);
        }
        let average = self.usage / self.pods;
        match target {
            Target::Utilization(percent) => {
                if self.request == 0 {
                    return Err(CalculationError::NoRequests);
                }
                let utilization = self.usage * 100 / self.request;
                Ok((utilization as f64 / percent as f64, utilization, average))
            }
            Target::AverageValue(value) => Ok((average as f64 / value as f64, 0, average)),
        }
    }
}

/// The replicas one metric asks for, from `current` replicas and their
/// pods, with the default [`TOLERANCE`] (lab 05's exercise).
pub fn desired_replicas(
    current: i64,
    pods: &[PodSample],
    target: Target,
) -> Result<Proposal, CalculationError> {
    desired_replicas_within(current, pods, target, TOLERANCE)
}

// ANCHOR: desired_replicas
/// The replicas one metric asks for, from `current` replicas and their
/// pods, no change within `tolerance` of the target (Kubernetes'
/// `GetResourceReplicas` and `GetRawResourceReplicas`).
pub fn desired_replicas_within(
    current: i64,
    pods: &[PodSample],
    target: Target,
    tolerance: f64,
) -> Result<Proposal, CalculationError> {
    if pods.is_empty() {
        return Err(CalculationError::NoPods);
    }
    // First the signal: ready pods that reported a metric.
    let mut measured = Sums::default();
    for pod in pods.iter().filter(|p| p.state == PodState::Ready) {
        if let Some(usage) = pod.usage {
            measured.add(usage, pod.request);
        }
    }
    let (ratio, utilization, average) = measured.ratio(target)?;
    let report = |replicas| Proposal {
        replicas,
        utilization,
        average,
    };
    let missing = pods
        .iter()
        .filter(|p| p.state == PodState::Ready && p.usage.is_none());
    let not_ready = pods.iter().filter(|p| p.state == PodState::NotReady);
    let scale_up_with_not_ready = ratio > 1.0 && not_ready.clone().next().is_some();
    if !scale_up_with_not_ready && missing.clone().next().is_none() {
        // The plain proportion, unless within the tolerance.
        if (1.0 - ratio).abs() <= tolerance {
            return Ok(report(current));
        }
        return Ok(report((ratio * measured.pods as f64).ceil() as i64));
    }
    // Then the damping: assume what moves the result least.
    let mut assumed = measured;
    for pod in missing {
        let usage = match (ratio < 1.0, target) {
            // Scaling down: as if using its whole request (or the target).
            (true, Target::Utilization(percent)) => pod.request * percent.max(100) / 100,
            (true, Target::AverageValue(value)) => value,
            // Scaling up: as if idle.
            (false, _) => 0,
        };
        assumed.add(usage, pod.request);
    }
    if scale_up_with_not_ready {
        for pod in not_ready {
            assumed.add(0, pod.request);
        }
    }
    let (new_ratio, _, _) = assumed.ratio(target)?;
    // Within the tolerance now, or the assumptions reversed the direction:
    // no change.
    if (1.0 - new_ratio).abs() <= tolerance
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(report(current));
    }
    let replicas = (new_ratio * assumed.pods as f64).ceil() as i64;
    // Never a change against the direction the measured pods asked for.
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(report(current));
    }
    Ok(report(replicas))
}
// ANCHOR_END: desired_replicas

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(request: i64, usage: i64) -> PodSample {
        PodSample {
            state: PodState::Ready,
            request,
            usage: Some(usage),
        }
    }

    #[test]
    fn the_proportion_rounds_up() {
        // Two pods at 250% of a 50% target: ceil(2 × 5) = 10.
        let pods = [ready(100, 250), ready(100, 250)];
        let p = desired_replicas(2, &pods, Target::Utilization(50)).unwrap();
        assert_eq!((p.replicas, p.utilization, p.average), (10, 250, 250));
        // 3 pods at 20% of 50%: ceil(3 × 0.4) = 2.
        let pods = [ready(100, 20), ready(100, 20), ready(100, 20)];
        assert_eq!(
            desired_replicas(3, &pods, Target::Utilization(50))
                .unwrap()
                .replicas,
            2
        );
    }

    #[test]
    fn within_the_tolerance_nothing_changes() {
        let pods = [ready(100, 54), ready(100, 54)];
        assert_eq!(
            desired_replicas(2, &pods, Target::Utilization(50))
                .unwrap()
                .replicas,
            2
        );
        let pods = [ready(100, 56), ready(100, 56)];
        assert_eq!(
            desired_replicas(2, &pods, Target::Utilization(50))
                .unwrap()
                .replicas,
            3
        );
    }

    #[test]
    fn missing_and_not_ready_pods_damp_a_change() {
        let missing = PodSample {
            state: PodState::Ready,
            request: 100,
            usage: None,
        };
        let starting = PodSample {
            state: PodState::NotReady,
            request: 100,
            usage: Some(500),
        };
        // Scale-up: the missing pod counts as idle: (300 + 0)/200 = 150%
        // of 100% → ceil(1.5 × 2) = 3. With a starting pod as well, idle
        // too: 300/300 = 100%, within the tolerance: stay.
        let pods = [ready(100, 300), missing];
        assert_eq!(
            desired_replicas(2, &pods, Target::Utilization(100))
                .unwrap()
                .replicas,
            3
        );
        let pods = [ready(100, 300), missing, starting];
        assert_eq!(
            desired_replicas(3, &pods, Target::Utilization(100))
                .unwrap()
                .replicas,
            3
        );
        // Scale-down: the missing pod counts as using its request: (10 +
        // 100)/200 = 55% of 100% → ceil(0.55 × 2) = 2, not 1.
        let pods = [ready(100, 10), missing];
        assert_eq!(
            desired_replicas(2, &pods, Target::Utilization(100))
                .unwrap()
                .replicas,
            2
        );
        // A starting pod does not hold back a scale-down.
        let pods = [ready(100, 10), ready(100, 10), starting];
        assert_eq!(
            desired_replicas(3, &pods, Target::Utilization(100))
                .unwrap()
                .replicas,
            1
        );
    }

    #[test]
    fn average_values_and_errors() {
        let pods = [ready(0, 300), ready(0, 100)];
        let p = desired_replicas(2, &pods, Target::AverageValue(100)).unwrap();
        assert_eq!((p.replicas, p.average), (4, 200));
        assert_eq!(
            desired_replicas(1, &[], Target::Utilization(50)),
            Err(CalculationError::NoPods)
        );
        assert_eq!(
            desired_replicas(1, &[ready(0, 10)], Target::Utilization(50)),
            Err(CalculationError::NoRequests)
        );
        let ignored = PodSample {
            state: PodState::Ignored,
            request: 100,
            usage: Some(100),
        };
        assert_eq!(
            desired_replicas(1, &[ignored], Target::Utilization(50)),
            Err(CalculationError::NoMetrics)
        );
    }
}
