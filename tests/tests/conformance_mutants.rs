//! The suite catches broken implementations: each mutant — faxnotify's
//! core behind a test adapter that injects one fault, never a switch in the
//! core — fails the case written to catch that fault, with a precise
//! expected/got.

mod conformance_support;

use conformance_support::client_process::{self, ClientFault};
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
