//! What the API accepts, the node runs: a pod's environment from ConfigMaps,
//! Secrets and the downward API, `$(VAR)` in its command, and the status a
//! missing reference gives, on a real etcd, API server and `orc agent`.
//!
//! Root only; the pod network lives in a throwaway namespace (chapter 02's
//! test node), and everything is removed at the end.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::time::{Duration, Instant};

use cluster::{ApiServer, kubectl, kubectl_status, one_node, running, tear_down};
use orc_client::Method;
use serde_json::{Value, json};

const NODE: &str = "node-spec";
const LONG: Duration = Duration::from_secs(60);
const NS: &str = "/api/v1/namespaces/default";

async fn post(api: &ApiServer, plural: &str, body: Value) -> Value {
    api.client
        .send_path(
            Method::POST,
            &format!("{NS}/{plural}"),
            None,
            Some(("application/json", body.to_string())),
        )
        .await
        .unwrap_or_else(|e| panic!("creating {plural}: {e}"))
}

/// `kubectl logs <pod>` once it says `want`.
async fn wait_for_log(config: &std::path::Path, pod: &str, want: &str) {
    wait_for_logs(config, &[pod], want).await;
}

/// `kubectl logs ARGS` once it says `want`.
async fn wait_for_logs(config: &std::path::Path, args: &[&str], want: &str) {
    let deadline = Instant::now() + LONG;
    let args: Vec<&str> = std::iter::once("logs")
        .chain(args.iter().copied())
        .collect();
    loop {
        let logs = kubectl(config, &args).await;
        if logs == want {
            return;
        }
        assert!(Instant::now() < deadline, "kubectl {args:?}: {logs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn waiting(pod: &Value) -> (String, String) {
    let state = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
    let text = |k: &str| state[k].as_str().unwrap_or("").to_string();
    (text("reason"), text("message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_from_config_maps_secrets_and_the_downward_api_reaches_the_process() {
    let (node, api, mut agent, config) = one_node(NODE).await;

    post(
        &api,
        "configmaps",
        json!({"metadata": {"name": "web"},
        "data": {"port": "8080", "MODE": "fast"}}),
    )
    .await;
    // `stringData`, as people write Secrets: the server stores it as data.
    let secret = post(
        &api,
        "secrets",
        json!({"metadata": {"name": "db"}, "stringData": {"password": "s3cr3t"}}),
    )
    .await;
    assert_eq!(secret["data"], json!({"password": "czNjcjN0"}));
    assert!(secret.get("stringData").is_none(), "{secret}");
    let env = json!([
        {"name": "PORT", "valueFrom": {"configMapKeyRef": {"name": "web", "key": "port"}}},
        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "URL", "value": "http://$(POD):$(PORT)"},
    ]);
    let pod = post(&api, "pods", json!({
        "metadata": {"name": "envy", "labels": {"app": "shop"}},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "main", "image": "busybox",
            "resources": {"limits": {"memory": "32Mi"}},
            "envFrom": [{"configMapRef": {"name": "web"}, "prefix": "CM_"}],
            "env": env,
            "command": ["sh", "-c"],
            "args": ["echo $(URL) $PASS $APP $NODE $HOST $MEM $CM_MODE '$$(PORT)' '$(NOPE)'; echo ip=$IP; exec sleep 3600"],
        }]},
    }))
    .await;
    let running_pod = api
        .wait_for(&format!("{NS}/pods/envy"), LONG, running)
        .await;
    let ip = running_pod["status"]["podIP"].as_str().unwrap();
    assert!(!ip.is_empty(), "{running_pod}");
    wait_for_log(
        &config,
        "envy",
        &format!(
            "http://envy:8080 s3cr3t shop {NODE} 127.0.0.1 32 fast $(PORT) $(NOPE)\nip={ip}\n"
        ),
    )
    .await;
    assert_eq!(
        pod["spec"]["containers"][0]["env"][2]["valueFrom"]["fieldRef"]["apiVersion"],
        "v1"
    );

    // A key that is not there: the container waits with Kubernetes'
    // reason and message, and starts once the ConfigMap has it.
    post(&api, "pods", json!({
        "metadata": {"name": "waits"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "main", "image": "busybox",
            "command": ["sh", "-c", "echo level=$LEVEL; exec sleep 3600"],
            "env": [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "level"}}}],
        }]},
    }))
    .await;
    let stuck = api
        .wait_for(&format!("{NS}/pods/waits"), LONG, |p| {
            waiting(p).0 == "CreateContainerConfigError"
        })
        .await;
    assert_eq!(waiting(&stuck).1, "configmap \"late\" not found");
    let table = kubectl(&config, &["get", "pod", "waits"]).await;
    assert!(table.contains("CreateContainerConfigError"), "{table}");
    post(
        &api,
        "configmaps",
        json!({"metadata": {"name": "late"}, "data": {"other": "x"}}),
    )
    .await;
    api.wait_for(&format!("{NS}/pods/waits"), LONG, |p| {
        waiting(p).1 == "couldn't find key level in ConfigMap default/late"
    })
    .await;
    api.client
        .send_path(
            Method::PATCH,
            &format!("{NS}/configmaps/late"),
            None,
            Some((
                "application/merge-patch+json",
                json!({"data": {"level": "debug"}}).to_string(),
            )),
        )
        .await
        .unwrap();
    api.wait_for(&format!("{NS}/pods/waits"), LONG, running)
        .await;
    wait_for_log(&config, "waits", "level=debug\n").await;

    // The API refuses what the agent could not resolve, in kubectl's words.
    let (created, bad) = kubectl_status(
        &config,
        &[
            "run",
            "bad",
            "--image=busybox",
            "--overrides",
            &json!({"spec": {"containers": [{"name": "bad", "image": "busybox",
            "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}]}]}})
            .to_string(),
        ],
    )
    .await;
    assert!(!created, "{bad}");
    assert!(
        bad.contains("The Pod \"bad\" is invalid: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\""),
        "{bad}"
    );

    // A volume the agent cannot mount is refused too, before any pod exists.
    let (created, bad) = kubectl_status(
        &config,
        &[
            "run",
            "vol",
            "--image=busybox",
            "--overrides",
            &json!({"spec": {"volumes": [{"name": "v", "projected": {"sources": [{"clusterTrustBundle": {"path": "t"}}]}}],
            "containers": [{"name": "vol", "image": "busybox"}]}})
            .to_string(),
        ],
    )
    .await;
    assert!(!created, "{bad}");
    assert!(
        bad.contains(
            "The Pod \"vol\" is invalid: spec.volumes[0].projected.sources[0].clusterTrustBundle: Forbidden: not supported by orc"
        ),
        "{bad}"
    );

    tear_down(&node, &api, &mut agent, &["envy", "waits"]).await;
}

/// The pod's /etc/hosts as the kubelet writes it (its FQDN from its
/// subdomain, then `hostAliases`), and `setHostnameAsFQDN` as the kernel
/// hostname; a container that mounts its own /etc/hosts keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pod_gets_the_kubelets_hosts_file_and_its_fqdn_as_hostname() {
    let (node, api, mut agent, config) = one_node(NODE).await;
    post(&api, "pods", json!({
        "metadata": {"name": "named"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
            "hostname": "db-0", "subdomain": "db", "setHostnameAsFQDN": true,
            "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]}],
            "volumes": [{"name": "own", "emptyDir": {}}],
            "containers": [
                {"name": "main", "image": "busybox",
                 "command": ["sh", "-c", "cat /etc/hosts; echo name=$(hostname); exec sleep 3600"]},
                {"name": "own", "image": "busybox",
                 "volumeMounts": [{"name": "own", "mountPath": "/etc/hosts"}],
                 "command": ["sh", "-c", "ls -A /etc/hosts; echo own-done; exec sleep 3600"]},
            ]},
    }))
    .await;
    let pod = api
        .wait_for(&format!("{NS}/pods/named"), LONG, running)
        .await;
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    let fqdn = "db-0.db.default.svc.cluster.local";
    wait_for_logs(
        &config,
        &["named", "-c", "main"],
        &format!(
            "# Kubernetes-managed hosts file.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n\
             {ip}\t{fqdn}\tdb-0\n\
             \n\
             # Entries added by HostAliases.\n\
             10.1.2.3\tfoo.remote\tbar.remote\n\
             name={fqdn}\n"
        ),
    )
    .await;
    // The container's own mount is an (empty) directory, not the file.
    wait_for_logs(&config, &["named", "-c", "own"], "own-done\n").await;

    // An FQDN longer than the kernel holds: the sandbox is not made, and
    // an event says why in the kubelet's words.
    let long = "a".repeat(40);
    post(
        &api,
        "pods",
        json!({
            "metadata": {"name": "long"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                "hostname": long, "subdomain": "db", "setHostnameAsFQDN": true,
                "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]},
        }),
    )
    .await;
    let events = api
        .wait_for(&format!("{NS}/events"), LONG, |list| {
            list["items"].as_array().is_some_and(|items| {
                items.iter().any(|e| {
                    e["involvedObject"]["name"] == "long" && e["reason"] == "FailedCreatePodSandBox"
                })
            })
        })
        .await;
    let event = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "FailedCreatePodSandBox")
        .unwrap();
    assert_eq!(
        event["message"],
        format!(
            "Failed to create pod sandbox: failed to construct FQDN from pod hostname and cluster \
             domain, FQDN {long}.db.default.svc.cluster.local is too long (64 characters is the \
             max, 69 characters requested)"
        )
    );

    tear_down(&node, &api, &mut agent, &["named", "long"]).await;
}

/// The Pod Security Standards' "restricted" profile, as a user writes it
/// in a Deployment: accepted by the API, run by the node as uid 1000 with
/// no capabilities, no_new_privs and the seccomp filter; and a privileged
/// container refused by name before any pod exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_deployment_runs_as_its_security_context_says() {
    let (node, api, mut agent, config) = one_node("node-restricted").await;
    let controllers = tokio::spawn(orc_controllers::run(orc_controllers::Config::new(&api.url)));
    let manifest = node.dir.path().join("restricted.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: restricted}
spec:
  replicas: 1
  selector: {matchLabels: {app: restricted}}
  template:
    metadata: {labels: {app: restricted}}
    spec:
      nodeName: node-restricted
      terminationGracePeriodSeconds: 1
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: busybox
        command: [sh, -c, "id; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; exec sleep 3600"]
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
"#,
    )
    .unwrap();
    let out = kubectl(&config, &["apply", "-f", manifest.to_str().unwrap()]).await;
    assert!(out.contains("deployment.apps/restricted created"), "{out}");
    let out = kubectl(
        &config,
        &[
            "rollout",
            "status",
            "deployment/restricted",
            "--timeout=120s",
        ],
    )
    .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let pod = kubectl(
        &config,
        &[
            "get",
            "pods",
            "-l",
            "app=restricted",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
    )
    .await;
    // No runAsGroup, and the image has no user 1000: group root, as
    // containerd does.
    wait_for_log(
        &config,
        &pod,
        "uid=1000 gid=0(root) groups=0(root)\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n",
    )
    .await;

    let (created, bad) = kubectl_status(
        &config,
        &[
            "run",
            "priv",
            "--image=busybox",
            "--overrides",
            &json!({"spec": {"containers": [{"name": "priv", "image": "busybox",
                "securityContext": {"privileged": true}}]}})
            .to_string(),
        ],
    )
    .await;
    assert!(!created, "{bad}");
    assert!(
        bad.contains("The Pod \"priv\" is invalid: spec.containers[0].securityContext.privileged: Invalid value: true: not supported by orc"),
        "{bad}"
    );

    kubectl(
        &config,
        &[
            "delete",
            "deployment",
            "restricted",
            "--cascade=foreground",
            "--timeout=120s",
        ],
    )
    .await;
    api.wait_for(&format!("{NS}/pods"), LONG, |list| {
        list["items"]
            .as_array()
            .is_some_and(|items| items.is_empty())
    })
    .await;
    controllers.abort();
    agent.stop();
    assert_eq!(node.containers(), vec![], "containers left");
}
