//! `orc delete`: by type and names, or every object of some manifests.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use orc_apiserver::client::Method;
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
    for target in targets {
        let result = match target {
            Err(line) => Err(line),
            Ok((resource, ns, name)) => session
                .client
                .send_path(
                    Method::DELETE,
                    &resource.path(ns.as_deref(), Some(&name)),
                    None,
                    None,
                )
                .await
                .map(|_| format!("{} \"{name}\" deleted", resource.qualified()))
                .map_err(|e| report(&e.into())),
        };
        match result {
            Ok(line) => println!("{line}"),
            Err(line) => {
                eprintln!("{line}");
                failed = true;
            }
        }
    }
    if failed { Err(Reported.into()) } else { Ok(()) }
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
