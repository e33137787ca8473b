//! cgroup limits enforced by the real kernel, on either layout: cgroup v1
//! on the development machine, cgroup v2 in the test VM (scripts/vm, run by
//! `./test.sh`). Each test asserts the same limits and counters on both,
//! reading each file by its v1 or v2 name ([`cgroup_file`]); where the two
//! layouts behave differently, each is asserted for what it is.
//!
//! Under the VM's software emulation time means little: the tests wait on
//! states and assert on the kernel's counters, never on durations.

mod common;
use common::{Fixture, cgroup_file, cgroup_file_at, keyed, text};
use orc_container::cgroups::{Layout, shares_to_weight};
use orc_container::spec::{CpuLimits, MemoryLimits, Mount, PidsLimit, Resources};

fn with_resources(f: &Fixture, r: Resources) {
    f.edit(|s| s.linux.as_mut().unwrap().resources = Some(r));
}

#[test]
fn memory_hog_is_oom_killed_and_state_says_so() {
    // `tail` buffers its "last line" from /dev/zero, which never ends.
    let mut f = Fixture::new(&["tail", "/dev/zero"]);
    with_resources(
        &f,
        Resources {
            memory: Some(MemoryLimits {
                limit: Some(16 << 20),
                swap: Some(16 << 20),
            }),
            ..Resources::default()
        },
    );
    let id = f.id("oom");
    assert!(
        f.create(&id).status.success(),
        "{}",
        f.container_output(&id)
    );
    let limit = cgroup_file(&id, ("memory", "memory.limit_in_bytes"), "memory.max");
    assert_eq!(
        limit,
        (16u64 << 20).to_string(),
        "the memory limit (memory.limit_in_bytes on v1, memory.max on v2)"
    );
    let swap = cgroup_file(
        &id,
        ("memory", "memory.memsw.limit_in_bytes"),
        "memory.swap.max",
    );
    match Layout::of_host() {
        // v1 limits memory+swap together; v2 limits swap alone.
        Layout::V1 => assert_eq!(swap, (16u64 << 20).to_string()),
        Layout::V2 => assert_eq!(swap, "0"),
    }
    assert_eq!(f.state(&id)["oomKilled"], false);
    assert!(f.orc(&["start", &id]).status.success());
    let state = f.wait_status(&id, "stopped");
    assert_eq!(state["oomKilled"], true, "{state}");
    assert!(state["stats"]["oomKills"].as_u64().unwrap() >= 1);
    let events = cgroup_file(&id, ("memory", "memory.oom_control"), "memory.events");
    assert!(keyed(&events, "oom_kill") >= 1, "{events}");
    assert!(f.orc(&["delete", &id]).status.success());
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "for i in $(seq 1 30); do sleep 5 & done; echo survived",
    ]);
    with_resources(
        &f,
        Resources {
            pids: Some(PidsLimit { limit: 10 }),
            ..Resources::default()
        },
    );
    let id = f.id("pids");
    assert!(f.create(&id).status.success());
    assert_eq!(cgroup_file(&id, ("pids", "pids.max"), "pids.max"), "10");
    assert!(f.orc(&["start", &id]).status.success());
    // busybox sh gives up the script at the first failed fork (exit 2);
    // what matters is that the fork failed and the container ended.
    let state = f.wait_status(&id, "stopped");
    assert_ne!(state["exitCode"], 0, "{state}");
    let out = f.container_output(&id);
    assert!(
        out.contains("can't fork: Resource temporarily unavailable"),
        "{out}"
    );
    // The kernel counts the forks it refused (pids.events has the same
    // name on both layouts).
    let events = cgroup_file(&id, ("pids", "pids.events"), "pids.events");
    assert!(keyed(&events, "max") >= 1, "{events}");
    assert!(f.orc(&["delete", "--force", &id]).status.success());
}

#[test]
fn cpu_limits_and_stats_are_written_and_read() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 100",
    ]);
    with_resources(
        &f,
        Resources {
            cpu: Some(CpuLimits {
                shares: Some(512),
                quota: Some(50_000),
                period: Some(100_000),
            }),
            ..Resources::default()
        },
    );
    let id = f.id("cpu");
    assert!(
        f.create(&id).status.success(),
        "{}",
        f.container_output(&id)
    );
    let weight = cgroup_file(&id, ("cpu", "cpu.shares"), "cpu.weight");
    match Layout::of_host() {
        Layout::V1 => {
            assert_eq!(weight, "512");
            assert_eq!(cgroup_file(&id, ("cpu", "cpu.cfs_quota_us"), ""), "50000");
            assert_eq!(cgroup_file(&id, ("cpu", "cpu.cfs_period_us"), ""), "100000");
        }
        Layout::V2 => {
            // 512 shares is weight 59 on the curve of runc 1.3.2+ and
            // crun 1.23+ (20 on the older linear map).
            assert_eq!(weight, shares_to_weight(512).to_string(), "cpu.weight");
            assert_eq!(weight, "59", "cpu.weight");
            assert_eq!(cgroup_file(&id, ("", ""), "cpu.max"), "50000 100000");
        }
    }
    assert!(f.orc(&["start", &id]).status.success());
    wait_until_pid1_is(&f, &id, "sleep");
    let state = f.state(&id);
    assert_eq!(state["stats"]["pids"], 1);
    assert!(
        state["stats"]["cpuUsageNs"].as_u64().unwrap() > 1_000_000,
        "{state}"
    );
    assert!(
        state["stats"]["memoryUsageBytes"].as_u64().unwrap() > 0,
        "{state}"
    );
    let out = f.orc(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Wait until the container's pid 1 runs `comm` (sh execs its last command
/// in place: once pid 1 is `sleep`, the loop before it is done). The
/// bound only catches a hang (the emulated VM beside a CPU hog is slow).
fn wait_until_pid1_is(f: &Fixture, id: &str, comm: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let pid = f.state(id)["pid"].as_i64().unwrap();
        let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if now.trim() == comm {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid 1 of {id} is still {now}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// runc's default `/sys/fs/cgroup` mount, as `runc spec` writes it.
fn cgroup_mount() -> Mount {
    Mount {
        destination: "/sys/fs/cgroup".into(),
        kind: Some("cgroup".into()),
        source: Some("cgroup".into()),
        options: ["nosuid", "noexec", "nodev", "relatime", "ro"]
            .iter()
            .map(|o| o.to_string())
            .collect(),
    }
}

#[test]
fn the_container_sees_its_own_cgroup_at_sys_fs_cgroup() {
    // On v2 the container reads its own limits and counters there, as under
    // runc and crun (issue 19: under orc these files did not exist). On v1
    // orc mounts an empty read-only tmpfs there.
    let script = match Layout::of_host() {
        Layout::V2 => {
            "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; \
             grep -q '^oom_kill ' /sys/fs/cgroup/memory.events; \
             grep -q '^max ' /sys/fs/cgroup/pids.events; \
             grep ' /sys/fs/cgroup ' /proc/self/mounts | cut -d' ' -f3"
        }
        Layout::V1 => "cat /proc/self/cgroup; ls -A /sys/fs/cgroup | wc -l",
    };
    let mut f = Fixture::new(&["sh", "-c", script]);
    f.edit(|s| s.mounts.push(cgroup_mount()));
    with_resources(
        &f,
        Resources {
            memory: Some(MemoryLimits {
                limit: Some(32 << 20),
                swap: None,
            }),
            pids: Some(PidsLimit { limit: 10 }),
            ..Resources::default()
        },
    );
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    match Layout::of_host() {
        // In its cgroup namespace the container's cgroup is "/".
        Layout::V2 => assert_eq!(lines, ["0::/", "33554432", "10", "cgroup2"]),
        Layout::V1 => {
            let (last, cgroups) = lines.split_last().unwrap();
            assert_eq!(*last, "0", "/sys/fs/cgroup is not empty");
            let limited = cgroups.iter().filter(|l| l.contains(":memory:"));
            assert!(limited.clone().all(|l| l.ends_with(":/")), "{out}");
            assert_eq!(limited.count(), 1, "{out}");
        }
    }
}

#[test]
fn a_nested_cgroup_parent_is_made_with_its_controllers() {
    // A pod's containers live under a pod cgroup: `cgroupsPath` names a
    // leaf two levels below a parent nobody made yet.
    let parent = orc_testkit::unique_name("orc-nest");
    let leaf = format!("{parent}/pod/ctr");
    let mut f = Fixture::new(&["sleep", "100"]);
    f.edit(|s| s.linux.as_mut().unwrap().cgroups_path = Some(format!("/{leaf}")));
    with_resources(
        &f,
        Resources {
            memory: Some(MemoryLimits {
                limit: Some(64 << 20),
                swap: None,
            }),
            ..Resources::default()
        },
    );
    let id = f.start_detached("nested");
    let limit = cgroup_file_at(&leaf, ("memory", "memory.limit_in_bytes"), "memory.max");
    assert_eq!(limit, (64u64 << 20).to_string());
    if Layout::of_host() == Layout::V2 {
        // A v2 controller works in a cgroup only if every ancestor enabled
        // it for its children.
        for dir in [parent.clone(), format!("{parent}/pod")] {
            let enabled = cgroup_file_at(&dir, ("", ""), "cgroup.subtree_control");
            assert_eq!(enabled, "cpu memory pids", "{dir}");
        }
    }
    assert_eq!(f.state(&id)["stats"]["pids"], 1);
    assert!(f.orc(&["delete", "--force", &id]).status.success());
    let dirs = common::cgroup_dirs_at(&leaf);
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?} left behind");
    // The parents are the caller's, as under runc: removed by the test.
    for dir in [format!("{parent}/pod"), parent] {
        for d in common::cgroup_dirs_at(&dir) {
            std::fs::remove_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
    }
}

#[test]
fn a_parent_holding_processes_cannot_get_children_on_v2() {
    // cgroup v2's "no internal processes" rule: a cgroup with processes
    // of its own cannot enable controllers for children. v1 has no such
    // rule, so there the nested container is simply made.
    let mut f = Fixture::new(&["sleep", "100"]);
    let parent = orc_testkit::unique_name("orc-busy");
    f.edit(|s| s.linux.as_mut().unwrap().cgroups_path = Some(format!("/{parent}")));
    let outer = f.start_detached("outer");
    f.edit(|s| s.linux.as_mut().unwrap().cgroups_path = Some(format!("/{parent}/inner")));
    let inner = f.id("inner");
    let out = f.create(&inner);
    match Layout::of_host() {
        Layout::V2 => {
            assert!(!out.status.success());
            let err = text(&out.stderr);
            assert!(err.contains("no internal processes"), "{err}");
            assert!(
                err.contains(&format!("/{parent}/cgroup.subtree_control")),
                "{err}"
            );
        }
        Layout::V1 => {
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(f.orc(&["delete", "--force", &inner]).status.success());
        }
    }
    assert!(f.orc(&["delete", "--force", &outer]).status.success());
    for d in common::cgroup_dirs_at(&parent) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}
