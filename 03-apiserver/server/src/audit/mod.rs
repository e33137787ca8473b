//! The audit log: who did what, when, and what the server answered, one
//! JSON line per request stage, as kube-apiserver's `--audit-log-path`
//! writes it.
//!
//! A policy (`--audit-policy-file`, Kubernetes' `audit.k8s.io/v1`
//! `Policy`) says how much of each request to record: nothing, its
//! metadata, its body, or its body and the answer's. Each request gets an
//! audit ID (a UUID, returned to the client as the `Audit-ID` header), and
//! events at up to three stages: `RequestReceived` once its user is known,
//! `ResponseStarted` for a watch or stream once its headers are sent, and
//! `ResponseComplete` (or `Panic`). Authentication and authorization add
//! what they learn (the user, the impersonated user, the decision and its
//! reason) to the request's [`Context`]; a 401 is recorded too, without a
//! user, as Kubernetes records it. See chapter 03, "The audit log".
//!
//! Layout:
//! - [`policy`]: the Policy file, checked, and the level of a request (pure).
//! - [`event`]: the `Event` written, with Kubernetes' field names (pure helpers).
//! - [`middleware`]: the layer around every route, and the [`Context`]
//!   the other layers fill in.
//! - [`sink`]: a bounded queue to a writer thread; full: dropped and counted.
//! - [`log_file`]: the file, 0600, rotated as lumberjack rotates it.

pub mod event;
pub mod log_file;
pub mod middleware;
pub mod policy;
pub mod sink;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use middleware::Context;
pub use policy::{Level, Policy, Stage};

/// What `run` needs to audit: the policy file and where to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub policy_file: PathBuf,
    pub destination: sink::Destination,
}

/// The audit flags, named as kube-apiserver names them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditFlags {
    /// Kubernetes' audit Policy (audit.k8s.io/v1): which requests are
    /// recorded, at which level. Without it nothing is audited (for `orc
    /// server`: a default policy in its data directory).
    #[arg(long)]
    pub audit_policy_file: Option<PathBuf>,
    /// Where the audit log is written, one JSON event per line; `-` for
    /// stdout.
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,
    /// Remove rotated audit logs older than this many days (0: never).
    #[arg(long, default_value_t = 0)]
    pub audit_log_maxage: u64,
    /// Keep at most this many rotated audit logs (0: all).
    #[arg(long, default_value_t = 0)]
    pub audit_log_maxbackup: usize,
    /// Rotate the audit log before it passes this many megabytes (0: 100).
    #[arg(long, default_value_t = 0)]
    pub audit_log_maxsize: u64,
}

impl AuditFlags {
    /// The configuration these flags name, given a policy file and a log
    /// path (`None` when either is missing: no audit log, as
    /// kube-apiserver does without both).
    pub fn config(&self) -> Option<AuditConfig> {
        let policy_file = self.audit_policy_file.clone()?;
        let path = self.audit_log_path.clone()?;
        Some(AuditConfig {
            policy_file,
            destination: self.destination(&path),
        })
    }

    /// Where `path` (or `-`) is, with these flags' rotation.
    pub fn destination(&self, path: &Path) -> sink::Destination {
        if path == Path::new("-") {
            return sink::Destination::Stdout;
        }
        let max_size = match self.audit_log_maxsize {
            0 => log_file::DEFAULT_MAX_SIZE,
            mb => mb.saturating_mul(1024 * 1024),
        };
        sink::Destination::File(
            path.to_path_buf(),
            log_file::Rotation {
                max_size,
                max_backups: self.audit_log_maxbackup,
                max_age: (self.audit_log_maxage > 0)
                    .then(|| Duration::from_secs(self.audit_log_maxage * 86_400)),
            },
        )
    }
}

/// Why auditing could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("reading the audit policy file {path:?}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "audit policy file {path:?}: {error} (see `orc server --help`, --audit-policy-file, and chapter 03's audit section)"
    )]
    Policy {
        path: PathBuf,
        error: policy::PolicyError,
    },
    #[error("opening the audit log {path:?}: {error} (choose another with --audit-log-path)")]
    Log {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A policy and the sink its events go to: what the middleware asks.
pub struct Auditor {
    pub policy: Policy,
    pub sink: sink::Sink,
}

impl Auditor {
    /// Reads the policy and opens the log.
    pub fn start(config: &AuditConfig) -> Result<Auditor, AuditError> {
        let path = &config.policy_file;
        let text = std::fs::read_to_string(path).map_err(|error| AuditError::Read {
            path: path.clone(),
            error,
        })?;
        let policy = Policy::parse(&text).map_err(|error| AuditError::Policy {
            path: path.clone(),
            error,
        })?;
        let sink = sink::Sink::start(&config.destination, sink::CAPACITY).map_err(|error| {
            AuditError::Log {
                path: match &config.destination {
                    sink::Destination::File(path, _) => path.clone(),
                    sink::Destination::Stdout => "-".into(),
                },
                error,
            }
        })?;
        Ok(Auditor { policy, sink })
    }
}

// ANCHOR: default_policy
/// The policy `orc server` and `orc up` write when given none: nothing
/// for health checks, Events and nodes' Lease heartbeats (noise, and the
/// heartbeats are one write per node every ten seconds); only metadata
/// for Secrets, ConfigMaps, tokens and TokenReviews (their bodies are
/// credentials); the body of every other write; metadata for the rest.
pub const DEFAULT_POLICY: &str = r#"# orc's default audit policy (Kubernetes' audit.k8s.io/v1 Policy).
# The first rule that matches a request decides its level.
apiVersion: audit.k8s.io/v1
kind: Policy
# Each request once it is answered (and once more when a watch starts).
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"]
  - level: None
    resources:
      - {group: "", resources: [events]}
      - {group: events.k8s.io, resources: [events]}
  - level: None
    userGroups: ["system:nodes"]
    verbs: [get, update, patch]
    resources: [{group: coordination.k8s.io, resources: [leases]}]
  - level: Metadata
    resources:
      - {group: "", resources: [secrets, configmaps, serviceaccounts/token]}
      - {group: authentication.k8s.io, resources: [tokenreviews]}
  - level: Request
    verbs: [create, update, patch, delete, deletecollection]
  - level: Metadata
"#;
// ANCHOR_END: default_policy

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_and_keeps_secrets_bodies_out() {
        let policy = Policy::parse(DEFAULT_POLICY).unwrap();
        let admin = crate::authn::UserInfo::authenticated("admin", "", &["system:masters"]);
        let create = |path: &str| crate::authz::request_info::request_info("POST", path, &[]);
        let level = |path: &str| policy.decide(Some(&admin), &create(path)).level;
        assert_eq!(level("/api/v1/namespaces/d/secrets"), Level::Metadata);
        assert_eq!(level("/api/v1/namespaces/d/pods"), Level::Request);
        assert_eq!(level("/api/v1/namespaces/d/events"), Level::None);
    }

    #[test]
    fn flags_name_kubernetes_sizes() {
        let flags = AuditFlags {
            audit_log_maxsize: 2,
            audit_log_maxbackup: 3,
            audit_log_maxage: 1,
            ..AuditFlags::default()
        };
        let sink::Destination::File(_, rotation) = flags.destination(Path::new("/a.log")) else {
            panic!("a file");
        };
        assert_eq!(rotation.max_size, 2 * 1024 * 1024);
        assert_eq!(rotation.max_backups, 3);
        assert_eq!(rotation.max_age, Some(Duration::from_secs(86_400)));
        assert_eq!(flags.destination(Path::new("-")), sink::Destination::Stdout);
    }
}
