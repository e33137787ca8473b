//! What a student sees: a heading, a line per task, a summary.

use crate::labs::Lab;
use crate::outcome::{Code, Outcome, TestResult};

pub fn list(labs: &[Lab]) {
    for lab in labs {
        println!("{}  {}", lab.number, lab.title);
    }
    println!("\nrun one with `cargo lab NN`, or see orc's answer with `cargo lab NN --solution`");
}

pub fn heading(lab: &Lab, code: Code) {
    let whose = match code {
        Code::Student => "your code in src/student.rs",
        Code::Solution => "orc's own code (--solution)",
    };
    println!("lab {}: {}\n  against {whose}\n", lab.number, lab.title);
}

pub fn tasks(outcome: &Outcome) {
    for test in &outcome.tests {
        println!(
            "  {} {}{}",
            mark(test),
            task_title(&test.name),
            detail(test)
        );
    }
}

pub fn scenario(outcome: &Outcome) {
    println!("\n  walkthrough:");
    for test in &outcome.tests {
        println!(
            "  {} {}{}",
            mark(test),
            test.name.replace('_', " "),
            detail(test)
        );
    }
}

pub fn summary(exercises: &Outcome, scenario: &Outcome) {
    println!(
        "\n{}/{} tasks done, walkthrough {}/{}",
        exercises.passed(),
        exercises.tests.len(),
        scenario.passed(),
        scenario.tests.len()
    );
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

    #[test]
    fn task_names_read_as_sentences() {
        assert_eq!(task_title("task_3_unpack_layer"), "task 3: unpack layer");
        assert_eq!(task_title("runs_a_container"), "runs a container");
    }

    #[test]
    fn a_todo_reads_as_not_started() {
        let test = TestResult {
            name: "task_1_x".into(),
            passed: false,
            message: "not yet implemented".into(),
        };
        assert!(detail(&test).contains("not started"));
    }
}
