//! The JUnit XML report (`--junit FILE`), as CI systems read it: one
//! `<testsuite>` per section, one `<testcase>` per case, `<failure>` with
//! expected and got, `<error type="blocked">` for a case a failed
//! precondition blocked (not a failure of what it tests), `<skipped>` with
//! the reason, and the case's log as `<system-out>`.

use std::io::{self, Write};

use super::{CaseReport, Outcome, Report};
use crate::case::Section;

/// Writes `report` as JUnit XML.
pub fn write_junit(report: &Report, mut out: impl Write) -> io::Result<()> {
    let counts = report.counts();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{:.3}">"#,
        escape(&format!(
            "FNP/1 conformance: {} {}",
            report.mode, report.target
        )),
        report.cases.len(),
        counts.failed,
        counts.blocked,
        counts.skipped,
        report.duration.as_secs_f64()
    )?;
    for section in Section::ALL {
        let cases: Vec<&CaseReport> = report
            .cases
            .iter()
            .filter(|c| c.section == section)
            .collect();
        if cases.is_empty() {
            continue;
        }
        let failed = cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
            .count();
        let blocked = cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Blocked { .. }))
            .count();
        let skipped = cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
            .count();
        let time: f64 = cases.iter().map(|c| c.duration.as_secs_f64()).sum();
        writeln!(
            out,
            r#"  <testsuite name="{}/{}" tests="{}" failures="{failed}" errors="{blocked}" skipped="{skipped}" time="{time:.3}">"#,
            report.mode,
            section.slug(),
            cases.len()
        )?;
        for case in cases {
            write_case(&mut out, case)?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

fn write_case(out: &mut impl Write, case: &CaseReport) -> io::Result<()> {
    let reqs: String = case.requirements.iter().map(|r| format!("[{r}]")).collect();
    let classname = case
        .id
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir)
        .replace('/', ".");
    writeln!(
        out,
        r#"    <testcase classname="{}" name="{}" time="{:.3}">"#,
        escape(&classname),
        escape(&format!("{} {reqs} {}", case.id, case.title)),
        case.duration.as_secs_f64()
    )?;
    match &case.outcome {
        Outcome::Passed => {}
        Outcome::Failed { expected, got } => {
            let message = format!("expected {expected}, got {got}");
            writeln!(
                out,
                r#"      <failure message="{}" type="nonconformance">expected: {}
got: {}{}</failure>"#,
                escape(&message),
                escape_text(expected),
                escape_text(got),
                escape_text(&further(case))
            )?;
        }
        Outcome::Blocked {
            reason,
            expected,
            got,
            ..
        } => {
            writeln!(
                out,
                r#"      <error message="{}" type="blocked">expected: {}
got: {}{}</error>"#,
                escape(reason),
                escape_text(expected),
                escape_text(got),
                escape_text(&further(case))
            )?;
        }
        Outcome::Skipped { reason } => {
            writeln!(out, r#"      <skipped message="{}"/>"#, escape(reason))?
        }
    }
    if !case.log.is_empty() {
        writeln!(
            out,
            "      <system-out>{}</system-out>",
            escape_text(&case.log.join("\n"))
        )?;
    }
    writeln!(out, "    </testcase>")
}

/// The deviations found after the first (`--keep-going`), one pair of lines each.
fn further(case: &CaseReport) -> String {
    case.further
        .iter()
        .map(|d| format!("\nand expected: {}\ngot: {}", d.expected, d.got))
        .collect()
}

/// Escapes text for XML content and attributes; characters XML 1.0 cannot
/// carry (most control characters) become U+FFFD.
pub(crate) fn escape(text: &str) -> String {
    escape_with(text, true)
}

/// Escapes element content, where line breaks stay as they are.
fn escape_text(text: &str) -> String {
    escape_with(text, false)
}

fn escape_with(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\n' => out.push('\n'),
            '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_text};

    #[test]
    fn escapes_markup_and_replaces_characters_xml_cannot_hold() {
        assert_eq!(
            escape(r#"<a b="c">&'"#),
            "&lt;a b=&quot;c&quot;&gt;&amp;&apos;"
        );
        assert_eq!(escape("x\u{1}y\u{FFFF}"), "x\u{FFFD}y\u{FFFD}");
        assert_eq!(escape("a\nb\tc"), "a&#10;b\tc");
        assert_eq!(escape_text("a\nb<"), "a\nb&lt;");
    }
}
