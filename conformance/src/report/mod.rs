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
    /// The case could not reach what it tests: a requirement it relies on
    /// (a resume [C-6], a redial [D-8], ...) failed first. Not a failure of
    /// the case's own requirements, and not a pass either.
    Blocked {
        /// `cannot test [B-4]: needs [D-8], which failed in case server/callback/redial-after-close`.
        reason: String,
        /// The requirement that failed first, e.g. `D-8`.
        needs: String,
        /// The case of this run that tests `needs` on its own and failed, if any.
        failed_in: Option<String>,
        /// What `needs` required at the step where it failed.
        expected: String,
        /// What the implementation did instead.
        got: String,
    },
    /// The case did not run.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// `passed`, `failed`, `blocked` or `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed { .. } => "failed",
            Outcome::Blocked { .. } => "blocked",
            Outcome::Skipped { .. } => "skipped",
        }
    }

    /// The outcome of `case` for `verdict`. A case blocked on a requirement
    /// it cites and nothing else tests that requirement itself, so it fails.
    /// `failed_in` is the case that tests the blocking requirement, if it
    /// already failed in this run (see [`Report::resolve_blocked`]).
    pub fn of(case: &Case, verdict: Result<(), Fail>) -> Self {
        match verdict {
            Ok(()) => Outcome::Passed,
            Err(Fail::Failed { expected, got }) => Outcome::Failed { expected, got },
            Err(Fail::Blocked {
                needs,
                expected,
                got,
            }) => {
                let tested: Vec<&str> = case
                    .requirements
                    .iter()
                    .copied()
                    .filter(|r| *r != needs)
                    .collect();
                if tested.is_empty() {
                    return Outcome::Failed { expected, got };
                }
                Outcome::Blocked {
                    reason: blocked_reason(case.mode(), &tested, needs, None),
                    needs: needs.to_owned(),
                    failed_in: None,
                    expected,
                    got,
                }
            }
            Err(Fail::Skipped { reason }) => Outcome::Skipped { reason },
        }
    }
}

/// `cannot test [B-4][A-4]: needs [D-8], which failed in case Y`, or, when
/// no case of the run tests `needs` and failed, `..., which failed here`.
pub(crate) fn blocked_reason<S: AsRef<str>>(
    mode: Mode,
    tested: &[S],
    needs: &str,
    failed_in: Option<&str>,
) -> String {
    let tested: String = tested.iter().map(|r| format!("[{}]", r.as_ref())).collect();
    let tester = crate::catalog::tester_of(mode, needs);
    let where_ = match (failed_in, tester) {
        (Some(case), _) => format!("which failed in case {case}"),
        (None, Some(case)) => format!("which failed here ({case} tests it)"),
        (None, None) => "which failed here".to_owned(),
    };
    format!("cannot test {tested}: needs [{needs}], {where_}")
}

/// One more deviation of a case that went on after its first failure
/// (`--keep-going`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Deviation {
    /// What the spec requires.
    pub expected: String,
    /// What the implementation did.
    pub got: String,
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
    /// Deviations found after the first one (the one in `outcome`), when the
    /// run went on after a case's first failure (`--keep-going`); empty otherwise.
    pub further: Vec<Deviation>,
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
            further: Vec::new(),
            duration,
            log,
        }
    }

    /// The same report with further deviations (`--keep-going`).
    pub fn with_further(mut self, further: Vec<Deviation>) -> Self {
        self.further = further;
        self
    }
}

/// Case counts of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counts {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases blocked by a failed precondition.
    pub blocked: usize,
    /// Cases that were skipped.
    pub skipped: usize,
}

impl std::fmt::Display for Counts {
    /// `N passed, N failed, N blocked, N skipped`: the last line of the tree output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} blocked, {} skipped",
            self.passed, self.failed, self.blocked, self.skipped
        )
    }
}

/// How the cases of a run fared on one requirement: the summary grouped by
/// requirement ([`Report::by_requirement`]).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct RequirementResult {
    /// The requirement id, e.g. `C-6`.
    pub id: String,
    /// Ids of the cases citing it that passed.
    pub passed: Vec<String>,
    /// Ids of the cases citing it that failed.
    pub failed: Vec<String>,
    /// Ids of the cases citing it that a failed precondition blocked.
    pub blocked: Vec<String>,
    /// Ids of the cases citing it that were skipped.
    pub skipped: Vec<String>,
    /// Ids of the cases (citing it or not) blocked because *this* requirement failed.
    pub blocking: Vec<String>,
}

impl RequirementResult {
    /// Whether a case failed it or it blocked another case.
    pub fn broken(&self) -> bool {
        !self.failed.is_empty() || !self.blocking.is_empty()
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

    /// How many cases passed, failed, were blocked and were skipped.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for case in &self.cases {
            match case.outcome {
                Outcome::Passed => counts.passed += 1,
                Outcome::Failed { .. } => counts.failed += 1,
                Outcome::Blocked { .. } => counts.blocked += 1,
                Outcome::Skipped { .. } => counts.skipped += 1,
            }
        }
        counts
    }

    /// Whether no case failed or was blocked (a blocked case saw a
    /// requirement fail too, only not the one it tests).
    pub fn success(&self) -> bool {
        let counts = self.counts();
        counts.failed == 0 && counts.blocked == 0
    }

    /// The process exit status a command should use: 0 when no case failed
    /// or was blocked, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.success() { 0 } else { 1 }
    }

    /// Names, in every blocked case, the case of this run that tests the
    /// blocking requirement and failed ("which failed in case Y"). The runner
    /// calls it after the last case, since that case may run later than the
    /// one it blocks.
    pub fn resolve_blocked(&mut self) {
        let failed: Vec<String> = self
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
            .map(|c| c.id.clone())
            .collect();
        let mode = self.mode;
        for case in &mut self.cases {
            let requirements = case.requirements.clone();
            if let Outcome::Blocked {
                reason,
                needs,
                failed_in,
                ..
            } = &mut case.outcome
            {
                let tester = crate::catalog::tester_of(mode, needs);
                *failed_in = tester
                    .filter(|t| failed.iter().any(|f| f == t))
                    .map(str::to_owned);
                let tested: Vec<&String> = requirements
                    .iter()
                    .filter(|r| r.as_str() != needs.as_str())
                    .collect();
                *reason = blocked_reason(mode, &tested, needs, failed_in.as_deref());
            }
        }
    }

    /// The summary grouped by requirement: for every requirement a case of
    /// the run cites or was blocked by, which cases passed, failed, were
    /// blocked or skipped. In catalog order of the requirements.
    pub fn by_requirement(&self) -> Vec<RequirementResult> {
        let mut rows: Vec<RequirementResult> = Vec::new();
        fn row<'r>(rows: &'r mut Vec<RequirementResult>, id: &str) -> &'r mut RequirementResult {
            if let Some(i) = rows.iter().position(|r| r.id == id) {
                return &mut rows[i];
            }
            rows.push(RequirementResult {
                id: id.to_owned(),
                ..RequirementResult::default()
            });
            rows.last_mut().expect("just pushed")
        }
        for case in &self.cases {
            let needs = match &case.outcome {
                Outcome::Blocked { needs, .. } => Some(needs.as_str()),
                _ => None,
            };
            for r in &case.requirements {
                if Some(r.as_str()) == needs {
                    continue;
                }
                let entry = row(&mut rows, r);
                let list = match case.outcome {
                    Outcome::Passed => &mut entry.passed,
                    Outcome::Failed { .. } => &mut entry.failed,
                    Outcome::Blocked { .. } => &mut entry.blocked,
                    Outcome::Skipped { .. } => &mut entry.skipped,
                };
                list.push(case.id.clone());
            }
            if let Some(needs) = needs {
                row(&mut rows, needs).blocking.push(case.id.clone());
            }
        }
        let order = |id: &str| {
            crate::catalog::REQUIREMENTS
                .iter()
                .position(|r| r.id == id)
                .unwrap_or(usize::MAX)
        };
        rows.sort_by_key(|r| order(&r.id));
        rows
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
