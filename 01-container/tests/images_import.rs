//! Importing images from files: a real `docker save`, an OCI layout as a
//! tarball, and a layout with a corrupted blob. Needs root and docker.

mod images_common;
use images_common::{World, sh};
use orc_container::image::build;
use orc_container::image::bundle;
use orc_container::image::{docker_archive, oci_layout};
use std::io::Write;
use std::process::{Command, Stdio};

/// A docker image made for one test, removed from the engine on drop.
struct DockerImage(String);

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn a_docker_save_archive_imports_and_runs() {
    orc_testkit::require_command("docker");
    let w = World::new();
    // `docker import` turns a root filesystem tarball into an image; no
    // registry is involved.
    let name = format!("orc-test/{}:v1", orc_testkit::unique_name("busybox"));
    let image = DockerImage(name.clone());
    let rootfs = build::busybox_layer(std::path::Path::new("/bin/busybox")).unwrap();
    let mut child = Command::new("docker")
        .args([
            "import",
            "--change",
            r#"CMD ["sh", "-c", "echo saved by docker; echo $PATH"]"#,
            "-",
            &name,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&rootfs).unwrap();
    assert!(child.wait().unwrap().success());
    let archive = w.path("saved.tar");
    let saved = Command::new("docker")
        .args(["save", "-o"])
        .arg(&archive)
        .arg(&name)
        .status()
        .unwrap();
    assert!(saved.success());
    drop(image);

    let imported = docker_archive::import(&w.store, &archive, None).unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].0.to_string(), format!("docker.io/{name}"));
    let dir = w.path("bundle");
    bundle::create(&w.store, &name, &dir, &Default::default()).unwrap();
    let (code, out) = w.run(&dir);
    assert_eq!(code, 0, "{out}");
    // docker import sets no PATH: the bundle adds the usual one.
    assert_eq!(
        out,
        "saved by docker\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    bundle::remove(&dir).unwrap();

    let e = docker_archive::import(&w.store, &w.path("nope.tar"), None).unwrap_err();
    assert!(e.to_string().contains("nope.tar"), "{e}");
}

#[test]
fn an_oci_layout_tarball_imports_under_a_new_name() {
    let w = World::new();
    let layout = w.path("layout");
    build::busybox_image(&layout, "busybox:1").unwrap();
    let tarball = w.path("layout.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
    tar.append_dir_all(".", &layout).unwrap();
    tar.finish().unwrap();
    drop(tar);

    let imported = oci_layout::import(&w.store, &tarball, Some("localhost/renamed:2")).unwrap();
    assert_eq!(imported[0].0.to_string(), "localhost/renamed:2");
    let dir = w.path("bundle");
    bundle::create(&w.store, "localhost/renamed:2", &dir, &sh("echo renamed")).unwrap();
    assert_eq!(w.run(&dir), (0, "renamed\n".to_string()));
    bundle::remove(&dir).unwrap();
}

#[test]
fn a_corrupt_blob_is_refused_naming_both_digests() {
    let w = World::new();
    let layout = w.path("layout");
    build::busybox_image(&layout, "busybox:1").unwrap();
    // Flip the biggest blob (the layer) by appending a byte.
    let blobs = layout.join("blobs/sha256");
    let layer = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap();
    let expected = format!("sha256:{}", layer.file_name().to_string_lossy());
    std::fs::OpenOptions::new()
        .append(true)
        .open(layer.path())
        .unwrap()
        .write_all(b"!")
        .unwrap();

    let e = oci_layout::import(&w.store, &layout, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("expected {expected}, got sha256:")),
        "{e}"
    );
    assert!(w.store.list().unwrap().is_empty());

    let e = oci_layout::import(&w.store, &w.path("nothing"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no oci-layout file"), "{e}");
}

#[test]
fn a_layout_written_by_skopeo_imports_with_a_name() {
    let w = World::new();
    let ours = w.path("ours");
    build::busybox_image(&ours, "busybox:1").unwrap();
    // skopeo names images in a layout by tag alone.
    let theirs = w.path("theirs");
    let out = Command::new(orc_testkit::require_command("skopeo"))
        .args(["--insecure-policy", "copy", "--quiet"])
        .arg(format!("oci:{}:busybox:1", ours.display()))
        .arg(format!("oci:{}:v1", theirs.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let e = oci_layout::import(&w.store, &theirs, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is named only `v1`; give it a name"), "{e}");
    let imported = oci_layout::import(&w.store, &theirs, Some("busybox:v1")).unwrap();
    let dir = w.path("bundle");
    bundle::create(&w.store, "busybox:v1", &dir, &sh("echo via skopeo")).unwrap();
    assert_eq!(w.run(&dir), (0, "via skopeo\n".to_string()));
    bundle::remove(&dir).unwrap();
    assert_eq!(imported[0].0.to_string(), "docker.io/library/busybox:v1");
}
