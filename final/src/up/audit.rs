//! The API server's audit flags as `orc up` takes them and passes them
//! on to `orc server` (chapter 03, "Auditing"): where the log goes, which
//! policy, and whether requests wait for their events.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use orc_apiserver::audit::sink::Mode;

/// `--audit-log-path`, `--audit-policy-file`, `--audit-log-mode`.
#[derive(Args, Debug)]
pub struct AuditFlags {
    /// Where the API server's audit log goes (default:
    /// <data-dir>/audit.log; `-`: the server's own log).
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,
    /// The audit policy, Kubernetes' audit.k8s.io/v1 Policy (default:
    /// orc's, written to <data-dir>/server/audit-policy.yaml).
    #[arg(long)]
    pub audit_policy_file: Option<PathBuf>,
    /// The API server's --audit-log-mode: blocking (each request waits
    /// until its events are written), blocking-strict (and fails when its
    /// first event cannot be), batch (queued; dropped and counted when the
    /// queue is full).
    #[arg(long, value_enum, default_value = "blocking")]
    pub audit_log_mode: Mode,
}

impl AuditFlags {
    /// `--audit-log-mode`, as `orc server` takes it: always passed, so the
    /// server runs the mode `orc up` was told, default or given.
    pub fn mode_flag(&self) -> String {
        let name = self
            .audit_log_mode
            .to_possible_value()
            .map(|value| value.get_name().to_string())
            .unwrap_or_default();
        format!("--audit-log-mode={name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Up {
        #[command(flatten)]
        audit: AuditFlags,
    }

    /// The mode `orc server` would run with the flag `orc up` passes on.
    fn server_sees(flag: String) -> Mode {
        #[derive(Parser)]
        struct Server {
            #[command(flatten)]
            audit: orc_apiserver::audit::AuditFlags,
        }
        Server::try_parse_from(["server".to_string(), flag])
            .unwrap()
            .audit
            .audit_log_mode
    }

    #[test]
    fn every_mode_reaches_the_server_unchanged() {
        for mode in ["batch", "blocking", "blocking-strict"] {
            let up = Up::try_parse_from(["up", "--audit-log-mode", mode]).unwrap();
            assert_eq!(server_sees(up.audit.mode_flag()), up.audit.audit_log_mode);
        }
        let up = Up::try_parse_from(["up", "--audit-log-mode=batch"]).unwrap();
        assert_eq!(server_sees(up.audit.mode_flag()), Mode::Batch);
    }

    #[test]
    fn the_default_is_the_servers_own() {
        let up = Up::try_parse_from(["up"]).unwrap();
        let default = orc_apiserver::audit::AuditFlags::default().audit_log_mode;
        assert_eq!(up.audit.audit_log_mode, default);
        assert_eq!(server_sees(up.audit.mode_flag()), default);
    }
}
