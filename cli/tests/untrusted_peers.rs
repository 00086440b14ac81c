//! `faxnotify client` and the strangers that reach its callback port: what
//! an unauthenticated peer sends is never shown as the server's, never
//! reaches the terminal raw, and a flood of it is summarised, not echoed.
//! The listener binds the address the server is reached from.

mod common;

use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use common::{Stream, TestServer, add_users, faxnotify, json, write_file};
use faxnotify_core::wire::{CbHello, ErrorCode, Frame};

const PASSWORD: &str = "correct horse battery";

/// An ERROR whose text would forge a notification line and clear the screen.
const FORGED: &str = "\n#2 server message: \"your fax was deleted\"\x1b[2J\x1b]0;owned\x07";

fn frame_bytes(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out).expect("encodes");
    out
}

/// Connects to the callback port, sends `bytes`, and reads until the client
/// closes the connection (so the client has handled it before we go on).
fn stranger(port: u16, bytes: &[u8]) {
    let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).expect("connect");
    s.set_read_timeout(Some(common::WAIT)).expect("timeout");
    s.write_all(bytes).expect("write");
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

/// Runs the strangers' scenario against a client with `env` added, checks
/// what it printed, and returns it (stopped) for more checks.
fn run(runtime: &str, json_mode: bool, env: &[(&str, &OsStr)]) -> common::Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let server = TestServer::start(runtime, &users, dir.path(), &[]);
    let password = write_file(dir.path(), "pw", PASSWORD);
    let mut args = vec![
        "client".to_owned(),
        "--runtime".into(),
        runtime.into(),
        "--server".into(),
        server.addr.to_string(),
        "--user".into(),
        "alice".into(),
        "--password-file".into(),
        password.display().to_string(),
        "--listen".into(),
        "dynamic".into(),
    ];
    if json_mode {
        args.push("--json".into());
    }
    let mut client = common::Running::start_with_env(&args, env);

    // The listener is on the address the server is reached from.
    let listening = client.wait_line(Stream::Out, "the listener", |l| l.contains("listen"));
    let local: SocketAddr = if json_mode {
        json(&listening).expect("json")["addr"]
            .as_str()
            .expect("addr")
            .parse()
            .expect("an address")
    } else {
        listening
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .expect("an address in the line")
    };
    assert_eq!(local.ip().to_string(), "127.0.0.1", "{listening}");
    client.wait_line(Stream::Out, "reachable", |l| l.contains("reachable"));

    // A stranger's ERROR with a forged line and escape sequences, forged
    // CB_HELLOs, and a stranger that breaks the protocol.
    stranger(
        local.port(),
        &frame_bytes(&Frame::error(ErrorCode::ShuttingDown, FORGED)),
    );
    let hello = frame_bytes(&Frame::CbHello(CbHello {
        session_id: 1,
        server_nonce: [7; 32],
        proof: [9; 32],
    }));
    for _ in 0..10 {
        stranger(local.port(), &hello);
    }
    stranger(local.port(), &[0, 0, 0, 1, 0x55]);

    // Then the server's own notification: everything above came before it.
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&server.admin)
        .args(["--user", "alice", "message", "the real one"])
        .assert()
        .success();
    client.wait_line(Stream::Out, "the notification", |l| {
        l.contains("the real one")
    });
    client.interrupt();
    client.wait_exit();

    let out: Vec<&String> = client
        .seen
        .iter()
        .filter(|(s, _)| *s == Stream::Out)
        .map(|(_, l)| l)
        .collect();
    let all = client.dump();
    for line in &out {
        assert!(
            !line.chars().any(|c| c.is_control()),
            "a control character reached the terminal: {line:?}\n{all}"
        );
        assert!(
            !line.starts_with("#2") && !line.contains("the server sent"),
            "a stranger's text shown as the server's: {line:?}\n{all}"
        );
    }
    // One line for the twelve strangers from 127.0.0.1 (the rest are
    // counted for the once-a-minute summary), naming the address and
    // showing the stranger's text escaped.
    let about: Vec<&&String> = out
        .iter()
        .filter(|l| l.contains("unauthenticated"))
        .collect();
    assert_eq!(about.len(), 1, "{all}");
    if json_mode {
        let v = json(about[0]).expect("json");
        assert_eq!(v["event"], "unauthenticated_peer", "{v}");
        assert_eq!(v["peer"], "127.0.0.1", "{v}");
        let what = v["what"].as_str().expect("what");
        assert!(
            what.contains("ERROR SHUTTING_DOWN") && what.contains("\\u{1b}[2J"),
            "{what}"
        );
    } else {
        assert!(
            about[0].contains("from 127.0.0.1")
                && about[0].contains("not the server")
                && about[0].contains("\\n#2 server message")
                && about[0].contains("\\u{1b}[2J"),
            "{}",
            about[0]
        );
    }
    client
}

#[test]
fn strangers_on_the_callback_port_are_summarised_and_escaped_in_text() {
    run("mio", false, &[]);
}

#[test]
fn strangers_on_the_callback_port_are_summarised_and_escaped_in_json() {
    run("smol", true, &[]);
}

#[test]
fn strangers_on_the_callback_port_are_summarised_and_escaped_on_tokio() {
    run("tokio", false, &[]);
}

/// A debug log (`RUST_LOG=debug`, as for troubleshooting) shows what a
/// stranger sent, but as one field of one line: its newline must not start
/// a line of its own that reads like the program's.
#[test]
fn a_strangers_text_forges_no_line_in_a_debug_log() {
    let client = run("mio", false, &[("RUST_LOG", OsStr::new("debug"))]);
    let all = client.dump();
    let err: Vec<&String> = client
        .seen
        .iter()
        .filter(|(s, _)| *s == Stream::Err)
        .map(|(_, l)| l)
        .collect();
    assert!(
        err.iter().any(|l| l.contains("ERROR on a callback")),
        "no debug line about the stranger's ERROR:\n{all}"
    );
    for line in err {
        assert!(
            !line.starts_with("#2 server message"),
            "a stranger's text forged a log line: {line:?}\n{all}"
        );
    }
}

/// Text from the proven server is escaped too: a server message with an
/// escape sequence and a newline arrives as one inert line.
#[test]
fn the_servers_own_text_is_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let server = TestServer::start("smol", &users, dir.path(), &[]);
    let password = write_file(dir.path(), "pw", PASSWORD);
    let mut client = common::Running::start(&[
        "client".to_owned(),
        "--server".into(),
        server.addr.to_string(),
        "--user".into(),
        "alice".into(),
        "--password-file".into(),
        password.display().to_string(),
        "--listen".into(),
        "dynamic".into(),
        "--json".into(),
    ]);
    client.wait_line(Stream::Out, "reachable", |l| l.contains("reachable"));
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&server.admin)
        .args([
            "--user",
            "alice",
            "message",
            "a\u{9b}31mred\u{202e}txt.exe\u{7f}",
        ])
        .assert()
        .success();
    let line = client.wait_line(Stream::Out, "the notification", |l| {
        l.contains("notification")
    });
    assert!(
        !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{line:?}"
    );
    let v = json(&line).expect("still JSON");
    assert_eq!(v["fields"]["text"], "a\u{9b}31mred\u{202e}txt.exe\u{7f}");
}
