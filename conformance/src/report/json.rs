//! The JSON report (`--json FILE`): the run, then one object per case.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Outcome, Report};

/// Writes `report` as one JSON document:
///
/// ```json
/// {"suite": "FNP/1 conformance", "mode": "server", "target": "127.0.0.1:4580",
///  "duration_ms": 12345,
///  "summary": {"passed": 40, "failed": 1, "blocked": 1, "skipped": 2},
///  "cases": [{"id": "server/framing/oversized-prelogin", "section": "framing",
///             "title": "...", "requirements": ["F-1"], "slow": false,
///             "outcome": "failed", "expected": "...", "got": "...",
///             "duration_ms": 12, "log": ["  0.001s control: connected ..."]}],
///  "requirements": [{"id": "F-1", "passed": [...], "failed": [...],
///                    "blocked": [...], "skipped": [...], "blocking": [...]}]}
/// ```
///
/// `expected` and `got` appear on failed cases; on blocked cases too (what
/// the blocking requirement needed), with `reason`, `needs` and `failed_in`
/// (the case that tests `needs` and failed, or null); `reason` on skipped
/// ones; `further` (a list of `{expected, got}`) when `--keep-going` found
/// more than one deviation. `requirements` is the summary grouped by
/// requirement: every requirement the run's cases cite, with the cases per
/// outcome, and `blocking`, the cases blocked because it failed.
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
                Outcome::Blocked {
                    reason,
                    needs,
                    failed_in,
                    expected,
                    got,
                } => {
                    obj["reason"] = json!(reason);
                    obj["needs"] = json!(needs);
                    obj["failed_in"] = json!(failed_in);
                    obj["expected"] = json!(expected);
                    obj["got"] = json!(got);
                }
                Outcome::Skipped { reason } => obj["reason"] = json!(reason),
            }
            if !case.further.is_empty() {
                obj["further"] = case
                    .further
                    .iter()
                    .map(|d| json!({"expected": d.expected, "got": d.got}))
                    .collect();
            }
            obj
        })
        .collect();
    let requirements: Vec<Value> = report
        .by_requirement()
        .into_iter()
        .map(|r| {
            json!({"id": r.id, "passed": r.passed, "failed": r.failed, "blocked": r.blocked,
                   "skipped": r.skipped, "blocking": r.blocking})
        })
        .collect();
    let doc = json!({
        "suite": "FNP/1 conformance",
        "mode": report.mode.name(),
        "target": report.target,
        "duration_ms": report.duration.as_millis() as u64,
        "summary": {"passed": counts.passed, "failed": counts.failed,
                    "blocked": counts.blocked, "skipped": counts.skipped},
        "cases": cases,
        "requirements": requirements,
    });
    let mut out = out;
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")
}
