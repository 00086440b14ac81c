//! The human-readable output: a tree by section with a mark per case, like
//! h2spec, a recap of the failures, and the counts as the last line.

use std::io::{self, Write};

use super::{CaseReport, Observer, Outcome, Report};
use crate::case::{Case, Mode, Section};

/// Prints the tree as the run goes. I/O errors are remembered, not raised,
/// so a closed stdout does not stop the run; see [`TreePrinter::error`].
#[derive(Debug)]
pub struct TreePrinter<W: Write> {
    out: W,
    color: bool,
    section: Option<Section>,
    error: Option<io::Error>,
}

impl<W: Write> TreePrinter<W> {
    /// A printer without colours.
    pub fn new(out: W) -> Self {
        Self {
            out,
            color: false,
            section: None,
            error: None,
        }
    }

    /// Turns ANSI colours on or off.
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn write(&mut self, text: &str) {
        if self.error.is_none()
            && let Err(e) = self
                .out
                .write_all(text.as_bytes())
                .and_then(|()| self.out.flush())
        {
            self.error = Some(e);
        }
    }

    /// Prints a whole report at once (for a report read back or built elsewhere).
    pub fn print_report(&mut self, report: &Report) {
        self.started(report.mode, &report.target);
        for case in &report.cases {
            self.section_heading(case.section);
            self.case_finished(case);
        }
        self.finished(report);
    }

    fn section_heading(&mut self, section: Section) {
        if self.section != Some(section) {
            self.section = Some(section);
            let heading = self.paint("1", section.title());
            self.write(&format!("\n{heading}\n"));
        }
    }
}

fn slug(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn requirements(reqs: &[String]) -> String {
    reqs.iter()
        .map(|r| format!("[{r}]"))
        .collect::<Vec<_>>()
        .join("")
}

impl<W: Write> Observer for TreePrinter<W> {
    fn started(&mut self, mode: Mode, target: &str) {
        let what = match mode {
            Mode::Server => format!("server at {target}"),
            Mode::Client => format!("client `{target}`"),
        };
        self.write(&format!("FNP/1 conformance: {what}\n"));
    }

    fn case_started(&mut self, case: &Case) {
        self.section_heading(case.section);
    }

    fn case_finished(&mut self, report: &CaseReport) {
        let reqs = requirements(&report.requirements);
        let name = slug(&report.id);
        let mut text = match &report.outcome {
            Outcome::Passed => format!(
                "  {} {name} {reqs}: {}\n",
                self.paint("32", "✔"),
                report.title
            ),
            Outcome::Failed { expected, got } => format!(
                "  {} {name} {reqs}: {}\n{}",
                self.paint("31", "×"),
                report.title,
                expected_got(expected, got)
            ),
            Outcome::Blocked {
                reason,
                expected,
                got,
                ..
            } => format!(
                "  {} {name} {reqs}: {}\n    -> blocked: {reason}\n{}",
                self.paint("35", "!"),
                report.title,
                expected_got(expected, got)
            ),
            Outcome::Skipped { reason } => format!(
                "  {} {name} {reqs}: {}\n    -> skipped: {reason}\n",
                self.paint("33", "-"),
                report.title
            ),
        };
        text.push_str(&further(report));
        let text = match &report.outcome {
            Outcome::Failed { .. } => self.paint("31", &text),
            _ => text,
        };
        self.write(&text);
    }

    fn finished(&mut self, report: &Report) {
        let mut text = String::new();
        for (title, name) in [("Failures", "failed"), ("Blocked", "blocked")] {
            let cases: Vec<&CaseReport> = report
                .cases
                .iter()
                .filter(|c| c.outcome.name() == name)
                .collect();
            if cases.is_empty() {
                continue;
            }
            text.push_str(&format!("\n{title}:\n"));
            for case in cases {
                text.push_str(&format!(
                    "\n  {} {}: {}\n",
                    case.id,
                    requirements(&case.requirements),
                    case.title
                ));
                match &case.outcome {
                    Outcome::Failed { expected, got } => {
                        text.push_str(&expected_got(expected, got));
                    }
                    Outcome::Blocked {
                        reason,
                        expected,
                        got,
                        ..
                    } => {
                        text.push_str(&format!("    -> {reason}\n"));
                        text.push_str(&expected_got(expected, got));
                    }
                    _ => {}
                }
                text.push_str(&further(case));
            }
        }
        let broken: Vec<_> = report
            .by_requirement()
            .into_iter()
            .filter(|r| r.broken() || !r.blocked.is_empty())
            .collect();
        if !broken.is_empty() {
            text.push_str("\nBy requirement (what to fix first: the failed ones):\n");
            for row in broken {
                let mut parts = Vec::new();
                if !row.failed.is_empty() {
                    parts.push(format!("failed in {}", row.failed.join(", ")));
                }
                if !row.blocking.is_empty() {
                    parts.push(format!("blocks {}", row.blocking.join(", ")));
                }
                if !row.blocked.is_empty() {
                    parts.push(format!("untested: blocked in {}", row.blocked.join(", ")));
                }
                if !row.passed.is_empty() {
                    parts.push(format!("{} passed", row.passed.len()));
                }
                text.push_str(&format!("  [{}] {}\n", row.id, parts.join("; ")));
            }
        }
        text.push_str(&format!(
            "\nFinished in {:.1} seconds\n{}\n",
            report.duration.as_secs_f64(),
            report.counts()
        ));
        self.write(&text);
    }
}

/// The `-> expected:` / `got:` lines of a failure.
fn expected_got(expected: &str, got: &str) -> String {
    format!("    -> expected: {expected}\n            got: {got}\n")
}

/// The deviations a case found after its first one (`--keep-going`).
fn further(report: &CaseReport) -> String {
    report
        .further
        .iter()
        .map(|d| {
            format!(
                "    -> and expected: {}\n                got: {}\n",
                d.expected, d.got
            )
        })
        .collect()
}
