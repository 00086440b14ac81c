//! faxnotify's own client and server cores, run over real sockets by the
//! test adapters of `conformance_support`, pass the whole suite.

mod conformance_support;

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

/// Runs the suite, keeping the tree for the failure message (printing it
/// would put a second "N passed, N failed" line in the test output).
fn run_suite(config: &RunConfig) -> (Report, String) {
    let mut printer = TreePrinter::new(Vec::new());
    let report = run(config, &mut printer).unwrap();
    let tree = String::from_utf8_lossy(&printer.into_inner()).into_owned();
    (report, tree)
}

fn assert_all_passed(report: &Report, tree: &str) {
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
    assert!(
        problems.is_empty(),
        "not every case passed:{problems}\n\n{tree}"
    );
}

#[test]
fn the_client_core_passes_every_client_case() {
    let command = client_process::command(ClientFault::None, "client_process_entry");
    let config = RunConfig::new(Target::Client(ClientTarget::new(command)));
    let (report, tree) = run_suite(&config);
    assert_all_passed(&report, &tree);
}

#[test]
fn the_server_core_passes_every_server_case() {
    let server = RunningServer::start(test_config(), ServerFaults::default());
    let mut config = RunConfig::new(Target::Server(server.target()));
    config.timeouts.handshake = HANDSHAKE_TIMEOUT;
    let (report, tree) = run_suite(&config);
    assert_all_passed(&report, &tree);
}
