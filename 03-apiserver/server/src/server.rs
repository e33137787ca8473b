//! The HTTP server: routes, authentication, body limits, start-up.
//!
//! Routing is deliberately thin: every path under `/api` and `/apis` goes to
//! [`handlers::dispatch`], which parses the Kubernetes path shape itself
//! (axum's router cannot express "`/namespaces/x/status` is a subresource
//! but `/namespaces/x/pods` a collection"). Everything else is a handful of
//! fixed endpoints: health, version, metrics, discovery roots.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;

use crate::authn::token_file::{TokenFile, TokenFileError};
use crate::authn::{Authenticators, UserInfo};
use crate::connection::PeerCertificates;
use crate::handlers::{self, ApiRequest};
use crate::metrics::Metrics;
use crate::namespace_lifecycle::NamespaceCache;
use crate::services::Allocator;
use crate::status::ApiError;
use crate::storage::{self, StorageError, Store};
use crate::watch::{WatchHub, WatchLimits};
use orc_client::resources::lookup;

/// Request bodies above this are refused with 413. Kubernetes' limit is
/// 3 MiB too: etcd refuses values above about 1.5 MiB anyway, and a bigger
/// body is far more likely a mistake (or an attack) than an object.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The fixed endpoints served to anyone, unauthenticated (Kubernetes'
/// default RBAC gives them to `system:unauthenticated` too).
pub const OPEN_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version"];

/// The namespaces every cluster has; created at start-up when missing.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Everything `run` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// etcd client URL, e.g. `http://127.0.0.1:2379`.
    pub etcd: String,
    /// Where to listen, e.g. `127.0.0.1:6443` (port 0 picks a free one).
    pub listen: SocketAddr,
    /// A file of bearer tokens, one per line (`token[,user,uid]`, the
    /// format of Kubernetes' `--token-auth-file`). None: no authentication.
    pub token_file: Option<PathBuf>,
    /// PEM certificate chain and private key: serve HTTPS instead of HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// PEM CA certificates: client certificates chaining to them
    /// authenticate (CN = user, O = groups). Needs `tls`.
    pub client_ca_file: Option<PathBuf>,
    /// How long a client may take to send a request's headers, or sit
    /// idle between requests (see `connection.rs`).
    pub header_read_timeout: Duration,
    /// The service account key, PKCS#8 PEM (ECDSA P-256): signs the
    /// tokens TokenRequest issues and checks those requests present.
    /// None: no service account tokens.
    pub service_account_key_file: Option<PathBuf>,
    /// `iss` of service account tokens, and the audience the API server
    /// accepts them for.
    pub service_account_issuer: String,
    /// Whether the `ServiceAccount` admission step runs on pod creates
    /// (`service_account_admission.rs`): pods then need their account to
    /// exist and get its token mounted. Off in [`Config::new`], so a test
    /// server without chapter 05's ServiceAccounts controller accepts
    /// pods (Kubernetes' own integration tests turn it off too);
    /// [`SecurityFlags::apply`] turns it on unless told
    /// `--disable-admission-plugins ServiceAccount`. It runs only on a
    /// server with a service account key: without one, no pod could be
    /// given the token it would mount.
    pub service_account_admission: bool,
    /// Kubernetes' EncryptionConfiguration file: which resources are
    /// encrypted at rest, with which keys (`encryption/`).
    pub encryption_provider_config: Option<PathBuf>,
    /// orc's older flag: a file holding a 64-hex-digit AES-256 key, read
    /// as a configuration of that one aesgcm key (named after the file's
    /// stem) for Secrets, then `identity`. Kept so existing clusters
    /// start; `--encryption-provider-config` supersedes it.
    pub encryption_key_file: Option<PathBuf>,
    /// The authorizers, in order (`--authorization-mode`); the default,
    /// `AlwaysAllow`, checks nothing, as kube-apiserver's default.
    pub authorization: crate::authz::Modes,
    /// How often a watch with `allowWatchBookmarks` gets a bookmark.
    pub bookmark_interval: Duration,
    /// Watch history and fan-out sizes.
    pub watch: WatchLimits,
    /// Whether LISTs are answered from memory, and how long they wait
    /// for it to be fresh (`watch_cache/`).
    pub watch_cache: crate::watch_cache::WatchCacheSettings,
    /// The ranges Services' cluster IPs and node ports come from.
    pub services: Allocator,
    /// The address the `kubernetes` Service's endpoints name; `None`: the
    /// listen address (127.0.0.1 when that is 0.0.0.0 or IPv6).
    pub advertise_address: Option<Ipv4Addr>,
    /// How often the allocation repair pass runs after the one at start.
    pub repair_interval: Duration,
    /// In-flight limits and timeouts (`limits.rs`).
    pub limits: crate::limits::Limits,
    /// How often etcd is compacted to the revision of one interval ago
    /// (`compaction.rs`); `None`: never (another API server, or an
    /// operator, does it).
    pub compaction_interval: Option<Duration>,
    /// The least time between two defragmentations of etcd, each after a
    /// compaction (`defrag.rs`); `None`: never.
    pub defrag_interval: Option<Duration>,
    /// The clock compaction and defragmentation run on.
    pub maintenance_clock: crate::compaction::MaintenanceClock,
    /// How often the agents are scraped for the Metrics API
    /// (`metrics_api/`): the window `kubectl top`'s CPU rates span.
    pub metric_resolution: Duration,
    /// The client certificate shown to the nodes' agents and the CA their
    /// certificates must chain to (`--kubelet-*`, `agent_client.rs`);
    /// `None`: agents are reached over plain HTTP (tests on loopback).
    pub agent_client: Option<crate::agent_client::AgentClientFiles>,
    /// The audit policy and log (`audit/`); `None`: nothing audited.
    pub audit: Option<crate::audit::AuditConfig>,
    /// How long an Event lives after its last write (`--event-ttl`,
    /// `storage/leases.rs`); zero: until deleted.
    pub event_ttl: Duration,
}

impl Config {
    /// A configuration with Kubernetes-like defaults.
    pub fn new(etcd: impl Into<String>, listen: SocketAddr) -> Config {
        Config {
            etcd: etcd.into(),
            listen,
            token_file: None,
            service_account_key_file: None,
            service_account_issuer: crate::authn::service_account::DEFAULT_ISSUER.into(),
            service_account_admission: false,
            encryption_provider_config: None,
            encryption_key_file: None,
            tls: None,
            authorization: crate::authz::Modes::default(),
            client_ca_file: None,
            header_read_timeout: crate::connection::HEADER_READ_TIMEOUT,
            bookmark_interval: Duration::from_secs(60),
            watch: WatchLimits::default(),
            watch_cache: crate::watch_cache::WatchCacheSettings::default(),
            services: Allocator::default(),
            advertise_address: None,
            repair_interval: crate::services::REPAIR_INTERVAL,
            limits: crate::limits::Limits::default(),
            compaction_interval: Some(crate::compaction::DEFAULT_INTERVAL),
            defrag_interval: Some(crate::defrag::DEFAULT_INTERVAL),
            maintenance_clock: crate::compaction::MaintenanceClock::default(),
            metric_resolution: crate::metrics_api::DEFAULT_RESOLUTION,
            agent_client: None,
            audit: None,
            event_ttl: crate::storage::leases::DEFAULT_EVENT_TTL,
        }
    }
}

/// The API server's security options as command-line flags, shared by
/// `orc-apiserver` and `orc server` (named as kube-apiserver names them).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecurityFlags {
    /// Bearer tokens, one per line (`token[,user,uid]`). Without it, no
    /// authentication. (kubectl sends tokens only over https.)
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// PEM certificate chain to serve HTTPS with (needs --tls-private-key-file).
    #[arg(long, requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// PEM CA certificates: a client certificate signed by one of them
    /// authenticates as its CN (user) and O (groups). Needs --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    pub client_ca_file: Option<PathBuf>,
    /// Kubernetes' EncryptionConfiguration (apiserver.config.k8s.io/v1):
    /// which resources are encrypted in etcd, with which providers and
    /// keys (aesgcm, aescbc, identity). The first key writes; all read.
    #[arg(long)]
    pub encryption_provider_config: Option<PathBuf>,
    /// Deprecated: a file with a 64-hex-digit AES-256 key, read as an
    /// aesgcm key for Secrets. Use --encryption-provider-config.
    #[arg(long, conflicts_with = "encryption_provider_config")]
    pub encryption_key_file: Option<PathBuf>,
    /// The service account key (PKCS#8 PEM, ECDSA P-256): signs the
    /// tokens `kubectl create token` asks for, which then authenticate.
    #[arg(long)]
    pub service_account_signing_key_file: Option<PathBuf>,
    /// The `iss` of service account tokens, and their default audience.
    #[arg(long, default_value = crate::authn::service_account::DEFAULT_ISSUER)]
    pub service_account_issuer: String,
    /// Authorizers to ask, in order: AlwaysAllow, AlwaysDeny, Node (a
    /// node's credential limited to its own objects), RBAC. Default:
    /// AlwaysAllow for orc-apiserver (as kube-apiserver's), Node,RBAC for
    /// `orc server` with its generated credentials. Members of
    /// system:masters always pass.
    #[arg(long)]
    pub authorization_mode: Option<crate::authz::Modes>,
    /// Admission plugins not to run. Only `ServiceAccount` can be named:
    /// it runs whenever the server has a service account key (pods then
    /// need their ServiceAccount and get its token mounted).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub disable_admission_plugins: Vec<AdmissionPlugin>,
    #[command(flatten)]
    pub agent_client: crate::agent_client::AgentClientFlags,
    #[command(flatten)]
    pub audit: crate::audit::AuditFlags,
}

/// An admission plugin `--disable-admission-plugins` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdmissionPlugin {
    #[value(name = "ServiceAccount")]
    ServiceAccount,
}

impl SecurityFlags {
    /// `config` with these options set; an error for flags that cannot
    /// be used together or at all (`--audit-log-format=legacy`).
    pub fn apply(&self, mut config: Config) -> Result<Config, crate::audit::FlagError> {
        config.token_file = self.token_file.clone();
        config.encryption_key_file = self.encryption_key_file.clone();
        config.encryption_provider_config = self.encryption_provider_config.clone();
        if self.service_account_signing_key_file.is_some() {
            config.service_account_key_file = self.service_account_signing_key_file.clone();
        }
        if !self.service_account_issuer.is_empty() {
            config.service_account_issuer = self.service_account_issuer.clone();
        }
        config.authorization = self.authorization_mode.clone().unwrap_or_default();
        config.service_account_admission = !self
            .disable_admission_plugins
            .contains(&AdmissionPlugin::ServiceAccount);
        config.client_ca_file = self.client_ca_file.clone();
        config.tls = self
            .tls_cert_file
            .clone()
            .zip(self.tls_private_key_file.clone());
        config.agent_client = self.agent_client.files();
        config.audit = self.audit.config()?;
        Ok(config)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// etcd unreachable or failing.
    #[error("etcd at {endpoint}: {source}")]
    Etcd {
        endpoint: String,
        source: StorageError,
    },
    /// The token file could not be read.
    #[error("reading token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The token file is not `token,user,uid[,groups]` lines.
    #[error("token file {path}: {error}")]
    TokenFileFormat {
        path: PathBuf,
        error: TokenFileError,
    },
    /// The service account key could not be read or used.
    #[error("service account key {path}: {message}")]
    ServiceAccountKey { path: PathBuf, message: String },
    /// The encryption configuration (or the older key file) could not
    /// be read or is malformed.
    #[error("{0}")]
    Encryption(#[from] crate::encryption::LoadError),
    /// Both encryption flags were given: which one should win?
    #[error(
        "--encryption-key-file and --encryption-provider-config both given: keep only \
         --encryption-provider-config (write the old key into it as an aesgcm key)"
    )]
    TwoEncryptionConfigs,
    /// Client certificates need TLS.
    #[error(
        "--client-ca-file needs --tls-cert-file and --tls-private-key-file: client certificates are part of the TLS handshake"
    )]
    ClientCaWithoutTls,
    /// The certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The `--kubelet-*` files could not be used.
    #[error("{0}")]
    AgentClient(#[from] crate::agent_client::AgentClientError),
    /// The audit policy could not be read, or the log opened.
    #[error("{0}")]
    Audit(#[from] crate::audit::AuditError),
    /// The `kubernetes` Service could not be created or updated.
    #[error("{0}")]
    KubernetesService(#[from] crate::services::kubernetes::EnsureError),
    /// The listen address could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What every handler shares.
pub struct AppState {
    /// etcd.
    pub store: Store,
    /// The shared watches.
    pub hub: WatchHub,
    /// The watch cache: LISTs answered from memory (`watch_cache/`).
    pub cacher: crate::watch_cache::Cacher,
    /// Which namespaces exist, for creates (see `namespace_lifecycle.rs`).
    pub namespaces: NamespaceCache,
    /// Request counters.
    pub metrics: Metrics,
    /// Who may log in, and how (tokens, client certificates); none
    /// configured: every request is `system:anonymous`.
    pub authenticators: Authenticators,
    /// See [`Config::bookmark_interval`].
    pub bookmark_interval: Duration,
    /// The ranges of Services' values (`services/`).
    pub allocator: Allocator,
    /// The PriorityClasses pods are admitted with (`priority_cache.rs`).
    pub priority_classes: crate::priority_cache::ClassCache,
    /// Who may do what (`authz/`), asked after authentication.
    pub authorizer: crate::authz::Authorizer,
    /// Requests in flight against their limits (`limits.rs`).
    pub in_flight: crate::limits::InFlight,
    /// See [`Config::service_account_admission`].
    pub service_account_admission: bool,
    /// What the Metrics API's scraper last read from the agents.
    pub usage: crate::metrics_api::SharedUsage,
    /// How the nodes' agents are reached (`agent_client.rs`).
    pub agents: crate::agent_client::AgentClient,
    /// The audit policy and log; `None`: nothing audited.
    pub auditor: Option<Arc<crate::audit::Auditor>>,
    /// See [`Config::event_ttl`].
    pub event_ttl: Duration,
}

/// A bound server, not yet serving: tests read its address first.
pub struct Server {
    listener: TcpListener,
    /// Set when serving HTTPS.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// See [`Config::header_read_timeout`].
    header_read_timeout: Duration,
    state: Arc<AppState>,
    /// See [`Config::repair_interval`].
    repair_interval: Duration,
    /// See [`Config::compaction_interval`].
    compaction_interval: Option<Duration>,
    /// See [`Config::defrag_interval`].
    defrag_interval: Option<Duration>,
    /// See [`Config::maintenance_clock`].
    maintenance_clock: crate::compaction::MaintenanceClock,
    /// See [`Config::metric_resolution`].
    metric_resolution: Duration,
}

impl Server {
    /// Connects to etcd, moves keys of orc's first layout to Kubernetes'
    /// (once), creates the system namespaces, binds the address.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let etcd_error = |source| ServerError::Etcd {
            endpoint: config.etcd.clone(),
            source,
        };
        let mut store = Store::connect(&config.etcd).await.map_err(etcd_error)?;
        match (
            &config.encryption_provider_config,
            &config.encryption_key_file,
        ) {
            (Some(_), Some(_)) => return Err(ServerError::TwoEncryptionConfigs),
            (Some(path), None) => {
                store = store.with_encryption(crate::encryption::Encryption::load(path)?);
            }
            (None, Some(path)) => {
                tracing::warn!(
                    path = %path.display(),
                    "--encryption-key-file is deprecated: write an EncryptionConfiguration \
                     with this key as an aesgcm key and pass --encryption-provider-config"
                );
                let encryption = crate::encryption::Encryption::from_key_file(path)?;
                store = store.with_encryption(encryption);
            }
            (None, None) => {}
        }
        // Before anything reads or writes objects: data written in orc's
        // first key layout moves to Kubernetes' (once; `key_migration.rs`).
        let migration = crate::storage::key_migration::migrate(&store)
            .await
            .map_err(etcd_error)?;
        if !migration.already_done {
            let moved: usize = migration.moved.iter().map(|m| m.count).sum();
            tracing::info!(
                moved,
                kept = migration.kept.len(),
                "etcd keys are in Kubernetes' layout"
            );
        }
        ensure_namespaces(&store).await.map_err(etcd_error)?;
        crate::priority::ensure_system_classes(&store)
            .await
            .map_err(etcd_error)?;
        crate::authz::bootstrap::ensure_bootstrap_policy(&store)
            .await
            .map_err(etcd_error)?;
        let tokens = match &config.token_file {
            None => None,
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ServerError::TokenFile {
                        path: path.clone(),
                        source,
                    })?;
                Some(
                    TokenFile::parse(&text).map_err(|error| ServerError::TokenFileFormat {
                        path: path.clone(),
                        error,
                    })?,
                )
            }
        };
        let service_accounts = match &config.service_account_key_file {
            None => None,
            Some(path) => {
                let key_error = |message: String| ServerError::ServiceAccountKey {
                    path: path.clone(),
                    message,
                };
                let pem = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
                let keys = crate::authn::service_account::TokenKeys::from_pem(
                    &pem,
                    &config.service_account_issuer,
                )
                .map_err(|e| key_error(e.to_string()))?;
                Some(Arc::new(keys))
            }
        };
        // Before etcd is touched further: a bad policy stops the start.
        let auditor = match &config.audit {
            Some(audit) => Some(Arc::new(crate::audit::Auditor::start(audit)?)),
            None => None,
        };
        let agents = match &config.agent_client {
            Some(files) => crate::agent_client::AgentClient::from_files(files)?,
            None => crate::agent_client::AgentClient::plain(),
        };
        let tls = match &config.tls {
            Some((cert, key)) => Some(crate::tls::acceptor(
                cert,
                key,
                config.client_ca_file.as_deref(),
            )?),
            None if config.client_ca_file.is_some() => return Err(ServerError::ClientCaWithoutTls),
            None => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Listen {
                    addr: config.listen,
                    source,
                })?;
        // The allocation keys agree with the Services before the first
        // write, and the `kubernetes` Service names this server.
        crate::services::repair::run(&store, &config.services)
            .await
            .map_err(etcd_error)?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
        let advertised = SocketAddrV4::new(advertise_address(&config, bound), bound.port());
        match crate::services::kubernetes::ensure(&store, &config.services, advertised).await {
            Ok(()) => {}
            // Its address held by another Service (a range changed since,
            // or a hand-made Service): the API still serves; say so.
            Err(crate::services::kubernetes::EnsureError::Allocation(error)) => {
                tracing::warn!(%error, "the kubernetes Service could not be created");
            }
            Err(error) => return Err(error.into()),
        }
        let hub = WatchHub::new(store.clone(), config.watch);
        let namespaces =
            lookup("", "v1", "namespaces").expect("the resource table serves namespaces");
        let feed = hub
            .feed(&storage::prefix(namespaces, None))
            .await
            .map_err(|e| etcd_error(StorageError::Etcd(e)))?;
        let classes_feed = hub
            .feed(&crate::priority::prefix())
            .await
            .map_err(|e| etcd_error(StorageError::Etcd(e)))?;
        let authorizer = start_authorizer(&store, &hub, &config.authorization)
            .await
            .map_err(etcd_error)?;
        // Pods get tokens only from a server that can sign them.
        let service_accounts_configured = service_accounts.is_some();
        let state = Arc::new(AppState {
            authorizer,
            namespaces: NamespaceCache::start(store.clone(), namespaces, feed),
            priority_classes: crate::priority_cache::ClassCache::start(store.clone(), classes_feed),
            hub,
            cacher: crate::watch_cache::Cacher::new(store.clone(), config.watch_cache),
            store,
            metrics: Metrics::default(),
            authenticators: Authenticators {
                tokens,
                client_certificates: config.client_ca_file.is_some(),
                service_accounts,
            },
            bookmark_interval: config.bookmark_interval,
            allocator: config.services,
            in_flight: crate::limits::InFlight::new(config.limits),
            service_account_admission: config.service_account_admission
                && service_accounts_configured,
            usage: crate::metrics_api::SharedUsage::default(),
            agents,
            auditor,
            event_ttl: config.event_ttl,
        });
        Ok(Server {
            listener,
            tls,
            header_read_timeout: config.header_read_timeout,
            state,
            repair_interval: config.repair_interval,
            compaction_interval: config.compaction_interval,
            defrag_interval: config.defrag_interval,
            maintenance_clock: config.maintenance_clock.clone(),
            metric_resolution: config.metric_resolution,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped or the listener fails; repairs
    /// the service allocations every [`Config::repair_interval`] meanwhile
    /// (in this same task, so dropping it stops both).
    pub async fn serve(self) -> std::io::Result<()> {
        self.serve_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then stops accepting and
    /// returns once the requests in flight have been answered (a graceful
    /// shutdown; the caller bounds how long it waits, since a watch only
    /// ends when its client leaves or its timeout passes).
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let repairs = repair_every(self.state.clone(), self.repair_interval);
        let maintenance = crate::compaction::Maintenance::new(
            self.state.store.clone(),
            self.defrag_interval,
            self.maintenance_clock.0.clone(),
        );
        let every = self.compaction_interval;
        let compaction = async move {
            match every {
                Some(every) => crate::compaction::run(maintenance, every).await,
                None => std::future::pending().await,
            }
        };
        let scrapes =
            crate::metrics_api::scraper::scrape_every(self.state.clone(), self.metric_resolution);
        tokio::select! {
            served = self.serve_http(shutdown) => served,
            () = repairs => Ok(()),
            () = scrapes => Ok(()),
            () = compaction => Ok(()),
        }
    }

    async fn serve_http(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.listener.local_addr().ok();
        let app = router(self.state);
        let timeout = self.header_read_timeout;
        match self.tls {
            Some(acceptor) => {
                tracing::info!(?addr, "orc-apiserver serving HTTPS");
                let listener = crate::tls::TlsListener::new(self.listener, acceptor)?;
                crate::connection::serve(listener, app, timeout, shutdown).await;
            }
            None => {
                tracing::info!(?addr, "orc-apiserver serving plain HTTP");
                let listener = axum::serve::ListenerExt::tap_io(self.listener, no_delay);
                crate::connection::serve(listener, app, timeout, shutdown).await;
            }
        }
        Ok(())
    }
}

/// The authorizers of `modes`, with the RBAC objects followed through the
/// watch hub when RBAC is one of them, and the pods when Node is.
async fn start_authorizer(
    store: &Store,
    hub: &WatchHub,
    modes: &crate::authz::Modes,
) -> Result<crate::authz::Authorizer, StorageError> {
    let policy = if modes.uses_rbac() {
        let mut feeds = Vec::new();
        for (kind, prefix) in crate::authz::cache::rbac_prefixes() {
            let feed = hub.feed(&prefix).await.map_err(StorageError::Etcd)?;
            feeds.push((kind, prefix, feed));
        }
        Some(crate::authz::cache::PolicyCache::start(store.clone(), feeds).await?)
    } else {
        None
    };
    let authorizer = crate::authz::Authorizer::new(modes.clone(), policy);
    if !modes.uses_node() {
        return Ok(authorizer);
    }
    // The Node authorizer follows every pod (who is bound where, naming
    // what) and every PersistentVolume (bound to which claim, made on
    // which node).
    let pods = crate::authz::node_graph::pods_prefix();
    let pods = hub.feed(&pods).await.map_err(StorageError::Etcd)?;
    let volumes = crate::authz::node_graph::volumes_prefix();
    let volumes = hub.feed(&volumes).await.map_err(StorageError::Etcd)?;
    let graph = crate::authz::node_graph::GraphCache::start(store.clone(), pods, volumes).await?;
    Ok(authorizer.with_nodes(graph))
}

/// Runs the allocation repair pass every `interval`, for ever.
async fn repair_every(state: Arc<AppState>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if let Err(error) = crate::services::repair::run(&state.store, &state.allocator).await {
            tracing::warn!(%error, "repairing service allocations");
        }
    }
}

/// The address the `kubernetes` Service's endpoints name: the configured
/// one, else the bound IPv4 address unless it is 0.0.0.0.
fn advertise_address(config: &Config, bound: SocketAddr) -> Ipv4Addr {
    config.advertise_address.unwrap_or(match bound.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => ip,
        _ => Ipv4Addr::LOCALHOST,
    })
}

/// Turns Nagle's algorithm off for a client connection: an answer is
/// written when it is ready, not held back to be merged with more bytes
/// (Go's net/http, and so kube-apiserver, do the same by default).
pub fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "setting TCP_NODELAY");
    }
}

/// Binds and serves `config` until an error: the entry the `orc` binary composes.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Server::bind(config).await?;
    server.serve().await?;
    Ok(())
}

/// Creates the system namespaces that do not exist yet.
async fn ensure_namespaces(store: &Store) -> Result<(), StorageError> {
    let Some(namespaces) = lookup("", "v1", "namespaces") else {
        return Ok(());
    };
    for name in SYSTEM_NAMESPACES {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": crate::meta::new_uid(),
                "generation": 1,
                "creationTimestamp": orc_client::time::format(jiff::Timestamp::now()),
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        match store
            .create(
                &storage::key(namespaces, None, name),
                obj,
                None,
                storage::Expiry::Never,
            )
            .await
        {
            Ok(_) | Err(StorageError::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ANCHOR: router
/// All routes. Health and version are open, as Kubernetes' default RBAC
/// leaves them to anonymous users; everything else needs a token when a
/// token file is configured, and is then authorized (`authz/`).
pub fn router(state: Arc<AppState>) -> Router {
    let open = Router::new()
        .route("/healthz", get(livez))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route(
            "/version",
            get(|| async { axum::Json(crate::discovery::version()) }),
        );
    let api = Router::new()
        .route(
            "/api",
            get(|| async { axum::Json(crate::discovery::core_versions()) }),
        )
        .route(
            "/apis",
            get(|| async { axum::Json(crate::discovery::group_list()) }),
        )
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            axum::routing::post(crate::authn::self_subject_review::create),
        )
        .route("/api/{*rest}", axum::routing::any(api_core))
        .route("/apis/{*rest}", axum::routing::any(api_groups))
        .route(
            "/openapi/v3",
            get(|| async { axum::Json(crate::openapi::index()) }),
        )
        .route("/openapi/v3/{*rest}", get(openapi_document))
        .route(
            "/openapi/v2",
            get(|| async {
                let kind = [(
                    axum::http::header::CONTENT_TYPE,
                    crate::openapi::V2_PROTOBUF,
                )];
                (kind, crate::openapi::V2_EMPTY)
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<Arc<AppState>>| async move {
                let mut text = s.metrics.render() + &crate::metrics::storage(&s.store);
                text.push_str(&s.cacher.render_metrics().await);
                text.push_str(&s.store.decode_errors().render());
                if let Some(auditor) = &s.auditor {
                    text.push_str(&auditor.render_metrics());
                }
                text
            }),
        )
        .fallback(|| async {
            ApiError::NotFound(crate::status::Target {
                kind: "path".into(),
                ..Default::default()
            })
        })
        // Layers run outside in: the last added first. Authentication
        // names the user, then authorization decides.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::authz::middleware::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        // Outermost: a request over the limits costs nothing more.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::limit,
        ));
    // Around everything, health checks and refusals included: the audit
    // log (`audit/`), which the layers inside tell who and whether.
    open.merge(api)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::audit::middleware::audit,
        ))
        .with_state(state)
}
// ANCHOR_END: router

/// One group version's OpenAPI document, or 404.
async fn openapi_document(axum::extract::Path(rest): axum::extract::Path<String>) -> Response {
    match crate::openapi::document(rest.trim_matches('/')) {
        Some(doc) => axum::Json(doc).into_response(),
        None => ApiError::NotFound(crate::status::Target {
            kind: "openapi".into(),
            name: rest,
            ..Default::default()
        })
        .into_response(),
    }
}

/// `/livez` and `/healthz`: alive while etcd answers (see `health.rs`).
async fn livez(state: State<Arc<AppState>>, request: Request) -> Response {
    health(state, request, crate::health::Probe::Live).await
}

/// `/readyz`: ready while etcd answers and has raised no alarm.
async fn readyz(state: State<Arc<AppState>>, request: Request) -> Response {
    health(state, request, crate::health::Probe::Ready).await
}

async fn health(
    State(state): State<Arc<AppState>>,
    request: Request,
    probe: crate::health::Probe,
) -> Response {
    let verbose = query_pairs(request.uri().query()).contains_key("verbose");
    let checks = crate::health::probe(&state.store, probe).await;
    crate::health::report(probe, &checks, verbose).into_response()
}

// ANCHOR: authenticate
/// Authentication: finds the request's user (from the client certificate
/// TLS verified, else the bearer token; see [`Authenticators`]) and
/// attaches it as a [`crate::authn::UserInfo`] extension for what comes
/// after (authorization, audit). A service account token is believed only
/// while its ServiceAccount and pod exist. A request no authenticator
/// recognises is answered 401; with none configured, every request is
/// `system:anonymous` (plain HTTP for tests on loopback only).
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::authn::{Found, Unauthenticated, token_request};
    let peer = request.extensions().get::<PeerCertificates>().cloned();
    let leaf = peer.as_ref().and_then(|p| p.leaf()).map(|c| c.as_ref());
    let now = token_request::now();
    let found = state
        .authenticators
        .authenticate(leaf, request.headers(), now);
    let audit = crate::audit::Context::of(request.extensions());
    let user = match found {
        Ok(Found::User(user)) => Ok(user),
        Ok(Found::ServiceAccount(claims)) => {
            match token_request::check_bound(&state.store, &claims, now).await {
                Ok(()) => Ok(claims.user()),
                Err(error) => Err(Unauthenticated::ServiceAccount(error)),
            }
        }
        Err(error) => Err(error),
    };
    match user {
        Ok(user) => {
            if let Some(audit) = audit
                && !audit.authenticated(&user).await
            {
                return crate::audit::middleware::refusal();
            }
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Err(reason) => {
            tracing::debug!(%reason, path = %request.uri().path(), "unauthorized");
            if let Some(audit) = audit {
                audit.unauthenticated(request.headers(), leaf.is_some());
            }
            ApiError::Unauthorized.into_response()
        }
    }
}
// ANCHOR_END: authenticate

async fn api_core(State(state): State<Arc<AppState>>, request: Request) -> Response {
    api(state, true, request).await
}

async fn api_groups(State(state): State<Arc<AppState>>, request: Request) -> Response {
    api(state, false, request).await
}

/// Reads the body (up to [`MAX_BODY`]) and the query, then dispatches.
async fn api(state: Arc<AppState>, core: bool, request: Request) -> Response {
    // `pods/{name}/exec` is not a request with a body but a connection to
    // hand over to the pod's node, still unread; a proxy request's body is
    // the pod's to read.
    let prefix = if core { "/api" } else { "/apis" };
    let rest = request.uri().path().strip_prefix(prefix).unwrap_or("");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(target) =
        handlers::streaming::stream_target(&handlers::path::parse(core, &segments))
    {
        return handlers::streaming::relay(&state, target, request).await;
    }
    // `pods/{name}/proxy/...`, `services/{name}/proxy/...`: any request,
    // its body streamed on to the pod as it arrives, never read here.
    if let Some(target) = core
        .then(|| handlers::proxy::ProxyTarget::of_path(request.uri().path()))
        .flatten()
    {
        return handlers::proxy::serve(state, target, request).await;
    }
    let (parts, body): (_, Body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return ApiError::TooLarge(MAX_BODY).into_response(),
    };
    let query = query_pairs(parts.uri.query());
    let path = parts
        .uri
        .path()
        .strip_prefix(prefix)
        .unwrap_or("")
        .to_string();
    let request = ApiRequest {
        method: parts.method,
        query,
        user: parts
            .extensions
            .get::<UserInfo>()
            .cloned()
            .unwrap_or_else(UserInfo::anonymous),
        headers: parts.headers,
        body,
    };
    handlers::dispatch(state, core, &path, request).await
}

/// The query's `key=value` pairs, `%XX` and `+` decoded
/// (`application/x-www-form-urlencoded`, as Go's `url.ParseQuery` reads
/// it); a repeated key keeps its last value.
fn query_pairs(query: Option<&str>) -> HashMap<String, String> {
    let query = query.unwrap_or("").as_bytes();
    form_urlencoded::parse(query).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_are_decoded() {
        let query = query_pairs(Some("labelSelector=app%3Dweb%2Cenv+in&watch=1"));
        assert_eq!(query["labelSelector"], "app=web,env in");
        assert_eq!(query["watch"], "1");
        assert!(query_pairs(None).is_empty());
    }
}
