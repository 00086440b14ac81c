//! faxnotify's own client and server cores, run over real sockets by the
//! test adapters of `conformance_support`, pass the whole suite.

mod conformance_support;

use std::io::Write as _;

use conformance_support::client_process::{self, ClientFault};
use conformance_support::server_loop::{
    HANDSHAKE_TIMEOUT, RunningServer, ServerFaults, test_config,
};
use faxnotify_conformance::conformance::{
    ClientTarget, Outcome, Report, RunConfig, Target, TreePrinter, run,
};

/// The client process the suite starts (see `client_process::command`).
#[test]
#[ignore = "entry point of the client process the conformance suite starts"]
fn client_process_entry() {
    client_process::entry();
}

fn assert_all_passed(report: &Report) {
    let mut problems = String::new();
    for case in &report.cases {
        if !matches!(case.outcome, Outcome::Passed) {
            problems.push_str(&format!(
                "\n{}: {:?}\n  {}",
                case.id,
                case.outcome,
                case.log.join("\n  ")
            ));
        }
    }
    assert!(problems.is_empty(), "not every case passed:{problems}");
}

#[test]
fn the_client_core_passes_every_client_case() {
    let command = client_process::command(ClientFault::None, "client_process_entry");
    let config = RunConfig::new(Target::Client(ClientTarget::new(command)));
    let mut printer = TreePrinter::new(std::io::stderr());
    let report = run(&config, &mut printer).unwrap();
    let _ = std::io::stderr().flush();
    assert_all_passed(&report);
}

#[test]
fn the_server_core_passes_every_server_case() {
    let server = RunningServer::start(test_config(), ServerFaults::default());
    let mut config = RunConfig::new(Target::Server(server.target()));
    config.timeouts.handshake = HANDSHAKE_TIMEOUT;
    let mut printer = TreePrinter::new(std::io::stderr());
    let report = run(&config, &mut printer).unwrap();
    let _ = std::io::stderr().flush();
    assert_all_passed(&report);
}
