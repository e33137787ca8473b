//! The actual state: what the runtime runs, grouped by pod.
//!
//! The agent keeps no list of "pods I started". Every sync it asks the
//! runtime for all containers and groups them by the annotations it put on
//! them ([`crate::sandbox::POD_UID`] and friends). That is what makes an
//! agent restart harmless: the new agent observes exactly what the old one
//! left, and the same decisions follow.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use orc_container::state::{State, Status};

use super::sync::{ObservedContainer, ObservedPod, ObservedSandbox, RunState};
use crate::sandbox::{ATTEMPT, CONTAINER_NAME, POD_UID, SANDBOX_NAME};
use crate::shim;

/// Groups the runtime's containers by pod uid. Containers without orc's
/// annotations are someone else's and are left out.
pub fn observe(containers: &[State], now: Timestamp) -> BTreeMap<String, ObservedPod> {
    let mut pods: BTreeMap<String, ObservedPod> = BTreeMap::new();
    // Sorted by attempt, so that the latest run of each name comes last.
    let mut sorted: Vec<(&State, u32)> = containers
        .iter()
        .filter_map(|s| Some((s, s.annotations.get(ATTEMPT)?.parse().ok()?)))
        .collect();
    sorted.sort_by_key(|(_, attempt)| *attempt);
    for (state, attempt) in sorted {
        let (Some(uid), Some(name)) = (
            state.annotations.get(POD_UID),
            state.annotations.get(CONTAINER_NAME),
        ) else {
            continue;
        };
        let pod = pods.entry(uid.clone()).or_default();
        if name == SANDBOX_NAME {
            let sandbox = ObservedSandbox {
                id: state.id.clone(),
                pid: state.pid,
                running: state.status == Status::Running,
            };
            if let Some(old) = pod.sandbox.replace(sandbox) {
                pod.stale.push(old.id);
            }
            continue;
        }
        let run = ObservedContainer {
            id: state.id.clone(),
            attempt,
            state: run_state(state, now),
        };
        if let Some(old) = pod.containers.insert(name.clone(), run) {
            pod.stale.push(old.id);
        }
    }
    pods
}

/// A container's run state from the runtime's status and the shim's files.
pub fn run_state(state: &State, now: Timestamp) -> RunState {
    let bundle = &state.bundle;
    match state.status {
        Status::Created => RunState::Created,
        Status::Running => RunState::Running {
            started_at: shim::read_started(bundle).unwrap_or(now),
        },
        Status::Stopped => match shim::read_exit(bundle) {
            Some(exit) => RunState::Exited {
                exit_code: exit.exit_code,
                oom_killed: exit.oom_killed,
                started_at: shim::read_started(bundle),
                finished_at: exit.finished_at,
            },
            // The process is gone but its shim has not written the record
            // yet: report it running for one more sync, unless the shim is
            // gone too (killed), in which case the exit code is lost.
            None if shim_alive(bundle) => RunState::Running {
                started_at: shim::read_started(bundle).unwrap_or(now),
            },
            None => RunState::Exited {
                exit_code: 255,
                oom_killed: state.oom_killed,
                started_at: shim::read_started(bundle),
                finished_at: now,
            },
        },
    }
}

/// Whether the shim of the run in `bundle` still runs (it wrote its pid).
fn shim_alive(bundle: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(bundle.join("shim.pid")) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    // Signal 0 checks existence; a zombie shim (exited, not yet reaped)
    // still counts, but its record is then already written.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}
