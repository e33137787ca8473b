//! # `cargo lab`: run the labs
//!
//! Each lab in `labs/NN-name/` is a crate with a student module
//! (`src/student.rs`, bodies left as `todo!()`) and tests that call it. The
//! crate's `solution` feature swaps the student module for orc's real
//! functions, so the same tests show what passing looks like.
//!
//! ```text
//! cargo lab list                      the labs
//! cargo lab 01                        lab 01 against your code: a line per task
//! cargo lab 01 --solution             the same tests against orc's code
//! cargo lab --all [--solution]        every lab
//! cargo lab check                     CI: every solution passes, every starter fails
//! cargo lab 01 --in-container --checkout DIR --report FILE
//!                                     grade a student's checkout in a clean sandbox
//! ```
//!
//! ## Layout
//!
//! - [`labs`]: finding the labs and reading their names.
//! - [`outcome`]: running a lab's test target and reading libtest's report.
//! - [`sandbox`]: the container an instructor grades a checkout in.
//! - [`report`]: the text a person reads, one line per task.
//! - this file: the command line and `check`.

mod labs;
mod outcome;
mod report;
mod sandbox;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;

use labs::Lab;
use outcome::{Code, Executor, Local, Target, run_target};

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
    /// Build and test inside a fresh container (Docker), as an instructor grades.
    #[arg(long)]
    in_container: bool,
    /// The checkout to grade with --in-container (default: this one).
    #[arg(long, requires = "in_container", value_name = "DIR")]
    checkout: Option<PathBuf>,
    /// Also write the report to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn main() -> Result<()> {
    // `run` returns before we exit, so the sandbox container (if any) has
    // been dropped, and thereby removed, by then: `exit` skips destructors.
    if !run(Cli::parse())? {
        std::process::exit(1);
    }
    Ok(())
}

/// Does what the command line asks; false when a lab or check failed.
fn run(cli: Cli) -> Result<bool> {
    let labs = labs::discover()?;
    let code = if cli.solution {
        Code::Solution
    } else {
        Code::Student
    };
    if cli.what.as_deref() == Some("list") {
        print!("{}", report::list(&labs));
        return Ok(true);
    }
    let executor: Box<dyn Executor> = if cli.in_container {
        let checkout = cli.checkout.unwrap_or_else(|| labs::labs_dir().join(".."));
        let checkout = checkout
            .canonicalize()
            .with_context(|| format!("no checkout at {}", checkout.display()))?;
        eprintln!(
            "grading {} in a fresh sandbox container",
            checkout.display()
        );
        Box::new(sandbox::Sandbox::start(&checkout)?)
    } else {
        Box::new(Local)
    };
    let chosen: Vec<&Lab> = match cli.what.as_deref() {
        _ if cli.all => labs.iter().collect(),
        Some("check") => return check(executor.as_ref(), &labs),
        Some(number) => vec![labs::find(&labs, number)?],
        None => bail!("say which lab to run: `cargo lab list` shows them, `cargo lab 01` runs one"),
    };
    let mut ok = true;
    let mut text = String::new();
    for lab in chosen {
        let exercises = run_target(executor.as_ref(), lab, Target::Exercises, code)?;
        let scenario = run_target(executor.as_ref(), lab, Target::Scenario, code)?;
        let report = report::lab(lab, code, &exercises, &scenario);
        print!("{report}");
        text.push_str(&report);
        ok &= exercises.all_passed() && scenario.all_passed();
    }
    if let Some(path) = cli.report {
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ok)
}

/// The promise every lab makes, checked for each one: orc's solution passes
/// every test, and the untouched starter fails every exercise (a test the
/// starter passes checks nothing the student writes).
fn check(executor: &dyn Executor, labs: &[Lab]) -> Result<bool> {
    if labs.is_empty() {
        bail!("no labs found under labs/");
    }
    let mut problems = Vec::new();
    for lab in labs {
        let solution = run_target(executor, lab, Target::Exercises, Code::Solution)?;
        let starter = run_target(executor, lab, Target::Exercises, Code::Student)?;
        let scenario = run_target(executor, lab, Target::Scenario, Code::Solution)?;
        let n = &lab.number;
        if solution.tests.is_empty() {
            problems.push(format!("lab {n}: no exercise tests ran"));
        }
        for test in solution.tests.iter().filter(|t| !t.passed) {
            problems.push(format!(
                "lab {n}: the solution fails {}: {}",
                test.name, test.message
            ));
        }
        for test in starter.tests.iter().filter(|t| t.passed) {
            problems.push(format!(
                "lab {n}: {} passes on the untouched starter, so it checks nothing the student writes",
                test.name
            ));
        }
        if scenario.tests.is_empty() {
            problems.push(format!("lab {n}: no scenario tests ran"));
        }
        for test in scenario.tests.iter().filter(|t| !t.passed) {
            problems.push(format!(
                "lab {n}: scenario {} fails: {}",
                test.name, test.message
            ));
        }
        println!(
            "lab {n}: solution passes {}/{} tasks, starter fails {}/{}, walkthrough {}/{}",
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
