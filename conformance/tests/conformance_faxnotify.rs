//! faxnotify's own client and server cores, run over real sockets by the
//! test adapters of `conformance_support`, pass the whole suite, over plain
//! TCP and with `--tls` (protocol.md section 12).

mod conformance_support;

use conformance_support::client_process::{self, ClientFault};
use conformance_support::server_loop::{
    HANDSHAKE_TIMEOUT, RunningServer, ServerFaults, test_config,
};
use conformance_support::tls;
use faxnotify_conformance::{ClientTarget, Outcome, Report, RunConfig, Target, TreePrinter, run};

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

/// Every case passed, except that without `--tls` the TLS cases are
/// skipped (and with it, none is).
fn assert_all_passed(report: &Report, tree: &str, tls: bool) {
    assert_tls_cases(report, tls);
    let mut problems = String::new();
    for case in &report.cases {
        let tls_skip = !tls && is_tls_case(&case.id);
        if !matches!(case.outcome, Outcome::Passed) && !tls_skip {
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
    assert_all_passed(&report, &tree, false);
}

#[test]
fn the_server_core_passes_every_server_case() {
    let server = RunningServer::start(test_config(), ServerFaults::default());
    let mut config = RunConfig::new(Target::Server(server.target()));
    config.timeouts.handshake = HANDSHAKE_TIMEOUT;
    let (report, tree) = run_suite(&config);
    assert_all_passed(&report, &tree, false);
}

fn is_tls_case(id: &str) -> bool {
    id.contains("/tls/")
}

/// Without `--tls` the TLS cases are skipped, never passed by default; with
/// it none is skipped.
fn assert_tls_cases(report: &Report, tls: bool) {
    let tls_cases: Vec<_> = report.cases.iter().filter(|c| is_tls_case(&c.id)).collect();
    assert!(!tls_cases.is_empty(), "the suite has TLS cases");
    for case in tls_cases {
        assert_eq!(
            matches!(case.outcome, Outcome::Skipped { .. }),
            !tls,
            "{}: {:?}",
            case.id,
            case.outcome
        );
    }
}

#[test]
fn the_client_core_passes_every_client_case_over_tls() {
    let command = client_process::command(ClientFault::None, "client_process_entry");
    let mut target = ClientTarget::new(command);
    target.tls = true;
    let config = RunConfig::new(Target::Client(target));
    let (report, tree) = run_suite(&config);
    assert_all_passed(&report, &tree, true);
}

#[test]
fn the_server_core_passes_every_server_case_over_tls() {
    let (identity, trust) = tls::server_identity();
    let mut server_config = test_config();
    server_config.tls = Some(identity);
    let server = RunningServer::start(server_config, ServerFaults::default());
    let mut target = server.target();
    target.tls = Some(trust);
    let mut config = RunConfig::new(Target::Server(target));
    config.timeouts.handshake = HANDSHAKE_TIMEOUT;
    let (report, tree) = run_suite(&config);
    assert_all_passed(&report, &tree, true);
}
