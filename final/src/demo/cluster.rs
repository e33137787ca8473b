//! Chapter 03 in the demo: etcd, the API server, and the real kubectl
//! (then chapter 05's controllers on the same server, `controllers.rs`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use orc_client::Client;
use orc_client::resources::by_kind;
use serde_json::Value;

use super::{heading, show_command};
use crate::etcd::EtcdProcess;

/// The objects the demo creates: see `manifests.yaml`.
const MANIFESTS: &str = include_str!("manifests.yaml");

pub async fn run(dir: &Path) -> Result<()> {
    heading("Chapter 03: the API server on etcd");
    let etcd = EtcdProcess::start(dir).await?;
    println!(
        "etcd is running (pid {}) at {}",
        etcd.pid(),
        etcd.endpoint()
    );
    let config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse()?);
    let server = orc_apiserver::Server::bind(config)
        .await
        .map_err(|e| anyhow!("starting the API server: {e}"))?;
    let base = format!("http://{}", server.local_addr()?);
    let serving = tokio::spawn(server.serve());
    println!("the orc API server is serving at {base}");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        crate::cli::kubeconfig::render(&base, None, None),
    )?;
    println!("a kubeconfig for it is in {}\n", kubeconfig.display());

    let client = Client::new(&base);
    println!("Creating the demo's objects through the API:");
    for document in serde_yaml::Deserializer::from_str(MANIFESTS) {
        let object: Value =
            serde::Deserialize::deserialize(document).context("reading the embedded manifests")?;
        create(&client, &object).await?;
    }

    for args in [
        "get namespaces",
        "get all -n demo",
        "get configmap settings -n demo -o yaml",
    ] {
        kubectl(&kubeconfig, args)?;
    }

    println!("\nEvery object is a JSON value in etcd, under /registry:");
    show_command(&format!(
        "etcdctl --endpoints {} get --prefix --keys-only /registry",
        etcd.endpoint()
    ));
    let mut etcd_client = orc_apiserver::etcd_socket::connect(etcd.endpoint()).await?;
    let keys = etcd_client
        .get(
            "/registry",
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_keys_only(),
            ),
        )
        .await?;
    for kv in keys.kvs() {
        println!("{}", kv.key_str()?);
    }

    println!("\nA watch sees each change as it happens. Deleting pod hello:");
    let pods = by_kind("v1", "Pod").ok_or_else(|| anyhow!("the API serves no pods"))?;
    let listed = client.list(pods, Some("demo"), "").await?;
    let version = listed
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("0")
        .to_string();
    let mut watch = client.watch(pods, Some("demo"), "", &version, 10).await?;
    kubectl(&kubeconfig, "delete pod hello -n demo")?;
    while let Some(event) = watch.next().await {
        let (kind, object) = event?;
        if kind == "BOOKMARK" {
            continue;
        }
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        println!("  watch event: {kind} pod/{}", name.unwrap_or("?"));
        break;
    }
    super::controllers::run(&client, &base, &kubeconfig).await?;
    serving.abort();
    drop(etcd);
    Ok(())
}

/// Creates one object, choosing the URL from its apiVersion and kind.
async fn create(client: &Client, object: &Value) -> Result<()> {
    let field = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let (Some(api_version), Some(kind), Some(name)) = (
        field("/apiVersion"),
        field("/kind"),
        field("/metadata/name"),
    ) else {
        bail!("an embedded manifest lacks apiVersion, kind or metadata.name");
    };
    let resource = by_kind(api_version, kind).ok_or_else(|| anyhow!("the API serves no {kind}"))?;
    let namespace = field("/metadata/namespace");
    client
        .create(resource, namespace, object)
        .await
        .with_context(|| format!("creating {kind} {name}"))?;
    println!("  {}/{name} created", resource.singular);
    Ok(())
}

/// Runs the installed kubectl against the demo's server and prints its output.
pub(super) fn kubectl(kubeconfig: &Path, args: &str) -> Result<()> {
    println!();
    show_command(&format!("kubectl {args}"));
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args.split_whitespace())
        .output();
    match output {
        Ok(output) => {
            print!("{}", String::from_utf8_lossy(&output.stdout));
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
        }
        Err(e) => println!("(kubectl could not run: {e}; install kubectl to see this step)"),
    }
    Ok(())
}
