//! A Job's fields, read through one typed view ([`Job`]) so each path and
//! its default is written once, and the names the Job controller writes
//! on pods.

use jiff::Timestamp;
use orc_client::time;
use serde_json::Value;

/// The finalizer on every pod a Job creates: the pod cannot vanish before
/// the controller has counted it in the Job's status (Kubernetes' "job
/// tracking with finalizers").
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The annotation (and label) carrying an Indexed Job pod's index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The variable an Indexed Job's containers find their index in.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// A Job, as the controller reads it.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a>(pub &'a Value);

impl<'a> Job<'a> {
    fn int(&self, pointer: &str) -> Option<i64> {
        self.0.pointer(pointer).and_then(Value::as_i64)
    }

    /// `spec.completions`; None for a work queue (any success completes it).
    pub fn completions(&self) -> Option<i64> {
        self.int("/spec/completions")
    }

    /// `spec.parallelism`: the most pods running at once.
    pub fn parallelism(&self) -> i64 {
        self.int("/spec/parallelism").unwrap_or(1)
    }

    /// `spec.backoffLimit`: failures tolerated before the Job fails.
    pub fn backoff_limit(&self) -> i64 {
        self.int("/spec/backoffLimit").unwrap_or(6)
    }

    /// `spec.activeDeadlineSeconds`.
    pub fn active_deadline(&self) -> Option<i64> {
        self.int("/spec/activeDeadlineSeconds")
    }

    /// `spec.ttlSecondsAfterFinished`.
    pub fn ttl_after_finished(&self) -> Option<i64> {
        self.int("/spec/ttlSecondsAfterFinished")
    }

    /// `completionMode: Indexed`.
    pub fn indexed(&self) -> bool {
        self.0.pointer("/spec/completionMode") == Some(&Value::from("Indexed"))
    }

    /// `spec.suspend`.
    pub fn suspended(&self) -> bool {
        self.0.pointer("/spec/suspend") == Some(&Value::Bool(true))
    }

    /// The template's `restartPolicy` is `OnFailure`: the kubelet restarts
    /// failed containers in place, and their restarts count as failures.
    pub fn restarts_in_place(&self) -> bool {
        self.0.pointer("/spec/template/spec/restartPolicy") == Some(&Value::from("OnFailure"))
    }

    /// `spec.podFailurePolicy.rules`.
    pub fn failure_rules(&self) -> &'a [Value] {
        self.0
            .pointer("/spec/podFailurePolicy/rules")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// `spec.template`.
    pub fn template(&self) -> &'a Value {
        self.0.pointer("/spec/template").unwrap_or(&Value::Null)
    }

    /// `status.startTime`.
    pub fn start_time(&self) -> Option<Timestamp> {
        time::at(self.0, "/status/startTime")
    }

    /// `status.succeeded`, `status.failed` as counted so far.
    pub fn counted(&self) -> (i64, i64) {
        (
            self.int("/status/succeeded").unwrap_or(0),
            self.int("/status/failed").unwrap_or(0),
        )
    }

    /// The uids in `status.uncountedTerminatedPods.<which>`.
    pub fn uncounted(&self, which: &str) -> Vec<&'a str> {
        self.0
            .pointer(&format!("/status/uncountedTerminatedPods/{which}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// The condition of `kind` if its status is `True`.
    pub fn condition(&self, kind: &str) -> Option<&'a Value> {
        self.conditions()
            .iter()
            .find(|c| c["type"] == kind && c["status"] == "True")
    }

    /// `status.conditions`.
    pub fn conditions(&self) -> &'a [Value] {
        self.0
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The Job has its terminal condition, `Complete` or `Failed`, and
    /// when it got it.
    pub fn finished_at(&self) -> Option<Timestamp> {
        let done = self.condition("Complete").or(self.condition("Failed"))?;
        Some(time::at(done, "/lastTransitionTime").unwrap_or(Timestamp::UNIX_EPOCH))
    }

    /// `status.completedIndexes` (`"0-2,5"`).
    pub fn completed_indexes(&self) -> &'a str {
        self.0
            .pointer("/status/completedIndexes")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}
