//! # `cargo lab`: run the labs
//!
//! Each lab in `labs/NN-name/` is a crate with a student module
//! (`src/student.rs`, bodies left as `todo!()`) and tests that call it. The
//! crate's `solution` feature swaps the student module for orc's real
//! functions, so the same tests show what passing looks like.
//!
//! ```text
//! cargo lab list                 the labs and their tasks
//! cargo lab 01                   lab 01 against your code: a line per task
//! cargo lab 01 --solution        the same tests against orc's code
//! cargo lab --all [--solution]   every lab
//! cargo lab check                CI: every solution passes, every starter fails
//! ```
//!
//! ## Layout
//!
//! - [`labs`]: finding the labs and reading their names.
//! - [`outcome`]: running a lab's test target and reading libtest's report.
//! - [`report`]: printing it for a person, one line per task.
//! - this file: the command line and `check`.

mod labs;
mod outcome;
mod report;

use anyhow::{Result, bail};
use clap::Parser;

use labs::Lab;
use outcome::{Code, Target, run_target};

/// Runs orc's labs: your code, orc's solution, or the CI check of both.
#[derive(Parser)]
#[command(name = "cargo lab", bin_name = "cargo lab")]
struct Cli {
    /// `list`, `check`, or a lab number such as `01`.
    what: Option<String>,
    /// Run orc's own code instead of yours, to see what passing looks like.
    #[arg(long)]
    solution: bool,
    /// Run every lab.
    #[arg(long, conflicts_with = "what")]
    all: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let labs = labs::discover()?;
    let code = if cli.solution {
        Code::Solution
    } else {
        Code::Student
    };
    let ok = match cli.what.as_deref() {
        _ if cli.all => labs.iter().try_fold(true, |ok, lab| {
            Ok::<_, anyhow::Error>(run_lab(lab, code)? && ok)
        })?,
        Some("list") => {
            report::list(&labs);
            true
        }
        Some("check") => check(&labs)?,
        Some(number) => run_lab(labs::find(&labs, number)?, code)?,
        None => bail!("say which lab to run: `cargo lab list` shows them, `cargo lab 01` runs one"),
    };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// Runs one lab's walkthrough and exercises and prints a line per task.
fn run_lab(lab: &Lab, code: Code) -> Result<bool> {
    report::heading(lab, code);
    let exercises = run_target(lab, Target::Exercises, code)?;
    report::tasks(&exercises);
    let scenario = run_target(lab, Target::Scenario, code)?;
    report::scenario(&scenario);
    report::summary(&exercises, &scenario);
    Ok(exercises.all_passed() && scenario.all_passed())
}

/// The promise every lab makes, checked for each one: orc's solution passes
/// every test, and the untouched starter fails every exercise (a test the
/// starter passes checks nothing the student writes).
fn check(labs: &[Lab]) -> Result<bool> {
    if labs.is_empty() {
        bail!("no labs found under labs/");
    }
    let mut problems = Vec::new();
    for lab in labs {
        let solution = run_target(lab, Target::Exercises, Code::Solution)?;
        let starter = run_target(lab, Target::Exercises, Code::Student)?;
        let scenario = run_target(lab, Target::Scenario, Code::Solution)?;
        if solution.tests.is_empty() {
            problems.push(format!("lab {}: no exercise tests ran", lab.number));
        }
        for test in solution.tests.iter().filter(|t| !t.passed) {
            problems.push(format!(
                "lab {}: the solution fails {}: {}",
                lab.number, test.name, test.message
            ));
        }
        for test in starter.tests.iter().filter(|t| t.passed) {
            problems.push(format!(
                "lab {}: {} passes on the untouched starter, so it checks nothing the student writes",
                lab.number, test.name
            ));
        }
        if scenario.tests.is_empty() {
            problems.push(format!("lab {}: no scenario tests ran", lab.number));
        }
        for test in scenario.tests.iter().filter(|t| !t.passed) {
            problems.push(format!(
                "lab {}: scenario {} fails: {}",
                lab.number, test.name, test.message
            ));
        }
        println!(
            "lab {}: solution {}/{} tasks, starter fails {}/{}, scenario {}/{}",
            lab.number,
            solution.passed(),
            solution.tests.len(),
            starter.tests.len() - starter.passed(),
            starter.tests.len(),
            scenario.passed(),
            scenario.tests.len()
        );
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    Ok(problems.is_empty())
}
