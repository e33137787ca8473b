//! What a student (or an instructor) reads: a heading, a line per task, the
//! walkthrough, a summary. Built as text so it can be printed and saved.

use std::fmt::Write;

use crate::labs::Lab;
use crate::outcome::{Code, Outcome, TestResult};

pub fn list(labs: &[Lab]) -> String {
    let mut text = String::new();
    for lab in labs {
        let _ = writeln!(text, "{}  {}", lab.number, lab.title);
    }
    text.push_str(
        "\nrun one with `cargo lab NN`, or see orc's answer with `cargo lab NN --solution`\n",
    );
    text
}

/// The whole report for one lab run.
pub fn lab(lab: &Lab, code: Code, exercises: &Outcome, scenario: &Outcome) -> String {
    let whose = match code {
        Code::Student => "your code in src/student.rs",
        Code::Solution => "orc's own code (--solution)",
    };
    let mut text = format!("lab {}: {}\n  against {whose}\n\n", lab.number, lab.title);
    for test in &exercises.tests {
        let _ = writeln!(
            text,
            "  {} {}{}",
            mark(test),
            task_title(&test.name),
            detail(test)
        );
    }
    text.push_str("\n  walkthrough:\n");
    for test in &scenario.tests {
        let _ = writeln!(
            text,
            "  {} {}{}",
            mark(test),
            test.name.replace('_', " "),
            detail(test)
        );
    }
    let _ = writeln!(
        text,
        "\n{}/{} tasks done, walkthrough {}/{}",
        exercises.passed(),
        exercises.tests.len(),
        scenario.passed(),
        scenario.tests.len()
    );
    text
}

fn mark(test: &TestResult) -> &'static str {
    if test.passed { "✓" } else { "✗" }
}

/// `task_3_unpack_layer` reads as `task 3: unpack layer`.
fn task_title(name: &str) -> String {
    let words: Vec<&str> = name.split('_').collect();
    match words.as_slice() {
        ["task", number, rest @ ..] => format!("task {number}: {}", rest.join(" ")),
        _ => words.join(" "),
    }
}

/// Why a task failed, in the student's terms.
fn detail(test: &TestResult) -> String {
    if test.passed {
        String::new()
    } else if test.message.contains("not yet implemented") {
        "  (not started: the todo!() is still there)".to_string()
    } else if test.message.is_empty() {
        "  (failed; run `cargo test` in the lab folder for details)".to_string()
    } else {
        format!("  ({})", test.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, passed: bool, message: &str) -> TestResult {
        TestResult {
            name: name.into(),
            passed,
            message: message.into(),
        }
    }

    #[test]
    fn a_report_has_a_line_per_task_and_a_summary() {
        let lab_01 = Lab {
            number: "01".into(),
            package: "lab-01".into(),
            title: "Containers".into(),
        };
        let exercises = Outcome {
            tests: vec![
                result("task_1_mount_plan", true, ""),
                result("task_2_cgroup_limits", false, "not yet implemented"),
                result(
                    "task_3_whiteouts",
                    false,
                    "assertion `left == right` failed",
                ),
            ],
        };
        let scenario = Outcome {
            tests: vec![result("runs_a_container", true, "")],
        };
        let text = lab(&lab_01, Code::Student, &exercises, &scenario);
        assert_eq!(
            text,
            "lab 01: Containers\n  against your code in src/student.rs\n\n\
             \x20 ✓ task 1: mount plan\n\
             \x20 ✗ task 2: cgroup limits  (not started: the todo!() is still there)\n\
             \x20 ✗ task 3: whiteouts  (assertion `left == right` failed)\n\
             \n  walkthrough:\n  ✓ runs a container\n\n1/3 tasks done, walkthrough 1/1\n"
        );
    }
}
