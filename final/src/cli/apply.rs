//! `orc apply -f`: make the server hold what the manifests say.
//!
//! For each object: read it from the server; absent, create it; present
//! and already matching, say `unchanged`; else send a JSON merge patch and
//! say `configured`.
//!
//! "Matching" and the patch come from a three-way merge of the manifest,
//! the live object and the manifest applied last time: see
//! [`last_applied`](super::last_applied).

use anyhow::{Result, anyhow, bail};
use clap::Args;
use orc_client::{ClientError, Method};
use serde_json::Value;

use super::last_applied;
use super::manifest::{self, Document};
use super::{Reported, Session, Target, server_error};

#[derive(Args)]
pub struct ApplyArgs {
    /// A manifest file, a directory of .yaml/.yml/.json files, or - (stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub target: Target,
}

/// What happened to one object.
enum Outcome {
    Created,
    Configured,
    Unchanged,
}

pub async fn run(args: ApplyArgs) -> Result<()> {
    let session = Session::open(&args.target).await?;
    let mut failed = false;
    for document in manifest::read_all(&args.files)? {
        match apply_one(&session, &document).await {
            Ok(line) => println!("{line}"),
            Err(line) => {
                eprintln!("{line}");
                failed = true;
            }
        }
    }
    if failed { Err(Reported.into()) } else { Ok(()) }
}

/// Applies one document; the `Err` is the line to print.
async fn apply_one(session: &Session, document: &Document) -> Result<String, String> {
    let object = document
        .object
        .as_ref()
        .map_err(|e| format!("error: {e}"))?;
    let (resource, namespace, name) = locate(session, object).map_err(|e| {
        format!(
            "error: {} (document {}): {e}",
            document.source, document.index
        )
    })?;
    let path = resource.path(namespace.as_deref(), Some(&name));
    let shown = format!("{}/{name}", resource.qualified());
    let wanted = last_applied::recorded(object, namespace.as_deref());
    let body = Some(("application/json", wanted.to_string()));
    let fail = |doing: &str, e: ClientError| match &e {
        // kubectl names the file for every server error but Invalid,
        // whose message already names the object and each bad field.
        ClientError::Api {
            reason, message, ..
        } if reason == "Invalid" => server_error(reason, message),
        ClientError::Api {
            reason, message, ..
        } => server_error(
            reason,
            &format!("error when {doing} \"{}\": {message}", document.source),
        ),
        _ => format!("error: {doing} {shown}: {e}"),
    };
    let client = &session.client;
    let outcome = match client.send_path(Method::GET, &path, None, None).await {
        Err(e) if e.is_not_found() => {
            let collection = resource.path(namespace.as_deref(), None);
            client
                .send_path(Method::POST, &collection, None, body)
                .await
                .map_err(|e| fail("creating", e))?;
            Outcome::Created
        }
        Err(e) => return Err(fail("retrieving current configuration of", e)),
        Ok(live) => match last_applied::patch(&live, &wanted) {
            None => Outcome::Unchanged,
            Some(patch) => {
                let body = Some(("application/merge-patch+json", patch.to_string()));
                client
                    .send_path(Method::PATCH, &path, None, body)
                    .await
                    .map_err(|e| fail("patching", e))?;
                Outcome::Configured
            }
        },
    };
    Ok(match outcome {
        Outcome::Created => format!("{shown} created"),
        Outcome::Configured => format!("{shown} configured"),
        Outcome::Unchanged => format!("{shown} unchanged"),
    })
}

/// The resource, namespace and name a manifest names.
fn locate<'s>(
    session: &'s Session,
    object: &Value,
) -> Result<(&'s super::resolve::ApiResource, Option<String>, String)> {
    let field = |p: &str| object.pointer(p).and_then(Value::as_str);
    let api_version = field("/apiVersion").ok_or_else(|| anyhow!("apiVersion not set"))?;
    let kind = field("/kind").ok_or_else(|| anyhow!("kind not set"))?;
    let name = field("/metadata/name").ok_or_else(|| anyhow!("metadata.name not set"))?;
    let resource = session.discovery.by_kind(api_version, kind)?;
    if let Some(theirs) = field("/metadata/namespace")
        && session.namespace_flag
        && resource.namespaced
        && theirs != session.namespace
    {
        bail!(
            "the namespace from the provided object \"{theirs}\" does not match the namespace \"{}\". You must pass '--namespace={theirs}' to perform this operation.",
            session.namespace
        );
    }
    let namespace = resource.namespaced.then(|| {
        field("/metadata/namespace")
            .unwrap_or(&session.namespace)
            .to_string()
    });
    Ok((resource, namespace, name.to_string()))
}
