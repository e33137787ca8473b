//! Leader election on a `coordination.k8s.io/v1` Lease: how several copies
//! of a component agree that exactly one of them acts (client-go's
//! `leaderelection` with a `LeaseLock`, as kube-scheduler and
//! kube-controller-manager use it).
//!
//! The Lease is the lock. Its `spec.holderIdentity` names the leader, and
//! the leader writes `spec.renewTime` every retry period. Every candidate
//! reads the Lease just as often:
//!
//! - no Lease: create it, naming itself (only one create can win);
//! - held by another, and the record changed within the last
//!   `leaseDurationSeconds` *as this candidate observed it*: wait;
//! - held by itself, or by another whose record has not changed for a
//!   whole lease duration: write itself in, with a compare-and-swap on the
//!   Lease's resourceVersion, so two candidates cannot both take it.
//!
//! Expiry is measured on the candidate's own clock, from when it saw the
//! record change, never by comparing `renewTime` with its clock: the
//! machines' clocks need not agree. A leader that cannot renew for
//! `renew_deadline` (shorter than the lease duration) stops leading
//! before anyone else may start: two leaders never overlap, provided the
//! clocks run at the same *rate*.
//!
//! [`step`] is the decision, pure; [`LeaderElection`] the loop around it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::resources::{Resource, lookup};
use crate::time::{format_micro, parse};
use crate::{Client, ClientError};

/// What the Lease says, as a candidate compares it between two reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub holder: String,
    pub lease_duration_seconds: i64,
    pub acquire_time: Option<String>,
    pub renew_time: Option<String>,
    pub transitions: i64,
}

impl Record {
    /// The `spec` of a Lease.
    pub fn of(lease: &Value) -> Record {
        let spec = &lease["spec"];
        let text = |k: &str| spec.get(k).and_then(Value::as_str).map(String::from);
        Record {
            holder: text("holderIdentity").unwrap_or_default(),
            lease_duration_seconds: spec
                .get("leaseDurationSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            acquire_time: text("acquireTime"),
            renew_time: text("renewTime"),
            transitions: spec
                .get("leaseTransitions")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        }
    }
}

/// What a candidate does after reading the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Someone else holds a live lease.
    Wait,
    /// Write ourselves in: renewing our own lease, or taking over an
    /// expired (or released) one, which counts a transition.
    Write { takeover: bool },
}

// ANCHOR: step
/// The decision, given the Lease's record, when this candidate last saw
/// it change, and the time now (both on the candidate's clock).
pub fn step(record: &Record, me: &str, changed_at: Instant, now: Instant) -> Step {
    if record.holder == me {
        return Step::Write { takeover: false };
    }
    let lease = Duration::from_secs(record.lease_duration_seconds.max(0) as u64);
    if !record.holder.is_empty() && changed_at + lease > now {
        return Step::Wait;
    }
    Step::Write { takeover: true }
}
// ANCHOR_END: step

/// One election: which Lease, who we are, and the timings (client-go's
/// `LeaderElectionConfig`).
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub client: Client,
    /// Where the Lease lives (`kube-system` for the control plane's).
    pub namespace: String,
    /// The Lease's name: the component's (`kube-scheduler`).
    pub name: String,
    /// This candidate: `hostname_random`, unique per process.
    pub identity: String,
    pub timings: Timings,
    /// Whether this candidate leads right now: what client-go reports as
    /// `leader_election_master_status` (1 leading, 0 standing by). Shared
    /// so a `/metrics` handler can read it while [`LeaderElection::lead`]
    /// runs.
    pub leading: Arc<AtomicBool>,
}

/// Sets a leading flag for as long as it lives.
struct Leading<'a>(&'a AtomicBool);

impl<'a> Leading<'a> {
    fn start(flag: &'a AtomicBool) -> Leading<'a> {
        flag.store(true, Ordering::Relaxed);
        Leading(flag)
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// How long a lease lasts and how often it is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a lease holds without renewal (Kubernetes: 15 s; whole
    /// seconds, as the Lease stores it).
    pub lease_duration: Duration,
    /// How long a leader keeps trying to renew before it gives up
    /// (Kubernetes: 10 s); shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often candidates read and leaders renew (Kubernetes: 2 s).
    pub retry_period: Duration,
}

impl Default for Timings {
    /// kube-scheduler's and kube-controller-manager's defaults.
    fn default() -> Timings {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The Lease row of the resource table.
fn leases() -> &'static Resource {
    lookup("coordination.k8s.io", "v1", "leases").expect("leases are in the resource table")
}

impl LeaderElection {
    /// A candidate for the Lease `namespace/name`.
    pub fn new(client: Client, namespace: &str, name: &str, timings: Timings) -> LeaderElection {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        LeaderElection {
            client,
            namespace: namespace.into(),
            name: name.into(),
            identity: format!("{host}_{}", crate::names::random_suffix()),
            timings,
            leading: Arc::new(AtomicBool::new(false)),
        }
    }

    // ANCHOR: lead
    /// Waits until this candidate leads, then runs `work` for as long as
    /// it keeps the lease. Returns when the lease is lost (or `work`
    /// ends): a component then stops acting, as kube-scheduler exits.
    pub async fn lead<F: Future<Output = ()>>(&self, work: F) {
        let mut seen: Option<(Record, Instant)> = None;
        // Candidate: try every retry period until the lease is ours.
        while !self.try_acquire_or_renew(&mut seen).await {
            tokio::time::sleep(self.timings.retry_period).await;
        }
        tracing::info!(lease = %self.name, identity = %self.identity, "leading");
        // Cleared when this returns or is dropped mid-way.
        let _leading = Leading::start(&self.leading);
        tokio::select! {
            () = work => {}
            () = self.renew(&mut seen) => {
                tracing::error!(lease = %self.name, identity = %self.identity,
                    "leadership lost: stopping");
            }
        }
    }
    // ANCHOR_END: lead

    /// Renews every retry period; returns once renewing has failed for
    /// the whole renew deadline.
    async fn renew(&self, seen: &mut Option<(Record, Instant)>) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.timings.retry_period).await;
            if self.try_acquire_or_renew(seen).await {
                last_renewed = Instant::now();
            } else if last_renewed.elapsed() >= self.timings.renew_deadline {
                return;
            }
        }
    }

    /// One read of the Lease and, if [`step`] says so, one write; whether
    /// this candidate now holds it.
    async fn try_acquire_or_renew(&self, seen: &mut Option<(Record, Instant)>) -> bool {
        match self.attempt(seen).await {
            Ok(held) => held,
            Err(error) => {
                tracing::debug!(lease = %self.name, %error, "leader election attempt failed");
                false
            }
        }
    }

    async fn attempt(&self, seen: &mut Option<(Record, Instant)>) -> Result<bool, ClientError> {
        let now = Timestamp::now();
        let ns = Some(self.namespace.as_str());
        let current = match self.client.get(leases(), ns, &self.name).await {
            Ok(lease) => lease,
            Err(e) if e.is_not_found() => {
                let lease = self.lease(None, now, true);
                return match self.client.create(leases(), ns, &lease).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.is_conflict() || e.code() == Some(409) => Ok(false),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let record = Record::of(&current);
        let changed_at = match seen.take() {
            Some((old, at)) if old == record => at,
            _ => Instant::now(),
        };
        *seen = Some((record.clone(), changed_at));
        let takeover = match step(&record, &self.identity, changed_at, Instant::now()) {
            Step::Wait => return Ok(false),
            Step::Write { takeover } => takeover,
        };
        let mut lease = self.lease(Some(&record), now, takeover);
        lease["metadata"] = current["metadata"].clone();
        match self.client.update(leases(), ns, &lease).await {
            Ok(written) => {
                *seen = Some((Record::of(&written), Instant::now()));
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The Lease naming this candidate, renewed at `now`.
    fn lease(&self, old: Option<&Record>, now: Timestamp, takeover: bool) -> Value {
        let acquired = match old {
            Some(old) if !takeover => old.acquire_time.clone(),
            _ => None,
        };
        let transitions = match old {
            Some(old) if takeover => old.transitions + 1,
            Some(old) => old.transitions,
            None => 0,
        };
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.timings.lease_duration.as_secs().max(1),
                "acquireTime": acquired.unwrap_or_else(|| format_micro(now)),
                "renewTime": format_micro(now),
                "leaseTransitions": transitions,
            },
        })
    }
}

/// When the lease's current holder acquired it and last renewed it.
pub fn lease_times(lease: &Value) -> (Option<Timestamp>, Option<Timestamp>) {
    let record = Record::of(lease);
    (
        record.acquire_time.as_deref().and_then(parse),
        record.renew_time.as_deref().and_then(parse),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: &str) -> Record {
        Record {
            holder: holder.into(),
            lease_duration_seconds: 15,
            acquire_time: None,
            renew_time: None,
            transitions: 0,
        }
    }

    #[test]
    fn a_live_lease_is_waited_for_and_an_expired_one_taken() {
        let t0 = Instant::now();
        let later = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            step(&record("me"), "me", t0, later(100)),
            Step::Write { takeover: false }
        );
        assert_eq!(step(&record("other"), "me", t0, later(14)), Step::Wait);
        assert_eq!(
            step(&record("other"), "me", t0, later(15)),
            Step::Write { takeover: true }
        );
        // Released (no holder): taken at once.
        assert_eq!(
            step(&record(""), "me", t0, t0),
            Step::Write { takeover: true }
        );
    }
}
