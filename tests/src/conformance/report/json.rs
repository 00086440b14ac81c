//! The JSON report (`--json FILE`): the run, then one object per case.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Outcome, Report};

/// Writes `report` as one JSON document:
///
/// ```json
/// {"suite": "FNP/1 conformance", "mode": "server", "target": "127.0.0.1:4580",
///  "duration_ms": 12345,
///  "summary": {"passed": 40, "failed": 1, "skipped": 2},
///  "cases": [{"id": "server/framing/oversized-prelogin", "section": "framing",
///             "title": "...", "requirements": ["F-1"], "slow": false,
///             "outcome": "failed", "expected": "...", "got": "...",
///             "duration_ms": 12, "log": ["  0.001s control: connected ..."]}]}
/// ```
///
/// `expected` and `got` appear on failed cases, `reason` on skipped ones.
pub fn write_json(report: &Report, out: impl Write) -> io::Result<()> {
    let counts = report.counts();
    let cases: Vec<Value> = report
        .cases
        .iter()
        .map(|case| {
            let mut obj = json!({
                "id": case.id,
                "section": case.section.slug(),
                "title": case.title,
                "requirements": case.requirements,
                "slow": case.slow,
                "outcome": case.outcome.name(),
                "duration_ms": case.duration.as_millis() as u64,
                "log": case.log,
            });
            match &case.outcome {
                Outcome::Passed => {}
                Outcome::Failed { expected, got } => {
                    obj["expected"] = json!(expected);
                    obj["got"] = json!(got);
                }
                Outcome::Skipped { reason } => obj["reason"] = json!(reason),
            }
            obj
        })
        .collect();
    let doc = json!({
        "suite": "FNP/1 conformance",
        "mode": report.mode.name(),
        "target": report.target,
        "duration_ms": report.duration.as_millis() as u64,
        "summary": {"passed": counts.passed, "failed": counts.failed, "skipped": counts.skipped},
        "cases": cases,
    });
    let mut out = out;
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")
}
