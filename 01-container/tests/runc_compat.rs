//! The same bundle under orc and under runc gives the same observable
//! result: the runtime-spec is the contract, runc the reference.

mod common;
use common::{Fixture, text};
use std::process::{Command, Stdio};

/// Run the fixture's bundle under runc: (exit code, stdout).
fn runc_run(f: &Fixture, runc: &std::path::Path) -> (i32, String) {
    let id = orc_testkit::unique_name("runc");
    let out = Command::new(runc)
        .arg("--root")
        .arg(f.dir.path().join("runc-state"))
        .args(["run", "--bundle"])
        .arg(&f.bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), text(&out.stdout))
}

#[test]
fn same_bundle_same_result_as_runc() {
    let runc = orc_testkit::require_command("runc");
    let scenarios: &[&str] = &[
        "echo $$; hostname; id; pwd; echo $HOME; echo $PATH",
        "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status",
        "ls /dev | grep -v '^mqueue$'; ls /",
        "touch /x 2>/dev/null || echo ro; cat /proc/kcore 2>&1 | wc -c; exit 7",
        "cut -d' ' -f2,3 /proc/self/mounts 2>/dev/null || cat /proc/self/mounts | while read a b c d; do echo $b $c; done",
        "ulimit -n; cat /proc/self/uid_map",
    ];
    // Each scenario as root, then as an unprivileged user with extra groups.
    for (script, uid) in scenarios.iter().flat_map(|s| [(s, 0), (s, 1000)]) {
        let mut f = Fixture::new(&["sh", "-c", script]);
        f.edit(|s| {
            let p = s.process.as_mut().unwrap();
            p.env.push("GREETING=hello".into());
            p.cwd = "/tmp".into();
            p.user.uid = uid;
            p.user.gid = uid;
            p.user.additional_gids = if uid == 0 { vec![] } else { vec![10, 20] };
        });
        let (orc_code, orc_out, orc_err) = f.run();
        let (runc_code, runc_out) = runc_run(&f, &runc);
        assert_eq!(
            (orc_code, &orc_out),
            (runc_code, &runc_out),
            "scenario {script:?} as uid {uid} differs (orc stderr: {orc_err})"
        );
    }
}
