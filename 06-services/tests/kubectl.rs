//! What the installed kubectl v1.32 shows for a Service orc made and
//! its endpoints, snapshotted: `kubectl expose`, `kubectl get
//! svc,ep,endpointslices` and `kubectl describe svc` (which reads the
//! EndpointSlices for its `Endpoints:` line). Pods get their status from
//! the test, as node agents would write it, so the addresses are fixed.

#[path = "../../05-controllers/tests/common/mod.rs"]
mod common;
#[path = "../../03-apiserver/server/tests/kubectl_output/redact.rs"]
mod redact;

use std::path::Path;
use std::time::Duration;

use common::Cluster;
use serde_json::json;

const PODS: &str = "/api/v1/namespaces/default/pods";

async fn kubectl(dir: &Path, config: &Path, args: &[&str]) -> String {
    let mut command = orc_testkit::kubectl::command(dir, config);
    command.args(args);
    let (ok, out) = tokio::task::spawn_blocking(move || orc_testkit::kubectl::output(command))
        .await
        .unwrap();
    assert!(ok, "kubectl {args:?}: {out}");
    out
}

/// `$ kubectl ...` and its output, ages, ports and generated names
/// redacted. `api_port` is the API server's (random) port, which the
/// `kubernetes` slice lists: five digits, replaced by five characters so
/// the columns stay where kubectl put them.
fn transcript(args: &[&str], out: &str, api_port: u16) -> String {
    let suffix = regex::Regex::new(r"\bweb-[a-z0-9]{5}\b").unwrap();
    let out = suffix.replace_all(out, "web-<sfx>");
    let out = redact::redact(&out).replace(&format!(" {api_port} "), " <api> ");
    format!("$ kubectl {}\n{out}", args.join(" "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expose_get_and_describe_a_service() {
    let mut c = Cluster::start().await;
    c.spawn(orc_services::run_controllers(
        orc_client::Client::new(c.url("")),
        2,
    ));
    let dir = tempfile::tempdir().unwrap();
    let config = orc_testkit::kubectl::kubeconfig(dir.path(), c.addr, "unused");
    // Three pods of app web on two nodes; web-3 is not ready.
    for (name, node, ip, ready) in [
        ("web-1", "node-1", "10.244.1.2", true),
        ("web-2", "node-2", "10.244.2.2", true),
        ("web-3", "node-1", "10.244.1.3", false),
    ] {
        c.create(
            PODS,
            &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "httpd", "image": "busybox",
                "ports": [{"name": "http", "containerPort": 8080}]}]}}),
        )
        .await;
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        assert_eq!(
            c.merge_patch(&format!("{PODS}/{name}/status"), &status)
                .await,
            200
        );
    }
    let expose = [
        "expose",
        "pod",
        "web-1",
        "--name=web",
        "--port=80",
        "--target-port=http",
        "--selector=app=web",
        "--type=NodePort",
        "--cluster-ip=10.96.100.10",
    ];
    let port = c.addr.port();
    let mut session = transcript(&expose, &kubectl(dir.path(), &config, &expose).await, port);
    // A node port of our choosing, so the transcript is the same every run.
    let patch = [
        "patch",
        "service",
        "web",
        "-p",
        r#"{"spec":{"ports":[{"port":80,"nodePort":30080}]}}"#,
    ];
    session += &transcript(&patch, &kubectl(dir.path(), &config, &patch).await, port);
    c.until(
        "/api/v1/namespaces/default/endpoints/web",
        "with both ready pods",
        |e| {
            e.is_some_and(|e| {
                e["subsets"][0]["addresses"]
                    .as_array()
                    .is_some_and(|a| a.len() == 2)
            })
        },
    )
    .await;
    // The slice is written by the same reconcile round; give its watch
    // event a moment to reach the API server's readers.
    let slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name%3Dweb";
    for _ in 0..200 {
        let list = c.list(slices).await;
        if list.len() == 1
            && list[0]["endpoints"]
                .as_array()
                .is_some_and(|e| e.len() == 3)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for args in [
        &["get", "svc,ep,endpointslices"][..],
        &["get", "svc", "web", "-o", "wide"][..],
        &["describe", "svc", "web"][..],
    ] {
        session += "\n";
        session += &transcript(args, &kubectl(dir.path(), &config, args).await, port);
    }
    insta::assert_snapshot!("expose_get_describe", session);
}
