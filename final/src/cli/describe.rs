//! `orc describe`: one object for a human, and what happened to it.
//!
//! kubectl has a hand-written describer per kind. orc prints the metadata
//! people look for first (name, namespace, labels, annotations), then every
//! other top-level field (`spec`, `status`, `data`, ...) as indented YAML,
//! which works for every kind, then the object's Events: the API's record
//! of what components did to it, found by `involvedObject` field selector.

use anyhow::Result;
use clap::Args;
use jiff::Timestamp;
use orc_client::time::{self, human_duration};
use orc_client::{Method, encode};
use serde_json::Value;

use super::print;
use super::{Session, Target};

#[derive(Args)]
pub struct DescribeArgs {
    /// The resource type (`pod`, `deploy`, ...), or TYPE/NAME.
    pub resource: String,
    /// The object's name.
    pub name: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

/// The width of the label column: kubectl's `Name:         web`.
const LABEL: usize = 14;

pub async fn run(args: DescribeArgs) -> Result<()> {
    let session = Session::open(&args.target).await?;
    let (typed, name) = match (args.resource.split_once('/'), &args.name) {
        (Some((t, n)), _) => (t.to_string(), n.to_string()),
        (None, Some(n)) => (args.resource.clone(), n.clone()),
        (None, None) => anyhow::bail!("describe needs a name: orc describe {} NAME", args.resource),
    };
    let resource = session.discovery.by_name(&typed)?;
    let ns = resource.namespaced.then_some(session.namespace.as_str());
    let object = session
        .client
        .send_path(Method::GET, &resource.path(ns, Some(&name)), None, None)
        .await?;
    let mut out = String::new();
    let meta = &object["metadata"];
    field(&mut out, "Name", meta["name"].as_str().unwrap_or(""));
    if let Some(ns) = meta["namespace"].as_str() {
        field(&mut out, "Namespace", ns);
    }
    map(&mut out, "Labels", &meta["labels"]);
    map(&mut out, "Annotations", &meta["annotations"]);
    if let Some(created) = meta["creationTimestamp"].as_str() {
        field(&mut out, "Created", created);
    }
    for (key, value) in object.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        out.push_str(&format!("{}:\n", title(key)));
        let yaml = serde_yaml::to_string(value)?;
        for line in yaml.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if let Some(ns) = ns {
        events(&session, &mut out, ns, &resource.kind, &name).await?;
    }
    print!("{out}");
    Ok(())
}

fn field(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("{:<LABEL$}{value}\n", format!("{label}:")));
}

/// Labels and annotations: one `key=value` per line, aligned under the
/// first, or `<none>`.
fn map(out: &mut String, label: &str, values: &Value) {
    let pairs = print::pairs(values);
    if pairs.is_empty() {
        field(out, label, "<none>");
    }
    for (i, pair) in pairs.iter().enumerate() {
        if i == 0 {
            field(out, label, pair);
        } else {
            out.push_str(&format!("{:LABEL$}{pair}\n", ""));
        }
    }
}

/// `spec` → `Spec`, `nodeName` stays as kubectl would title it: `NodeName`.
fn title(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

async fn events(
    session: &Session,
    out: &mut String,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<()> {
    let selector = format!("involvedObject.name={name},involvedObject.kind={kind}");
    let path = format!(
        "/api/v1/namespaces/{ns}/events?fieldSelector={}",
        encode(&selector)
    );
    let list = session
        .client
        .send_path(Method::GET, &path, None, None)
        .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        out.push_str("Events:       <none>\n");
        return Ok(());
    }
    out.push_str("Events:\n");
    let text = |e: &Value, p: &str| {
        e.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut rows = vec![
        ["Type", "Reason", "Age", "From", "Message"]
            .map(String::from)
            .to_vec(),
    ];
    for e in &items {
        let when = [
            "/lastTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ]
        .iter()
        .find_map(|p| time::at(e, p));
        rows.push(vec![
            text(e, "/type"),
            text(e, "/reason"),
            when.map(|t| human_duration(time::seconds_between(t, Timestamp::now())))
                .unwrap_or_else(|| "<unknown>".into()),
            text(e, "/source/component"),
            text(e, "/message"),
        ]);
    }
    let widths = print::widths(&rows);
    for row in &rows {
        out.push_str(&format!("  {}\n", print::line(row, &widths)));
    }
    Ok(())
}
