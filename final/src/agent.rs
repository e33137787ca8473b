//! `orc agent`: one machine becomes a node of the cluster.
//!
//! It composes chapter 02's [`Agent`] (the sync loop, the pod network, the
//! containers) with chapter 03's [`NodeAgent`] (the Node object, the Lease,
//! the pods bound to this node, their statuses): what a kubelet is; and
//! runs chapter 06's proxy and cluster DNS and chapter 07's ingress for
//! the node: what kube-proxy, a node-local CoreDNS and an ingress
//! controller on every node (ingress-nginx as a DaemonSet) are. The
//! `orc` binary is the whole node: it is also the container runtime (run as
//! `orc-container`, see [`runtime_link`]) and each container's shim
//! (`orc shim`), so nothing else needs installing.
//!
//! Stopping the agent (Ctrl-C, SIGTERM) leaves the pods running; the next
//! `orc agent` with the same `--state-dir` adopts them.
//!
//! Its port (logs, exec, attach, port-forward) is HTTPS, as the kubelet's
//! (`--tls-cert-file`, `--tls-private-key-file`, `--client-ca-file`:
//! [`agent_tls`]), and serves whom the API server says it may, as the
//! kubelet with `--authentication-token-webhook` and
//! `--authorization-mode=Webhook`: a client certificate from the cluster
//! CA or a bearer token the API server vouches for (a TokenReview), then
//! a SubjectAccessReview on `nodes/<node>/<subresource>`
//! ([`orc_node::port_auth`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use orc_client::Client;
use orc_container::image::registry::PullOptions;
use orc_container::image::{DEFAULT_STORE, Store};
use orc_ingress::controller::status::{PROXY_LABEL, Publish};
use orc_ingress::server::IngressConfig;
use orc_node::port_auth::{ApiDelegation, CacheTtls};
use orc_node::{NodeAgent, NodeConfig, NodeIdentity};
use orc_pod::Ipv4Cidr;
use orc_pod::agent::auth::PortAuthorizer;
use orc_pod::agent::clock::{SystemClock, parse_duration};
use orc_pod::agent::layout::StateLayout;
use orc_pod::agent::tls::AgentTls;
use orc_pod::agent::{Agent, AgentConfig, server};
use orc_pod::image::StoreImages;
use orc_pod::resolv_conf::ClusterDns;
use orc_pod::source::{ManifestDir, PodSource};
use orc_services::ProxyConfig;
use orc_services::dns::{DnsConfig, DnsSockets, Upstream};

use crate::cli::kubeconfig;

/// `orc agent`'s flags, named as the kubelet's where there is one.
#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The API server, e.g. `http://127.0.0.1:6443` (default: the
    /// kubeconfig's current context).
    #[arg(long, conflicts_with = "kubeconfig")]
    pub server: Option<String>,
    /// The kubeconfig naming the API server (default: $KUBECONFIG, else
    /// ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The Node's name (default: the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The node's host name, reported as its Hostname address and its
    /// `kubernetes.io/hostname` label (default: this machine's). `orc up`
    /// gives each of its nodes its own, as they share one machine.
    #[arg(long)]
    pub hostname_override: Option<String>,
    /// The node's address, reported as its InternalIP: where the API
    /// server reaches the agent's port, and where the other nodes route
    /// this node's pods.
    #[arg(long, default_value = "127.0.0.1")]
    pub node_ip: Ipv4Addr,
    /// The address the agent's HTTP server listens on (the kubelet's
    /// `--address`; default: `--node-ip`). Differs from `--node-ip` when
    /// the node's address lives in `--node-netns` and the agent does not.
    #[arg(long)]
    pub address: Option<Ipv4Addr>,
    /// The block this node's pod addresses come from.
    #[arg(long, default_value = "10.244.0.0/24")]
    pub pod_cidr: Ipv4Cidr,
    /// Every node's pods together: traffic to it is not masqueraded.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: Ipv4Cidr,
    /// Pods, logs, the runtime's state and the IPAM file.
    #[arg(long, default_value = "/var/lib/orc/agent")]
    pub state_dir: PathBuf,
    /// The image store (chapter 01's, shared with `orc runtime image`).
    #[arg(long, default_value = DEFAULT_STORE)]
    pub images: PathBuf,
    /// Never pull: an image not in the store fails with `ErrImagePull`.
    #[arg(long)]
    pub no_pull: bool,
    /// The port of the agent's HTTP server (logs, health), reported in the
    /// Node's `daemonEndpoints`: the kubelet's 10250.
    #[arg(long, default_value_t = 10250)]
    pub port: u16,
    /// PEM certificate the agent's port is served with, for the node's
    /// address (`orc up` issues one from the cluster CA). Without it, a
    /// self-signed one is made at start, which an API server checking
    /// agents' certificates refuses.
    #[arg(long, requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// PEM CA client certificates must chain to (the API server presents
    /// one, CN `kube-apiserver-kubelet-client`). Without it only bearer
    /// tokens authenticate, and the API server's `kubectl logs`, `exec`
    /// and `port-forward` are refused (401).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// How long the API server's answer to a TokenReview of a bearer token
    /// presented on the agent's port is kept (the kubelet's flag).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub authentication_token_webhook_cache_ttl: Duration,
    /// How long a SubjectAccessReview that allowed a request on the
    /// agent's port is kept (the kubelet's flag).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub authorization_webhook_cache_authorized_ttl: Duration,
    /// How long a SubjectAccessReview that refused is kept (the kubelet's
    /// flag): a new RoleBinding takes effect within this.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,
    /// Static pod manifests to run besides the API's pods (the kubelet's
    /// `--pod-manifest-path`). Their status stays on the node: there are no
    /// mirror pods yet.
    #[arg(long)]
    pub manifests: Option<PathBuf>,
    /// The node's network namespace (default: the agent's own).
    #[arg(long)]
    pub node_netns: Option<PathBuf>,
    #[arg(long, default_value = "orc0")]
    pub bridge: String,
    /// The cgroup every pod lives under (the kubelet's `kubepods`).
    #[arg(long, default_value = "orc")]
    pub cgroup_root: String,
    /// How often the sync loop runs.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub sync_period: Duration,
    /// How often the node's Lease is renewed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub lease_period: Duration,
    /// How often the Node status is posted when nothing changed.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub node_status_period: Duration,
    /// The least time between two syncs of the service rules (chapter
    /// 06's proxy; kube-proxy's flag of the same name).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub iptables_min_sync_period: Duration,
    /// How often the service rules' jumps are checked (a missing one
    /// brings a full sync; full syncs also come every hour).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub iptables_sync_period: Duration,
    /// The cluster DNS address written into pods' resolv.conf: the
    /// `kube-dns` Service's cluster IP, which the agent creates if missing
    /// (the kubelet's `--cluster-dns`; the service CIDR's `.10`).
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: Ipv4Addr,
    /// The cluster domain (the kubelet's `--cluster-domain`).
    #[arg(long, default_value = orc_services::dns::CLUSTER_DOMAIN)]
    pub cluster_domain: String,
    /// The host's resolv.conf: `dnsPolicy: Default` pods get it, and its
    /// resolvers answer every name outside the cluster domain.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// On SIGINT or SIGTERM, stop every pod and remove the node's pod
    /// network before exiting (what draining a node does), instead of
    /// leaving the pods running for the next agent: `orc down` uses it to
    /// leave the machine as it found it.
    #[arg(long)]
    pub drain_on_stop: bool,
    /// The kubeconfig the node's proxy logs in with, as kube-proxy has its
    /// own (`orc up` gives it `system:kube-proxy`'s); default: the agent's.
    #[arg(long)]
    pub proxy_kubeconfig: Option<PathBuf>,
    /// The kubeconfig the node's cluster DNS logs in with (`orc up` gives
    /// it `orc:node-dns`'s); default: the agent's.
    #[arg(long)]
    pub dns_kubeconfig: Option<PathBuf>,
    /// The kubeconfig the node's ingress controller logs in with (`orc up`
    /// gives it `orc:ingress`'s); default: the agent's.
    #[arg(long)]
    pub ingress_kubeconfig: Option<PathBuf>,
    /// The port the ingress serves plain HTTP on, on the node's address
    /// (`--address`, else `--node-ip`).
    #[arg(long, default_value_t = 80)]
    pub ingress_http_port: u16,
    /// The port the ingress serves HTTPS on (certificates from the
    /// Ingresses' `spec.tls`).
    #[arg(long, default_value_t = 443)]
    pub ingress_https_port: u16,
    /// The port of the ingress's `/healthz` and `/metrics`
    /// (ingress-nginx's 10254), on the node's address.
    #[arg(long, default_value_t = 10254)]
    pub ingress_admin_port: u16,
    /// An address the claimed Ingresses publish in `status.loadBalancer`
    /// (repeatable), whatever the nodes. Default: the `InternalIP` of every
    /// Ready node labelled `ingress.orc.dev/proxy=true`, the label each
    /// agent that runs the ingress puts on its own Node; so every node's
    /// controller publishes the same list, and it follows nodes that stop
    /// or come back.
    #[arg(long)]
    pub ingress_publish_address: Vec<IpAddr>,
    /// A part of the node not to run, left to a student's own binary
    /// (repeatable): `proxy` (Services' iptables rules), `dns` (the
    /// cluster DNS, and the `kube-dns` Service it publishes) or `ingress`
    /// (the HTTP routing of Ingresses).
    #[arg(long, value_enum)]
    pub disable: Vec<NodePart>,
    /// The agent's, the proxy's, the DNS's and the ingress's wait for each
    /// answer of the API server.
    #[command(flatten)]
    pub client: crate::request_timeout::RequestTimeout,
}

/// What `orc agent --disable` leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NodePart {
    Proxy,
    Dns,
    Ingress,
}

// ANCHOR: serve_dns
/// Chapter 06's cluster DNS for this node: orc-dns on the pod bridge's
/// address (port 53, in the node's network namespace, where every local
/// pod reaches it), published as this node's endpoint of `kube-dns`.
/// Called once the bridge is up.
async fn serve_dns(
    args: &AgentArgs,
    client: &Client,
    node_netns: &Path,
    node_name: &str,
) -> Result<tokio::task::JoinHandle<()>> {
    let address = args.pod_cidr.gateway();
    let sockets = DnsSockets::bind_in(node_netns, (address, 53).into()).with_context(|| {
        format!("binding the cluster DNS server to {address}:53 (the pod bridge's address)")
    })?;
    let resolv = std::fs::read_to_string(&args.resolv_conf).unwrap_or_else(|error| {
        tracing::warn!(path = %args.resolv_conf.display(), %error,
            "cannot read the host's resolv.conf: names outside the cluster will fail");
        String::new()
    });
    let config = DnsConfig {
        zone: args.cluster_domain.clone(),
        upstream: Upstream::from_resolv_conf(&resolv),
    };
    let server = tokio::spawn({
        let client = client.clone();
        async move {
            if let Err(error) = orc_services::dns::run(client, config, sockets).await {
                tracing::error!(%error, "the cluster DNS server stopped");
            }
        }
    });
    // A Service the API server refuses (a --cluster-dns outside its
    // service range) leaves pods without names: say what to change.
    if let Err(error) =
        orc_services::dns::publish::publish(client, args.cluster_dns, node_name, address).await
    {
        tracing::warn!(%error, cluster_dns = %args.cluster_dns,
            "could not publish kube-dns at --cluster-dns: pods' names will not resolve; \
             give --cluster-dns the service range's .10");
    }
    Ok(server)
}
// ANCHOR_END: serve_dns

// ANCHOR: serve_ingress
/// Chapter 07's ingress for this node: orc-ingress on ports 80 and 443
/// (`--ingress-http-port`, `--ingress-https-port`) of the node's address,
/// claiming the Ingresses of orc's IngressClass and publishing
/// `--ingress-publish-address` (else the serving nodes' addresses) as
/// where they are served. Bound here, so a port in use stops the agent at
/// once; the Node is labelled as serving when it registers
/// ([`node_labels`]).
async fn serve_ingress(args: &AgentArgs, client: Client) -> Result<tokio::task::JoinHandle<()>> {
    let address = IpAddr::V4(args.address.unwrap_or(args.node_ip));
    let publish = match args.ingress_publish_address.is_empty() {
        true => Publish::ProxyNodes,
        false => Publish::Fixed(args.ingress_publish_address.clone()),
    };
    let config = IngressConfig {
        http: SocketAddr::new(address, args.ingress_http_port),
        https: SocketAddr::new(address, args.ingress_https_port),
        admin: SocketAddr::new(address, args.ingress_admin_port),
        publish,
        controller: orc_ingress::routes::class::CONTROLLER.to_string(),
        proxy: orc_ingress::proxy::Config::default(),
    };
    let bound = orc_ingress::server::bind(config).await.context(
        "starting the ingress (--ingress-http-port, --ingress-https-port, \
         --ingress-admin-port; or --disable ingress)",
    )?;
    Ok(tokio::spawn(async move {
        if let Err(error) = bound.serve(client).await {
            tracing::error!(%error, "the ingress stopped");
        }
    }))
}
// ANCHOR_END: serve_ingress

// ANCHOR: node_labels
/// The labels the agent owns on its Node: `ingress.orc.dev/proxy=true`
/// when this node runs the ingress, which is how every node's controller
/// knows to publish this node's address; taken off under `--disable
/// ingress`, so a node an earlier run labelled is not published for
/// ports nobody serves. Set with the node's own credential, at
/// registration: NodeRestriction forbids a node only `kubernetes.io` and
/// `k8s.io` labels (and `node-restriction.kubernetes.io`), not this one.
fn node_labels(args: &AgentArgs) -> BTreeMap<String, Option<String>> {
    let serving = !args.disable.contains(&NodePart::Ingress);
    let value = serving.then(|| "true".to_string());
    BTreeMap::from([(PROXY_LABEL.to_string(), value)])
}
// ANCHOR_END: node_labels
// ANCHOR: agent_tls
/// How the agent's port is served: TLS with the given certificate, or
/// with one made up at start (warned about); client certificates checked
/// against `--client-ca-file` (without it, warned about: the API server
/// cannot be authenticated), every request judged by `authorizer`.
pub fn agent_tls(
    args: &AgentArgs,
    authorizer: Arc<dyn PortAuthorizer>,
) -> Result<server::Listening> {
    let client_ca = args.client_ca_file.as_deref();
    if client_ca.is_none() {
        tracing::warn!(
            "no --client-ca-file: the agent cannot authenticate the API server, so \
             `kubectl logs`, `exec`, `attach` and `port-forward` are refused (401) on this node; \
             give it the cluster CA"
        );
    }
    let tls = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert), Some(key)) => AgentTls::from_files(cert, key, client_ca)
            .with_context(|| format!("--tls-cert-file {}", cert.display()))?,
        _ => {
            tracing::warn!(
                node_ip = %args.node_ip,
                "no --tls-cert-file: serving a self-signed certificate, which the API server \
                 cannot verify and refuses; give the agent a certificate for its node's \
                 address from the CA of the API server's --kubelet-certificate-authority"
            );
            let mut addresses = vec![std::net::IpAddr::from(args.node_ip)];
            addresses.extend(args.address.map(std::net::IpAddr::from));
            AgentTls::self_signed(&addresses, client_ca).context("the agent's TLS")?
        }
    };
    Ok(server::Listening::Tls { tls, authorizer })
}
// ANCHOR_END: agent_tls

// ANCHOR: port_auth
/// Who may use the agent's port: whom the API server says, asked as this
/// node and remembered for the kubelet's webhook cache TTLs.
fn port_authorizer(args: &AgentArgs, client: &Client, node_name: &str) -> Arc<dyn PortAuthorizer> {
    let ttls = CacheTtls {
        token: args.authentication_token_webhook_cache_ttl,
        authorized: args.authorization_webhook_cache_authorized_ttl,
        unauthorized: args.authorization_webhook_cache_unauthorized_ttl,
    };
    Arc::new(ApiDelegation::new(client.clone(), node_name, ttls))
}
// ANCHOR_END: port_auth

/// The name `orc` answers to as the container runtime.
pub const RUNTIME_NAME: &str = "orc-container";

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(args: AgentArgs) -> Result<()> {
    orc_client::logging::init();
    args.client.install();
    tokio::runtime::Runtime::new()?.block_on(serve(args))
}

async fn serve(args: AgentArgs) -> Result<()> {
    let client = connect(&args)?;
    // The proxy and the DNS log in as themselves when given a kubeconfig.
    let proxy_client = client_from(&args, args.proxy_kubeconfig.as_deref())?;
    let dns_client = client_from(&args, args.dns_kubeconfig.as_deref())?;
    let ingress_client = client_from(&args, args.ingress_kubeconfig.as_deref())?;
    let me = std::env::current_exe().context("finding the orc binary's own path")?;
    let hostname = args.hostname_override.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    });
    let node_name = args.node_name.clone().unwrap_or_else(|| hostname.clone());
    let store = Store::open(&args.images)
        .with_context(|| format!("opening the image store {}", args.images.display()))?;
    // The shipped recipes (the tutorials' apps) are built on first use,
    // before any registry is asked: this machine may have none.
    let images = Arc::new(
        StoreImages::new(store, (!args.no_pull).then(PullOptions::default))
            .with_recipes(Box::new(crate::image::builtin::ShippedRecipes)),
    );
    let config = AgentConfig {
        state_dir: args.state_dir.clone(),
        runtime_program: runtime_link(&args.state_dir, &me)?,
        shim_program: me,
        node_netns: args
            .node_netns
            .clone()
            .unwrap_or_else(|| orc_pod::netns::HOST_NETNS.into()),
        pod_cidr: args.pod_cidr,
        cluster_cidr: args.cluster_cidr,
        bridge: args.bridge.clone(),
        cgroup_root: args.cgroup_root.clone(),
        sync_period: args.sync_period,
        node_ip: Some(args.node_ip),
        cluster_dns: Some(ClusterDns {
            nameserver: args.cluster_dns.to_string(),
            domain: args.cluster_domain.clone(),
        }),
        host_resolv_conf: args.resolv_conf.clone(),
    };
    let version = env!("CARGO_PKG_VERSION");
    let node_config = NodeConfig {
        identity: NodeIdentity {
            name: node_name,
            ip: args.node_ip,
            hostname,
            pod_cidr: args.pod_cidr.to_string(),
            port: args.port,
            runtime_version: format!("orc://{version}"),
            agent_version: format!("v{version}"),
            state_dir: Some(std::path::absolute(&args.state_dir)?.display().to_string()),
            labels: node_labels(&args),
        },
        lease_period: args.lease_period,
        status_period: args.node_status_period,
    };

    // The HTTP server the API server forwards `kubectl logs` to, on the
    // address and port the Node will report (InternalIP, daemonEndpoints):
    // bound first, so a busy port stops the agent before it registers.
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = std::net::SocketAddr::from((args.address.unwrap_or(args.node_ip), args.port));
    let layout = StateLayout::new(&args.state_dir);
    let authorizer = port_authorizer(&args, &client, &node_config.identity.name);
    let listening = agent_tls(&args, authorizer)?;
    let runtime = config.runtime_program.clone();
    let (_, server) = server::spawn(addr, listening, layout, runtime, async {
        let _ = server_stopped.await;
    })
    .await
    .with_context(|| format!("listening on {addr} (--node-ip and --port)"))?;

    // Chapter 06's proxy: Services as iptables rules in the node's
    // namespace, what kube-proxy is beside a kubelet.
    let proxy_config = ProxyConfig {
        cluster_cidr: Some(args.cluster_cidr),
        netns: config.node_netns.clone(),
        min_sync_period: args.iptables_min_sync_period,
        sync_period: args.iptables_sync_period,
        ..ProxyConfig::new(node_config.identity.name.clone())
    };
    let proxy = match args.disable.contains(&NodePart::Proxy) {
        true => {
            tracing::info!("the proxy is disabled: Services need a proxy of one's own");
            None
        }
        false => Some(tokio::spawn(orc_services::proxy::run(
            proxy_client.clone(),
            proxy_config,
        ))),
    };

    // Chapter 07's ingress, bound before the Node registers (as the
    // agent's own port is): a busy port 80 fails here, naming the flag.
    let ingress = match args.disable.contains(&NodePart::Ingress) {
        true => {
            tracing::info!("the ingress is disabled: Ingresses need a controller of one's own");
            None
        }
        false => Some(serve_ingress(&args, ingress_client).await?),
    };

    let node_name = node_config.identity.name.clone();
    let node_netns = config.node_netns.clone();
    // ANCHOR: compose
    let mut node = NodeAgent::start(client.clone(), node_config).await?;
    let mut sources: Vec<Box<dyn PodSource>> = vec![node.pod_source()];
    if let Some(dir) = &args.manifests {
        sources.push(Box::new(ManifestDir::new(dir)));
    }
    let config_netns = config.node_netns.clone();
    let mut agent = Agent::new(config, sources, images, Arc::new(SystemClock)).await?;
    agent.add_status_sink(node.status_sink());
    agent.set_object_source(node.object_source());
    agent.set_event_sink(node.event_sink());
    node.wake_on_pod_changes(agent.waker());
    // The bridge and the node's address are up: route to the other nodes.
    // Reading every Node is the network's part, as a CNI daemon's: the
    // Node authorizer lets a node read only its own, so the routes follow
    // them with the proxy's credential, which may read them all.
    node.route_to_peers(proxy_client.clone(), config_netns, args.pod_cidr);
    // ANCHOR_END: compose
    let dns = match args.disable.contains(&NodePart::Dns) {
        true => {
            tracing::info!(cluster_dns = %args.cluster_dns,
                "the cluster DNS is disabled: pods' resolv.conf names --cluster-dns, which a DNS of one's own must serve");
            None
        }
        false => Some(serve_dns(&args, &dns_client, &node_netns, &node_name).await?),
    };

    tracing::info!(
        port = args.port,
        "agent running; SIGINT or SIGTERM stops it and leaves pods running"
    );
    agent.run(shutdown()).await;
    if args.drain_on_stop {
        tracing::info!("draining: stopping every pod, removing the pod network");
        agent
            .drain_and_teardown()
            .await
            .context("draining the node")?;
    } else {
        agent.wait_idle().await;
    }
    let _ = stop_server.send(());
    let _ = server.await;
    // The rules stay, as kube-proxy leaves them: Services keep working
    // while the agent restarts (`orc-proxy --cleanup` removes them).
    if let Some(proxy) = proxy {
        proxy.abort();
    }
    // The Ingresses keep their published addresses, as a node that
    // restarts serves them again on the same ones.
    if let Some(ingress) = ingress {
        ingress.abort();
    }
    if let Some(dns) = dns {
        dns.abort();
        if let Err(error) = orc_services::dns::publish::withdraw(&dns_client, &node_name).await {
            tracing::warn!(%error, "could not remove this node's kube-dns endpoint");
        }
    }
    node.stop(Duration::from_secs(2)).await;
    Ok(())
}

/// A client for the kubeconfig `path`, or the agent's own (see [`connect`]).
fn client_from(args: &AgentArgs, path: Option<&Path>) -> Result<Client> {
    match path {
        Some(path) => Ok(kubeconfig::load(path)?.client()),
        None => connect(args),
    }
}

/// A client for `--server`, or for the kubeconfig's current context.
fn connect(args: &AgentArgs) -> Result<Client> {
    if let Some(server) = &args.server {
        if !server.starts_with("http://") {
            bail!("--server {server}: orc's client speaks http:// only; give an http:// URL");
        }
        return Ok(Client::new(server.trim_end_matches('/')));
    }
    let connection = kubeconfig::load(&kubeconfig::locate(args.kubeconfig.as_deref()))?;
    Ok(connection.client())
}

// ANCHOR: runtime_link
/// `<state>/bin/orc-container`, a symbolic link to this binary. Chapter
/// 02's agent runs the runtime as a program (`orc-container --root R
/// create ...`, never forking containers from its own threaded process);
/// `orc` is that program when called by that name, as busybox is `ls` when
/// called `ls` (see `main.rs`).
pub fn runtime_link(state_dir: &Path, me: &Path) -> Result<PathBuf> {
    let dir = state_dir.join("bin");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let link = dir.join(RUNTIME_NAME);
    if std::fs::read_link(&link).ok().as_deref() != Some(me) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(me, &link)
            .with_context(|| format!("linking {} to {}", link.display(), me.display()))?;
    }
    Ok(link)
}
// ANCHOR_END: runtime_link

/// Completes on SIGINT or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stopping the agent; pods keep running");
}
