//! `orc get`: rows from server-side Tables, or the objects themselves.
//!
//! For rows, the CLI asks with `Accept: application/json;as=Table;v=v1;
//! g=meta.k8s.io` and prints the columns the server chose: that is how
//! kubectl shows READY and STATUS for pods without knowing what a pod is.
//! `-o yaml|json` asks for the plain objects instead. `-w` prints the rows
//! it has, then watches from the list's resourceVersion, again as Tables,
//! and prints one row per event until interrupted.

use anyhow::{Result, bail};
use clap::Args;
use orc_client::{Method, encode};
use serde_json::{Value, json};

use super::print::{self, Columns};
use super::resolve::ApiResource;
use super::{Reported, Session, Target, report};

/// The `Accept` header that asks for a Table.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

#[derive(Args)]
pub struct GetArgs {
    /// The resource type (`pods`, `po`, `deployments.apps`), or TYPE/NAME.
    pub resource: String,
    /// Objects to show (default: all).
    pub names: Vec<String>,
    /// Output format: wide, yaml, json or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// A label selector: `app=web`, `tier in (a,b)`, `!canary`.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// A LABELS column.
    #[arg(long)]
    pub show_labels: bool,
    /// Ask the server to end a watch after this many seconds (for tests
    /// and scripts; `-w` otherwise runs until Ctrl-C).
    #[arg(long, hide = true)]
    pub watch_seconds: Option<u64>,
    #[command(flatten)]
    pub target: Target,
}

pub async fn run(mut args: GetArgs) -> Result<()> {
    let session = Session::open(&args.target).await?;
    let typed = args.resource.clone();
    let (typed, name_in_type) = match typed.split_once('/') {
        Some((t, n)) => (t.to_string(), Some(n.to_string())),
        None => (typed, None),
    };
    args.names.extend(name_in_type);
    let resources = session.discovery.by_names(&typed)?;
    let ns = (!session.all_namespaces).then(|| session.namespace.clone());
    if let [resource] = resources.as_slice() {
        one_type(&session, resource, ns.as_deref(), &args).await
    } else {
        several_types(&session, &resources, ns.as_deref(), &args).await
    }
}

async fn one_type(
    session: &Session,
    resource: &ApiResource,
    ns: Option<&str>,
    args: &GetArgs,
) -> Result<()> {
    if session.all_namespaces && resource.namespaced && !args.names.is_empty() {
        bail!("a resource cannot be retrieved by name across all namespaces; use -n NAMESPACE");
    }
    match output(args)? {
        None => table(session, resource, ns, args).await,
        Some(format) => objects(session, resource, ns, args, format).await,
    }
}

/// `None` for rows (`-o wide` included), else `yaml` or `json`.
fn output(args: &GetArgs) -> Result<Option<&str>> {
    match args.output.as_deref() {
        None | Some("wide") => Ok(None),
        Some(format @ ("yaml" | "json" | "name")) => Ok(Some(format)),
        Some(other) => bail!(
            "unable to match a printer suitable for the output format \"{other}\"; the formats are wide, yaml, json and name"
        ),
    }
}

/// `orc get all`, `orc get pods,services`: one table per type that has
/// objects, names prefixed with their type (`deployment.apps/web`) as
/// kubectl does, or one List of everything with `-o yaml|json`.
async fn several_types(
    session: &Session,
    resources: &[ApiResource],
    ns: Option<&str>,
    args: &GetArgs,
) -> Result<()> {
    if !args.names.is_empty() || args.watch {
        bail!("names and -w go with one resource type only: orc get TYPE NAME, orc get TYPE -w");
    }
    let format = output(args)?;
    let accept = if format.is_none() { Some(TABLE) } else { None };
    let mut items = Vec::new();
    let mut printed = false;
    for resource in resources {
        let answer = session
            .client
            .send_path(
                Method::GET,
                &list_path(resource, ns, args, ""),
                accept,
                None,
            )
            .await?;
        if format == Some("name") {
            print!(
                "{}",
                names(resource, &with_type(resource, &answer["items"]))
            );
            continue;
        }
        if format.is_some() {
            items.extend(with_type(resource, &answer["items"]));
            continue;
        }
        let columns = columns(session, resource, args);
        let (headers, mut rows) = print::table_cells(&answer, columns);
        if rows.is_empty() {
            continue;
        }
        if let Some(at) = headers.iter().position(|h| h == "NAME") {
            for row in &mut rows {
                row[at] = format!("{}/{}", resource.qualified(), row[at]);
            }
        }
        if printed {
            println!();
        }
        print!("{}", print::layout(&headers, &rows));
        printed = true;
    }
    match format {
        Some("name") => {}
        Some(format) => print!("{}", print::object(&list(items), format)?),
        None if !printed => no_resources(ns),
        None => {}
    }
    Ok(())
}

/// Which optional columns the flags ask for.
fn columns(session: &Session, resource: &ApiResource, args: &GetArgs) -> Columns {
    Columns {
        wide: args.output.as_deref() == Some("wide"),
        namespace: session.all_namespaces && resource.namespaced,
        labels: args.show_labels,
    }
}

/// GETs each named object; a missing one is reported and the others still
/// shown, as kubectl does. The objects, and whether any failed.
async fn fetch_named(
    session: &Session,
    resource: &ApiResource,
    ns: Option<&str>,
    names: &[String],
    accept: Option<&str>,
) -> (Vec<Value>, bool) {
    let mut found = Vec::new();
    let mut failed = false;
    for name in names {
        let path = resource.path(ns, Some(name));
        match session
            .client
            .send_path(Method::GET, &path, accept, None)
            .await
        {
            Ok(object) => found.push(object),
            Err(e) => {
                eprintln!("{}", report(&e.into()));
                failed = true;
            }
        }
    }
    (found, failed)
}

/// kubectl's note on stderr when a list is empty.
fn no_resources(ns: Option<&str>) {
    match ns {
        Some(ns) => eprintln!("No resources found in {ns} namespace."),
        None => eprintln!("No resources found"),
    }
}

/// List items carry no kind or apiVersion on the wire; kubectl puts them
/// back so each item can be applied again on its own.
fn with_type(resource: &ApiResource, items: &Value) -> Vec<Value> {
    let mut items = items.as_array().cloned().unwrap_or_default();
    for item in &mut items {
        item["apiVersion"] = json!(resource.api_version());
        item["kind"] = json!(resource.kind);
    }
    items
}

/// `-o name`: `pod/web`, one a line, what scripts pipe into other verbs.
fn names(resource: &ApiResource, items: &[Value]) -> String {
    items
        .iter()
        .map(|item| {
            let name = item.pointer("/metadata/name").and_then(Value::as_str);
            format!("{}/{}\n", resource.qualified(), name.unwrap_or(""))
        })
        .collect()
}

/// A `v1` `List`, as `-o yaml|json` prints several objects.
fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

/// The list URL with `-l` (and extra query parameters).
fn list_path(resource: &ApiResource, ns: Option<&str>, args: &GetArgs, extra: &str) -> String {
    let mut query = vec![];
    if let Some(selector) = &args.selector {
        query.push(format!("labelSelector={}", encode(selector)));
    }
    if !extra.is_empty() {
        query.push(extra.to_string());
    }
    let path = resource.path(ns, None);
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

async fn table(
    session: &Session,
    resource: &ApiResource,
    ns: Option<&str>,
    args: &GetArgs,
) -> Result<()> {
    let columns = columns(session, resource, args);
    // One Table; named objects are fetched one by one and their rows joined.
    let mut merged: Option<Value> = None;
    let mut failed = false;
    if args.names.is_empty() {
        let path = list_path(resource, ns, args, "");
        let table = session
            .client
            .send_path(Method::GET, &path, Some(TABLE), None);
        merged = Some(table.await?);
    } else {
        let tables;
        (tables, failed) = fetch_named(session, resource, ns, &args.names, Some(TABLE)).await;
        for table in tables {
            match &mut merged {
                None => merged = Some(table),
                Some(m) => {
                    let rows = table["rows"].as_array().cloned().unwrap_or_default();
                    if let Some(all) = m["rows"].as_array_mut() {
                        all.extend(rows);
                    }
                }
            }
        }
    }
    let mut widths = Vec::new();
    // A watch that starts from nothing prints the headers with its first row.
    let mut pending_headers = None;
    if let Some(t) = &merged {
        let (headers, rows) = print::table_cells(t, columns);
        if rows.is_empty() && args.names.is_empty() {
            if !args.watch {
                no_resources(ns.filter(|_| resource.namespaced));
            }
        } else if !rows.is_empty() {
            print!("{}", print::layout(&headers, &rows));
        }
        if rows.is_empty() {
            pending_headers = Some(headers.clone());
        }
        let mut all = vec![headers];
        all.extend(rows);
        widths = print::widths(&all);
    }
    if args.watch {
        let version = merged
            .as_ref()
            .and_then(|t| t.pointer("/metadata/resourceVersion"))
            .and_then(Value::as_str)
            .unwrap_or("0");
        let layout = (widths, pending_headers);
        watch(session, resource, ns, args, version, columns, layout).await?;
    }
    if failed { Err(Reported.into()) } else { Ok(()) }
}

/// `-w`: one row per event, aligned with the rows already printed, or
/// under headers printed with the first row when there were none.
/// (kubectl, too, keeps the first widths: later rows may not line up.)
async fn watch(
    session: &Session,
    resource: &ApiResource,
    ns: Option<&str>,
    args: &GetArgs,
    version: &str,
    columns: Columns,
    (mut widths, mut pending_headers): (Vec<usize>, Option<Vec<String>>),
) -> Result<()> {
    let mut extra = format!("watch=true&resourceVersion={}", encode(version));
    if let [name] = args.names.as_slice() {
        extra.push_str(&format!(
            "&fieldSelector={}",
            encode(&format!("metadata.name={name}"))
        ));
    }
    if let Some(secs) = args.watch_seconds {
        extra.push_str(&format!("&timeoutSeconds={secs}"));
    }
    let mut stream = session
        .client
        .watch_path(&list_path(resource, ns, args, &extra), TABLE)
        .await?;
    while let Some(event) = stream.next().await {
        let (kind, table) = event?;
        if kind == "BOOKMARK" {
            continue;
        }
        if kind == "ERROR" {
            bail!(
                "the watch ended: {}",
                table["message"].as_str().unwrap_or("an error event")
            );
        }
        let (_, rows) = print::table_cells(&table, columns);
        for row in rows {
            if let Some(headers) = pending_headers.take() {
                widths = print::widths(&[headers.clone(), row.clone()]);
                println!("{}", print::line(&headers, &widths));
            }
            println!("{}", print::line(&row, &widths));
        }
    }
    Ok(())
}

/// `-o yaml|json`: one object as itself, several as a `List`; `-o name`:
/// `TYPE/NAME` lines.
async fn objects(
    session: &Session,
    resource: &ApiResource,
    ns: Option<&str>,
    args: &GetArgs,
    format: &str,
) -> Result<()> {
    let (mut items, failed) = if args.names.is_empty() {
        let path = list_path(resource, ns, args, "");
        let list = session.client.send_path(Method::GET, &path, None, None);
        (with_type(resource, &list.await?["items"]), false)
    } else {
        let (objects, failed) = fetch_named(session, resource, ns, &args.names, None).await;
        (with_type(resource, &Value::Array(objects)), failed)
    };
    if format == "name" {
        print!("{}", names(resource, &items));
        return if failed { Err(Reported.into()) } else { Ok(()) };
    }
    let output = if args.names.len() == 1 && items.len() == 1 {
        items.remove(0)
    } else if items.is_empty() && failed {
        return Err(Reported.into());
    } else {
        list(items)
    };
    print!("{}", print::object(&output, format)?);
    if failed { Err(Reported.into()) } else { Ok(()) }
}
