//! `/livez`, `/readyz` and `/healthz`: is this API server alive, and may
//! it be sent traffic?
//!
//! kube-apiserver answers each with a list of named checks. Plain, it
//! answers `ok` (200) or a failure (500); with `?verbose` it lists every
//! check as `[+]name ok` or `[-]name failed: reason`, then `livez check
//! passed` (or `failed`), which is what `kubectl get --raw='/readyz?verbose'`
//! prints. orc's checks:
//!
//! - `ping`: the server answers at all;
//! - `etcd`: etcd answers a read (an API server without its store can
//!   serve nothing: neither alive nor ready, as in Kubernetes);
//! - `etcd-alarms` (readiness only): etcd raised no alarm. With NOSPACE
//!   every write fails, so the server is alive (restarting it would not
//!   help) but not ready.
//!
//! The decision ([`report`]) is pure; [`probe`] runs the checks.

use std::time::Duration;

use axum::http::StatusCode;

use crate::storage::Store;

/// Which endpoint is asking: readiness checks more than liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/livez` and `/healthz` (the older name for both).
    Live,
    /// `/readyz`.
    Ready,
}

impl Probe {
    fn name(self) -> &'static str {
        match self {
            Probe::Live => "livez",
            Probe::Ready => "readyz",
        }
    }
}

/// One named check and its outcome (`Err` holds why it failed).
pub type Check = (&'static str, Result<(), String>);

/// How long etcd may take to answer a health read.
const ETCD_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the checks `probe` needs.
pub async fn probe(store: &Store, probe: Probe) -> Vec<Check> {
    let mut client = store.client();
    let reached = tokio::time::timeout(ETCD_TIMEOUT, store.current_revision()).await;
    let etcd = match reached {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("etcd did not answer within {ETCD_TIMEOUT:?}")),
    };
    let mut checks = vec![("ping", Ok(())), ("etcd", etcd)];
    if probe == Probe::Ready {
        let alarms = match tokio::time::timeout(
            ETCD_TIMEOUT,
            client.alarm(
                etcd_client::AlarmAction::Get,
                etcd_client::AlarmType::None,
                None,
            ),
        )
        .await
        {
            Ok(Ok(response)) => alarms_check(
                response
                    .alarms()
                    .iter()
                    .map(|a| a.alarm().as_str_name())
                    .collect(),
            ),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("etcd did not answer within {ETCD_TIMEOUT:?}")),
        };
        checks.push(("etcd-alarms", alarms));
    }
    checks
}

/// The `etcd-alarms` outcome for the alarms etcd lists (`NOSPACE`, ...).
pub fn alarms_check(alarms: Vec<&str>) -> Result<(), String> {
    if alarms.is_empty() {
        return Ok(());
    }
    let mut why = format!("etcd alarms raised: {}", alarms.join(", "));
    if alarms.contains(&"NOSPACE") {
        why.push_str(
            " (etcd is at its space quota and refuses writes: run \
             `orc etcd defrag --compact`)",
        );
    }
    Err(why)
}

/// The answer for `checks`: 200 when all passed, else 500; the body
/// `ok`, or with `verbose` (or on failure) one line per check, as
/// kube-apiserver writes them.
pub fn report(probe: Probe, checks: &[Check], verbose: bool) -> (StatusCode, String) {
    let passed = checks.iter().all(|(_, outcome)| outcome.is_ok());
    if passed && !verbose {
        return (StatusCode::OK, "ok".into());
    }
    let mut body = String::new();
    for (name, outcome) in checks {
        match outcome {
            Ok(()) => body.push_str(&format!("[+]{name} ok\n")),
            Err(why) => body.push_str(&format!("[-]{name} failed: {why}\n")),
        }
    }
    let verdict = if passed { "passed" } else { "failed" };
    body.push_str(&format!("{} check {verdict}\n", probe.name()));
    let code = if passed {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (code, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_lists_every_check_as_kubernetes_does() {
        let checks = [("ping", Ok(())), ("etcd", Ok(()))];
        let (code, body) = report(Probe::Ready, &checks, true);
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n");
        assert_eq!(
            report(Probe::Live, &checks, false),
            (StatusCode::OK, "ok".into())
        );
    }

    #[test]
    fn a_failed_check_is_a_500_that_names_it() {
        let checks = [("ping", Ok(())), ("etcd", Err("connection refused".into()))];
        let (code, body) = report(Probe::Live, &checks, false);
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            body.contains("[-]etcd failed: connection refused\n"),
            "{body}"
        );
        assert!(body.ends_with("livez check failed\n"), "{body}");
    }

    #[test]
    fn nospace_is_named_with_what_to_do() {
        assert_eq!(alarms_check(vec![]), Ok(()));
        let why = alarms_check(vec!["NOSPACE"]).unwrap_err();
        assert!(
            why.contains("NOSPACE") && why.contains("orc etcd defrag"),
            "{why}"
        );
    }
}
