//! `orc-container image ...` end to end: build, import, list, bundle, run,
//! unbundle, rm, and the errors a user sees. Needs root.

use std::path::Path;
use std::process::{Command, Output};

fn orc(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orc-container"))
        .env("ORC_IMAGES", store)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn err(out: Output) -> String {
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn image_commands_from_build_to_rm() {
    orc_testkit::require_root();
    let dir = tempfile::tempdir().unwrap();
    let p = |rel: &str| dir.path().join(rel).display().to_string();
    let store = dir.path().join("store");
    let orc = |args: &[&str]| orc(&store, args);

    ok(orc(&[
        "image",
        "build",
        &p("layout"),
        "--name",
        "busybox:1",
    ]));
    ok(orc(&[
        "image",
        "build",
        &p("layout"),
        "--name",
        "echo:1",
        "--binary",
        "/usr/bin/echo",
        "--",
        "hi",
    ]));
    let imported = ok(orc(&["image", "import", &p("layout")]));
    assert_eq!(imported.lines().count(), 2, "{imported}");
    let list = ok(orc(&["image", "list"]));
    assert!(
        list.contains("docker.io/library/busybox:1") && list.contains("docker.io/library/echo:1"),
        "{list}"
    );

    ok(orc(&[
        "image",
        "bundle",
        "busybox:1",
        &p("bundle"),
        "-e",
        "WHO=cli",
        "--entrypoint",
        "sh",
        "--",
        "-c",
        "echo hi $WHO",
    ]));
    let out = ok(orc(&[
        "--root",
        &p("state"),
        "run",
        "cli-img",
        "--bundle",
        &p("bundle"),
    ]));
    assert_eq!(out, "hi cli\n");
    ok(orc(&["image", "unbundle", &p("bundle")]));
    assert!(!dir.path().join("bundle").exists());

    assert!(ok(orc(&["image", "rm", "echo:1"])).contains("3 blobs"));
    let e = err(orc(&["image", "bundle", "echo:1", &p("bundle")]));
    assert!(e.contains("image `echo:1` is not in the store"), "{e}");
    let e = err(orc(&["image", "pull", "Busy:Box"]));
    assert!(e.contains("invalid image reference `Busy:Box`"), "{e}");
    let e = err(orc(&["image", "import", &p("nowhere")]));
    assert!(e.contains("not an OCI image layout"), "{e}");
}
