//! `orc image` and the shipped recipes, for real: images built from the
//! host's programs into a throwaway store, and a pod on a real `orc agent`
//! running the echo server the agent built on first use.
//!
//! Root only (the agent test runs containers); the stores, the node's
//! network namespace, cgroups and mounts are removed by the fixtures.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cluster::{delete_pods, one_node, running};
use orc_container::image::Store;
use orc_container::image::unpack::unpacked_layer;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

/// `orc image ARGS --images STORE`; its stdout, or the test fails with
/// its stderr.
fn orc_image(store: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .arg("image")
        .args(args)
        .arg("--images")
        .arg(store)
        .output()
        .expect("orc runs");
    assert!(
        out.status.success(),
        "orc image {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hello_node_is_built_with_node_its_loader_and_its_libraries() {
    orc_testkit::require_command("node");
    let dir = tempfile::tempdir().unwrap();
    let printed = orc_image(dir.path(), &["build", "--builtin", "hello-node:v1"]);
    assert!(printed.starts_with("hello-node:v1 sha256:"), "{printed}");

    let store = Store::open(dir.path()).unwrap();
    let image = store.image("hello-node:v1").unwrap();
    let config = &image.config.config;
    assert_eq!(config.entrypoint, ["/usr/bin/node", "/app/server.js"]);
    assert_eq!(config.working_dir, "/app");
    assert!(config.exposed_ports.contains_key("8080/tcp"), "{config:?}");

    // The root the container would see: busybox below, the app above.
    let layers: Vec<_> = image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
        .map(|(layer, diff_id)| unpacked_layer(&store, &layer.digest, Some(diff_id)).unwrap())
        .collect();
    assert_eq!(layers.len(), 2);
    let app = &layers[1];
    assert!(layers[0].join("bin/sh").is_symlink(), "busybox base");
    for file in [
        "usr/bin/node",
        "app/server.js",
        "lib64/ld-linux-x86-64.so.2",
    ] {
        assert!(app.join(file).is_file(), "{file} in the image");
    }
    // Every library the loader names, at the path it will open.
    let ldd = Command::new("ldd").arg("/usr/bin/node").output().unwrap();
    let wanted: Vec<String> = String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|l| l.split("=> ").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(wanted.iter().any(|l| l.contains("libstdc++")), "{wanted:?}");
    for library in &wanted {
        let inside = app.join(library.trim_start_matches('/'));
        assert!(inside.is_file(), "{library} in the image");
    }

    let listed = orc_image(dir.path(), &["ls"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("docker.io/library/hello-node") && l.contains(" v1 ")),
        "{listed}"
    );
}

#[test]
fn unknown_builtin_names_and_broken_recipes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["image", "build", "--builtin", "nginx:1.25", "--images"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("orc ships no recipe for `nginx:1.25`")
            && stderr.contains("echoserver:1.4"),
        "{stderr}"
    );
    let recipe = dir.path().join("app.yaml");
    std::fs::write(
        &recipe,
        "name: app:1\nfiles:\n  - path: app.js\n    content: x\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["image", "build"])
        .arg(&recipe)
        .arg("--images")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("files[0].path") && stderr.contains("/app/app.js"),
        "{stderr}"
    );
}

const NODE: &str = "node-images";

/// `GET target` sent to `ip:8080` from inside the node's network
/// namespace (where the pod network is), retried until the server
/// answers or the deadline passes.
fn get_from_node(node: &agent_node::Node, ip: Ipv4Addr, target: &str) -> String {
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: echo.test\r\nX-Orc-Test: kubernetes-101\r\n\r\n");
    node.host.enter(|| {
        let deadline = Instant::now() + LONG;
        loop {
            let answer = TcpStream::connect_timeout(&(ip, 8080).into(), Duration::from_secs(5))
                .and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    s.write_all(request.as_bytes())?;
                    let mut answer = String::new();
                    s.read_to_string(&mut answer)?;
                    Ok(answer)
                });
            match answer {
                Ok(a) if a.starts_with("HTTP/1.1 200") => return a,
                other => assert!(Instant::now() < deadline, "{ip}:8080{target}: {other:?}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_naming_echoserver_gets_it_built_and_echoes_the_request() {
    let (node, api, _agent, _config) = one_node(NODE).await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = |name: &str, image: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "echo", "image": image,
                    "ports": [{"containerPort": 8080}]}]}})
    };
    api.post(pods, pod("echo", "echoserver:1.4")).await;
    // A name no recipe makes and no store has is still ErrImagePull: here
    // a registry on a closed loopback port (the agent pulls; a test sends
    // nothing off the machine), whose `echoserver:1.4` is not orc's.
    let typo_image = format!(
        "127.0.0.1:{}/echoserver:1.4",
        orc_testkit::ports::free_port()
    );
    api.post(pods, pod("typo", &typo_image)).await;

    let echo = api.wait_for(&format!("{pods}/echo"), LONG, running).await;
    let ip: Ipv4Addr = echo["status"]["podIP"].as_str().unwrap().parse().unwrap();
    let ip_for_thread = ip;
    let node_ref = &node;
    let answer = tokio::task::block_in_place(|| {
        get_from_node(node_ref, ip_for_thread, "/kubernetes-101/hello?x=1")
    });
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(body.contains("method=GET"), "{answer}");
    assert!(body.contains("real path=/kubernetes-101/hello"), "{answer}");
    assert!(body.contains("query=x=1"), "{answer}");
    assert!(body.contains("x-orc-test=kubernetes-101"), "{answer}");
    assert!(body.contains("Hostname: echo"), "{answer}");

    // The events say the image was built here, not pulled.
    let events = api.get("/api/v1/namespaces/default/events").await.unwrap();
    let messages: Vec<(String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == "echo")
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (reason, words) in [
        ("Pulling", "building it from orc's recipe"),
        ("Pulled", "built image \"echoserver:1.4\" from orc's recipe"),
    ] {
        assert!(
            messages
                .iter()
                .any(|(r, m)| r == reason && m.contains(words)),
            "{reason} with {words:?} in {messages:?}"
        );
    }

    let typo = api
        .wait_for(&format!("{pods}/typo"), LONG, |p: &Value| {
            let reason = p.pointer("/status/containerStatuses/0/state/waiting/reason");
            reason == Some(&json!("ErrImagePull")) || reason == Some(&json!("ImagePullBackOff"))
        })
        .await;
    let message = typo
        .pointer("/status/containerStatuses/0/state/waiting/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(message.contains(&typo_image), "{typo}");

    delete_pods(&api, &["echo", "typo"]).await;
}
