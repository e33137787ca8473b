//! `orc delete`: by type and names, or every object of some manifests.
//!
//! A DELETE may only *mark* an object: a pod bound to a node gets a
//! `deletionTimestamp` and goes when its node has stopped it, an object with
//! finalizers when they are removed. Like kubectl (`--wait`, on by default),
//! orc then waits until the object is really gone, so a script's next step
//! does not find it still there.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use orc_client::Method;
use orc_pod::agent::clock::parse_duration;
use serde_json::Value;

use super::resolve::ApiResource;
use super::{Reported, Session, Target, manifest, report};

#[derive(Args)]
pub struct DeleteArgs {
    /// The resource type (`pods`, `deploy`, ...), or TYPE/NAME.
    pub resource: Option<String>,
    /// The objects to delete.
    pub names: Vec<String>,
    /// Delete the objects these manifests name instead.
    #[arg(short = 'f', long = "filename", conflicts_with = "resource")]
    pub files: Vec<String>,
    /// Wait until the objects are gone, not only marked for deletion.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub wait: bool,
    /// Give up waiting after this long (`30s`, `2m`); without it, wait as
    /// long as it takes.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub target: Target,
}

/// One object to delete: its resource, namespace and name.
type Doomed = (ApiResource, Option<String>, String);

pub async fn run(args: DeleteArgs) -> Result<()> {
    let session = Session::open(&args.target).await?;
    let mut targets: Vec<Result<Doomed, String>> = Vec::new();
    if !args.files.is_empty() {
        for document in manifest::read_all(&args.files)? {
            targets.push(
                document
                    .object
                    .map_err(|e| format!("error: {e}"))
                    .and_then(|o| {
                        from_manifest(&session, &o).map_err(|e| {
                            format!(
                                "error: {} (document {}): {e}",
                                document.source, document.index
                            )
                        })
                    }),
            );
        }
    } else {
        let Some(typed) = &args.resource else {
            bail!("say what to delete: orc delete TYPE NAME..., or orc delete -f FILE");
        };
        let mut names = args.names.clone();
        let typed = match typed.split_once('/') {
            Some((t, n)) => {
                names.insert(0, n.to_string());
                t
            }
            None => typed.as_str(),
        };
        if names.is_empty() {
            bail!("name the {typed} to delete: orc delete {typed} NAME...");
        }
        let resource = session.discovery.by_name(typed)?;
        let ns = resource.namespaced.then(|| session.namespace.clone());
        for name in names {
            targets.push(Ok((resource.clone(), ns.clone(), name)));
        }
    }
    let mut failed = false;
    let mut marked = Vec::new();
    for target in targets {
        let result = match target {
            Err(line) => Err(line),
            Ok((resource, ns, name)) => {
                let path = resource.path(ns.as_deref(), Some(&name));
                match session
                    .client
                    .send_path(Method::DELETE, &path, None, None)
                    .await
                {
                    Ok(answer) => {
                        if still_there(&answer) {
                            marked.push((path, name.clone(), uid(&answer)));
                        }
                        Ok(format!("{} \"{name}\" deleted", resource.qualified()))
                    }
                    Err(e) => Err(report(&e.into())),
                }
            }
        };
        match result {
            Ok(line) => println!("{line}"),
            Err(line) => {
                eprintln!("{line}");
                failed = true;
            }
        }
    }
    if args.wait {
        let deadline = args.timeout.map(|t| Instant::now() + t);
        for (path, name, uid) in marked {
            if let Err(line) = wait_gone(&session, &path, &name, &uid, deadline).await {
                eprintln!("{line}");
                failed = true;
            }
        }
    }
    if failed { Err(Reported.into()) } else { Ok(()) }
}

/// Whether a DELETE's answer is the object itself, only marked for
/// deletion (a `Status` answer, or none, means it is gone).
fn still_there(answer: &Value) -> bool {
    answer.pointer("/metadata/deletionTimestamp").is_some()
}

fn uid(object: &Value) -> String {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Polls until the object at `path` is gone (404, or a new object with the
/// same name: another uid), or the deadline passes.
async fn wait_gone(
    session: &Session,
    path: &str,
    name: &str,
    deleted_uid: &str,
    deadline: Option<Instant>,
) -> Result<(), String> {
    loop {
        match session
            .client
            .send_path(Method::GET, path, None, None)
            .await
        {
            Err(e) if e.code() == Some(404) => return Ok(()),
            Err(e) => return Err(report(&e.into())),
            Ok(object) if uid(&object) != deleted_uid => return Ok(()),
            Ok(_) => {}
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(format!(
                "error: timed out waiting for \"{name}\" to be deleted (it is marked; its node or a finalizer has not finished)"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn from_manifest(
    session: &Session,
    object: &Value,
) -> Result<(ApiResource, Option<String>, String)> {
    let field = |p: &str| object.pointer(p).and_then(Value::as_str);
    let (Some(api_version), Some(kind), Some(name)) = (
        field("/apiVersion"),
        field("/kind"),
        field("/metadata/name"),
    ) else {
        return Err(anyhow!(
            "a manifest without apiVersion, kind or metadata.name"
        ));
    };
    let resource = session.discovery.by_kind(api_version, kind)?;
    let ns = resource.namespaced.then(|| {
        field("/metadata/namespace")
            .unwrap_or(&session.namespace)
            .to_string()
    });
    Ok((resource.clone(), ns, name.to_string()))
}
