//! cgroup limits enforced by the real kernel (cgroup v1 on this host).

mod common;
use common::{Fixture, text};
use orc_container::spec::{CpuLimits, MemoryLimits, PidsLimit, Resources};

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
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/orc/{id}/memory.limit_in_bytes"
    ))
    .unwrap();
    assert_eq!(limit.trim(), (16u64 << 20).to_string());
    assert_eq!(f.state(&id)["oomKilled"], false);
    assert!(f.orc(&["start", &id]).status.success());
    let state = f.wait_status(&id, "stopped");
    assert_eq!(state["oomKilled"], true, "{state}");
    assert!(state["stats"]["oomKills"].as_u64().unwrap() >= 1);
    assert!(f.orc(&["delete", &id]).status.success());
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "for i in $(seq 1 30); do sleep 5 & done; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null; echo survived",
    ]);
    with_resources(
        &f,
        Resources {
            pids: Some(PidsLimit { limit: 10 }),
            ..Resources::default()
        },
    );
    // busybox sh gives up the script at the first failed fork (exit 2);
    // what matters is that the fork failed and the container ended.
    let (code, _out, err) = f.run();
    assert_ne!(code, 0);
    assert!(
        err.contains("can't fork: Resource temporarily unavailable"),
        "{err}"
    );
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
    let read = |file: &str| {
        let path = format!("/sys/fs/cgroup/cpu/orc/{id}/{file}");
        std::fs::read_to_string(&path).unwrap().trim().to_string()
    };
    assert_eq!(read("cpu.shares"), "512");
    assert_eq!(read("cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu.cfs_period_us"), "100000");
    assert!(f.orc(&["start", &id]).status.success());
    // Wait until the loop has burnt some CPU and sleep is running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = f.state(&id);
        let pid = state["pid"].as_i64().unwrap();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        // sh execs its last command in place: once pid 1 is sleep, the loop is done.
        if comm.trim() == "sleep" {
            assert_eq!(state["stats"]["pids"], 1);
            assert!(
                state["stats"]["cpuUsageNs"].as_u64().unwrap() > 1_000_000,
                "{state}"
            );
            assert!(
                state["stats"]["memoryUsageBytes"].as_u64().unwrap() > 0,
                "{state}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{state}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = f.orc(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
