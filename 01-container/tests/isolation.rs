//! What a process inside the container can see: the namespaces and the
//! root filesystem at work. Real kernel, needs root.

mod common;
use common::Fixture;

#[test]
fn container_process_is_pid_1_with_its_own_hostname() {
    let mut f = Fixture::new(&["sh", "-c", "echo $$; hostname"]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1\norc\n");
}

#[test]
fn host_processes_are_invisible() {
    // Only pid 1 (sh) and its ps child exist in the new pid namespace.
    let mut f = Fixture::new(&["sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    let n: u32 = out.trim().parse().unwrap();
    assert!(n <= 3, "saw {n} processes");
}

#[test]
fn host_mounts_are_invisible_and_root_is_the_bundle() {
    let mut f = Fixture::new(&["sh", "-c", "cat /proc/self/mounts; ls /"]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("cgroup"), "host cgroup mounts leaked:\n{out}");
    assert!(!out.contains("/work"), "host paths leaked:\n{out}");
    // The root listing is the busybox rootfs, nothing from the host.
    assert!(
        out.contains("\nbin\ndev\netc\nproc\nroot\nsys\ntmp\n"),
        "{out}"
    );
}

#[test]
fn readonly_root_is_not_writable() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "touch /file && echo wrote; touch /dev/ok && echo dev",
    ]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "dev\n");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!f.bundle.join("rootfs/file").exists());
}

#[test]
fn dev_has_the_standard_nodes_and_masked_paths_are_empty() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "ls /dev; echo x > /dev/null && echo null-ok; cat /proc/keys | wc -c; readlink /dev/fd",
    ]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    for node in [
        "full", "null", "ptmx", "pts", "random", "shm", "stderr", "tty", "urandom", "zero",
    ] {
        assert!(out.lines().any(|l| l == node), "/dev lacks {node}: {out}");
    }
    assert!(out.contains("null-ok\n0\n/proc/self/fd\n"), "{out}");
}

#[test]
fn ptys_come_from_the_containers_own_devpts_instance() {
    // A pty the host allocates on its own devpts while the container runs:
    // a container sharing the host's instance would list it.
    let host = nix::pty::openpty(None, None).expect("a pty on the host's devpts");
    let host_pts = nix::unistd::ttyname(&host.slave).unwrap();
    assert!(host_pts.starts_with("/dev/pts/"), "{}", host_pts.display());
    // Opening /dev/ptmx (a link to pts/ptmx) allocates a pty in the
    // container's instance: the first, number 0, group tty (5), mode 0620.
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "readlink /dev/ptmx; echo before: $(ls /dev/pts); exec 3<>/dev/ptmx; \
         echo after: $(ls /dev/pts); stat -c '%a %g' /dev/pts/0; grep ' /dev/pts ' /proc/self/mounts",
    ]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        ["pts/ptmx", "before: ptmx", "after: 0 ptmx", "620 5"],
        "{out}"
    );
    let options = lines[4];
    for option in ["gid=5", "mode=620", "ptmxmode=666", "nosuid", "noexec"] {
        assert!(options.contains(option), "{option} missing: {options}");
    }
    // The host's pty is still there, on the host's instance only.
    assert!(host_pts.exists());
}

#[test]
fn env_cwd_and_user_come_from_the_config() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g; id -G; echo $HOME",
    ]);
    f.edit(|s| {
        let p = s.process.as_mut().unwrap();
        p.env.push("FOO=bar baz".into());
        p.cwd = "/tmp".into();
        p.user.uid = 1000;
        p.user.gid = 1001;
        p.user.additional_gids = vec![1002];
    });
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "bar baz\n/tmp\n1000\n1001\n1001 1002\n/\n");
}

/// A `cwd` missing from the image is created, as runc and crun do (a
/// Kubernetes `workingDir` absent from the image must not fail the pod):
/// by the container's root before the user switch and before `/` turns
/// read-only, so it is 0:0 and 0755 however the process runs; a symlink in
/// the path resolves inside the root, never on the host.
#[test]
fn a_missing_cwd_is_created_inside_the_root_as_runc_does() {
    let mut f = Fixture::new(&["sh", "-c", "pwd -P; stat -c '%u %g %a' . .."]);
    let rootfs = f.bundle.join("rootfs");
    // An image symlink pointing "up and out": followed on the host, it
    // would reach this directory beside the bundle.
    let outside = f.dir.path().join("outside");
    let up = "../".repeat(f.bundle.components().count() + 2);
    std::os::unix::fs::symlink(format!("{up}{}", outside.display()), rootfs.join("app")).unwrap();
    f.edit(|s| {
        let p = s.process.as_mut().unwrap();
        p.cwd = "/app/src/deep".into();
        p.user.uid = 1000;
        p.user.gid = 1000;
        s.root.as_mut().unwrap().readonly = true;
    });
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    // Inside the root, the link led to the same path as on the host.
    let physical = outside.join("src/deep");
    assert_eq!(out, format!("{}\n0 0 755\n0 0 755\n", physical.display()));
    assert!(!outside.exists(), "the cwd was created on the host");
    let inside = rootfs
        .join(outside.strip_prefix("/").unwrap())
        .join("src/deep");
    assert!(inside.is_dir(), "{} missing", inside.display());
}

#[test]
fn capabilities_are_dropped_to_the_config() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status; mount -t tmpfs x /tmp",
    ]);
    let (code, out, err) = f.run();
    // AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10): 0x20000420.
    assert_eq!(
        out,
        "CapPrm:\t0000000020000420\nCapEff:\t0000000020000420\nCapBnd:\t0000000020000420\n"
    );
    // Without CAP_SYS_ADMIN, mount fails.
    assert_ne!(code, 0);
    assert!(err.contains("permission denied"), "{err}");
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_uid() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map",
    ]);
    f.edit(|s| common::add_user_namespace(s, 100_000));
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "100000", "65536", "0", "100000", "65536"]);
}

#[test]
fn joins_a_network_namespace_by_path() {
    let host = orc_testkit::NetnsHost::new();
    let mut f = Fixture::new(&["sh", "-c", "readlink /proc/self/ns/net"]);
    let path = host.path();
    f.edit(|s| {
        let linux = s.linux.as_mut().unwrap();
        for ns in &mut linux.namespaces {
            if ns.kind == orc_container::spec::NamespaceType::Network {
                ns.path = Some(path.clone());
            }
        }
    });
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    let want = std::fs::read_link(&path)
        .ok()
        .map(|p| p.display().to_string());
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    assert_eq!(out.trim(), want.unwrap_or(format!("net:[{inode}]")));
}

#[test]
fn seccomp_profile_denies_listed_syscalls() {
    use orc_container::spec::{Mount, Seccomp, SeccompAction, SyscallRule};
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "mkdir /tmp/a && echo made; touch /tmp/b && echo touched",
    ]);
    f.edit(|s| {
        s.mounts.push(Mount {
            destination: "/tmp".into(),
            kind: Some("tmpfs".into()),
            source: Some("tmpfs".into()),
            options: vec!["nosuid".into()],
        });
        s.linux.as_mut().unwrap().seccomp = Some(Seccomp {
            default_action: SeccompAction::Allow,
            default_errno_ret: None,
            architectures: vec!["SCMP_ARCH_X86_64".into()],
            syscalls: vec![SyscallRule {
                names: vec!["mkdir".into(), "mkdirat".into()],
                action: SeccompAction::Errno,
                errno_ret: Some(libc::EACCES as u32),
                args: vec![],
            }],
        });
    });
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "touched\n");
    assert!(err.contains("Permission denied"), "{err}");
}

#[test]
fn default_config_sets_no_new_privs_and_a_seccomp_filter() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
    ]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    // Seccomp mode 2 is "filter".
    assert_eq!(out, "NoNewPrivs:\t1\nSeccomp:\t2\n");
}

#[test]
fn mount_destinations_follow_symlinks_inside_the_rootfs_only() {
    // An image's /var/run -> /run must mean the container's /run, never the host's.
    let name = orc_testkit::unique_name("orc-escape");
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        &format!("cat /proc/self/mounts | grep -c ' /run/{name} tmpfs'"),
    ]);
    std::fs::create_dir_all(f.bundle.join("rootfs/var")).unwrap();
    std::fs::create_dir_all(f.bundle.join("rootfs/run")).unwrap();
    std::os::unix::fs::symlink("/run", f.bundle.join("rootfs/var/run")).unwrap();
    f.edit(|s| {
        s.mounts.push(orc_container::spec::Mount {
            destination: format!("/var/run/{name}"),
            kind: Some("tmpfs".into()),
            source: Some("tmpfs".into()),
            options: vec![],
        })
    });
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1\n");
    assert!(
        !std::path::Path::new("/run").join(&name).exists(),
        "created on the host"
    );
    assert!(f.bundle.join("rootfs/run").join(&name).is_dir());
}
