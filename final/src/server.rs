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

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::cli::kubeconfig;
use crate::etcd::EtcdProcess;

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
    /// Components not to start, left to a student's own binary (which
    /// then works against this API server like the built-in one).
    #[arg(long, value_enum)]
    pub disable: Vec<Component>,
    #[command(flatten)]
    pub security: orc_apiserver::server::SecurityFlags,
    #[command(flatten)]
    pub services: orc_apiserver::services::ServiceFlags,
    #[command(flatten)]
    pub limits: orc_apiserver::limits::LimitFlags,
    #[command(flatten)]
    pub compaction: orc_apiserver::compaction::CompactionFlags,
}

/// A component `orc server --disable` (and `orc up --disable`) leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Component {
    Scheduler,
    Controllers,
}

/// Runs until SIGINT or SIGTERM.
pub fn run(args: ServerArgs) -> Result<()> {
    orc_client::logging::init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServerArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "creating the data directory {} (choose another with --data-dir)",
            args.data_dir.display()
        )
    })?;
    // Root's only: it holds etcd (every Secret), its socket and the
    // kubeconfig with the cluster's token.
    std::fs::set_permissions(&args.data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (mode 0700)", args.data_dir.display()))?;
    // Dropped last: etcd stops after the API server.
    let (etcd, endpoint) = match &args.etcd {
        Some(url) => (None, url.clone()),
        None => {
            let process = EtcdProcess::start(&args.data_dir).await?;
            let endpoint = process.endpoint().to_string();
            (Some(process), endpoint)
        }
    };
    let config = args
        .security
        .apply(orc_apiserver::Config::new(&endpoint, args.listen));
    let mut config = args.services.apply(config);
    config.limits = args.limits.limits();
    config.compaction_interval = args.compaction.interval();
    let server = orc_apiserver::Server::bind(config)
        .await
        .map_err(|e| anyhow!("starting the API server: {e}"))?;
    let addr = server.local_addr()?;
    let scheme = if args.security.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{addr}");
    let path = write_kubeconfig(&args, &url)?;
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
    let components = match scheme {
        "http" => {
            let token = client_token(&args)?;
            let controllers = orc_controllers::Config {
                token: token.clone(),
                ..orc_controllers::Config::new(url.clone())
            };
            let mut scheduler = orc_scheduler::Config::new(url.clone());
            scheduler.token = token;
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
                println!(
                    "the controllers (garbage collector, ReplicaSet, Deployment, \
                     EndpointSlice, Endpoints) are running"
                );
                // Chapter 06's endpoint controllers run beside chapter 05's, as
                // in kube-controller-manager (they live in orc-services: the
                // book teaches them with Services).
                let endpoints =
                    orc_services::run_controllers(controllers.client(), controllers.workers);
                Some(tokio::spawn(async move {
                    tokio::join!(orc_controllers::run(controllers), endpoints);
                }))
            };
            Some((scheduler, controllers))
        }
        _ => {
            println!(
                "the scheduler and the controllers are not started: orc's client speaks plain HTTP only"
            );
            None
        }
    };
    tokio::select! {
        result = &mut serving => {
            result.context("the API server's task failed")?.context("serving the API")?;
        }
        signal = shutdown_signal() => {
            println!("{}: stopping the API server, then etcd", signal?);
        }
    }
    // The components first: their watches are connections the drain
    // below would otherwise wait for.
    if let Some((scheduler, controllers)) = components {
        for task in scheduler.into_iter().chain(controllers) {
            task.abort();
        }
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

/// `<data-dir>/kubeconfig`: the server, the first token of the token file
/// (if any), and for https the server's own certificate as the authority
/// to trust.
fn write_kubeconfig(args: &ServerArgs, url: &str) -> Result<PathBuf> {
    let token = client_token(args)?;
    let text = kubeconfig::render(
        url,
        token.as_deref(),
        args.security.tls_cert_file.as_deref(),
    );
    let path = args.data_dir.join("kubeconfig");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
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

/// Waits for SIGINT (Ctrl-C) or SIGTERM (what `kill` and service managers send).
async fn shutdown_signal() -> Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    })
}
