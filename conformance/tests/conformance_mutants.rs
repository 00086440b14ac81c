//! The suite catches broken implementations: each mutant — faxnotify's
//! core behind a test adapter that injects one fault, never a switch in the
//! core — fails the case written to catch that fault, with a precise
//! expected/got.

mod conformance_support;

use conformance_support::amnesiac::AmnesiacServer;
use conformance_support::client_process::{self, ClientFault};
use conformance_support::server_loop::{
    HANDSHAKE_TIMEOUT, RunningServer, ServerFaults, test_config,
};
use faxnotify_conformance::{
    ClientTarget, Outcome, Quiet, Report, RunConfig, Target, run, write_json, write_junit,
};

/// The client process the suite starts (see `client_process::command`).
#[test]
#[ignore = "entry point of the client process the conformance suite starts"]
fn client_process_entry() {
    client_process::entry();
}

/// Runs `cases` against a client mutant and returns (id, outcome) per case.
fn against_client(fault: ClientFault, cases: &[&str]) -> Vec<(String, Outcome)> {
    let command = client_process::command(fault, "client_process_entry");
    let mut config = RunConfig::new(Target::Client(ClientTarget::new(command)));
    config.selection.cases = cases.iter().map(|c| (*c).to_owned()).collect();
    let report = run(&config, &mut Quiet).unwrap();
    report
        .cases
        .into_iter()
        .map(|c| (c.id, c.outcome))
        .collect()
}

fn failure(results: &[(String, Outcome)], id: &str) -> (String, String) {
    match results.iter().find(|(i, _)| i == id) {
        Some((_, Outcome::Failed { expected, got })) => (expected.clone(), got.clone()),
        other => panic!("{id} should have caught the mutant, got {other:?}"),
    }
}

#[test]
fn a_client_that_delivers_duplicates_is_caught_by_the_b3_cases() {
    let results = against_client(
        ClientFault::DuplicateDelivery,
        &[
            "client/notifications/deliver-and-ack",
            "client/notifications/duplicates",
        ],
    );
    let (expected, got) = failure(&results, "client/notifications/deliver-and-ack");
    assert_eq!(
        expected,
        "the application to get seqs [1, 2, 3], each once and in order [B-3]"
    );
    assert_eq!(got, "seqs [1, 1, 2, 2, 3, 3] on the client's stdout");
    let (expected, got) = failure(&results, "client/notifications/duplicates");
    assert!(
        expected.starts_with("the application to get seqs [1, 2], each once"),
        "{expected}"
    );
    assert_eq!(got, "seqs [1, 1, 2, 2] on the client's stdout");
}

#[test]
fn a_client_that_accepts_a_wrong_cb_hello_is_caught_by_the_b1_cases() {
    let results = against_client(
        ClientFault::AcceptAnyCbHello,
        &[
            "client/callback/wrong-hello-proof",
            "client/callback/wrong-session",
        ],
    );
    for id in [
        "client/callback/wrong-hello-proof",
        "client/callback/wrong-session",
    ] {
        let (expected, got) = failure(&results, id);
        assert!(
            expected.ends_with("ERROR AUTH_FAILED then close"),
            "{id}: {expected}"
        );
        assert!(
            got.starts_with("CB_READY last_seq=0 proof=0000"),
            "{id}: {got}"
        );
    }
}

/// Runs `cases` against a server mutant.
fn against_server(faults: ServerFaults, cases: &[&str]) -> Vec<(String, Outcome)> {
    let server = RunningServer::start(test_config(), faults);
    let mut config = RunConfig::new(Target::Server(server.target()));
    config.timeouts.handshake = HANDSHAKE_TIMEOUT;
    config.selection.cases = cases.iter().map(|c| (*c).to_owned()).collect();
    let report = run(&config, &mut Quiet).unwrap();
    outcomes(report)
}

fn outcomes(report: Report) -> Vec<(String, Outcome)> {
    report
        .cases
        .into_iter()
        .map(|c| (c.id, c.outcome))
        .collect()
}

/// The reason of a blocked case, and what it saw of the blocking requirement.
fn blocked(results: &[(String, Outcome)], id: &str) -> (String, String, String) {
    match results.iter().find(|(i, _)| i == id) {
        Some((
            _,
            Outcome::Blocked {
                reason,
                expected,
                got,
                ..
            },
        )) => (reason.clone(), expected.clone(), got.clone()),
        other => panic!("{id} should be blocked, got {other:?}"),
    }
}

fn passed(results: &[(String, Outcome)], id: &str) {
    match results.iter().find(|(i, _)| i == id) {
        Some((_, Outcome::Passed)) => {}
        other => panic!("{id} should pass, got {other:?}"),
    }
}

#[test]
fn a_server_that_ignores_acks_is_caught_by_the_b2_and_b4_cases() {
    let faults = ServerFaults {
        drop_acks: true,
        ..ServerFaults::default()
    };
    let results = against_server(
        faults,
        &[
            "server/notifications/ready-below-acked",
            "server/notifications/acked-not-resent",
            "server/notifications/ack-beyond-sent",
        ],
    );
    let (expected, got) = failure(&results, "server/notifications/ready-below-acked");
    assert_eq!(
        expected,
        "for CB_READY last_seq=1 after ACK seq=2 [B-2]: ERROR UNEXPECTED_FRAME then close"
    );
    assert!(got.starts_with("NOTIFY seq=2 kind=3"), "{got}");
    let (expected, got) = failure(&results, "server/notifications/acked-not-resent");
    assert!(
        expected.starts_with("NOTIFY seq=3 SERVER_MESSAGE"),
        "{expected}"
    );
    assert!(got.starts_with("NOTIFY seq=1 kind=3"), "{got}");
    // The dropped ACK leaves the server silent until the lease (5 s, the
    // suite's own wait) ends the session, which a server whose timer runs a
    // little late does just after the wait [D-15]. Either way the report
    // says nothing came and that the lease explains the end, not "the
    // connection closed" (issue 21, point 6).
    let (expected, got) = failure(&results, "server/notifications/ack-beyond-sent");
    assert_eq!(
        expected,
        "for ACK seq=1 when nothing was sent [B-2]: ERROR UNEXPECTED_FRAME then close"
    );
    assert!(
        got.starts_with("nothing within ")
            && (got.ends_with("the lease (5.0 s) ran out first [C-5]")
                || got.contains("by when the lease (5.0 s) had run out")),
        "{got}"
    );
}

#[test]
fn a_server_that_dials_another_address_is_caught_by_the_c1_case() {
    let faults = ServerFaults {
        dial_ip: Some([127, 0, 0, 2].into()),
        ..ServerFaults::default()
    };
    let results = against_server(faults, &["server/control/dials-peer-address"]);
    let (expected, got) = failure(&results, "server/control/dials-peer-address");
    assert!(
        expected.starts_with("a callback dialled to 127.0.0.1:") && expected.ends_with("[C-1]"),
        "{expected}"
    );
    assert!(got.starts_with("a connection to 127.0.0.2:"), "{got}");
}

#[test]
fn a_server_that_skips_the_signature_is_caught_by_the_a2_case() {
    let faults = ServerFaults {
        zero_signature: true,
        ..ServerFaults::default()
    };
    let results = against_server(faults, &["server/auth/login-ok-signature"]);
    let (expected, got) = failure(&results, "server/auth/login-ok-signature");
    assert_eq!(
        expected,
        "LOGIN_OK.server_signature = HMAC(ServerKey, AuthMessage || session_id..caps) [A-2]"
    );
    assert!(
        got.starts_with("a signature that does not verify: LOGIN_OK")
            && got.ends_with(&"0".repeat(64)),
        "{got}"
    );
}

/// Issue 21, points 1 and 2, and the blocked status in every report: a
/// server that ignores resume_session fails [C-6] where it is tested, and
/// blocks the cases that only use a resume to see a session end or its
/// queue kept. Before, `client-error-ends-session` failed as [F-6] (a server
/// whose [F-6] is right), `resume-unknown` read "which never existed ... (the
/// session was still alive)", and `acked-not-resent` failed as [B-4].
#[test]
fn a_server_that_ignores_resume_fails_c6_and_blocks_the_cases_relying_on_it() {
    let server = AmnesiacServer::start();
    let mut config = RunConfig::new(Target::Server(server.target()));
    config.selection.cases = [
        "server/framing/client-error-ends-session",
        "server/control/resume",
        "server/control/resume-unknown",
        "server/notifications/acked-not-resent",
    ]
    .map(str::to_owned)
    .to_vec();
    let report = run(&config, &mut Quiet).unwrap();
    let results = outcomes(report.clone());

    let (expected, got) = failure(&results, "server/control/resume");
    assert!(
        expected.starts_with("LOGIN_OK session_id=0x")
            && expected.ends_with("the resumed session [C-6]"),
        "{expected}"
    );
    assert!(got.starts_with("LOGIN_OK session_id=0x"), "{got}");
    let (expected, got) = failure(&results, "server/control/resume-unknown");
    assert!(
        expected.ends_with("which never existed [C-6]"),
        "{expected}"
    );
    assert!(
        got.ends_with("a new session; the server ignored resume_session"),
        "{got}"
    );
    assert!(!got.contains("still alive"), "{got}");

    let (reason, expected, got) = blocked(&results, "server/framing/client-error-ends-session");
    assert_eq!(
        reason,
        "cannot test [F-6][C-10]: needs [C-6], which failed in case server/control/resume"
    );
    assert!(
        expected.starts_with("ERROR UNKNOWN_SESSION for a resume of session"),
        "{expected}"
    );
    assert!(got.ends_with("the server ignored resume_session"), "{got}");
    // The case ran before server/control/resume, yet names it: the runner
    // resolves blocked cases once every verdict is in.
    let (reason, expected, _) = blocked(&results, "server/notifications/acked-not-resent");
    assert_eq!(
        reason,
        "cannot test [B-4][D-7]: needs [C-6], which failed in case server/control/resume"
    );
    assert!(
        expected.ends_with("the resumed session [C-6]"),
        "{expected}"
    );

    let counts = report.counts();
    assert_eq!(
        (counts.passed, counts.failed, counts.blocked, counts.skipped),
        (0, 2, 2, 0)
    );
    assert_eq!(report.exit_code(), 1);
    let rows = report.by_requirement();
    let row = |id: &str| rows.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(row("C-6").failed.len(), 2);
    assert_eq!(
        row("C-6").blocking,
        [
            "server/framing/client-error-ends-session",
            "server/notifications/acked-not-resent"
        ]
    );
    assert!(row("F-6").failed.is_empty(), "[F-6] is not blamed");
    assert_eq!(
        row("F-6").blocked,
        ["server/framing/client-error-ends-session"]
    );
    assert!(row("B-4").failed.is_empty(), "[B-4] is not blamed");

    let mut json = Vec::new();
    write_json(&report, &mut json).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["summary"]["blocked"], 2);
    let case = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "server/notifications/acked-not-resent")
        .unwrap();
    assert_eq!(case["outcome"], "blocked");
    assert_eq!(case["needs"], "C-6");
    assert_eq!(case["failed_in"], "server/control/resume");
    let mut junit = Vec::new();
    write_junit(&report, &mut junit).unwrap();
    let junit = String::from_utf8(junit).unwrap();
    assert!(junit.contains(r#"failures="2" errors="2""#), "{junit}");
    assert!(
        junit.contains(r#"<error message="cannot test [B-4][D-7]: needs [C-6], which failed in case server/control/resume" type="blocked">"#),
        "{junit}"
    );
}

/// Issue 21, point 7 (the last item): `login-ok-signature` cites [C-10] and
/// now checks what it says — random ids, not a counter; with --keep-going
/// it also reports the all-zero server nonce it found first.
#[test]
fn counted_session_ids_fail_c10_and_keep_going_reports_every_deviation() {
    let server = AmnesiacServer::start();
    let mut config = RunConfig::new(Target::Server(server.target()));
    config.selection.cases = vec!["server/auth/login-ok-signature".to_owned()];
    let report = run(&config, &mut Quiet).unwrap();
    let (expected, _) = failure(&outcomes(report), "server/auth/login-ok-signature");
    assert_eq!(expected, "a random 32-byte server nonce [A-4]");

    // A fresh server, so that its session ids start at 1 again.
    let server = AmnesiacServer::start();
    let mut config = RunConfig::new(Target::Server(server.target()));
    config.selection.cases = vec!["server/auth/login-ok-signature".to_owned()];
    config.selection.keep_going = true;
    let report = run(&config, &mut Quiet).unwrap();
    let case = &report.cases[0];
    let Outcome::Failed { expected, .. } = &case.outcome else {
        panic!("{:?}", case.outcome);
    };
    assert_eq!(expected, "a random 32-byte server nonce [A-4]");
    assert_eq!(case.further.len(), 1, "{:?}", case.further);
    assert_eq!(
        case.further[0].expected,
        "random, non-zero session ids, never the same twice [C-10]"
    );
    assert!(
        case.further[0]
            .got
            .starts_with("session_id=0x0000000000000001, then session_id=0x0000000000000002"),
        "{}",
        case.further[0].got
    );
}

/// Issue 21, point 3: a server that does not redial fails [D-8] in the case
/// that tests it, and the cases that need a redial to test [B-1], [B-2] or
/// [B-4] are blocked, not failed against those.
#[test]
fn a_server_that_never_redials_fails_d8_and_blocks_the_cases_needing_a_redial() {
    let faults = ServerFaults {
        dial_once: true,
        ..ServerFaults::default()
    };
    let results = against_server(
        faults,
        &[
            "server/callback/replayed-ready",
            "server/callback/redial-after-close",
            "server/notifications/ready-discards",
            "server/notifications/ready-below-acked",
        ],
    );
    let (expected, _) = failure(&results, "server/callback/redial-after-close");
    assert!(
        expected.contains("at once after the working callback closed [D-8]"),
        "{expected}"
    );
    for (id, tested) in [
        ("server/callback/replayed-ready", "[B-1][A-4]"),
        ("server/notifications/ready-discards", "[B-4]"),
        ("server/notifications/ready-below-acked", "[B-2][D-9][D-14]"),
    ] {
        let (reason, expected, _) = blocked(&results, id);
        assert_eq!(
            reason,
            format!(
                "cannot test {tested}: needs [D-8], which failed in case server/callback/redial-after-close"
            )
        );
        assert!(
            expected.contains("again after the callback closed [D-8]"),
            "{expected}"
        );
    }
}

/// Issue 21, point 4: the BYE on the callback after LOGOUT is required
/// ([C-10]), as the case always checked and docs/conformance.md now says.
#[test]
fn a_server_that_skips_bye_on_the_callback_fails_c10() {
    let faults = ServerFaults {
        drop_callback_bye: true,
        ..ServerFaults::default()
    };
    let results = against_server(faults, &["server/control/logout"]);
    let (expected, got) = failure(&results, "server/control/logout");
    assert_eq!(expected, "BYE logout on the callback connection too [C-10]");
    assert_eq!(got, "the connection closed");
}

/// Issue 21, points 5 and 7 (`string-too-long`): a server that closes
/// instead of answering MALFORMED. The callback case used to blame [D-12]
/// ("callbacks read frames up to 65 535 bytes") for a frame the server had
/// read; `string-too-long` accepted the bare close of its ERROR frame.
#[test]
fn a_server_that_closes_instead_of_malformed_is_blamed_on_f4() {
    let faults = ServerFaults {
        malformed_as_close: true,
        ..ServerFaults::default()
    };
    let results = against_server(
        faults,
        &[
            "server/callback/large-frame-before-handshake",
            "server/framing/string-too-long",
        ],
    );
    let (expected, got) = failure(&results, "server/callback/large-frame-before-handshake");
    assert_eq!(
        expected,
        "ERROR MALFORMED for the 4 967 bytes after the CB_CHALLENGE nonce [F-4], then close"
    );
    assert_eq!(got, "the connection closed");
    let (expected, got) = failure(&results, "server/framing/string-too-long");
    assert_eq!(
        expected,
        "for a LOGIN whose user name declares 4 097 bytes [F-4]: ERROR MALFORMED then close"
    );
    assert_eq!(got, "the connection closed");
}

/// Issue 21, point 7: after a failed CB_READY the server must report the
/// failed path and dial again [B-5]; the two cases used to pass without
/// waiting for either.
#[test]
fn a_server_that_hides_a_failed_handshake_is_caught_by_the_b1_cases() {
    let faults = ServerFaults {
        hide_failed_status: true,
        ..ServerFaults::default()
    };
    let results = against_server(
        faults,
        &[
            "server/callback/stranger-on-port",
            "server/callback/ready-proof-other-seq",
        ],
    );
    for id in [
        "server/callback/stranger-on-port",
        "server/callback/ready-proof-other-seq",
    ] {
        let (expected, got) = failure(&results, id);
        assert_eq!(
            expected, "CALLBACK_STATUS backchannel after the first callback handshake failed [B-5]",
            "{id}"
        );
        assert!(got.starts_with("nothing within"), "{id}: {got}");
    }
}

/// Issue 21, point 7: a handshake timer that restarts on every byte keeps a
/// trickling callback open past [B-7]'s 5 s; `handshake-timeout` (total
/// silence) cannot see it, `handshake-trickle` does.
#[test]
fn a_callback_timer_reset_by_each_byte_is_caught_by_the_trickle_case() {
    let faults = ServerFaults {
        idle_callback_timer: true,
        ..ServerFaults::default()
    };
    let results = against_server(
        faults,
        &[
            "server/callback/handshake-timeout",
            "server/callback/handshake-trickle",
        ],
    );
    passed(&results, "server/callback/handshake-timeout");
    let (expected, got) = failure(&results, "server/callback/handshake-trickle");
    assert!(
        expected.ends_with("however slowly bytes keep coming [B-7]"),
        "{expected}"
    );
    assert!(got.starts_with("the callback still open after"), "{got}");
}

#[test]
fn the_unmutated_server_passes_the_cases_that_catch_the_mutants() {
    let results = against_server(
        ServerFaults::default(),
        &[
            "server/notifications/ready-below-acked",
            "server/notifications/acked-not-resent",
            "server/notifications/ack-beyond-sent",
            "server/control/dials-peer-address",
            "server/auth/login-ok-signature",
            "server/control/resume",
            "server/control/resume-unknown",
            "server/control/logout",
            "server/framing/client-error-ends-session",
            "server/framing/string-too-long",
            "server/callback/replayed-ready",
            "server/callback/redial-after-close",
            "server/callback/stranger-on-port",
            "server/callback/ready-proof-other-seq",
            "server/callback/large-frame-before-handshake",
            "server/callback/handshake-trickle",
            "server/notifications/ready-discards",
        ],
    );
    for (id, outcome) in results {
        assert_eq!(outcome, Outcome::Passed, "{id}");
    }
}
