//! Lab 01's tasks: one test per function in `src/student.rs`.

use lab_01::{
    CloneFlags, CpuLimits, IdMapping, LayerError, Linux, MemoryLimits, MsFlags, Namespace,
    NamespaceType, PidsLimit, Resources, clone_flags, id_map_text, limit_files, parse_options,
    shares_to_weight, unpack_layer,
};

#[test]
fn task_1_id_map_text() {
    let mappings = [
        IdMapping {
            container_id: 0,
            host_id: 100_000,
            size: 1,
        },
        IdMapping {
            container_id: 1,
            host_id: 200_001,
            size: 65_535,
        },
    ];
    assert_eq!(id_map_text(&mappings), "0 100000 1\n1 200001 65535\n");
    assert_eq!(id_map_text(&[]), "");
}

#[test]
fn task_2_clone_flags() {
    let ns = |kind, path: Option<&str>| Namespace {
        kind,
        path: path.map(String::from),
    };
    let linux = Linux {
        namespaces: vec![
            ns(NamespaceType::Pid, None),
            ns(NamespaceType::Mount, None),
            ns(NamespaceType::Uts, None),
            ns(NamespaceType::Ipc, None),
            ns(NamespaceType::Network, Some("/run/netns/pod")),
            ns(NamespaceType::Cgroup, None),
        ],
        ..Linux::default()
    };
    assert_eq!(
        clone_flags(&linux),
        CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC,
        "the network namespace is joined by path, and cgroup comes later"
    );
    let user = Linux {
        namespaces: vec![
            ns(NamespaceType::User, None),
            ns(NamespaceType::Network, None),
        ],
        ..Linux::default()
    };
    assert_eq!(
        clone_flags(&user),
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET
    );
}

#[test]
fn task_3_parse_mount_options() {
    let options =
        |list: &[&str]| parse_options(&list.iter().map(|o| o.to_string()).collect::<Vec<_>>());
    assert_eq!(
        options(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
        (
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            None,
            "mode=755,size=65536k".to_string()
        )
    );
    assert_eq!(
        options(&["rbind", "ro", "rprivate"]),
        (
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY,
            Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            String::new()
        )
    );
    assert_eq!(
        options(&["ro", "nodev", "rw", "defaults", "shared", "slave"]),
        (MsFlags::MS_NODEV, Some(MsFlags::MS_SLAVE), String::new()),
        "later options win"
    );
}

#[test]
fn task_4_cgroup_v1_limit_files() {
    let resources = Resources {
        memory: Some(MemoryLimits {
            limit: Some(64 << 20),
            swap: None,
        }),
        cpu: Some(CpuLimits {
            shares: Some(512),
            quota: Some(50_000),
            period: Some(100_000),
        }),
        pids: Some(PidsLimit { limit: 32 }),
        ..Resources::default()
    };
    insta::assert_debug_snapshot!(limit_files(&resources), @r#"
    [
        (
            "memory",
            "memory.limit_in_bytes",
            "67108864",
        ),
        (
            "cpu",
            "cpu.shares",
            "512",
        ),
        (
            "cpu",
            "cpu.cfs_period_us",
            "100000",
        ),
        (
            "cpu",
            "cpu.cfs_quota_us",
            "50000",
        ),
        (
            "pids",
            "pids.max",
            "32",
        ),
    ]
    "#);
    let unlimited = Resources {
        pids: Some(PidsLimit { limit: 0 }),
        ..Resources::default()
    };
    assert_eq!(
        limit_files(&unlimited),
        [("pids", "pids.max", "max".to_string())]
    );
    assert!(limit_files(&Resources::default()).is_empty());
}

#[test]
fn task_5_shares_to_weight() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(
        shares_to_weight(1024),
        100,
        "v1's default maps to v2's default"
    );
    assert_eq!(shares_to_weight(512), 59, "rounded up");
    assert_eq!(shares_to_weight(2000), 170);
    assert_eq!(shares_to_weight(1), 1, "below the range is clamped");
    assert_eq!(
        shares_to_weight(1 << 20),
        10_000,
        "above the range is clamped"
    );
    assert_eq!(shares_to_weight(0), 0, "zero means not set");
}

/// A tar layer from `(path, Some(content))` for files and `(path, None)` for
/// directories.
fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match content {
            Some(text) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(text.len() as u64);
                header.set_mode(0o644);
                builder
                    .append_data(&mut header, path, text.as_bytes())
                    .unwrap();
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// Every path under `dir`, sorted, directories ending in `/`.
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(base).unwrap().display().to_string();
            if path.is_dir() {
                out.push(format!("{name}/"));
                walk(base, &path, out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn task_6_unpack_layer_with_whiteouts() {
    let root = tempfile::tempdir().unwrap();
    let lower = layer(&[
        ("etc/", None),
        ("etc/motd", Some("hello")),
        ("app/", None),
        ("app/old.conf", Some("v1")),
        ("app/cache/", None),
        ("app/cache/x", Some("x")),
        ("tmp/", None),
        ("tmp/junk", Some("junk")),
    ]);
    let summary = unpack_layer(&lower[..], root.path()).unwrap();
    assert_eq!(summary.unpacked, 8);

    // The opaque marker comes *after* the new file in this archive: the new
    // file must survive it.
    let upper = layer(&[
        ("etc/.wh.motd", Some("")),
        ("app/new.conf", Some("v2")),
        ("app/.wh..wh..opq", Some("")),
        (".wh.tmp", Some("")),
    ]);
    let summary = unpack_layer(&upper[..], root.path()).unwrap();
    assert_eq!(
        (summary.unpacked, summary.whited_out, summary.opaque_dirs),
        (1, 2, 1)
    );
    assert_eq!(tree(root.path()), ["app/", "app/new.conf", "etc/"]);

    let escaping = {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let name = b"../escaped";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend([0; 1024]);
        bytes
    };
    assert!(
        matches!(
            unpack_layer(&escaping[..], root.path()),
            Err(LayerError::Escape(path)) if path == "../escaped"
        ),
        "an entry climbing out of the root is refused"
    );
    assert!(!root.path().join("../escaped").exists());

    // A layer's symlink to a host directory, then a whiteout through it.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("victim"), "precious").unwrap();
    let mut links = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    header.set_mode(0o777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    links
        .append_link(&mut header, "escape", host.path())
        .unwrap();
    unpack_layer(&links.into_inner().unwrap()[..], root.path()).unwrap();
    let through_link = layer(&[("escape/.wh.victim", Some(""))]);
    assert!(
        matches!(
            unpack_layer(&through_link[..], root.path()),
            Err(LayerError::Escape(_))
        ),
        "a whiteout reached through a symlink is refused"
    );
    assert!(
        host.path().join("victim").exists(),
        "the host's file survives"
    );
}
