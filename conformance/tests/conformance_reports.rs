//! The report writers on a fixed report: the h2spec-like tree, JSON and JUnit XML.

use std::time::Duration;

use faxnotify_conformance::{
    CaseReport, Deviation, Mode, Observer, Outcome, Report, TreePrinter, find, write_json,
    write_junit,
};

fn case(id: &str, outcome: Outcome, ms: u64) -> CaseReport {
    let case = find(id).unwrap_or_else(|| panic!("no case {id}"));
    CaseReport::new(
        case,
        outcome,
        Duration::from_millis(ms),
        vec![
            "  0.000s control: connected 127.0.0.1:50000 -> 127.0.0.1:4580".to_owned(),
            "  0.001s control < SERVER_HELLO version=1..=1 caps=0x1(BACKCHANNEL) server_name=\"fax\"".to_owned(),
        ],
    )
}

fn sample() -> Report {
    let mut report = Report::new(Mode::Server, "127.0.0.1:4580");
    report.cases = vec![
        case("server/framing/oversized-prelogin", Outcome::Passed, 12),
        case(
            "server/framing/zero-length",
            Outcome::Failed {
                expected: "ERROR MALFORMED then close".into(),
                got: "ERROR UNKNOWN_FRAME message=\"<bad> & 'worse'\"".into(),
            },
            30,
        ),
        case(
            "server/control/resume",
            Outcome::Failed {
                expected: "LOGIN_OK session_id=0x00000000000000a1, the resumed session [C-6]".into(),
                got: "LOGIN_OK session_id=0x00000000000000a2 role=user lease_ms=5000 caps=0x1(BACKCHANNEL) server_signature=00".into(),
            },
            40,
        )
        .with_further(vec![Deviation {
            expected: "BYE replaced on the old control connection of the resumed session [C-6]".into(),
            got: "nothing within 5.0 s".into(),
        }]),
        case(
            "server/notifications/acked-not-resent",
            Outcome::Blocked {
                reason: "cannot test [B-4][D-7]: needs [C-6], which failed in case server/control/resume".into(),
                needs: "C-6".into(),
                failed_in: Some("server/control/resume".into()),
                expected: "LOGIN_OK session_id=0x00000000000000b1, the resumed session [C-6]".into(),
                got: "a new session id; the server ignored resume_session".into(),
            },
            50,
        ),
        case(
            "server/notifications/seq-from-one",
            Outcome::Skipped {
                reason: "needs a way to make the server send notifications (--notify-command)"
                    .into(),
            },
            0,
        ),
    ];
    report.duration = Duration::from_millis(1_234);
    report
}

#[test]
fn tree() {
    let report = sample();
    let mut printer = TreePrinter::new(Vec::new());
    printer.print_report(&report);
    let text = String::from_utf8(printer.into_inner()).unwrap();
    assert_eq!(
        text.lines().last(),
        Some("1 passed, 2 failed, 1 blocked, 1 skipped")
    );
    assert!(
        text.contains("  [C-6] failed in server/control/resume; blocks server/notifications/acked-not-resent\n"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn tree_streams_as_cases_finish() {
    let report = sample();
    let mut printer = TreePrinter::new(Vec::new()).with_color(true);
    printer.started(report.mode, &report.target);
    printer.case_finished(&report.cases[0]);
    let partial = String::from_utf8(printer.into_inner()).unwrap();
    assert!(
        partial.contains("\x1b[32m✔\x1b[0m oversized-prelogin [F-1]"),
        "{partial:?}"
    );
}

#[test]
fn json() {
    let mut out = Vec::new();
    write_json(&sample(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["summary"]["failed"], 2);
    assert_eq!(value["summary"]["blocked"], 1);
    insta::assert_snapshot!(text);
}

#[test]
fn junit() {
    let mut out = Vec::new();
    write_junit(&sample(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(r#"failures="2" errors="1""#));
    insta::assert_snapshot!(text);
}
