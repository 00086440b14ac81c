//! The TLS cases catch what they are written for: a server that speaks
//! plain FNP/1 where the tester said TLS, and a client that answers its
//! callback connections in plain FNP/1 although it runs TLS. As in
//! conformance_mutants.rs, the fault is the test adapter's, never a switch
//! in the core.

mod conformance_support;

use conformance_support::client_process::{self, ClientFault};
use conformance_support::server_loop::{RunningServer, ServerFaults, test_config};
use conformance_support::tls;
use faxnotify_conformance::{ClientTarget, Outcome, Quiet, RunConfig, Target, run};

/// The client process the suite starts (see `client_process::command`).
#[test]
#[ignore = "entry point of the client process the conformance suite starts"]
fn client_process_entry() {
    client_process::entry();
}

fn failures(config: &mut RunConfig, cases: &[&str]) -> Vec<(String, String, String)> {
    config.selection.cases = cases.iter().map(|c| (*c).to_owned()).collect();
    let report = run(config, &mut Quiet).unwrap();
    assert_eq!(report.cases.len(), cases.len());
    report
        .cases
        .into_iter()
        .map(|c| match c.outcome {
            Outcome::Failed { expected, got } => (c.id, expected, got),
            other => panic!("{} should have caught the mutant, got {other:?}", c.id),
        })
        .collect()
}

#[test]
fn a_plain_server_where_tls_was_promised_is_caught_by_the_t1_cases() {
    // The server core without TLS; the suite is told it runs TLS.
    let server = RunningServer::start(test_config(), ServerFaults::default());
    let mut target = server.target();
    target.tls = Some(tls::server_identity().1);
    let mut config = RunConfig::new(Target::Server(target));
    let results = failures(
        &mut config,
        &[
            "server/tls/bound-session",
            "server/tls/plain-fnp-to-tls-port",
            "server/tls/tls12-only-client-hello",
        ],
    );
    for (id, expected, got) in results {
        if id == "server/tls/bound-session" {
            assert!(expected.contains("TLS 1.3 handshake") && expected.contains("[T-1]"));
            assert!(got.starts_with("a failed handshake: "), "{id}: {got}");
        } else {
            assert!(expected.contains("[T-9]"), "{id}: {expected}");
            // The plain server greets first: its SERVER_HELLO is named.
            assert!(
                got.contains("an FNP/1 SERVER_HELLO frame in plaintext"),
                "{id}: {got}"
            );
        }
    }
}

#[test]
fn a_client_that_answers_its_callback_in_plain_is_caught_by_the_stranger_case() {
    // Callbacks answered by the adapter's hand-written plain handler: a
    // CB_CHALLENGE in plaintext instead of a ClientHello.
    let command = client_process::command(ClientFault::AcceptAnyCbHello, "client_process_entry");
    let mut target = ClientTarget::new(command);
    target.tls = true;
    let mut config = RunConfig::new(Target::Client(target));
    let results = failures(&mut config, &["client/tls/plain-stranger-on-callback"]);
    let (_, expected, got) = &results[0];
    assert!(
        expected.starts_with("a TLS ClientHello as the client's first bytes on the callback")
            && expected.contains("[T-2]"),
        "{expected}"
    );
    // 37 bytes: length 33, type CB_CHALLENGE, the nonce.
    assert_eq!(got, "37 bytes starting 00");
}
