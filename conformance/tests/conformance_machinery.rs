//! The suite's machinery against small scripted peers: the runner, the
//! protocol engine, verdicts (pass, precise failure, skip), process handling
//! in client mode, and case selection. The real implementations are checked
//! in conformance_faxnotify.rs and the mutants in conformance_mutants.rs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use faxnotify_conformance::{
    ClientTarget, Outcome, Quiet, Report, RunConfig, RunError, ServerTarget, Target, Timeouts, run,
};
use faxnotify_core::wire::{
    Caps, Decoder, Frame, MAX_FRAME_LEN, MAX_PRELOGIN_FRAME_LEN, ServerHello,
};

/// How a scripted server answers bad pre-login input.
#[derive(Clone, Copy)]
enum Script {
    /// Checks the pre-login limit as soon as the length arrives; answers each
    /// decode error with its proper code.
    Strict,
    /// Uses the 65 535 limit before login (so it waits for a body of 4 146).
    NoPreloginLimit,
    /// Answers every decode error with MALFORMED.
    AlwaysMalformed,
}

/// A server on 127.0.0.1 that greets each connection and answers the first
/// decode error as its script says; stops when dropped.
struct ScriptedServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, script),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, script: Script) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let hello = Frame::ServerHello(ServerHello {
        version_min: 1,
        version_max: 1,
        caps: Caps::BACKCHANNEL,
        server_name: "scripted".into(),
    });
    let _ = stream.write_all(&hello.to_vec().unwrap());
    let limit = match script {
        Script::NoPreloginLimit => MAX_FRAME_LEN,
        _ => MAX_PRELOGIN_FRAME_LEN,
    };
    let mut decoder = Decoder::new(limit);
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut input = &buf[..n];
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    let code = match script {
                        Script::AlwaysMalformed => faxnotify_core::wire::ErrorCode::Malformed,
                        _ => err.code(),
                    };
                    let reply = Frame::error(code, err.to_string()).to_vec().unwrap();
                    let _ = stream.write_all(&reply);
                    return;
                }
            }
        }
    }
}

fn fast_timeouts() -> Timeouts {
    let mut t = Timeouts::default();
    t.expect = Duration::from_millis(800);
    t.quiet = Duration::from_millis(200);
    t.client_start = Duration::from_secs(5);
    t
}

fn run_server(addr: SocketAddr, cases: &[&str]) -> Report {
    let mut config = RunConfig::new(Target::Server(ServerTarget::new(addr, "alice", "secret")));
    config.selection.cases = cases.iter().map(|c| (*c).to_owned()).collect();
    config.timeouts = fast_timeouts();
    run(&config, &mut Quiet).unwrap()
}

fn outcome<'r>(report: &'r Report, id: &str) -> &'r Outcome {
    &report.cases.iter().find(|c| c.id == id).unwrap().outcome
}

#[test]
fn a_strict_peer_passes_the_prelogin_framing_cases() {
    let server = ScriptedServer::start(Script::Strict);
    let ids = [
        "server/framing/oversized-prelogin",
        "server/framing/oversized-max-u32",
        "server/framing/zero-length",
        "server/framing/unknown-type",
        "server/framing/trailing-bytes",
        "server/framing/truncated-body",
        "server/framing/invalid-utf8",
    ];
    let report = run_server(server.addr, &ids);
    assert_eq!(report.cases.len(), ids.len());
    for case in &report.cases {
        assert_eq!(
            case.outcome,
            Outcome::Passed,
            "{}: {:?}\n{}",
            case.id,
            case.outcome,
            case.log.join("\n")
        );
    }
    assert!(report.success());
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn a_peer_that_waits_for_the_body_fails_f1_precisely() {
    let server = ScriptedServer::start(Script::NoPreloginLimit);
    let report = run_server(server.addr, &["server/framing/oversized-prelogin"]);
    match outcome(&report, "server/framing/oversized-prelogin") {
        Outcome::Failed { expected, got } => {
            assert_eq!(
                expected,
                "after only the 4 length bytes (no body) [F-1]: ERROR FRAME_TOO_LARGE then close"
            );
            assert_eq!(got, "nothing within 0.8 s");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn a_wrong_error_code_is_reported_with_the_frame_received() {
    let server = ScriptedServer::start(Script::AlwaysMalformed);
    let report = run_server(
        server.addr,
        &["server/framing/unknown-type", "server/framing/zero-length"],
    );
    assert_eq!(
        outcome(&report, "server/framing/zero-length"),
        &Outcome::Passed
    );
    match outcome(&report, "server/framing/unknown-type") {
        Outcome::Failed { expected, got } => {
            assert_eq!(expected, "ERROR UNKNOWN_FRAME then close");
            assert!(got.starts_with("ERROR MALFORMED message="), "{got}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let counts = report.counts();
    assert_eq!((counts.passed, counts.failed, counts.skipped), (1, 1, 0));
    assert_eq!(
        counts.to_string(),
        "1 passed, 1 failed, 0 blocked, 0 skipped"
    );
}

#[test]
fn cases_needing_a_trigger_or_second_user_are_skipped_with_the_reason() {
    let server = ScriptedServer::start(Script::Strict);
    let report = run_server(
        server.addr,
        &[
            "server/notifications/seq-from-one",
            "server/control/resume-foreign",
        ],
    );
    match outcome(&report, "server/notifications/seq-from-one") {
        Outcome::Skipped { reason } => assert!(reason.contains("--notify-command"), "{reason}"),
        other => panic!("{other:?}"),
    }
    match outcome(&report, "server/control/resume-foreign") {
        Outcome::Skipped { reason } => assert!(reason.contains("second user"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(report.success(), "skips are not failures");
}

#[test]
fn skip_slow_skips_slow_cases_without_running_them() {
    let mut config = RunConfig::new(Target::Server(ServerTarget::new(
        "127.0.0.1:9".parse().unwrap(),
        "alice",
        "secret",
    )));
    config.selection.cases = vec!["server/control/slow-loris".into()];
    config.selection.skip_slow = true;
    let report = run(&config, &mut Quiet).unwrap();
    match &report.cases[0].outcome {
        Outcome::Skipped { reason } => assert!(reason.contains("--skip-slow"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(
        report.cases[0].log.is_empty(),
        "a skipped slow case opens no connection"
    );
}

#[test]
fn an_unreachable_server_fails_with_the_connection_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let report = run_server(addr, &["server/framing/zero-length"]);
    match outcome(&report, "server/framing/zero-length") {
        Outcome::Failed { expected, got } => {
            assert_eq!(*expected, format!("a TCP connection to {addr}"));
            assert!(got.to_lowercase().contains("refused"), "{got}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_case_patterns_are_refused_before_running() {
    let mut config = RunConfig::new(Target::Server(ServerTarget::new(
        "127.0.0.1:9".parse().unwrap(),
        "alice",
        "secret",
    )));
    config.selection.cases = vec!["server/nope".into()];
    assert!(matches!(
        run(&config, &mut Quiet),
        Err(RunError::UnknownCase(_))
    ));
    let empty = RunConfig::new(Target::Client(ClientTarget::new(Vec::new())));
    assert!(matches!(
        run(&empty, &mut Quiet),
        Err(RunError::EmptyCommand)
    ));
}

fn run_client(script: &str, cases: &[&str]) -> Report {
    let command = vec!["bash".to_owned(), "-c".to_owned(), script.to_owned()];
    let mut config = RunConfig::new(Target::Client(ClientTarget::new(command)));
    config.selection.cases = cases.iter().map(|c| (*c).to_owned()).collect();
    config.timeouts = fast_timeouts();
    run(&config, &mut Quiet).unwrap()
}

#[test]
fn a_scripted_client_process_is_started_with_its_placeholders_and_judged() {
    // Answers the first 4 bytes it reads with ERROR FRAME_TOO_LARGE, then closes:
    // exactly what [F-1] asks for a 4 146-byte length prefix before login.
    let good = r#"exec 3<>/dev/tcp/{host}/{port}; head -c 4 <&3 >/dev/null;
        printf '\x00\x00\x00\x05\x7f\x00\x04\x00\x00' >&3; exec 3>&-"#;
    let report = run_client(good, &["client/framing/oversized-prelogin"]);
    assert_eq!(
        report.cases[0].outcome,
        Outcome::Passed,
        "{}",
        report.cases[0].log.join("\n")
    );

    // Connects and never says anything.
    let mute = "exec 3<>/dev/tcp/{host}/{port}; sleep 30";
    let report = run_client(mute, &["client/framing/oversized-prelogin"]);
    match &report.cases[0].outcome {
        Outcome::Failed { expected, got } => {
            assert!(
                expected.ends_with("ERROR FRAME_TOO_LARGE then close"),
                "{expected}"
            );
            assert_eq!(got, "nothing within 0.8 s");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_that_never_connects_is_reported_with_its_exit_and_stderr() {
    let report = run_client(
        "echo 'cannot reach {addr}' >&2; exit 3",
        &["client/framing/zero-length"],
    );
    match &report.cases[0].outcome {
        Outcome::Failed { expected, got } => {
            assert_eq!(expected, "the client to connect to the suite's server");
            assert!(
                got.contains("exit status: 3") && got.contains("cannot reach 127.0.0.1:"),
                "{got}"
            );
        }
        other => panic!("{other:?}"),
    }
}
