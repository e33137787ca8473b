//! kube-controller-manager's `--horizontal-pod-autoscaler-*` flags, for
//! `orc-controllers` and `orc server` (and through it `orc up`): they make
//! the controller's [`Tuning`].
//!
//! Durations are Go's (`15s`, `5m0s`, `1h30m`, `500ms`), as
//! kube-controller-manager prints and takes them; bare numbers are seconds.

use std::time::Duration;

use orc_pod::agent::clock::parse_duration;

use super::Tuning;

/// The HPA controller's loop period, tolerance, scale-down window and the
/// two start-up delays of CPU readings, as kube-controller-manager names
/// them.
#[derive(Debug, Clone, clap::Args)]
pub struct HpaFlags {
    /// How often every HorizontalPodAutoscaler is looked at again: the
    /// loop that reads metrics and scales (15s).
    #[arg(long, default_value = "15s", value_parser = period)]
    pub horizontal_pod_autoscaler_sync_period: Duration,
    /// The distance from the target, as a fraction of it, within which
    /// the autoscaler changes nothing (0.1: 10 %).
    #[arg(long, default_value_t = 0.1, value_parser = tolerance)]
    pub horizontal_pod_autoscaler_tolerance: f64,
    /// How long the autoscaler remembers its recommendations before it
    /// scales down to the lowest of them, for an HPA whose
    /// behavior.scaleDown sets no stabilizationWindowSeconds (5m0s).
    #[arg(long, default_value = "5m0s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_downscale_stabilization: Duration,
    /// A pod that turned unready within this long of starting is taken as
    /// not yet ready (30s).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_initial_readiness_delay: Duration,
    /// For this long after a pod starts, its CPU counts only when measured
    /// entirely while the pod was ready (5m0s).
    #[arg(long, default_value = "5m0s", value_parser = parse_duration)]
    pub horizontal_pod_autoscaler_cpu_initialization_period: Duration,
}

impl HpaFlags {
    /// The tuning the controller takes.
    pub fn tuning(&self) -> Tuning {
        Tuning {
            sync_period: self.horizontal_pod_autoscaler_sync_period,
            tolerance: self.horizontal_pod_autoscaler_tolerance,
            downscale_stabilization: self.horizontal_pod_autoscaler_downscale_stabilization,
            initial_readiness_delay: self.horizontal_pod_autoscaler_initial_readiness_delay,
            cpu_initialization_period: self.horizontal_pod_autoscaler_cpu_initialization_period,
        }
    }

    /// The same flags as arguments, for a program that starts another
    /// (`orc up` starting `orc server`). Durations in milliseconds, which
    /// lose nothing.
    pub fn to_args(&self) -> Vec<String> {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        vec![
            format!(
                "--horizontal-pod-autoscaler-sync-period={}",
                ms(self.horizontal_pod_autoscaler_sync_period)
            ),
            format!(
                "--horizontal-pod-autoscaler-tolerance={}",
                self.horizontal_pod_autoscaler_tolerance
            ),
            format!(
                "--horizontal-pod-autoscaler-downscale-stabilization={}",
                ms(self.horizontal_pod_autoscaler_downscale_stabilization)
            ),
            format!(
                "--horizontal-pod-autoscaler-initial-readiness-delay={}",
                ms(self.horizontal_pod_autoscaler_initial_readiness_delay)
            ),
            format!(
                "--horizontal-pod-autoscaler-cpu-initialization-period={}",
                ms(self.horizontal_pod_autoscaler_cpu_initialization_period)
            ),
        ]
    }
}

/// The loop period: a duration above zero (a zero period would spin).
fn period(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(format!(
            "{text:?}: the sync period must be above zero (15s is Kubernetes' default)"
        )),
        d => Ok(d),
    }
}

/// A tolerance: a fraction, 0 or more.
fn tolerance(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!(
            "{text:?} is not a tolerance: give a fraction of the target, 0 or more (0.1 is 10 %)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        flags: HpaFlags,
    }

    fn parse(args: &[&str]) -> Result<HpaFlags, String> {
        Command::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map(|c| c.flags)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_defaults_are_kubernetes_and_go_durations_parse() {
        assert_eq!(parse(&[]).unwrap().tuning(), Tuning::default());
        let set = parse(&[
            "--horizontal-pod-autoscaler-sync-period=1s",
            "--horizontal-pod-autoscaler-tolerance",
            "0.25",
            "--horizontal-pod-autoscaler-downscale-stabilization=1m30s",
            "--horizontal-pod-autoscaler-initial-readiness-delay=500ms",
            "--horizontal-pod-autoscaler-cpu-initialization-period=0s",
        ])
        .unwrap();
        let tuning = set.tuning();
        assert_eq!(
            tuning,
            Tuning {
                sync_period: Duration::from_secs(1),
                tolerance: 0.25,
                downscale_stabilization: Duration::from_secs(90),
                initial_readiness_delay: Duration::from_millis(500),
                cpu_initialization_period: Duration::ZERO,
            }
        );
        // What `orc up` passes on parses back to the same.
        let again: Vec<String> = set.to_args();
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        assert_eq!(parse(&again).unwrap().tuning(), tuning);
    }

    #[test]
    fn bad_values_say_what_to_give() {
        let error = parse(&["--horizontal-pod-autoscaler-tolerance=-1"]).unwrap_err();
        assert!(error.contains("0 or more (0.1 is 10 %)"), "{error}");
        let error = parse(&["--horizontal-pod-autoscaler-sync-period=0s"]).unwrap_err();
        assert!(error.contains("must be above zero"), "{error}");
        let error = parse(&["--horizontal-pod-autoscaler-downscale-stabilization=5q"]).unwrap_err();
        assert!(error.contains("expected a duration such as"), "{error}");
    }
}
