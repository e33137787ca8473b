//! The client verbs: `orc apply`, `get`, `describe`, `delete`, `logs`,
//! `explain`, `exec`, `port-forward`.
//!
//! They do what kubectl does, against the same REST API, so the course can
//! show that a CLI is nothing but an HTTP client with good manners:
//!
//! 1. find the server in a kubeconfig ([`kubeconfig`]);
//! 2. turn the typed resource name into a URL through discovery
//!    ([`resolve`]);
//! 3. send the request, asking for a server-side Table when printing rows
//!    ([`get`]), and print the answer ([`print`]);
//! 4. show server errors as kubectl shows them (`Error from server
//!    (NotFound): pods "x" not found`) and exit with status 1.
//!
//! ## Layout
//!
//! - [`kubeconfig`]: the current context's server, token and namespace.
//! - [`resolve`]: discovery, and `po` / `deployments.apps` / `Pod` to a URL.
//! - [`manifest`]: files, directories and stdin into documents, with the
//!   file, document index, line and column of any that do not parse.
//! - [`apply`], [`get`], [`describe`], [`delete`], [`logs`], [`explain`]:
//!   one verb each.
//! - [`exec`], [`port_forward`]: the streaming verbs, over a WebSocket to
//!   the pod's subresource, or the SPDY upgrade when that is refused
//!   ([`stream`]); [`remote_command`] carries exec's channels on either;
//!   [`forward_target`] turns `svc/web` into a pod and its ports.
//! - [`last_applied`]: apply's three-way merge, which can delete fields.
//! - [`secrets`]: `orc secrets reencrypt`, step 3 of a key rotation.
//! - [`print`]: table layout and `-o yaml|json`.

pub mod apply;
pub mod delete;
pub mod describe;
pub mod exec;
pub mod explain;
pub mod forward_target;
pub mod get;
pub mod kubeconfig;
pub mod last_applied;
pub mod logs;
pub mod manifest;
pub mod port_forward;
pub mod print;
pub mod remote_command;
pub mod resolve;
pub mod secrets;
pub mod stream;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use orc_client::{Client, ClientError};

use resolve::Discovery;

/// The client verbs, flattened into `orc`'s own subcommands.
#[derive(Subcommand)]
pub enum Verb {
    /// Create or update objects from manifests: `orc apply -f FILE|DIR|-`.
    Apply(apply::ApplyArgs),
    /// List objects as a table, or print them: `orc get pods -o yaml`.
    Get(get::GetArgs),
    /// Show one object and its events: `orc describe pod web`.
    Describe(describe::DescribeArgs),
    /// Delete objects by name or by manifest: `orc delete pod web`.
    Delete(delete::DeleteArgs),
    /// Print a container's log, from its node: `orc logs web -c app -f`.
    Logs(logs::LogsArgs),
    /// Why the scheduler placed a pod where it did, or why it could not:
    /// `orc explain pod web`.
    Explain(explain::ExplainArgs),
    /// Run a command in a container, exiting with its code:
    /// `orc exec -it web -- sh`.
    Exec(exec::ExecArgs),
    /// Forward local ports to a pod's: `orc port-forward web 8080:80`, or
    /// to a Service's pod: `orc port-forward svc/web 8080`.
    PortForward(port_forward::PortForwardArgs),
    /// Secrets at rest: `orc secrets reencrypt` writes every Secret again
    /// with the API server's current encryption key.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
}

/// Flags every client verb takes: which server, which namespace.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The kubeconfig to read (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The namespace (default: the context's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Every namespace (`get` only).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// What every verb works with: a client, discovery, a namespace.
pub struct Session {
    pub client: Client,
    pub discovery: Discovery,
    /// The namespace for objects that do not name one.
    pub namespace: String,
    /// Whether `-n` chose it: a manifest naming another one is then an
    /// error, not a silent choice.
    pub namespace_flag: bool,
    /// `-A`.
    pub all_namespaces: bool,
}

impl Session {
    /// Reads the kubeconfig and the server's discovery documents.
    pub async fn open(target: &Target) -> Result<Session> {
        let path = kubeconfig::locate(target.kubeconfig.as_deref());
        let connection = kubeconfig::load(&path)?;
        let client = connection.client();
        let discovery = Discovery::fetch(&client, &connection.server).await?;
        let namespace = target
            .namespace
            .clone()
            .or(connection.namespace)
            .unwrap_or_else(|| "default".into());
        Ok(Session {
            client,
            discovery,
            namespace,
            namespace_flag: target.namespace.is_some(),
            all_namespaces: target.all_namespaces,
        })
    }
}

/// A failure already printed (one line per failed object): only the exit
/// status is left to set.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("errors were reported above")
    }
}

impl std::error::Error for Reported {}

/// The remote command's exit code, which `orc exec` exits with (as
/// kubectl does), printing nothing more.
#[derive(Debug)]
pub struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "command terminated with exit code {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Runs one verb; on failure prints the error as kubectl would and exits 1.
pub fn run(verb: Verb) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        match verb {
            Verb::Apply(args) => apply::run(args).await,
            Verb::Get(args) => get::run(args).await,
            Verb::Describe(args) => describe::run(args).await,
            Verb::Delete(args) => delete::run(args).await,
            Verb::Logs(args) => logs::run(args).await,
            Verb::Explain(args) => explain::run(args).await,
            Verb::Exec(args) => exec::run(args).await,
            Verb::PortForward(args) => port_forward::run(args).await,
            Verb::Secrets(command) => secrets::run(command).await,
        }
    });
    if let Some(exit) = result.as_ref().err().and_then(|e| e.downcast_ref::<Exit>()) {
        // kubectl's last line, on stderr, then the command's own code.
        eprintln!("{exit}");
        std::process::exit(exit.0);
    }
    if let Err(error) = result {
        if error.downcast_ref::<Reported>().is_none() {
            eprintln!("{}", report(&error));
        }
        std::process::exit(1);
    }
    Ok(())
}

/// An error line as kubectl prints it.
pub fn report(error: &anyhow::Error) -> String {
    match error.downcast_ref::<ClientError>() {
        // kubectl's wording: a missing or wrong token is a login problem.
        Some(ClientError::Api { code: 401, .. }) => {
            "error: You must be logged in to the server (Unauthorized): check the user's token in the kubeconfig".into()
        }
        Some(ClientError::Api {
            reason, message, ..
        }) => server_error(reason, message),
        _ => {
            // The chain of causes, each once: reqwest's errors repeat their
            // source's text in their own.
            let mut parts: Vec<String> = Vec::new();
            for cause in error.chain() {
                let text = cause.to_string();
                if !parts.last().is_some_and(|last| last.contains(&text)) {
                    parts.push(text);
                }
            }
            format!("error: {}", parts.join(": "))
        }
    }
}

/// `Error from server (NotFound): pods "x" not found`; a 422 reads
/// `The Pod "x" is invalid: <field>: <why>; ...` as in kubectl.
pub fn server_error(reason: &str, message: &str) -> String {
    if reason == "Invalid" {
        format!("The {message}")
    } else {
        format!("Error from server ({reason}): {message}")
    }
}
