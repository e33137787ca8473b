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
//! - [`sink`]: a bounded queue to a writer, in one of Kubernetes' three
//!   modes (`blocking`, `blocking-strict`, `batch`), and what each costs.
//! - [`log_file`]: the file, 0600, rotated as lumberjack rotates it.
//! - [`webhook`]: events POSTed as an `EventList` to a remote a kubeconfig
//!   names, in batches, retried after a back-off.

pub mod event;
pub mod log_file;
pub mod middleware;
pub mod policy;
pub mod sink;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use event::Event;
pub use middleware::Context;
pub use policy::{Level, Policy, Stage};

/// What `run` needs to audit: the policy file and where events go (the
/// log, the webhook, or both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub policy_file: PathBuf,
    /// The log and its mode.
    pub log: Option<(sink::Destination, sink::Mode)>,
    pub webhook: Option<webhook::WebhookConfig>,
}

/// `--audit-log-format`: how each event is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One `audit.k8s.io/v1` `Event` as JSON per line.
    #[default]
    Json,
    /// kube-apiserver's older one-line text; refused (see [`AuditFlags::config`]).
    Legacy,
}

/// The audit flags, named as kube-apiserver names them.
#[derive(Debug, Clone, clap::Args)]
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
    /// blocking: each request waits until its events are written;
    /// blocking-strict: and fails (500) when its RequestReceived event
    /// cannot be; batch: queued, dropped and counted when the queue is full.
    #[arg(long, value_enum, default_value = "blocking")]
    pub audit_log_mode: sink::Mode,
    /// json: one audit.k8s.io/v1 Event per line (the only format orc
    /// writes; `legacy` is refused).
    #[arg(long, value_enum, default_value = "json")]
    pub audit_log_format: LogFormat,
    /// A kubeconfig naming the remote that audit events are POSTed to, as
    /// an audit.k8s.io/v1 EventList (its cluster's server is the URL).
    #[arg(long)]
    pub audit_webhook_config_file: Option<PathBuf>,
    /// The webhook's mode (see --audit-log-mode).
    #[arg(long, value_enum, default_value = "batch")]
    pub audit_webhook_mode: sink::Mode,
    /// A batch is sent once it holds this many events (batch mode).
    #[arg(long, default_value_t = webhook::DEFAULT_MAX_SIZE)]
    pub audit_webhook_batch_max_size: usize,
    /// ...or once its first event has waited this long (batch mode).
    #[arg(long, default_value = "30s", value_parser = crate::limits::parse_duration)]
    pub audit_webhook_batch_max_wait: Duration,
    /// The wait before a failed batch is sent again (half as long again
    /// each time, five tries in all).
    #[arg(long, default_value = "10s", value_parser = crate::limits::parse_duration)]
    pub audit_webhook_initial_backoff: Duration,
}

impl Default for AuditFlags {
    /// The flags' defaults, as clap gives them.
    fn default() -> AuditFlags {
        AuditFlags {
            audit_policy_file: None,
            audit_log_path: None,
            audit_log_maxage: 0,
            audit_log_maxbackup: 0,
            audit_log_maxsize: 0,
            audit_log_mode: sink::Mode::Blocking,
            audit_log_format: LogFormat::Json,
            audit_webhook_config_file: None,
            audit_webhook_mode: sink::Mode::Batch,
            audit_webhook_batch_max_size: webhook::DEFAULT_MAX_SIZE,
            audit_webhook_batch_max_wait: webhook::DEFAULT_MAX_WAIT,
            audit_webhook_initial_backoff: webhook::DEFAULT_INITIAL_BACKOFF,
        }
    }
}

/// Why the audit flags cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error(
        "--audit-log-format=legacy is not supported: orc writes only Kubernetes' JSON events \
         (audit.k8s.io/v1 Event, one per line), which is what tools that read kube-apiserver's \
         log expect; drop the flag or pass --audit-log-format=json"
    )]
    LegacyFormat,
}

impl AuditFlags {
    /// The configuration these flags name: `None` without a policy file,
    /// or with neither a log path nor a webhook (no audit, as
    /// kube-apiserver does then).
    pub fn config(&self) -> Result<Option<AuditConfig>, FlagError> {
        if self.audit_log_format == LogFormat::Legacy {
            return Err(FlagError::LegacyFormat);
        }
        let Some(policy_file) = self.audit_policy_file.clone() else {
            return Ok(None);
        };
        let log = self.audit_log_path.as_deref().map(|path| self.log(path));
        let webhook = self.webhook();
        if log.is_none() && webhook.is_none() {
            return Ok(None);
        }
        Ok(Some(AuditConfig {
            policy_file,
            log,
            webhook,
        }))
    }

    /// The log at `path` (or `-`), with these flags' rotation and mode.
    pub fn log(&self, path: &Path) -> (sink::Destination, sink::Mode) {
        (self.destination(path), self.audit_log_mode)
    }

    /// The webhook, if a config file is named.
    pub fn webhook(&self) -> Option<webhook::WebhookConfig> {
        let config_file = self.audit_webhook_config_file.clone()?;
        Some(webhook::WebhookConfig {
            config_file,
            mode: self.audit_webhook_mode,
            max_size: self.audit_webhook_batch_max_size,
            max_wait: self.audit_webhook_batch_max_wait,
            initial_backoff: self.audit_webhook_initial_backoff,
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
    #[error(transparent)]
    Webhook(#[from] webhook::WebhookError),
}

/// A policy and the sinks its events go to: what the middleware asks.
pub struct Auditor {
    pub policy: Policy,
    /// The log's, the webhook's, or both.
    pub sinks: Vec<sink::Sink>,
}

impl Auditor {
    /// Reads the policy, opens the log and starts the webhook's sender
    /// (inside a tokio runtime).
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
        let mut sinks = Vec::new();
        if let Some((destination, mode)) = &config.log {
            let sink = sink::Sink::start(destination, *mode, sink::CAPACITY).map_err(|error| {
                AuditError::Log {
                    path: match destination {
                        sink::Destination::File(path, _) => path.clone(),
                        sink::Destination::Stdout => "-".into(),
                    },
                    error,
                }
            })?;
            sinks.push(sink);
        }
        if let Some(webhook) = &config.webhook {
            sinks.push(webhook::start(webhook)?);
        }
        Ok(Auditor { policy, sinks })
    }

    /// Sends `event` to every sink; `false` when a `blocking-strict` one
    /// could not take it.
    pub async fn process(&self, event: Event) -> bool {
        let mut stored = true;
        for sink in &self.sinks {
            stored &= sink.process(event.clone()).await;
        }
        stored
    }

    /// The sinks' counters for `/metrics`.
    pub fn render_metrics(&self) -> String {
        sink::Sink::render_metrics(&self.sinks)
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
