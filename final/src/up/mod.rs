//! `orc up`, `orc down`, `orc status`: a whole cluster on this machine with
//! one command, and gone again with another.
//!
//! `orc up` composes the commands that already run each part: one `orc
//! server` (etcd as its child, the API server, the scheduler, the
//! controllers) and one `orc agent` per node (the agent, its proxy, DNS
//! and ingress),
//! each node a network namespace on a private LAN ([`network`]). It waits
//! until every Node is Ready and the `kubernetes` Service exists, prints
//! the time that took, makes orc's IngressClass the default ([`ingress`]),
//! adds a context to the user's kubeconfig, and then
//! stays in the foreground until Ctrl-C (or exits with `--detach`).
//! `orc down` stops the agents (which stop their pods and remove their
//! pod networks: `orc agent --drain-on-stop`), then the server (which stops
//! etcd), then deletes the namespaces: the machine is left as it was
//! found. The data directory stays, so the next `orc up` on it finds every
//! object again; `--purge` removes it.
//!
//! ## Layout
//!
//! - [`network`]: the LAN and the nodes' namespaces (plan, create, delete).
//! - [`processes`]: starting components detached, stopping them by pid.
//! - [`record`]: `<data-dir>/up.json`, what `orc down` and `orc status` read.
//! - [`kubeconfig`]: the context `orc up` adds to the user's kubeconfig.
//! - [`leftovers`]: what an agent that could not drain its node left.
//! - [`ingress`]: the default IngressClass, and the nodes' ingress ports.
//! - [`node`]: `orc node stop|start|partition|heal`, a node's failures
//!   on purpose.
//! - [`storage`]: the API server's compaction, defragmentation, watch
//!   cache and Event TTL flags, passed on to `orc server`.
//! - [`audit`]: the API server's audit flags, passed on to `orc server`.

mod audit;
mod ingress;
mod kubeconfig;
mod leftovers;
mod network;
pub mod node;
mod processes;
mod record;
mod storage;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::credentials::{self, ClusterCa};
use orc_client::{Client, Method};

use network::{CLUSTER_CIDR, Cable};
use orc_pod::agent::clock::parse_duration;
use record::Record;

/// The API server's port (kube-apiserver's secure port).
const API_PORT: u16 = 6443;
/// The scheduler's /healthz port (kube-scheduler's).
const SCHEDULER_PORT: u16 = 10259;
/// kube-controller-manager's port for `/healthz` and `/metrics`.
const CONTROLLERS_PORT: u16 = 10257;
/// The agents' port (the kubelet's).
const AGENT_PORT: u16 = 10250;
/// How long an agent may take to stop its pods (their grace periods
/// included) before it is killed.
const AGENT_STOP: Duration = Duration::from_secs(60);

/// The flags of `orc up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// The cluster's data: etcd, the nodes' state, logs. It names the
    /// cluster for `orc down` and `orc status`.
    #[arg(long, default_value = "/var/lib/orc")]
    pub data_dir: PathBuf,
    /// How many nodes, each a network namespace with its own agent.
    #[arg(long, default_value_t = 1)]
    pub nodes: u8,
    /// Exit once the cluster is Ready, leaving it running.
    #[arg(long)]
    pub detach: bool,
    /// The kubeconfig to add the cluster's context to (default:
    /// $KUBECONFIG, else ~/.kube/config, as kubectl looks).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// A component not to start, left to the student's own binary
    /// (repeatable): `scheduler`, `controllers` (the control plane's),
    /// `proxy`, `dns`, `ingress` (every node's).
    #[arg(long, value_enum)]
    pub disable: Vec<Part>,
    /// The port every node's ingress serves plain HTTP on, on the node's
    /// address.
    #[arg(long, default_value_t = 80)]
    pub ingress_http_port: u16,
    /// The port every node's ingress serves HTTPS on.
    #[arg(long, default_value_t = 443)]
    pub ingress_https_port: u16,
    /// The API server's audit log, policy and mode, passed to `orc
    /// server` ([`audit`]).
    #[command(flatten)]
    pub audit: audit::AuditFlags,
    #[command(flatten)]
    pub heartbeats: Heartbeats,
    /// The HorizontalPodAutoscaler controller's period, tolerance and
    /// windows, passed to `orc server` (kube-controller-manager's flags).
    #[command(flatten)]
    pub hpa: orc_controllers::hpa::flags::HpaFlags,
    /// etcd's compaction and defragmentation, and the watch cache,
    /// passed to `orc server` ([`storage`]).
    #[command(flatten)]
    pub storage: storage::StorageFlags,
    /// Every client's wait for an answer: `orc up`'s own, and passed on
    /// to the server and the agents.
    #[command(flatten)]
    pub client: crate::request_timeout::RequestTimeout,
    /// How long `orc up` waits for every node to be Ready before it gives
    /// up and takes down what it started. Lengthen it, with
    /// --client-request-timeout, on a very slow machine.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub ready_timeout: Duration,
}

/// How fast the control plane notices a node that went silent, and how
/// often the nodes speak: Kubernetes' defaults unless given. Shorter
/// periods show a node failure in seconds (`orc node stop`), at the cost
/// of more requests.
#[derive(Args, Debug, Default)]
pub struct Heartbeats {
    /// How long a node may go unheard before it is marked NotReady and
    /// tainted unreachable (kube-controller-manager's flag; 50s).
    #[arg(long, value_parser = parse_duration)]
    pub node_monitor_grace_period: Option<Duration>,
    /// How often the node lifecycle controller looks at every node
    /// (kube-controller-manager's flag; 5s).
    #[arg(long, value_parser = parse_duration)]
    pub node_monitor_period: Option<Duration>,
    /// How often every node renews its Lease (the kubelet renews every
    /// quarter of `--node-lease-duration-seconds`: 10s). Keep it well
    /// under the grace period.
    #[arg(long, value_parser = parse_duration)]
    pub node_lease_period: Option<Duration>,
}

impl Heartbeats {
    /// The flags `orc server` takes for these.
    fn server_flags(&self) -> Vec<String> {
        let flags = [
            (
                "--node-monitor-grace-period",
                self.node_monitor_grace_period,
            ),
            ("--node-monitor-period", self.node_monitor_period),
        ];
        flags
            .iter()
            .filter_map(|(flag, value)| value.map(|d| format!("{flag}={}ms", d.as_millis())))
            .collect()
    }

    /// The flags every `orc agent` takes for these.
    fn agent_flags(&self) -> Vec<String> {
        self.node_lease_period
            .map(|d| format!("--lease-period={}ms", d.as_millis()))
            .into_iter()
            .collect()
    }
}

// ANCHOR: part
/// A part of the cluster `orc up --disable` leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Scheduler,
    Controllers,
    Proxy,
    Dns,
    Ingress,
}

impl Part {
    /// The `--disable` value `orc server` or `orc agent` takes for it.
    fn flag(self) -> String {
        let value = self.to_possible_value().expect("every part has a name");
        format!("--disable={}", value.get_name())
    }

    /// Whether it runs in `orc server` (else in each `orc agent`).
    fn in_server(self) -> bool {
        matches!(self, Part::Scheduler | Part::Controllers)
    }
}
// ANCHOR_END: part

/// The flags of `orc down`.
#[derive(Args, Debug)]
pub struct DownArgs {
    #[arg(long, default_value = "/var/lib/orc")]
    pub data_dir: PathBuf,
    /// Also remove the data directory: the cluster's objects are gone.
    #[arg(long)]
    pub purge: bool,
}

/// The flags of `orc status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[arg(long, default_value = "/var/lib/orc")]
    pub data_dir: PathBuf,
}

/// `orc up`.
pub fn up(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    args.client.install();
    let data_dir = absolute(&args.data_dir)?;
    // A bad policy stops `orc up` before anything starts, not the
    // server after the network is made.
    if let Some(path) = &args.audit.audit_policy_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the audit policy file {}", path.display()))?;
        orc_apiserver::audit::Policy::parse(&text)
            .map_err(|e| anyhow::anyhow!("audit policy file {}: {e}", path.display()))?;
    }
    // Checked before anything is made: without it every node's agent
    // fails later on some cgroup file it cannot find.
    let cgroups = Path::new(orc_container::cgroups::CGROUP_ROOT);
    if let Some(why) = orc_container::cgroups::not_mounted(cgroups) {
        bail!("{why}");
    }
    if let Some(record) = Record::read(&data_dir)? {
        if processes::running(record.server_pid, &data_dir) {
            bail!(
                "a cluster is already up on {} (API server {}); `orc down --data-dir {}` stops it",
                data_dir.display(),
                record.api_url,
                data_dir.display()
            );
        }
        // A record without its processes: a machine that rebooted, or an
        // `orc up` that was killed. Clear what is left, then start afresh.
        eprintln!(
            "{}: clearing a cluster that no longer runs",
            data_dir.display()
        );
        down_recorded(&record);
    }
    std::fs::create_dir_all(data_dir.join("logs")).with_context(|| {
        format!(
            "creating {} (choose another with --data-dir)",
            data_dir.display()
        )
    })?;
    // Root's only: etcd's data holds every Secret, and the logs and the
    // server's kubeconfig are the cluster's too.
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", data_dir.display()))?;
    // The cluster CA before anything that needs it: the server's serving
    // certificate and every component's identity come from it.
    let ca = ClusterCa::open(&data_dir.join("pki"))?;
    let id = record::cluster_id(&data_dir);
    let net = network::plan(&id, args.nodes, &network::current_routes()?)?;
    network::create(&net)?;
    let kubeconfig_path = crate::cli::kubeconfig::locate(args.kubeconfig.as_deref());
    let mut record = Record {
        api_url: format!("https://{}:{API_PORT}", net.uplink_address),
        scheduler_url: (!args.disable.contains(&Part::Scheduler))
            .then(|| format!("http://{}:{SCHEDULER_PORT}", net.uplink_address)),
        controllers_url: (!args.disable.contains(&Part::Controllers))
            .then(|| format!("http://{}:{CONTROLLERS_PORT}", net.uplink_address)),
        id,
        data_dir: data_dir.clone(),
        network: net,
        server_pid: 0,
        agent_pids: vec![],
        agent_commands: vec![],
        ingress_admin_port: (!args.disable.contains(&Part::Ingress)).then_some(ingress::ADMIN_PORT),
        kubeconfig_created: !kubeconfig_path.exists(),
        kubeconfig: kubeconfig_path,
    };
    // From here on, a failure takes down what was started.
    let ports = ingress::Ports {
        http: args.ingress_http_port,
        https: args.ingress_https_port,
    };
    match start(&mut record, &ca, &args, ports) {
        Ok(()) => {}
        Err(e) => {
            down_recorded(&record);
            return Err(e);
        }
    }
    println!(
        "cluster {} is Ready in {:.1} s: {} node(s), API server {}",
        record.id,
        started.elapsed().as_secs_f64(),
        record.network.nodes.len(),
        record.api_url
    );
    println!(
        "kubectl context {} in {}",
        record.id,
        record.kubeconfig.display()
    );
    if args.detach {
        println!("`orc down --data-dir {}` stops it", data_dir.display());
        return Ok(());
    }
    println!("Ctrl-C stops it (`orc up --detach` leaves it running)");
    wait_for_signal()?;
    // Read again: `orc node start` may have started an agent anew since,
    // under another pid.
    let record = Record::read(&data_dir)?.unwrap_or(record);
    down_recorded(&record);
    Ok(())
}

/// Starts the server and the agents, writes the record and the
/// kubeconfig, and waits for Ready.
fn start(
    record: &mut Record,
    ca: &ClusterCa,
    args: &UpArgs,
    ingress_ports: ingress::Ports,
) -> Result<()> {
    let disable = &args.disable;
    let me = std::env::current_exe().context("finding the orc binary's own path")?;
    let dir = record.data_dir.clone();
    let listen = record.network.uplink_address;

    let mut server = Command::new(&me);
    server
        .arg("server")
        .arg("--data-dir")
        .arg(dir.join("server"))
        .arg("--pki-dir")
        .arg(dir.join("pki"))
        .arg(format!("--listen={listen}:{API_PORT}"))
        // Every request is authorized, as kube-apiserver's recommended
        // `--authorization-mode=Node,RBAC`: each agent below logs in as its
        // own node and may touch only its own Node, Lease and pods and what
        // they name; every other component as the user its role is bound to.
        .arg("--authorization-mode=Node,RBAC");
    // Every request audited (`orc server` writes its default policy
    // unless given one); the log beside the cluster's other data.
    let audit_log = match &args.audit.audit_log_path {
        Some(path) if path.as_os_str() == "-" => path.clone(),
        Some(path) => absolute(path)?,
        None => dir.join("audit.log"),
    };
    server.arg("--audit-log-path").arg(audit_log);
    if let Some(policy) = &args.audit.audit_policy_file {
        server.arg("--audit-policy-file").arg(absolute(policy)?);
    }
    server.arg(args.audit.mode_flag());
    if record.scheduler_url.is_some() {
        server.arg(format!("--scheduler-listen={listen}:{SCHEDULER_PORT}"));
    }
    if record.controllers_url.is_some() {
        server.arg(format!("--controllers-listen={listen}:{CONTROLLERS_PORT}"));
    }
    server.args(disable.iter().filter(|p| p.in_server()).map(|p| p.flag()));
    server.args(args.heartbeats.server_flags());
    server.args(args.hpa.to_args());
    server.args(args.storage.server_flags());
    server.args(args.client.to_args());
    // The server must not cut first what its clients wait for: a client
    // wait longer than the server's own `--request-timeout` (60 s, after
    // which it answers 504) lengthens that too.
    if let Some(wait) = args.client.client_request_timeout {
        if wait > Duration::from_secs(60) {
            server.arg(format!("--request-timeout={}ms", wait.as_millis()));
        }
    }
    record.server_pid = processes::spawn(server, &dir.join("logs/server.log"))?;
    println!(
        "server ({}): pid {}, log {}",
        started(
            &["etcd", "API server"],
            &[
                (Part::Scheduler, "scheduler"),
                (Part::Controllers, "controllers")
            ],
            disable
        ),
        record.server_pid,
        dir.join("logs/server.log").display()
    );
    record.write()?;

    // ANCHOR: identities
    // The nodes' proxy and DNS log in as themselves, as kube-proxy and
    // CoreDNS do: one credential each, shared by every node.
    let proxy = component_kubeconfig(record, ca, "proxy", &credentials::proxy())?;
    let dns = component_kubeconfig(record, ca, "dns", &credentials::node_dns())?;
    // ANCHOR_END: identities
    // The ingress too, as ingress-nginx under its own ServiceAccount.
    let ingress = component_kubeconfig(record, ca, "ingress", &credentials::ingress())?;
    let parts = started(
        &["agent"],
        &[
            (Part::Proxy, "proxy"),
            (Part::Dns, "DNS"),
            (Part::Ingress, "ingress"),
        ],
        disable,
    );
    for node in &record.network.nodes {
        // The agent runs inside its node's namespace (nsenter joins only
        // the network namespace): its port and its Node's address are the
        // node's own.
        // Each agent logs in as its own node, `system:node:<name>`.
        let kubeconfig = node_kubeconfig(record, ca, &node.name)?;
        // Its port serves TLS for the node's address, to the API server
        // alone (the client certificate `orc server` presents).
        let (cert, key) = ca.agent_serving(&node.name, node.address.into())?;
        let mut agent = Command::new("nsenter");
        agent
            .arg(format!("--net={}", node.netns_path()))
            .arg(&me)
            .arg("agent")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg(format!("--node-name={}", node.name))
            .arg(format!("--hostname-override={}", node.name))
            .arg(format!("--node-ip={}", node.address))
            .arg(format!("--pod-cidr={}", node.pod_cidr))
            .arg(format!("--cluster-cidr={CLUSTER_CIDR}"))
            .arg("--state-dir")
            .arg(dir.join("nodes").join(&node.name))
            .arg("--images")
            .arg(dir.join("nodes").join(&node.name).join("images"))
            .arg(format!("--node-netns={}", node.netns_path()))
            .arg(format!("--cgroup-root={}-{}", record.id, node.name))
            .arg(format!("--port={AGENT_PORT}"))
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-private-key-file")
            .arg(&key)
            .arg("--client-ca-file")
            .arg(ca.ca_file())
            .arg("--drain-on-stop")
            .arg("--proxy-kubeconfig")
            .arg(&proxy)
            .arg("--dns-kubeconfig")
            .arg(&dns)
            .arg("--ingress-kubeconfig")
            .arg(&ingress)
            .args(ingress::agent_flags(ingress_ports))
            .args(args.heartbeats.agent_flags())
            .args(args.client.to_args())
            .args(disable.iter().filter(|p| !p.in_server()).map(|p| p.flag()));
        record.agent_commands.push(command_line(&agent)?);
        let log = dir.join(format!("logs/{}.log", node.name));
        let pid = processes::spawn(agent, &log)?;
        println!(
            "{} ({parts}) at {}: pid {pid}, log {}",
            node.name,
            node.address,
            log.display()
        );
        record.agent_pids.push(pid);
        record.write()?;
    }

    let existing = std::fs::read_to_string(&record.kubeconfig).ok();
    let admin = ca.client(&credentials::admin())?;
    let credentials = kubeconfig::Credentials {
        server: &record.api_url,
        ca_pem: ca.ca_pem(),
        user: &admin,
    };
    let merged = kubeconfig::merge(existing.as_deref(), &record.id, &credentials)?;
    kubeconfig::write_private(&record.kubeconfig, &merged)?;

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let client = Client::new(&record.api_url).with_tls(&ca.client_tls(&credentials::admin())?);
    runtime.block_on(async {
        let controllers = !args.disable.contains(&Part::Controllers);
        wait_ready(record, &client, args.ready_timeout, controllers).await?;
        ingress::ensure_default_class(&client).await
    })
}

/// `command` as words, its program first: kept in the record so that
/// `orc node start` can run it again.
fn command_line(command: &Command) -> Result<Vec<String>> {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| {
            word.to_str().map(String::from).with_context(|| {
                format!("{word:?} is not UTF-8; choose a --data-dir whose path is")
            })
        })
        .collect()
}

/// What a process runs: `always`, then each of `optional` not disabled.
fn started(always: &[&str], optional: &[(Part, &str)], disable: &[Part]) -> String {
    let optional = optional
        .iter()
        .filter(|(part, _)| !disable.contains(part))
        .map(|(_, name)| *name);
    let names: Vec<&str> = always.iter().copied().chain(optional).collect();
    names.join(", ")
}

/// `<data-dir>/kubeconfigs/<node>.conf`, 0600: node `name`'s own
/// credential (`system:node:<name>`, group `system:nodes`).
fn node_kubeconfig(record: &Record, ca: &ClusterCa, name: &str) -> Result<PathBuf> {
    component_kubeconfig(record, ca, name, &credentials::node(name))
}

/// `<data-dir>/kubeconfigs/<file>.conf`, 0600: a fresh certificate for
/// `subject`, embedded beside the CA and the API server's URL.
fn component_kubeconfig(
    record: &Record,
    ca: &ClusterCa,
    file: &str,
    subject: &orc_apiserver::pki::Subject,
) -> Result<PathBuf> {
    let issued = ca.client(subject)?;
    let text = crate::cli::kubeconfig::render_embedded(&record.api_url, ca.ca_pem(), &issued);
    let path = record
        .data_dir
        .join("kubeconfigs")
        .join(format!("{file}.conf"));
    kubeconfig::write_private(&path, &text)?;
    Ok(path)
}

/// Polls the API until every node is Ready and the `kubernetes` Service
/// exist, and the `default` ServiceAccount too when the `controllers`
/// run (they make it); fails early, with the log to read, when a component exits.
async fn wait_ready(
    record: &Record,
    client: &Client,
    timeout: Duration,
    controllers: bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let pids = std::iter::once((record.server_pid, "server".to_string())).chain(
            record
                .agent_pids
                .iter()
                .zip(&record.network.nodes)
                .map(|(pid, node)| (*pid, node.name.clone())),
        );
        for (pid, name) in pids {
            if !processes::running(pid, &record.data_dir) {
                bail!(
                    "{name} exited while the cluster started; its log is {}",
                    record.data_dir.join(format!("logs/{name}.log")).display()
                );
            }
        }
        if ready(client, record.network.nodes.len(), controllers).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the cluster was not Ready within {timeout:?} (--ready-timeout); the logs are in {}",
                record.data_dir.join("logs").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `nodes` Nodes are Ready, the `kubernetes` Service exists, and
/// (with the `controllers`) so does the `default` ServiceAccount of
/// `default`: until the controllers make it, the `ServiceAccount`
/// admission step refuses every pod there (`serviceaccount "default" not
/// found`), which a first `kubectl apply` right after `orc up` met (once
/// in a run of the suite).
async fn ready(client: &Client, nodes: usize, controllers: bool) -> bool {
    let mut paths = vec!["/api/v1/namespaces/default/services/kubernetes"];
    if controllers {
        paths.push("/api/v1/namespaces/default/serviceaccounts/default");
    }
    for path in paths {
        if client
            .send_path(Method::GET, path, None, None)
            .await
            .is_err()
        {
            return false;
        }
    }
    let Ok(list) = client
        .send_path(Method::GET, "/api/v1/nodes", None, None)
        .await
    else {
        return false;
    };
    let ready = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|n| orc_client::conditions::is_ready(n))
                .count()
        })
        .unwrap_or(0);
    ready >= nodes
}

/// `orc down`.
pub fn down(args: DownArgs) -> Result<()> {
    let data_dir = absolute(&args.data_dir)?;
    match Record::read(&data_dir)? {
        Some(record) => {
            down_recorded(&record);
            println!("cluster {} is down", record.id);
        }
        None => println!("no cluster is up on {}", data_dir.display()),
    }
    if args.purge && data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("removing {}", data_dir.display()))?;
        println!("removed {}", data_dir.display());
    }
    Ok(())
}

/// Stops what `record` names, in order: the agents (each stops its pods
/// and removes its pod network), the server (then etcd), the namespaces,
/// the kubeconfig context, the record. Each step goes on after a failed
/// one, warning: what can be removed is.
fn down_recorded(record: &Record) {
    let dir = &record.data_dir;
    // A partitioned node (`orc node partition`) gets its cable back first,
    // so that its agent can tell the API server about the pods it stops.
    for index in 0..record.network.nodes.len() {
        if network::cable(&record.network, index).ok() == Some(Cable::Pulled) {
            if let Err(e) = network::set_cable(&record.network, index, Cable::Connected) {
                eprintln!("warning: {e:#}");
            }
        }
    }
    // The agents in parallel: each waits for its own pods' grace periods.
    std::thread::scope(|scope| {
        for (pid, node) in record.agent_pids.iter().zip(&record.network.nodes) {
            scope.spawn(move || {
                if !processes::stop(*pid, dir, AGENT_STOP) {
                    eprintln!(
                        "warning: {} did not stop its pods in {AGENT_STOP:?} and was killed",
                        node.name
                    );
                }
            });
        }
    });
    for node in &record.network.nodes {
        let state = dir.join("nodes").join(&node.name);
        for what in leftovers::remove(&state, &format!("{}-{}", record.id, node.name)) {
            eprintln!("warning: {} left {what}; removed", node.name);
        }
    }
    if record.server_pid != 0 && !processes::stop(record.server_pid, dir, Duration::from_secs(20)) {
        eprintln!("warning: the server did not stop on SIGTERM and was killed");
    }
    network::delete(&record.network);
    if let Err(e) = remove_context(record) {
        eprintln!("warning: {e:#}");
    }
    if let Err(e) = Record::remove(dir) {
        eprintln!("warning: {e:#}");
    }
}

/// Takes the cluster's context out of the kubeconfig, or removes the file
/// if `orc up` made it and nothing else is in it.
fn remove_context(record: &Record) -> Result<()> {
    let path = &record.kubeconfig;
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let (rest, left) =
        kubeconfig::remove(&text, &record.id).with_context(|| format!("in {}", path.display()))?;
    if record.kubeconfig_created && !left {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))
    } else {
        kubeconfig::write_private(path, &rest)
    }
}

/// `orc status`: each component's process and `/healthz`.
pub fn status(args: StatusArgs) -> Result<()> {
    let data_dir = absolute(&args.data_dir)?;
    let Some(record) = Record::read(&data_dir)? else {
        bail!(
            "no cluster is up on {}; `orc up --data-dir {}` starts one",
            data_dir.display(),
            data_dir.display()
        );
    };
    println!("cluster {} on {}", record.id, data_dir.display());
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // The API server's /healthz over TLS, trusting the cluster CA.
    let ca = ClusterCa::open(&data_dir.join("pki"))?;
    let admin = ca.client_tls(&credentials::admin())?;
    let mut checks = vec![(
        "server".to_string(),
        record.server_pid,
        Some(record.api_url.clone()),
    )];
    if let Some(url) = &record.scheduler_url {
        checks.push(("scheduler".into(), record.server_pid, Some(url.clone())));
    }
    if let Some(url) = &record.controllers_url {
        checks.push(("controllers".into(), record.server_pid, Some(url.clone())));
    }
    for (index, (pid, node)) in record
        .agent_pids
        .iter()
        .zip(&record.network.nodes)
        .enumerate()
    {
        if network::cable(&record.network, index).ok() == Some(Cable::Pulled) {
            println!(
                "{:<14} partitioned: `orc node heal {}` reconnects it",
                node.name, node.name
            );
        }
        // The agents serve TLS with certificates from the cluster CA.
        let url = format!("https://{}:{AGENT_PORT}", node.address);
        checks.push((node.name.clone(), *pid, Some(url)));
        // The node's ingress, in the agent's process, on its own port.
        if let Some(port) = record.ingress_admin_port {
            let url = format!("http://{}:{port}", node.address);
            checks.push((format!("{} ingress", node.name), *pid, Some(url)));
        }
    }
    let mut healthy = true;
    for (name, pid, url) in checks {
        let health = if !processes::running(pid, &data_dir) {
            "not running".to_string()
        } else if let Some(url) = url {
            runtime.block_on(healthz(&url, &admin))
        } else {
            "running".to_string()
        };
        healthy &= health == "ok";
        println!("{name:<14} pid {pid:<8} /healthz: {health}");
    }
    if !healthy {
        bail!(
            "not every component is healthy; the logs are in {}",
            data_dir.join("logs").display()
        );
    }
    Ok(())
}

/// What `url/healthz` answers, or why it did not.
async fn healthz(url: &str, tls: &orc_client::tls::ClientTls) -> String {
    let client = match url.starts_with("https://") {
        true => Client::new(url).with_tls(tls),
        false => Client::new(url),
    };
    match client.stream_path("/healthz").await {
        Ok(response) => response
            .text()
            .await
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|e| e.to_string()),
        Err(e) => e.to_string(),
    }
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_signal() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        println!("stopping the cluster");
        anyhow::Ok(())
    })
}
