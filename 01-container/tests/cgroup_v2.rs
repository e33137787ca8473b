//! The cgroup v2 backend on the real kernel, as far as this host allows.
//!
//! This host is cgroup v1 "hybrid": every controller is bound to v1, but a
//! real cgroup2 hierarchy is mounted at /sys/fs/cgroup/unified with no
//! controllers. Directory creation, moving processes, reading cgroup.procs
//! and cpu.stat, and removal work there for real; limits are covered by the
//! fake-tree unit tests in `cgroups::v2`.

use orc_container::cgroups::{Cgroup, v2::CgroupV2};
use std::path::Path;

#[test]
fn v2_backend_moves_processes_and_cleans_up_on_a_real_cgroup2() {
    orc_testkit::require_root();
    let root = Path::new("/sys/fs/cgroup/unified");
    assert!(
        root.join("cgroup.controllers").exists(),
        "no cgroup2 mounted at {}",
        root.display()
    );
    let path = format!("/orc-test/{}", orc_testkit::unique_name("v2"));
    let cg = CgroupV2::new(root, &path);
    cg.create().unwrap();
    // No controllers on this hierarchy: applying no limits must be a no-op.
    cg.apply(&Default::default()).unwrap();

    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    cg.add_process(pid).unwrap();
    assert_eq!(cg.processes(), [pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.lines().any(|l| l == format!("0::{path}")), "{own}");

    // Still populated: removal must fail, not pretend.
    assert!(cg.remove().is_err());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(cg.processes().is_empty());
    cg.remove().unwrap();
    assert!(!root.join(path.trim_start_matches('/')).exists());
    let _ = std::fs::remove_dir(root.join("orc-test"));
}
