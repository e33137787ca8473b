//! Images → bundles → containers, on the real kernel: images built here
//! as OCI layouts, imported into a store, unpacked into overlayfs roots and
//! run by the real `orc-container` binary. Needs root.

mod images_common;
use images_common::{World, is_mounted, sh};
use orc_container::image::build::{self, LayerBuilder};
use orc_container::image::bundle::{self, Overrides};
use orc_container::image::manifest::RunConfig;
use orc_container::image::oci_layout;
use std::path::Path;

#[test]
fn busybox_image_runs_on_an_overlay_root() {
    let w = World::new();
    let layout = w.path("layout");
    build::busybox_image(&layout, "busybox:test").unwrap();
    let imported = oci_layout::import(&w.store, &layout, None).unwrap();
    assert_eq!(imported[0].0.to_string(), "docker.io/library/busybox:test");

    let dir = w.path("bundle");
    let mut overrides = sh("echo hello $GREETING; id -u; echo data > /written; cat /written");
    overrides.env = vec!["GREETING=from-an-image".into()];
    let b = bundle::create(&w.store, "busybox:test", &dir, &overrides).unwrap();
    assert!(is_mounted(&b.rootfs));
    let (code, out) = w.run(&dir);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "hello from-an-image\n0\ndata\n");
    // The write went to this container's upper dir, not to the shared layer.
    assert_eq!(
        std::fs::read_to_string(dir.join("upper/written")).unwrap(),
        "data\n"
    );
    let layer = w.store.root().join("layers");
    let only_layer = std::fs::read_dir(&layer)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(!only_layer.join("written").exists());

    bundle::remove(&dir).unwrap();
    assert!(!dir.exists());
    assert!(!is_mounted(&b.rootfs));
}

#[test]
fn whiteouts_and_user_names_work_across_layers() {
    let w = World::new();
    let base = build::busybox_layer(Path::new("/bin/busybox")).unwrap();
    let mut lower = LayerBuilder::new();
    lower
        .file("var/a", b"a", 0o644)
        .file("etc/motd", b"hi", 0o644);
    let mut top = LayerBuilder::new();
    top.whiteout("etc/motd")
        .file("var/.wh..wh..opq", b"", 0o644)
        .file("var/b", b"b", 0o644)
        .file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
            0o644,
        );
    let run = RunConfig {
        user: "app".into(),
        working_dir: "/var".into(),
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "id -u; id -g; pwd; ls /var; test -e /etc/motd || echo motd gone".into(),
        ],
        ..RunConfig::default()
    };
    let layout = w.path("layout");
    build::write_image(
        &layout,
        "layered:1",
        &[base, lower.finish(), top.finish()],
        run,
    )
    .unwrap();
    oci_layout::import(&w.store, &layout, None).unwrap();

    let dir = w.path("bundle");
    let b = bundle::create(&w.store, "layered:1", &dir, &Overrides::default()).unwrap();
    assert_eq!(b.spec.process.as_ref().unwrap().user.uid, 1000);
    let (code, out) = w.run(&dir);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "1000\n1001\n/var\nb\nmotd gone\n");
    bundle::remove(&dir).unwrap();
}

#[test]
fn a_host_binary_and_its_libraries_make_an_image() {
    let w = World::new();
    let echo = Path::new("/usr/bin/echo");
    assert!(
        !build::shared_libraries(echo).unwrap().is_empty(),
        "echo should be dynamic"
    );
    let layout = w.path("layout");
    build::binary_image(echo, &["made", "from", "the", "host"], &layout, "echo:1").unwrap();
    oci_layout::import(&w.store, &layout, None).unwrap();
    let dir = w.path("bundle");
    bundle::create(&w.store, "echo:1", &dir, &Overrides::default()).unwrap();
    let (code, out) = w.run(&dir);
    assert_eq!((code, out.as_str()), (0, "made from the host\n"));
    bundle::remove(&dir).unwrap();
}

#[test]
fn removing_an_image_keeps_layers_a_container_root_uses() {
    let w = World::new();
    let layout = w.path("layout");
    build::busybox_image(&layout, "busybox:gc").unwrap();
    oci_layout::import(&w.store, &layout, None).unwrap();
    let dir = w.path("bundle");
    bundle::create(&w.store, "busybox:gc", &dir, &sh("echo still here")).unwrap();
    let report = w.store.remove("busybox:gc").unwrap();
    assert_eq!((report.blobs, report.layers), (3, 0));
    assert_eq!(w.run(&dir), (0, "still here\n".to_string()));
    bundle::remove(&dir).unwrap();
    assert_eq!(w.store.gc().unwrap().layers, 1);
    let e = bundle::create(&w.store, "busybox:gc", &dir, &Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("is not in the store"), "{e}");
}

/// A raw tar: `LayerBuilder` would helpfully add parent directories.
fn raw_layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

fn header(kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o777);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

#[test]
fn whiteouts_through_a_layer_symlink_cannot_touch_the_host() {
    let w = World::new();
    let host_dir = w.path("host-dir");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("victim"), "precious").unwrap();
    let base = build::busybox_layer(Path::new("/bin/busybox")).unwrap();
    let layout = w.path("layout");
    for (name, marker) in [
        ("file:1", "escape/.wh.victim"),
        ("opaque:1", "escape/.wh..wh..opq"),
    ] {
        let evil = raw_layer(|b| {
            b.append_link(&mut header(tar::EntryType::Symlink), "escape", &host_dir)
                .unwrap();
            b.append_data(
                &mut header(tar::EntryType::Regular),
                marker,
                std::io::empty(),
            )
            .unwrap();
        });
        build::write_image(&layout, name, &[base.clone(), evil], RunConfig::default()).unwrap();
    }
    oci_layout::import(&w.store, &layout, None).unwrap();
    for name in ["file:1", "opaque:1"] {
        let e = bundle::create(&w.store, name, &w.path("bundle"), &sh("true")).unwrap_err();
        assert!(
            e.to_string().contains("through the symlink `escape`"),
            "{e}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(host_dir.join("victim")).unwrap(),
        "precious"
    );
}
