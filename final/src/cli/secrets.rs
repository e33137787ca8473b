//! `orc secrets reencrypt`: every Secret written again, so each is sealed
//! with the key that now comes first in the API server's
//! `--encryption-provider-config`.
//!
//! The third step of Kubernetes' key rotation. Its documentation does it
//! with `kubectl get secrets --all-namespaces -o json | kubectl replace -f -`;
//! this is the same, through the API (the server does the sealing; the
//! command never holds a key), with counts at the end:
//!
//! ```text
//! secret/db (default) re-encrypted
//! 3 secrets re-encrypted, 0 rewritten meanwhile by another client, 0 unreadable
//! ```
//!
//! A Secret another client updates between our read and our write answers
//! 409: it was just written with the current key anyway, so it counts as
//! done. A Secret the server cannot read (its key is gone) is named from
//! the LIST's warning and makes the command fail: rotation is not finished
//! while it is there (delete it, or put its key back).

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use orc_client::Method;
use serde_json::Value;

use super::{Session, Target};

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Write every Secret again, sealed with the API server's current
    /// first encryption key (step 3 of a key rotation).
    Reencrypt(ReencryptArgs),
}

#[derive(Args)]
pub struct ReencryptArgs {
    #[command(flatten)]
    pub target: Target,
}

/// What became of the Secrets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Written again by us.
    pub rewritten: usize,
    /// Updated by someone else between our read and our write.
    pub raced: usize,
    /// Named in the LIST's warnings: not readable with any key.
    pub unreadable: Vec<String>,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} secrets re-encrypted, {} rewritten meanwhile by another client, {} unreadable",
            self.rewritten,
            self.raced,
            self.unreadable.len()
        )
    }
}

pub async fn run(command: SecretsCommand) -> Result<()> {
    let SecretsCommand::Reencrypt(args) = command;
    let session = Session::open(&args.target).await?;
    let counts = reencrypt(&session).await?;
    for warning in &counts.unreadable {
        eprintln!("Warning: {warning}");
    }
    println!("{counts}");
    if !counts.unreadable.is_empty() {
        bail!(
            "{} secret(s) could not be read and were not re-encrypted (see the warnings): \
             put their key back in --encryption-provider-config, or delete them with \
             ignoreStoreReadErrorWithClusterBreakingPotential, before removing any key",
            counts.unreadable.len()
        );
    }
    Ok(())
}

/// Lists every Secret and writes each back unchanged.
pub async fn reencrypt(session: &Session) -> Result<Counts> {
    let (list, warnings) = session.client.get_path_warned("/api/v1/secrets").await?;
    let mut counts = Counts {
        unreadable: warnings
            .into_iter()
            .filter(|w| w.contains("could not be read from storage"))
            .collect(),
        ..Counts::default()
    };
    for item in list["items"].as_array().into_iter().flatten() {
        let (Some(ns), Some(name)) = (
            item.pointer("/metadata/namespace").and_then(Value::as_str),
            item.pointer("/metadata/name").and_then(Value::as_str),
        ) else {
            continue;
        };
        let mut secret = item.clone();
        // List items carry neither; a PUT body needs both.
        secret["kind"] = "Secret".into();
        secret["apiVersion"] = "v1".into();
        let path = format!("/api/v1/namespaces/{ns}/secrets/{name}");
        // The resourceVersion read stays in the body: the write applies
        // only to the Secret as we read it.
        let body = ("application/json", secret.to_string());
        match session
            .client
            .send_path(Method::PUT, &path, None, Some(body))
            .await
        {
            Ok(_) => {
                println!("secret/{name} ({ns}) re-encrypted");
                counts.rewritten += 1;
            }
            Err(e) if e.is_conflict() => counts.raced += 1,
            // Deleted since the LIST: nothing left to seal.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(counts)
}
