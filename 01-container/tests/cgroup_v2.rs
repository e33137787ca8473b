//! The cgroup v2 backend on the real kernel, whichever cgroup2 this host has.
//!
//! - On a cgroup v2 host (the test VM of scripts/vm, which `./test.sh` runs
//!   this binary in) it is `/sys/fs/cgroup` itself, with the cpu, memory and
//!   pids controllers: limits are written and read back.
//! - On a cgroup v1 "hybrid" host (the development machine) it is the
//!   controller-less cgroup2 at `/sys/fs/cgroup/unified`: directory
//!   creation, moving processes, `cgroup.procs` and removal work there for
//!   real; limits are covered by the fake-tree unit tests in `cgroups::v2`
//!   and by this binary in the VM.

use orc_container::cgroups::{CGROUP_ROOT, Cgroup, Layout, v2::CgroupV2};
use orc_container::spec::{PidsLimit, Resources};
use std::path::{Path, PathBuf};

/// The cgroup2 hierarchy to test on, and the limits it can take.
fn hierarchy() -> (PathBuf, Resources) {
    match Layout::of_host() {
        Layout::V2 => {
            let limits = Resources {
                pids: Some(PidsLimit { limit: 7 }),
                ..Resources::default()
            };
            (PathBuf::from(CGROUP_ROOT), limits)
        }
        // No controllers there: applying no limits must be a no-op.
        Layout::V1 => (Path::new(CGROUP_ROOT).join("unified"), Resources::default()),
    }
}

#[test]
fn v2_backend_moves_processes_and_cleans_up_on_a_real_cgroup2() {
    orc_testkit::require_root();
    let (root, limits) = hierarchy();
    assert!(
        root.join("cgroup.controllers").exists(),
        "no cgroup2 mounted at {}",
        root.display()
    );
    let path = format!("/orc-test/{}", orc_testkit::unique_name("v2"));
    let cg = CgroupV2::new(&root, &path);
    cg.create().unwrap();
    cg.apply(&limits).unwrap();
    let dir = root.join(path.trim_start_matches('/'));
    if limits.pids.is_some() {
        assert_eq!(
            std::fs::read_to_string(dir.join("pids.max")).unwrap(),
            "7\n"
        );
    }

    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    cg.add_process(pid).unwrap();
    assert_eq!(cg.processes(), [pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.lines().any(|l| l == format!("0::{path}")), "{own}");
    if limits.pids.is_some() {
        assert_eq!(cg.stats().pids, 1);
    }

    // Still populated: removal must fail, not pretend.
    assert!(cg.remove().is_err());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(cg.processes().is_empty());
    cg.remove().unwrap();
    assert!(!dir.exists());
    let _ = std::fs::remove_dir(root.join("orc-test"));
}
