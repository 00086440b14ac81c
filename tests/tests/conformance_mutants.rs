//! The suite catches broken implementations: each mutant — faxnotify's
//! core behind a test adapter that injects one fault, never a switch in the
//! core — fails the case written to catch that fault, with a precise
//! expected/got.

mod conformance_support;

use conformance_support::client_process::{self, ClientFault};
use conformance_support::server_loop::{
    HANDSHAKE_TIMEOUT, RunningServer, ServerFaults, test_config,
};
use faxnotify_conformance::conformance::{ClientTarget, Outcome, Quiet, RunConfig, Target, run};

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
    report
        .cases
        .into_iter()
        .map(|c| (c.id, c.outcome))
        .collect()
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
    // The dropped ACK leaves the server silent until something else happens
    // (here the lease), so only the expectation is fixed.
    let (expected, _) = failure(&results, "server/notifications/ack-beyond-sent");
    assert_eq!(
        expected,
        "for ACK seq=1 when nothing was sent [B-2]: ERROR UNEXPECTED_FRAME then close"
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
        ],
    );
    for (id, outcome) in results {
        assert_eq!(outcome, Outcome::Passed, "{id}");
    }
}
