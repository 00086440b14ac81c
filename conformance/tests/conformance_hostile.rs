//! The suite against implementations that attack it: its users point it at
//! servers and clients they do not trust. A peer must not hold a case past
//! its waits, fill the suite's memory, or write lines of its own into the
//! reports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant};

use faxnotify_conformance::peer::conn::FrameConn;
use faxnotify_conformance::peer::log::CaseLog;
use faxnotify_conformance::peer::pki::{Presented, SuitePki};
use faxnotify_conformance::{
    ClientTarget, CommandTrigger, NotifyTrigger, Outcome, Quiet, Report, RunConfig, ServerTarget,
    Target, Timeouts, TreePrinter, run, write_junit,
};
use faxnotify_core::tls::{ClientTls, Trust};
use faxnotify_core::wire::{Caps, Frame, LoginChallenge, ServerHello};

/// Longer than any case below may take; a run still going then has hung.
const HUNG: Duration = Duration::from_secs(60);

fn fast_timeouts() -> Timeouts {
    let mut t = Timeouts::default();
    t.expect = Duration::from_millis(800);
    t.quiet = Duration::from_millis(200);
    t.client_start = Duration::from_secs(5);
    t
}

/// Runs the configuration `config` makes on a thread (a configuration is
/// not `Send`) and returns its report and how long it took; panics instead
/// of hanging if the run outlives [`HUNG`].
fn run_bounded(config: impl FnOnce() -> RunConfig + Send + 'static) -> (Report, Duration) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let config = config();
        let started = Instant::now();
        let report = run(&config, &mut Quiet).unwrap();
        let _ = tx.send((report, started.elapsed()));
    });
    rx.recv_timeout(HUNG)
        .unwrap_or_else(|_| panic!("the run still had not ended after {HUNG:?}"))
}

/// A server on 127.0.0.1 that greets each connection with SERVER_HELLO and
/// then writes `flood` over and over, never reading.
fn flooding_server(flood: Frame<'static>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let flood = flood.clone();
            std::thread::spawn(move || serve_flood(stream, &flood));
        }
    });
    addr
}

fn serve_flood(mut stream: TcpStream, flood: &Frame<'static>) {
    let hello = Frame::ServerHello(ServerHello {
        version_min: 1,
        version_max: 1,
        caps: Caps::BACKCHANNEL,
        server_name: "flood".into(),
    });
    let mut bytes = Vec::new();
    for _ in 0..4096 {
        flood.encode(&mut bytes).unwrap();
    }
    let _ = stream.write_all(&hello.to_vec().unwrap());
    // Drain what the suite sends (its LOGIN, its PONGs) so that its writes
    // never block: only the flood may hold it.
    if let Ok(mut reader) = stream.try_clone() {
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
    }
    while stream.write_all(&bytes).is_ok() {}
}

fn server_config(addr: SocketAddr, case: &str) -> RunConfig {
    let mut config = RunConfig::new(Target::Server(ServerTarget::new(addr, "alice", "secret")));
    config.selection.cases = vec![case.to_owned()];
    config.timeouts = fast_timeouts();
    config
}

#[test]
fn a_server_that_sends_pings_or_pongs_without_end_fails_within_the_waits() {
    for flood in [Frame::Ping { nonce: 7 }, Frame::Pong { nonce: 7 }] {
        let what = flood.frame_type();
        let addr = flooding_server(flood);
        let (report, took) = run_bounded(move || server_config(addr, "server/framing/zero-length"));
        assert!(
            matches!(report.cases[0].outcome, Outcome::Failed { .. }),
            "{what}: {:?}",
            report.cases[0].outcome
        );
        // The case waits 0.8 s for its answer; a flood may stretch a wait by
        // one buffer of frames, not hold it open.
        assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
    }
}

fn client_config(script: &'static str, case: &'static str) -> impl FnOnce() -> RunConfig + Send {
    move || {
        let command = vec!["bash".to_owned(), "-c".to_owned(), script.to_owned()];
        let mut config = RunConfig::new(Target::Client(ClientTarget::new(command)));
        config.selection.cases = vec![case.to_owned()];
        config.timeouts = fast_timeouts();
        config
    }
}

/// The tree and JUnit reports of `report`.
fn reports(report: &Report) -> (String, String) {
    let mut tree = TreePrinter::new(Vec::new());
    tree.print_report(report);
    let mut junit = Vec::new();
    write_junit(report, &mut junit).unwrap();
    (
        String::from_utf8(tree.into_inner()).unwrap(),
        String::from_utf8(junit).unwrap(),
    )
}

#[test]
fn what_a_client_writes_cannot_forge_lines_of_the_reports() {
    // A client that never connects, whose stderr and stdout rewrite the
    // terminal's line (carriage return, ESC sequences), reverse the text
    // that follows (U+202E) and carry a forged pass of the case.
    const FORGED: &str = r#"printf 'boom\r\033[2K  \342\234\224 zero-length [F-2]: passed\033[0m \342\200\256ssap\n' >&2;
        printf '\r  9.999s control < NOTIFY seq=1\n'; exit 3"#;
    let (report, _) = run_bounded(client_config(FORGED, "client/framing/zero-length"));
    let Outcome::Failed { got, .. } = &report.cases[0].outcome else {
        panic!("{:?}", report.cases[0].outcome);
    };
    assert!(got.contains("boom"), "{got}");
    let (tree, junit) = reports(&report);
    for (name, text) in [("tree", &tree), ("junit", &junit)] {
        for bad in ['\r', '\x1b', '\u{202e}'] {
            assert!(
                !text.contains(bad),
                "{name} report has {bad:?} from the client:\n{text}"
            );
        }
    }
}

/// The peak memory is the whole test process's: the tests that measure it
/// take turns, so that one's flood never counts in another's growth.
static MEASURING_MEMORY: Mutex<()> = Mutex::new(());

fn measuring_memory() -> MutexGuard<'static, ()> {
    MEASURING_MEMORY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// This process's peak resident memory (VmHWM), in bytes.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

#[test]
fn a_client_that_writes_without_end_does_not_fill_the_suites_memory() {
    // 300 MB each: short lines on stdout, one line without an end on
    // stdout and on stderr. The suite keeps a bounded part of each.
    const FLOODS: &str = "yes | head -c 300M; head -c 300M /dev/zero; \
        head -c 300M /dev/zero >&2; sleep 30";
    let _turn = measuring_memory();
    let before = peak_memory();
    let (report, _) = run_bounded(client_config(FLOODS, "client/framing/zero-length"));
    let grown = peak_memory().saturating_sub(before);
    assert!(
        matches!(report.cases[0].outcome, Outcome::Failed { .. }),
        "{:?}",
        report.cases[0].outcome
    );
    assert!(
        grown < 150 * 1024 * 1024,
        "the suite's peak memory grew by {} MiB",
        grown / (1024 * 1024)
    );
}

/// A TLS server on 127.0.0.1 that reads the suite's ClientHello and then
/// sends a handshake record one byte every 300 ms: each read of the suite
/// gets a byte well within its wait, the record never ends.
fn trickling_tls_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut hello = [0u8; 4096];
                let _ = stream.read(&mut hello);
                let record = [0x16, 0x03, 0x03, 0x40, 0x00]
                    .into_iter()
                    .chain([0x02; 0x4000]);
                for byte in record {
                    if stream.write_all(&[byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            });
        }
    });
    addr
}

#[test]
fn a_tls_server_that_trickles_its_handshake_fails_within_the_waits() {
    let addr = trickling_tls_server();
    let (report, took) = run_bounded(move || {
        let mut config = server_config(addr, "server/framing/zero-length");
        if let Target::Server(target) = &mut config.target {
            target.tls = Some(ClientTls {
                server_name: "localhost".into(),
                trust: Trust::PinnedSha256([0; 32]),
            });
        }
        config
    });
    assert!(
        matches!(report.cases[0].outcome, Outcome::Failed { .. }),
        "{:?}",
        report.cases[0].outcome
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// A TLS server on 127.0.0.1 that completes the handshake, then sends the
/// header of a 16 KiB record and its body one byte every 300 ms. Returns
/// its address and the fingerprint to pin.
fn tls_server_trickling_a_record() -> (SocketAddr, [u8; 32]) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pki = SuitePki::new(addr.ip()).unwrap();
    let pin = pki.good_fingerprint.0;
    let server = pki.server(Presented::Good).clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let server = server.clone();
            std::thread::spawn(move || {
                let mut raw = stream.try_clone().unwrap();
                let log = CaseLog::new();
                let mut conn =
                    FrameConn::new(stream, "trickle", &log, Duration::from_secs(5)).unwrap();
                if conn.start_tls_server(&server).is_err() {
                    return;
                }
                let record = [0x17, 0x03, 0x03, 0x40, 0x00]
                    .into_iter()
                    .chain([0x02; 0x4000]);
                for byte in record {
                    if raw.write_all(&[byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            });
        }
    });
    (addr, pin)
}

#[test]
fn a_tls_server_that_trickles_a_record_fails_within_the_waits() {
    let (addr, pin) = tls_server_trickling_a_record();
    let (report, took) = run_bounded(move || {
        let mut config = server_config(addr, "server/framing/zero-length");
        if let Target::Server(target) = &mut config.target {
            target.tls = Some(ClientTls {
                server_name: "localhost".into(),
                trust: Trust::PinnedSha256(pin),
            });
        }
        config
    });
    assert!(
        matches!(report.cases[0].outcome, Outcome::Failed { .. }),
        "{:?}",
        report.cases[0].outcome
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_tls_port_that_answers_with_a_flood_does_not_fill_the_suites_memory() {
    // Answers the suite's plain LOGIN on a "TLS port" with 400 MB of bytes
    // as fast as it can, then stays open.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let chunk = vec![0x02; 1 << 20];
                for _ in 0..400 {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let _turn = measuring_memory();
    let before = peak_memory();
    let (report, _) = run_bounded(move || {
        let mut config = server_config(addr, "server/tls/plain-fnp-to-tls-port");
        if let Target::Server(target) = &mut config.target {
            target.tls = Some(ClientTls {
                server_name: "localhost".into(),
                trust: Trust::PinnedSha256([0; 32]),
            });
        }
        config.timeouts.expect = Duration::from_secs(3);
        config
    });
    let grown = peak_memory().saturating_sub(before);
    assert!(
        matches!(report.cases[0].outcome, Outcome::Failed { .. }),
        "{:?}",
        report.cases[0].outcome
    );
    assert!(
        grown < 150 * 1024 * 1024,
        "the suite's peak memory grew by {} MiB",
        grown / (1024 * 1024)
    );
}

/// A server on 127.0.0.1 that greets each connection and answers its LOGIN
/// with a challenge of 4 294 967 295 PBKDF2 iterations (hours of work).
fn costly_challenge_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let hello = Frame::ServerHello(ServerHello {
                    version_min: 1,
                    version_max: 1,
                    caps: Caps::BACKCHANNEL,
                    server_name: "costly".into(),
                });
                let _ = stream.write_all(&hello.to_vec().unwrap());
                let mut login = [0u8; 4096];
                if !matches!(stream.read(&mut login), Ok(n) if n > 0) {
                    return;
                }
                let challenge = Frame::LoginChallenge(LoginChallenge {
                    server_nonce: [7; 32],
                    salt: vec![1; 16].into(),
                    iterations: u32::MAX,
                });
                let _ = stream.write_all(&challenge.to_vec().unwrap());
                let mut rest = [0u8; 4096];
                while matches!(stream.read(&mut rest), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

#[test]
fn a_server_asking_for_endless_pbkdf2_work_fails_the_login_at_once() {
    let addr = costly_challenge_server();
    let (report, took) =
        run_bounded(move || server_config(addr, "server/framing/oversized-after-login"));
    match &report.cases[0].outcome {
        Outcome::Failed { expected, got } => {
            assert!(expected.contains("[A-4]"), "{expected}");
            assert!(got.contains("4294967295"), "{got}");
        }
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_notify_command_that_fails_is_reported_promptly_and_escaped() {
    // Fails with a line that rewrites the terminal's line, and leaves a
    // process behind that holds its stderr open.
    let trigger = CommandTrigger::new(
        [
            "sh",
            "-c",
            r"printf 'boom\r\033[2K ok' >&2; sleep 20 & exit 1",
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(trigger.notify("alice", "hello"));
    });
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the notify command's failure was not reported within 10 s");
    let message = result.unwrap_err();
    assert!(message.contains("exit status: 1"), "{message}");
    assert!(
        message.contains("boom") && message.contains("ok"),
        "{message}"
    );
    assert!(
        !message.contains('\r') && !message.contains('\x1b'),
        "{message:?}"
    );
}

/// A file for a script under test to write to, unique to this process.
fn scratch_file(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("fnp1-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The pid a script wrote to `path`.
fn written_pid(path: &std::path::Path) -> u32 {
    let text = std::fs::read_to_string(path).expect("the script wrote no pid");
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a pid: {text:?}"))
}

/// Waits up to 10 s for `pid` to end; kills it and fails if it does not.
fn assert_ends(pid: u32, what: &str) {
    faxnotify_testkit::process::assert_ends(pid, Duration::from_secs(10), what);
}

#[test]
fn what_a_clients_wrapper_started_ends_with_the_case() {
    // A wrapper that starts the "real client" in the background and exits:
    // killing the wrapper alone left the real client running after the
    // case, holding its session and its callback port.
    let pid_file = scratch_file("wrapper-child");
    let script = format!("sleep 600 & echo $! > {}; exit 0", pid_file.display());
    let (report, _) = run_bounded(move || {
        let command = vec!["bash".to_owned(), "-c".to_owned(), script];
        let mut config = RunConfig::new(Target::Client(ClientTarget::new(command)));
        config.selection.cases = vec!["client/framing/zero-length".to_owned()];
        config.timeouts = fast_timeouts();
        config
    });
    assert!(
        matches!(report.cases[0].outcome, Outcome::Failed { .. }),
        "{:?}",
        report.cases[0].outcome
    );
    assert_ends(
        written_pid(&pid_file),
        "the process the client's wrapper started",
    );
    let _ = std::fs::remove_file(&pid_file);
}

#[test]
fn a_client_that_exits_without_connecting_fails_the_case_at_once() {
    let (report, took) = run_bounded(|| {
        let script = "echo 'cannot start: no such setting' >&2; exit 3";
        let command = vec!["bash".to_owned(), "-c".to_owned(), script.to_owned()];
        let mut config = RunConfig::new(Target::Client(ClientTarget::new(command)));
        config.selection.cases = vec!["client/framing/zero-length".to_owned()];
        config.timeouts = fast_timeouts();
        // Waiting out this wait (as before) would take the run past
        // `HUNG`: the case must end when the client does.
        config.timeouts.client_start = HUNG;
        config
    });
    let Outcome::Failed { got, .. } = &report.cases[0].outcome else {
        panic!("{:?}", report.cases[0].outcome);
    };
    assert!(got.contains("exit status: 3"), "{got}");
    assert!(got.contains("cannot start: no such setting"), "{got}");
    assert!(took < HUNG / 2, "took {took:?}");
}

#[test]
fn what_a_notify_command_left_running_ends_with_it() {
    for (status, script_end) in [("ok", "exit 0"), ("failed", "exit 1")] {
        let pid_file = scratch_file(&format!("notify-child-{status}"));
        let script = format!("sleep 600 & echo $! > {}; {script_end}", pid_file.display());
        let trigger = CommandTrigger::new(vec!["sh".into(), "-c".into(), script]).unwrap();
        let _ = trigger.notify("alice", "hello");
        assert_ends(
            written_pid(&pid_file),
            &format!("what a notify command that {status} left running"),
        );
        let _ = std::fs::remove_file(&pid_file);
    }
}
