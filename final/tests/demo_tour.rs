//! `./demo.sh --and-down`, the README's first command, end to end: the
//! seeds' two walkthroughs on a cluster of its own (a throwaway data
//! directory and kubeconfig), as CI runs it, checked on what it printed,
//! and nothing left behind.
//!
//! Root only. The script runs in a network namespace of the test's own
//! (`nsenter --net`), as `final/tests/up.rs` runs `orc up`: the cluster's
//! LAN, its routes and every curl stay there. HOME is a temporary
//! directory, so a tour that fell back to `~/.kube/config` would show.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use orc_testkit::{require_command, require_root};

#[path = "up/host.rs"]
mod host;

/// The command lines of the processes that name `dir`.
fn processes_naming(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(dir.as_ref()))
        .collect()
}

#[test]
fn the_tour_runs_both_walkthroughs_and_and_down_leaves_nothing() {
    require_root();
    for tool in [
        "nsenter", "etcd", "kubectl", "busybox", "curl", "ss", "node",
    ] {
        require_command(tool);
    }
    let host = host::sealed();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kubeconfig = dir.path().join("kubeconfig");
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // stdout and stderr in one file, in the order they were written.
    let log_path = dir.path().join("tour.log");
    let log = File::create(&log_path).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo.sh");
    let started = Instant::now();
    let status = Command::new("nsenter")
        .arg(format!("--net={}", host.path()))
        .arg(script)
        .arg("--and-down")
        .arg("--data-dir")
        .arg(&data)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env("ORC", env!("CARGO_BIN_EXE_orc"))
        .env("CI", "true")
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    let took = started.elapsed();
    let out = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "demo.sh failed ({status}):\n{out}");
    eprintln!("demo.sh --and-down took {took:.1?}");

    // What the tour must print, in this order.
    let expected = [
        // Kubernetes 101: the echo server answers with the request it got
        // (method, then path) through port-forward, then the NodePort.
        "$ kubectl port-forward hello-",
        "Forwarding from 127.0.0.1:",
        "$ curl -sS http://localhost:",
        "\tmethod=GET\n",
        "\treal path=/kubernetes-101\n",
        "$ kubectl expose deployment hello --type=NodePort",
        "/node-port\n",
        "\treal path=/node-port\n",
        // Scaled to 3: the rollout, then 3 of 3 ready.
        "$ kubectl scale deployment hello --replicas=3",
        "deployment \"hello\" successfully rolled out",
        "\nhello   3/3     3            3 ",
        // The log has the port-forward's request.
        "$ kubectl logs hello-",
        "\"GET /kubernetes-101 HTTP/1.1\"",
        "deployment.apps \"hello\" deleted",
        // Hello Minikube: v1 through the LoadBalancer, v2 after set image,
        // v1 again after rollout undo.
        "$ kubectl expose deployment hello-node --type=LoadBalancer",
        "\nhello-node   LoadBalancer   ",
        ":8080\nHello World!\n",
        "$ kubectl set image deployment/hello-node hello-node=hello-node:v2",
        "deployment \"hello-node\" successfully rolled out",
        ":8080\nHello World! This is v2, from hello-node-",
        "$ kubectl rollout undo deployment/hello-node",
        "deployment.apps/hello-node rolled back",
        "deployment \"hello-node\" successfully rolled out",
        ":8080\nHello World!\n",
        "Scaled up replica set hello-node-",
        // The closing hint, then --and-down.
        "  kubectl get pods -o wide ",
        " down --data-dir ",
        "== --and-down: ",
    ];
    let mut at = 0;
    for (index, needle) in expected.iter().enumerate() {
        at = match out[at..].find(needle) {
            Some(found) => at + found + needle.len(),
            None => {
                let after = index.checked_sub(1).map_or("the start", |i| expected[i]);
                panic!("the tour should print {needle:?} after {after:?}:\n{out}")
            }
        };
    }
    assert!(
        !out.contains("/var/lib/orc"),
        "orc's default data dir is not the tour's:\n{out}"
    );

    // orc down --purge left nothing: no data, no context, no process.
    assert!(!data.exists(), "the data dir is removed:\n{out}");
    assert!(
        !kubeconfig.exists(),
        "the kubeconfig orc up made is removed with its context:\n{out}"
    );
    assert!(
        !home.join(".kube/config").exists(),
        "~/.kube/config untouched"
    );
    assert_eq!(processes_naming(&data), Vec::<String>::new(), "{out}");
}
