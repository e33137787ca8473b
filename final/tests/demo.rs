//! `orc demo`, the README's first command, runs every part it narrates.

use std::process::Command;

use orc_testkit::{require_command, require_root};

#[test]
fn the_demo_runs_a_container_and_an_api_server_that_kubectl_uses() {
    require_root();
    require_command("etcd");
    require_command("kubectl");
    let output = Command::new(env!("CARGO_BIN_EXE_orc"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "orc demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "I am pid 1 on host orc-demo",
        "Writing to / gives: touch: /probe: Read-only file system",
        "  deployment/web created",
        "pod/hello   0/1     Pending",
        "deployment.apps/web   0/3",
        "greeting: hello from orc",
        "/registry/pods/demo/hello",
        "  watch event: DELETED pod/hello",
        "replicaset.apps/web-",
        "deployment.apps/web   0/3     3            0",
        "deployment.apps \"web\" deleted",
    ] {
        assert!(
            stdout.contains(expected),
            "the demo should print {expected:?}:\n{stdout}"
        );
    }
    // kubectl says an empty list on its standard error, and so does the demo.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("No resources found in demo namespace."),
        "the foreground delete left nothing:\n{stderr}"
    );
    let demo_dirs = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("orc-demo-"))
        .count();
    assert_eq!(demo_dirs, 0, "the demo removes its directory");
}
