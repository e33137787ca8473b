//! An instructor grades a student's checkout in a sandbox container and gets
//! a per-task report. Needs root and a Docker engine; builds the lab from
//! scratch inside the container, so it takes a couple of minutes.

use std::path::Path;
use std::process::Command;

use orc_testkit::{require_command, require_root};

/// A student's checkout: a copy of this one where task 4 of lab 02 is solved
/// and the other tasks are untouched.
fn student_checkout() -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checkout = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t '{}'",
            repo.display(),
            checkout.path().display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "copying the checkout failed");
    let student = checkout.path().join("labs/02-pod/src/student.rs");
    let code = std::fs::read_to_string(&student).unwrap();
    let solved = code.replace(
        "pub fn masquerade_rule(pod_cidr: Ipv4Cidr, cluster_cidr: Ipv4Cidr) -> String {\n    todo!()",
        "pub fn masquerade_rule(pod_cidr: Ipv4Cidr, cluster_cidr: Ipv4Cidr) -> String {\n    \
         format!(\"-s {pod_cidr} ! -d {cluster_cidr} -j MASQUERADE\")",
    );
    assert_ne!(
        code, solved,
        "the starter's masquerade_rule should be a todo!()"
    );
    std::fs::write(&student, solved).unwrap();
    checkout
}

#[test]
fn grades_a_student_checkout_in_a_sandbox_with_a_line_per_task() {
    require_root();
    require_command("docker");
    let checkout = student_checkout();
    let report = tempfile::NamedTempFile::new().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_orc-lab"))
        .args(["02", "--in-container", "--checkout"])
        .arg(checkout.path())
        .arg("--report")
        .arg(report.path())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(report.path()).unwrap();
    assert!(
        !output.status.success(),
        "an unfinished lab should exit non-zero"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tasks: Vec<&str> = text.lines().filter(|l| l.contains(" task ")).collect();
    assert!(
        tasks.len() >= 4,
        "a line per task:\n{text}\nstderr:\n{stderr}"
    );
    for line in &tasks {
        if line.contains("task 4:") {
            assert_eq!(
                *line, "  ✓ task 4: masquerade rule",
                "the solved task passes"
            );
        } else {
            assert!(
                line.starts_with("  ✗ ")
                    && line.ends_with("(not started: the todo!() is still there)"),
                "an untouched task reads as not started: {line}\nstderr:\n{stderr}"
            );
        }
    }
    let walkthrough: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("walkthrough:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        !walkthrough.is_empty() && walkthrough.iter().all(|l| l.starts_with("  ✓ ")),
        "the walkthrough should pass inside the sandbox:\n{text}\nstderr:\n{stderr}"
    );
    let summary = format!(
        "1/{} tasks done, walkthrough {n}/{n}\n",
        tasks.len(),
        n = walkthrough.len()
    );
    assert!(
        text.ends_with(&summary),
        "expected {summary:?} at the end of:\n{text}"
    );
    // Only this grading's sandbox: one left by an earlier, killed run
    // carries another checkout's path (the runner canonicalizes it).
    let graded = checkout.path().canonicalize().unwrap();
    let label = format!("label=org.orc.lab-sandbox={}", graded.display());
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter", &label])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout),
        "",
        "the sandbox container should be removed after grading"
    );
}
