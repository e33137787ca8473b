//! Pulling from the real `docker-registry` (Debian's distribution 2.8) on
//! loopback, with images pushed by skopeo: anonymous, basic auth, OCI and
//! Docker manifest formats, an index resolved to linux/amd64. The bearer
//! token flow runs against a small token-protected registry in this file.

mod images_common;
use images_common::{World, sh};
use orc_container::image::auth::Credentials;
use orc_container::image::build;
use orc_container::image::bundle;
use orc_container::image::manifest::{Descriptor, Index, OCI_INDEX, Platform, REF_NAME};
use orc_container::image::registry::{PullOptions, pull};
use orc_testkit::registry::Registry;
use std::path::{Path, PathBuf};

fn busybox_layout(w: &World) -> PathBuf {
    let layout = w.path("layout");
    build::busybox_image(&layout, "busybox:1").unwrap();
    layout
}

#[test]
fn pulls_oci_and_docker_formats_anonymously() {
    let w = World::new();
    let reg = Registry::start(None);
    let layout = busybox_layout(&w);
    reg.push(&layout, "busybox:1", "team/busybox:oci", &[]);
    // skopeo rewrites the image with Docker's media types.
    reg.push(
        &layout,
        "busybox:1",
        "team/busybox:docker",
        &["--format", "v2s2"],
    );

    let (r, oci) = pull(
        &w.store,
        &format!("{}/team/busybox:oci", reg.addr),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(r.to_string(), format!("{}/team/busybox:oci", reg.addr));
    let (_, docker) = pull(
        &w.store,
        &format!("{}/team/busybox:docker", reg.addr),
        &PullOptions::default(),
    )
    .unwrap();
    assert_ne!(oci, docker, "different formats, different manifests");
    let image = w
        .store
        .image(&format!("{}/team/busybox:docker", reg.addr))
        .unwrap();
    assert_eq!(
        image.manifest.media_type.as_deref(),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );

    // Pinned by digest.
    let pinned = format!("{}/team/busybox@{oci}", reg.addr);
    assert_eq!(
        pull(&w.store, &pinned, &PullOptions::default()).unwrap().1,
        oci
    );

    let dir = w.path("bundle");
    bundle::create(
        &w.store,
        &format!("{}/team/busybox:docker", reg.addr),
        &dir,
        &sh("echo pulled"),
    )
    .unwrap();
    assert_eq!(w.run(&dir), (0, "pulled\n".to_string()));
    bundle::remove(&dir).unwrap();

    let e = pull(
        &w.store,
        &format!("{}/team/busybox:nope", reg.addr),
        &PullOptions::default(),
    )
    .unwrap_err();
    let e = e.to_string();
    assert!(e.contains("404") && e.contains("MANIFEST_UNKNOWN"), "{e}");
}

#[test]
fn an_index_resolves_to_linux_amd64() {
    let w = World::new();
    let reg = Registry::start(None);
    let layout = w.path("layout");
    // Two real images; the index says the echo one is for arm64.
    let amd64 = build::busybox_image(&layout, "amd64").unwrap();
    let arm64 = build::binary_image(
        Path::new("/usr/bin/echo"),
        &["wrong platform"],
        &layout,
        "arm64",
    )
    .unwrap();
    let entry = |digest, arch: &str| {
        let size = std::fs::metadata(
            layout
                .join("blobs/sha256")
                .join(orc_container::image::Digest::hex(&digest)),
        )
        .unwrap()
        .len();
        Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest,
            size,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: None,
            }),
            annotations: Default::default(),
        }
    };
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        manifests: vec![entry(arm64, "arm64"), entry(amd64.clone(), "amd64")],
    };
    let writer = orc_container::image::oci_layout::LayoutWriter::create(&layout).unwrap();
    let desc = writer
        .blob(OCI_INDEX, &serde_json::to_vec(&index).unwrap())
        .unwrap();
    writer.add_to_index(desc, "multi").unwrap();
    assert!(
        std::fs::read_to_string(layout.join("index.json"))
            .unwrap()
            .contains(REF_NAME)
    );
    reg.push(&layout, "multi", "multi:1", &["--all"]);

    let (_, digest) = pull(
        &w.store,
        &format!("{}/multi:1", reg.addr),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(digest, amd64);
}

#[test]
fn basic_auth_with_htpasswd() {
    let w = World::new();
    let reg = Registry::start(Some(("alice", "s3cret")));
    let layout = busybox_layout(&w);
    reg.push(
        &layout,
        "busybox:1",
        "private:1",
        &["--dest-creds", "alice:s3cret"],
    );
    let image = format!("{}/private:1", reg.addr);

    let e = pull(&w.store, &image, &PullOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--user USER:PASSWORD"), "{e}");
    let wrong = PullOptions {
        credentials: Some(Credentials::parse("alice:wrong").unwrap()),
        ..Default::default()
    };
    let e = pull(&w.store, &image, &wrong).unwrap_err().to_string();
    assert!(e.contains("401"), "{e}");
    let right = PullOptions {
        credentials: Some(Credentials::parse("alice:s3cret").unwrap()),
        ..Default::default()
    };
    pull(&w.store, &image, &right).unwrap();
    assert!(w.store.image(&image).is_ok());
}
