//! `orc server`: the control plane's store, API, scheduler and
//! controllers, as one long-running command.
//!
//! A Kubernetes control plane starts etcd, then `kube-apiserver` pointed at
//! it and `kube-scheduler` and `kube-controller-manager` beside it, then
//! hands users a
//! kubeconfig. `orc server` does the same: it runs etcd as its own child process with its data in
//! `--data-dir` (so the cluster survives a restart), serves chapter 03's API
//! server, runs chapter 04's scheduler, chapter 05's controllers (the
//! garbage collector, ReplicaSets, Deployments) and chapter 06's endpoint
//! controllers against it, and writes `<data-dir>/kubeconfig`, which the real kubectl and
//! `orc get|apply|...` read. With `--etcd URL` it uses an etcd that is
//! already running instead. SIGINT or SIGTERM stops the scheduler and the
//! controllers, lets the API server answer the requests in flight, then
//! stops etcd with SIGTERM. The etcd child is supervised (`etcd/`):
//! reachable by root alone, restarted when it crashes, gone with us.
//!
//! Secure by default, as kube-apiserver is: the API is served over HTTPS
//! with a serving certificate from the cluster CA (`<data-dir>/pki`, made
//! on first start, or `--pki-dir`), client certificates from that CA
//! authenticate, and anything else is 401. The scheduler and the
//! controllers each log in with their own certificate, and the kubeconfig
//! holds the admin's (`kubernetes-admin`, group `system:masters`), 0600.
//! Service account tokens (`kubectl create token`) are signed with the
//! PKI's `sa.key`, made beside the CA on first start.
//! Secrets are encrypted at rest in etcd: with the keys of
//! `--encryption-provider-config` when given, else with a key generated
//! into the PKI's `encryption-config.yaml` (0600) on first start.
//! `--tls-cert-file` brings one's own certificate instead; plain HTTP with
//! no authentication is only for tests, only on loopback, and only when
//! asked for (`--insecure-plain-http`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use crate::cli::kubeconfig;
use crate::credentials::{self, ClusterCa};
use crate::etcd::EtcdProcess;
use orc_client::tls::ClientTls;
use orc_pod::agent::clock::parse_duration;

/// Flags of `orc server`.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Where etcd keeps its data and where the kubeconfig is written.
    #[arg(long, default_value = "/var/lib/orc/server")]
    pub data_dir: PathBuf,
    /// The API server's address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Use this etcd (a client URL) instead of starting one.
    #[arg(long)]
    pub etcd: Option<String>,
    /// Where the scheduler serves /healthz and /metrics (kube-scheduler's
    /// port is 10259); not served unless given, so that several servers
    /// (tests) can run side by side.
    #[arg(long)]
    pub scheduler_listen: Option<SocketAddr>,
    /// Where the controller manager serves /healthz and /metrics
    /// (kube-controller-manager's port is 10257); not served unless given.
    /// Plain HTTP without authentication, as the scheduler's: give a
    /// loopback or private address.
    #[arg(long)]
    pub controllers_listen: Option<SocketAddr>,
    /// Components not to start, left to a student's own binary (which
    /// then works against this API server like the built-in one).
    #[arg(long, value_enum)]
    pub disable: Vec<Component>,
    /// How long a node may go unheard (no Lease renewal, no status) before
    /// the node lifecycle controller marks it `Unknown` and taints it
    /// unreachable: kube-controller-manager's flag, 50s by default.
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    pub node_monitor_grace_period: Duration,
    /// How often the node lifecycle controller looks at every node:
    /// kube-controller-manager's flag, 5s by default.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub node_monitor_period: Duration,
    /// How fast the node lifecycle controller lets evictions start, zone
    /// by zone (kube-controller-manager's flags).
    #[command(flatten)]
    pub eviction: orc_controllers::node_lifecycle::flags::EvictionFlags,
    /// The HorizontalPodAutoscaler controller's period, tolerance and
    /// windows (kube-controller-manager's flags).
    #[command(flatten)]
    pub hpa: orc_controllers::hpa::flags::HpaFlags,
    /// The cluster CA's directory (default: <data-dir>/pki); `orc up`
    /// shares one with its nodes' credentials.
    #[arg(long)]
    pub pki_dir: Option<PathBuf>,
    /// Serve plain HTTP with no authentication: anyone who reaches the
    /// port is cluster admin. For tests on a loopback address only.
    #[arg(long, conflicts_with_all = ["tls_cert_file", "client_ca_file", "pki_dir"])]
    pub insecure_plain_http: bool,
    #[command(flatten)]
    pub security: orc_apiserver::server::SecurityFlags,
    #[command(flatten)]
    pub services: orc_apiserver::services::ServiceFlags,
    #[command(flatten)]
    pub limits: orc_apiserver::limits::LimitFlags,
    #[command(flatten)]
    pub compaction: orc_apiserver::compaction::CompactionFlags,
    #[command(flatten)]
    pub metrics: orc_apiserver::metrics_api::MetricsFlags,
    #[command(flatten)]
    pub watch_cache: orc_apiserver::watch_cache::WatchCacheFlags,
    #[command(flatten)]
    pub events: orc_apiserver::storage::leases::EventTtlFlags,
    /// The scheduler's and the controllers' wait for each answer.
    #[command(flatten)]
    pub client: crate::request_timeout::RequestTimeout,
}

// ANCHOR: audit
/// `config` with the audit log on: `--audit-policy-file` or
/// `<data-dir>/audit-policy.yaml` (orc's default policy, written when
/// missing), `--audit-log-path` or `<data-dir>/audit.log`.
fn audit(args: &ServerArgs, mut config: orc_apiserver::Config) -> Result<orc_apiserver::Config> {
    let flags = &args.security.audit;
    let policy_file = match &flags.audit_policy_file {
        Some(path) => path.clone(),
        None => {
            let path = args.data_dir.join("audit-policy.yaml");
            if !path.exists() {
                orc_apiserver::pki::files::write_private(
                    &path,
                    orc_apiserver::audit::DEFAULT_POLICY.as_bytes(),
                )
                .with_context(|| format!("writing the default audit policy {}", path.display()))?;
            }
            path
        }
    };
    let log = flags
        .audit_log_path
        .clone()
        .unwrap_or_else(|| args.data_dir.join("audit.log"));
    println!(
        "requests are audited to {} (policy {})",
        log.display(),
        policy_file.display()
    );
    config.audit = Some(orc_apiserver::audit::AuditConfig {
        policy_file,
        log: Some(flags.log(&log)),
        webhook: flags.webhook(),
    });
    Ok(config)
}
// ANCHOR_END: audit

/// A component `orc server --disable` (and `orc up --disable`) leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Component {
    Scheduler,
    Controllers,
}

/// Runs until SIGINT or SIGTERM.
pub fn run(args: ServerArgs) -> Result<()> {
    orc_client::logging::init();
    args.client.install();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServerArgs) -> Result<()> {
    let mut signals = ShutdownSignals::install()?;
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "creating the data directory {} (choose another with --data-dir)",
            args.data_dir.display()
        )
    })?;
    // Root's only: it holds etcd (every Secret), its socket and the
    // kubeconfig with the admin's key.
    std::fs::set_permissions(&args.data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (mode 0700)", args.data_dir.display()))?;
    // A flag refused (`--audit-log-format=legacy`) stops the start before
    // etcd does.
    args.security.audit.config()?;
    let transport = Transport::decide(&args)?;
    // Dropped last: etcd stops after the API server.
    let (etcd, endpoint) = match &args.etcd {
        Some(url) => (None, url.clone()),
        None => {
            let process = EtcdProcess::start(&args.data_dir).await?;
            let endpoint = process.endpoint().to_string();
            (Some(process), endpoint)
        }
    };
    let mut config = args
        .security
        .apply(orc_apiserver::Config::new(&endpoint, args.listen))?;
    if let Transport::Generated(ca) = &transport {
        // Every request authorized unless the operator chose otherwise:
        // `Node,RBAC`, as kube-apiserver's documentation recommends.
        if args.security.authorization_mode.is_none() {
            config.authorization = orc_apiserver::authz::Modes::node_and_rbac();
        }
        config.tls = Some(ca.serving(&serving_addresses(args.listen))?);
        config.client_ca_file = Some(ca.ca_file());
        // The hop to the agents: TLS both ways (unless the operator named
        // other `--kubelet-*` files).
        if config.agent_client.is_none() {
            config.agent_client = Some(ca.agent_client()?);
        }
        // Service account tokens (`kubectl create token`), signed with
        // the PKI's `sa.key` unless the operator named a key.
        if config.service_account_key_file.is_none() {
            config.service_account_key_file = Some(ca.service_account_key()?);
        }
    }
    // Secrets encrypted at rest unless the operator chose a
    // configuration: a generated key beside the CA, root's alone.
    if config.encryption_provider_config.is_none() && config.encryption_key_file.is_none() {
        let dir = args
            .pki_dir
            .clone()
            .unwrap_or_else(|| args.data_dir.join("pki"));
        let pki = orc_apiserver::pki::PkiDir::open(&dir)
            .with_context(|| format!("opening the PKI {}", dir.display()))?;
        let path = pki
            .encryption_config()
            .context("the generated encryption configuration")?;
        println!(
            "Secrets are encrypted at rest with the keys in {}",
            path.display()
        );
        config.encryption_provider_config = Some(path);
    }
    // Every request audited: the operator's policy, or orc's default
    // one written beside the data (root's alone, kept once written so it
    // can be edited); the log in the data directory unless named.
    let config = audit(&args, config)?;
    let mut config = args.services.apply(config);
    config.limits = args.limits.limits();
    config.compaction_interval = args.compaction.interval();
    config.defrag_interval = args.compaction.defrag_interval();
    config.metric_resolution = args.metrics.metric_resolution;
    config.watch_cache = args.watch_cache.settings();
    config.event_ttl = args.events.event_ttl;
    let server = orc_apiserver::Server::bind(config)
        .await
        .map_err(|e| anyhow!("starting the API server: {e}"))?;
    let addr = server.local_addr()?;
    let scheme = match transport {
        Transport::PlainHttp => "http",
        _ => "https",
    };
    let url = format!("{scheme}://{addr}");
    let path = write_kubeconfig(&args, &transport, &url)?;
    match &etcd {
        Some(etcd) => println!("etcd (pid {}) at {endpoint}", etcd.pid()),
        None => println!("etcd at {endpoint}"),
    }
    println!("the API server is serving at {url}");
    println!("export KUBECONFIG={}", path.display());

    let (stop_serving, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut serving = tokio::spawn(server.serve_until(async {
        let _ = stopped.await;
    }));
    // The scheduler and the controller manager, as kube-scheduler and
    // kube-controller-manager beside kube-apiserver: clients of the API
    // like any other.
    let components = {
        let token = client_token(&args)?;
        let controllers = orc_controllers::Config {
            token: token.clone(),
            tls: transport.client_tls(&credentials::controller_manager())?,
            root_ca: transport.root_ca(&args)?,
            node_monitor: orc_controllers::node_lifecycle::Timing {
                grace_period: args.node_monitor_grace_period,
                monitor_period: args.node_monitor_period,
                eviction: args.eviction.rates(),
            },
            hpa: args.hpa.tuning(),
            ..orc_controllers::Config::new(url.clone())
        };
        let mut scheduler = orc_scheduler::Config::new(url.clone());
        scheduler.token = token;
        scheduler.tls = transport.client_tls(&credentials::scheduler())?;
        scheduler.listen = args.scheduler_listen;
        let scheduler = if args.disable.contains(&Component::Scheduler) {
            println!("the scheduler is disabled: pods stay Pending until one runs");
            None
        } else {
            let scheduler = orc_scheduler::start(scheduler)
                .await
                .context("starting the scheduler (its --scheduler-listen port)")?;
            if let Some(addr) = scheduler.metrics_addr {
                println!("the scheduler serves /healthz and /metrics at http://{addr}");
            }
            println!("the scheduler is running");
            Some(tokio::spawn(async move {
                let _ = scheduler.wait().await;
            }))
        };
        let controllers = if args.disable.contains(&Component::Controllers) {
            println!("the controllers are disabled");
            None
        } else {
            if let Some(addr) = args.controllers_listen {
                let listener = orc_controllers::http::bind(addr).await.with_context(|| {
                    format!("binding the controller manager's --controllers-listen {addr}")
                })?;
                let addr = listener.local_addr()?;
                println!("the controller manager serves /healthz and /metrics at http://{addr}");
                tokio::spawn(orc_controllers::http::serve(
                    listener,
                    controllers.metrics.clone(),
                ));
            }
            println!(
                "the controllers (garbage collector, ReplicaSet, Deployment, \
                     EndpointSlice, Endpoints) are running"
            );
            // Chapter 06's endpoint controllers run beside chapter 05's, as
            // in kube-controller-manager (they live in orc-services: the
            // book teaches them with Services).
            // Their queues on the manager's /metrics.
            let endpoints = orc_controllers::metrics::ControllerMetrics::scope(
                controllers.metrics.clone(),
                orc_services::run_controllers(controllers.client(), controllers.workers),
            );
            Some(tokio::spawn(async move {
                tokio::join!(orc_controllers::run(controllers), endpoints);
            }))
        };
        (scheduler, controllers)
    };
    tokio::select! {
        result = &mut serving => {
            result.context("the API server's task failed")?.context("serving the API")?;
        }
        signal = signals.recv() => {
            println!("{signal}: stopping the API server, then etcd");
        }
    }
    // The components first: their watches are connections the drain
    // below would otherwise wait for.
    let (scheduler, controllers) = components;
    for task in scheduler.into_iter().chain(controllers) {
        task.abort();
    }
    drain(stop_serving, serving).await;
    if let Some(etcd) = etcd {
        tracing::info!(pid = etcd.pid(), "stopping etcd (SIGTERM)");
        etcd.stop();
    }
    Ok(())
}

/// How long a shutdown waits for the requests in flight (a watch lasts
/// until its client leaves, so the wait is bounded).
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Stops accepting connections and waits, up to [`DRAIN_GRACE`], for the
/// requests in flight to be answered, so no write is cut between etcd's
/// answer and the client's.
async fn drain(
    stop_serving: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let _ = stop_serving.send(());
    let cut = serving.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, serving).await {
        Ok(_) => tracing::info!("the API server answered every request in flight"),
        Err(_) => {
            cut.abort();
            tracing::warn!(grace = ?DRAIN_GRACE, "requests still open after the grace period were cut")
        }
    }
}

/// The token clients of this server use: the token file's first, if any.
fn client_token(args: &ServerArgs) -> Result<Option<String>> {
    match &args.security.token_file {
        Some(file) => first_token(file),
        None => Ok(None),
    }
}

/// How the API is served, and how its own components log in.
enum Transport {
    /// HTTPS from the cluster CA; everyone logs in with a certificate.
    /// (Boxed: the CA's key and certificate are large beside the others.)
    Generated(Box<ClusterCa>),
    /// HTTPS with the operator's `--tls-cert-file`; components trust that
    /// certificate and use the token file's first token.
    Given(ClientTls),
    /// `--insecure-plain-http`: no TLS, no authentication.
    PlainHttp,
}

impl Transport {
    /// The flags' choice; plain HTTP is refused off loopback.
    fn decide(args: &ServerArgs) -> Result<Transport> {
        if args.insecure_plain_http {
            if !args.listen.ip().is_loopback() {
                bail!(
                    "--insecure-plain-http on {}: anyone who reaches that address would be cluster \
                     admin; listen on 127.0.0.1, or drop the flag to serve HTTPS with certificates",
                    args.listen
                );
            }
            return Ok(Transport::PlainHttp);
        }
        if let Some(cert) = &args.security.tls_cert_file {
            let pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
            let trust = ClientTls::new(&pem, None)
                .with_context(|| format!("{} as the authority to trust", cert.display()))?;
            return Ok(Transport::Given(trust));
        }
        let dir = args
            .pki_dir
            .clone()
            .unwrap_or_else(|| args.data_dir.join("pki"));
        Ok(Transport::Generated(Box::new(ClusterCa::open(&dir)?)))
    }

    /// The TLS an in-process component connects with, as `subject`.
    /// The CA bundle pods verify the API server with, published in every
    /// namespace as `kube-root-ca.crt`: the cluster CA, or the operator's
    /// serving certificate (what the components trust too); none over
    /// plain HTTP.
    fn root_ca(&self, args: &ServerArgs) -> Result<Option<String>> {
        Ok(match (self, &args.security.tls_cert_file) {
            (Transport::Generated(ca), _) => Some(ca.ca_pem().to_string()),
            (Transport::Given(_), Some(cert)) => Some(
                std::fs::read_to_string(cert)
                    .with_context(|| format!("reading --tls-cert-file {}", cert.display()))?,
            ),
            _ => None,
        })
    }

    fn client_tls(&self, subject: &orc_apiserver::pki::Subject) -> Result<Option<ClientTls>> {
        Ok(match self {
            Transport::Generated(ca) => Some(ca.client_tls(subject)?),
            Transport::Given(trust) => Some(trust.clone()),
            Transport::PlainHttp => None,
        })
    }
}

/// The addresses the serving certificate names: loopback, and the listen
/// address unless it is 0.0.0.0 (every address of the machine is more
/// than orc can know; `orc up` listens on one).
fn serving_addresses(listen: SocketAddr) -> Vec<IpAddr> {
    let mut addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if !listen.ip().is_unspecified() {
        addresses.push(listen.ip());
    }
    addresses
}

/// `<data-dir>/kubeconfig`, 0600: the admin's certificate (generated
/// PKI), or the token file's first token with the given certificate as
/// the authority to trust, or just the URL (plain HTTP).
fn write_kubeconfig(args: &ServerArgs, transport: &Transport, url: &str) -> Result<PathBuf> {
    let text = match transport {
        Transport::Generated(ca) => {
            kubeconfig::render_embedded(url, ca.ca_pem(), &ca.client(&credentials::admin())?)
        }
        _ => kubeconfig::render(
            url,
            client_token(args)?.as_deref(),
            args.security.tls_cert_file.as_deref(),
        ),
    };
    let path = args.data_dir.join("kubeconfig");
    orc_apiserver::pki::files::write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// The first token in a token file (`token,user,uid[,groups]` lines).
fn first_token(file: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the token file {}", file.display()))?;
    let tokens = orc_apiserver::authn::token_file::TokenFile::parse(&text)
        .with_context(|| format!("reading the token file {}", file.display()))?;
    Ok(tokens.first().map(str::to_string))
}

/// SIGINT (Ctrl-C) and SIGTERM (what `kill` and service managers send),
/// caught from the moment the server starts: a handler installed only when
/// the server is up would leave a window in which SIGTERM kills it outright,
/// with no drain (a test that stopped a freshly started server saw it).
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<ShutdownSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).context("catching SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("catching SIGTERM")?,
        })
    }

    /// Waits for either; its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
