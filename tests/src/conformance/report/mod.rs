//! The results of a run and the ways to write them: a tree like h2spec's
//! ([`TreePrinter`]), JUnit XML ([`write_junit`]) and JSON ([`write_json`]).

mod json;
mod junit;
mod tree;

use std::time::Duration;

pub use json::write_json;
pub use junit::write_junit;
pub use tree::TreePrinter;

use super::case::{Case, Fail, Mode, Section};

/// How one case ended.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The implementation did what the spec requires.
    Passed,
    /// It did not: what was expected and what happened.
    Failed {
        /// What the spec requires.
        expected: String,
        /// What the implementation did.
        got: String,
    },
    /// The case did not run.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// `passed`, `failed` or `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed { .. } => "failed",
            Outcome::Skipped { .. } => "skipped",
        }
    }
}

impl From<Result<(), Fail>> for Outcome {
    fn from(verdict: Result<(), Fail>) -> Self {
        match verdict {
            Ok(()) => Outcome::Passed,
            Err(Fail::Failed { expected, got }) => Outcome::Failed { expected, got },
            Err(Fail::Skipped { reason }) => Outcome::Skipped { reason },
        }
    }
}

/// The result of one case.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CaseReport {
    /// The case's id.
    pub id: String,
    /// Its section.
    pub section: Section,
    /// What it checks.
    pub title: String,
    /// The requirement ids it cites.
    pub requirements: Vec<String>,
    /// Whether it is marked slow.
    pub slow: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it ran.
    pub duration: Duration,
    /// Everything the suite sent and received, timestamped (kept for every case).
    pub log: Vec<String>,
}

impl CaseReport {
    /// A report for `case` with `outcome`.
    pub fn new(case: &Case, outcome: Outcome, duration: Duration, log: Vec<String>) -> Self {
        Self {
            id: case.id.to_owned(),
            section: case.section,
            title: case.title.to_owned(),
            requirements: case.requirements.iter().map(|r| (*r).to_owned()).collect(),
            slow: case.slow,
            outcome,
            duration,
            log,
        }
    }
}

/// Case counts of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counts {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases that were skipped.
    pub skipped: usize,
}

impl std::fmt::Display for Counts {
    /// `N passed, N failed, N skipped`: the last line of the tree output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The results of a run.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// What was tested.
    pub mode: Mode,
    /// The target: the server's address or the client's command line.
    pub target: String,
    /// Every selected case, in the order it ran.
    pub cases: Vec<CaseReport>,
    /// The whole run's duration.
    pub duration: Duration,
}

impl Report {
    /// An empty report.
    pub fn new(mode: Mode, target: impl Into<String>) -> Self {
        Self {
            mode,
            target: target.into(),
            cases: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    /// How many cases passed, failed and were skipped.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for case in &self.cases {
            match case.outcome {
                Outcome::Passed => counts.passed += 1,
                Outcome::Failed { .. } => counts.failed += 1,
                Outcome::Skipped { .. } => counts.skipped += 1,
            }
        }
        counts
    }

    /// Whether no case failed.
    pub fn success(&self) -> bool {
        self.counts().failed == 0
    }

    /// The process exit status a command should use: 0 when no case failed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.success() { 0 } else { 1 }
    }
}

/// Told about a run as it happens (for streaming output such as [`TreePrinter`]).
pub trait Observer {
    /// Before the first case.
    fn started(&mut self, _mode: Mode, _target: &str) {}
    /// When a case starts.
    fn case_started(&mut self, _case: &Case) {}
    /// When a case ends.
    fn case_finished(&mut self, _report: &CaseReport) {}
    /// After the last case.
    fn finished(&mut self, _report: &Report) {}
}

/// An observer that does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {}
