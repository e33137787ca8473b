//! Running a lab's tests and reading what libtest reports.
//!
//! The runner shells out to `cargo test` rather than linking the tests, so a
//! lab is graded exactly as a student runs it by hand. libtest prints one
//! `test NAME ... ok|FAILED` line per test and, for each failure, a
//! `---- NAME stdout ----` section holding the panic message; that is all the
//! runner needs.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::labs::Lab;

/// Whose code the tests call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `src/student.rs`: the student's work (or the untouched starter).
    Student,
    /// orc's own functions, through the lab crate's `solution` feature.
    Solution,
}

/// The two test targets every lab has.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// `tests/exercises.rs`: one `task_N_...` test per thing to write.
    Exercises,
    /// `tests/scenario.rs`: the chapter's walkthrough, run for real.
    Scenario,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Exercises => "exercises",
            Target::Scenario => "scenario",
        }
    }
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
    /// The first line of the panic message, for a failed test.
    pub message: String,
}

/// All results of one test target.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tests: Vec<TestResult>,
}

impl Outcome {
    pub fn passed(&self) -> usize {
        self.tests.iter().filter(|t| t.passed).count()
    }

    pub fn all_passed(&self) -> bool {
        !self.tests.is_empty() && self.tests.iter().all(|t| t.passed)
    }
}

/// Where a lab's tests run: on this machine, or in a sandbox container.
pub trait Executor {
    /// Runs `cargo` with `args` in the checkout and returns what it printed.
    fn cargo(&self, args: &[String]) -> Result<Printed>;
}

/// What a cargo command printed and whether it succeeded.
pub struct Printed {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs cargo right here, in this checkout, as a student does by hand.
pub struct Local;

impl Executor for Local {
    fn cargo(&self, args: &[String]) -> Result<Printed> {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command.args(args);
        // Snapshots are part of what is checked: never accept new ones here.
        command.env("INSTA_UPDATE", "no");
        let output = command
            .output()
            .with_context(|| format!("running {command:?}"))?;
        Ok(Printed {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// The `cargo` arguments that run one target of a lab.
pub fn test_args(lab: &Lab, target: Target, code: Code) -> Vec<String> {
    // Not `--quiet`: cargo would pass it on to libtest, whose quiet format
    // drops the per-test lines read below.
    let mut args: Vec<String> = [
        "test",
        "--locked",
        "--package",
        &lab.package,
        "--test",
        target.name(),
    ]
    .map(String::from)
    .to_vec();
    if code == Code::Solution {
        args.extend(["--features".into(), "solution".into()]);
    }
    args
}

/// Runs one target of a lab with the student's code or the solution.
pub fn run_target(
    executor: &dyn Executor,
    lab: &Lab,
    target: Target,
    code: Code,
) -> Result<Outcome> {
    let printed = executor.cargo(&test_args(lab, target, code))?;
    let outcome = parse(&printed.stdout);
    if outcome.tests.is_empty() && !printed.success {
        // Nothing ran: the lab did not compile. Show the compiler's words.
        bail!("lab {} did not build:\n{}", lab.number, printed.stderr);
    }
    Ok(outcome)
}

/// Reads libtest's human output.
pub fn parse(stdout: &str) -> Outcome {
    let mut tests: Vec<TestResult> = stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, result) = rest.rsplit_once(" ... ")?;
            let passed = match result.trim() {
                "ok" => true,
                "FAILED" => false,
                _ => return None,
            };
            Some(TestResult {
                name: name.trim().to_string(),
                passed,
                message: String::new(),
            })
        })
        .collect();
    for test in tests.iter_mut().filter(|t| !t.passed) {
        test.message = failure_message(stdout, &test.name);
    }
    tests.sort_by_key(|t| natural_key(&t.name));
    Outcome { tests }
}

/// The panic message in a failed test's `---- NAME stdout ----` section.
fn failure_message(stdout: &str, name: &str) -> String {
    let header = format!("---- {name} stdout ----");
    let Some(start) = stdout.find(&header) else {
        return String::new();
    };
    let section = &stdout[start + header.len()..];
    let mut lines = section.lines().skip_while(|l| !l.contains("panicked at"));
    lines.next();
    lines
        .take_while(|l| !l.starts_with("note:") && !l.starts_with("----"))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string()
}

/// Sorts `task_2_...` before `task_10_...`.
fn natural_key(name: &str) -> (String, u32, String) {
    let digits_at = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (prefix, rest) = name.split_at(digits_at);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (
        prefix.to_string(),
        digits.parse().unwrap_or(0),
        rest[digits.len()..].to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "
running 3 tests
test task_10_whiteouts ... ok
test task_2_cgroup_limits ... FAILED
test task_1_mount_plan ... ok

failures:

---- task_2_cgroup_limits stdout ----

thread 'task_2_cgroup_limits' panicked at labs/01-container/src/student.rs:12:5:
not yet implemented
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

failures:
    task_2_cgroup_limits

test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out
";

    #[test]
    fn reads_results_in_task_order_with_failure_messages() {
        let outcome = parse(OUTPUT);
        let summary: Vec<(&str, bool, &str)> = outcome
            .tests
            .iter()
            .map(|t| (t.name.as_str(), t.passed, t.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("task_1_mount_plan", true, ""),
                ("task_2_cgroup_limits", false, "not yet implemented"),
                ("task_10_whiteouts", true, ""),
            ]
        );
        assert_eq!(outcome.passed(), 2);
        assert!(!outcome.all_passed());
    }

    #[test]
    fn nothing_run_is_not_a_pass() {
        assert!(!parse("running 0 tests\n").all_passed());
    }
}
