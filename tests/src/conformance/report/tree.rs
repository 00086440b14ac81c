//! The human-readable output: a tree by section with a mark per case, like
//! h2spec, a recap of the failures, and the counts as the last line.

use std::io::{self, Write};

use super::{CaseReport, Observer, Outcome, Report};
use crate::conformance::case::{Case, Mode, Section};

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
        let text = match &report.outcome {
            Outcome::Passed => format!(
                "  {} {name} {reqs}: {}\n",
                self.paint("32", "✔"),
                report.title
            ),
            Outcome::Failed { expected, got } => format!(
                "  {} {name} {reqs}: {}\n    -> expected: {expected}\n            got: {got}\n",
                self.paint("31", "×"),
                report.title
            ),
            Outcome::Skipped { reason } => format!(
                "  {} {name} {reqs}: {}\n    -> skipped: {reason}\n",
                self.paint("33", "-"),
                report.title
            ),
        };
        let text = match &report.outcome {
            Outcome::Failed { .. } => self.paint("31", &text),
            _ => text,
        };
        self.write(&text);
    }

    fn finished(&mut self, report: &Report) {
        let failures: Vec<&CaseReport> = report
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
            .collect();
        if !failures.is_empty() {
            let mut text = String::from("\nFailures:\n");
            for case in failures {
                if let Outcome::Failed { expected, got } = &case.outcome {
                    text.push_str(&format!(
                        "\n  {} {}: {}\n    -> expected: {expected}\n            got: {got}\n",
                        case.id,
                        requirements(&case.requirements),
                        case.title
                    ));
                }
            }
            self.write(&text);
        }
        self.write(&format!(
            "\nFinished in {:.1} seconds\n{}\n",
            report.duration.as_secs_f64(),
            report.counts()
        ));
    }
}
