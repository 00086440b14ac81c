//! What a person reads when something goes wrong: the binary is run
//! through its failure paths, and each must give one sentence written for
//! a person (no Rust Debug text, snake_case in JSON) and the exit status
//! `--help` documents.

mod common;

use std::net::TcpListener;
use std::path::Path;

use common::{
    RUNTIMES, Running, Stream, TestServer, add_users, faxnotify, json, refusing_port,
    start_json_client, write_file,
};
use predicates::prelude::*;
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

/// Rust Debug output: `Name { field: .. }`, `Variant(..)`, and a bare
/// CamelCase enum word in parentheses or after a colon at the end.
const DEBUG_TEXT: &str = r"[A-Z][A-Za-z]+ \{|\b[A-Z][a-z]+[A-Z][A-Za-z]*\(|\([A-Z][a-z]+([A-Z][A-Za-z]*)?\)|: [A-Z][a-z]+$|panicked";

/// Fails on Debug text in `output`, and on a JSON line whose `event` or
/// `reason` is not snake_case.
fn assert_for_people(output: &str) {
    let debug = predicates::str::is_match(DEBUG_TEXT).expect("the pattern compiles");
    for line in output.lines() {
        assert!(
            !debug.eval(line),
            "Debug text in {line:?}; output:\n{output}"
        );
        if let Some(v) = json(line) {
            for key in ["event", "reason"] {
                if let Some(word) = v[key].as_str().filter(|w| !w.contains(' ')) {
                    assert!(
                        word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                        "{key} {word:?} is not snake_case in {line}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_debug_pattern_catches_what_issue_18_found() {
    let debug = predicates::str::is_match(DEBUG_TEXT).unwrap();
    for leak in [
        "invalid user name \"bob smith\": BadCodepoint(CodepointInfo { cp: 32, position: 3 })",
        "invalid password: Invalid",
        "connection to the server lost (ConnectFailed); retrying in 0.5 s",
        "session 1 ended (Shutdown)",
        "lost: ErrorReceived { code: LimitExceeded }",
    ] {
        assert!(debug.eval(leak), "{leak}");
    }
    for fine in [
        "cannot connect to 127.0.0.1:9: connection refused (is the server running?); retrying",
        "job 1 queued: page 0/0, attempt 0: \"to 5550001\"",
        "stopped before logging in",
    ] {
        assert!(!debug.eval(fine), "{fine}");
    }
    let caught = std::panic::catch_unwind(|| {
        assert_for_people(r#"{"event":"session_ended","reason":"EndedByServer"}"#)
    });
    assert!(caught.is_err(), "a CamelCase JSON reason is caught");
}

/// Runs the command to its end; checks the exit status and that every
/// line is for people; returns stdout and stderr together.
fn run_to_end(cmd: &mut assert_cmd::Command, code: i32) -> String {
    let out = cmd.assert().code(code).get_output().clone();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_for_people(&text);
    text
}

fn client_args(server: &str, user: &str, pw: &Path, runtime: &str) -> Vec<String> {
    vec![
        "client".into(),
        "--runtime".into(),
        runtime.into(),
        "--server".into(),
        server.into(),
        "--user".into(),
        user.into(),
        "--password-file".into(),
        pw.display().to_string(),
    ]
}

#[test]
fn bad_credentials_are_explained_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let pw = write_file(dir.path(), "pw", "secret\n");
    let text = run_to_end(
        faxnotify().args(client_args("127.0.0.1:9", "bob smith", &pw, "smol")),
        2,
    );
    assert!(
        text.contains("invalid user name \"bob smith\": character 4 is a space"),
        "{text}"
    );
    let empty = write_file(dir.path(), "empty", "\n");
    let text = run_to_end(
        faxnotify().args(client_args("127.0.0.1:9", "bob", &empty, "smol")),
        2,
    );
    assert!(text.contains("invalid password: empty"), "{text}");
}

#[test]
fn a_client_without_a_server_says_why_and_ctrl_c_claims_no_logout() {
    let (_held, addr) = refusing_port();
    let dir = tempfile::tempdir().unwrap();
    let pw = write_file(dir.path(), "pw", "secret\n");
    for runtime in RUNTIMES {
        let mut client = Running::start(&client_args(&addr.to_string(), "alice", &pw, runtime));
        let expected = format!(
            "cannot connect to {addr}: connection refused (is the server running? is the \
             address right?); retrying in"
        );
        client.wait_line(Stream::Out, "the refused connection", |l| {
            l.starts_with(&expected)
        });
        client.interrupt();
        client.wait_line(Stream::Out, "the stop", |l| {
            l == "stopped before logging in"
        });
        assert!(client.wait_exit().success(), "{}", client.dump());
        let all = client.dump();
        assert!(!all.contains("logged out"), "{runtime}: {all}");
        assert_for_people(&all);

        let mut args = client_args(&addr.to_string(), "alice", &pw, runtime);
        args.push("--json".into());
        let mut client = Running::start(&args);
        let line = client.wait_line(Stream::Out, "connection_lost", |l| {
            json(l).is_some_and(|v| v["event"] == "connection_lost")
        });
        let v = json(&line).unwrap();
        assert_eq!(v["reason"], "connect_failed", "{line}");
        assert_eq!(v["detail"], "cannot connect: connection refused", "{line}");
        assert_eq!(v["server"], addr.to_string(), "{line}");
        client.interrupt();
        assert!(client.wait_exit().success(), "{}", client.dump());
        assert_for_people(&client.dump());
    }
}

#[test]
fn a_server_that_is_not_fnp_gets_a_hint() {
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = web.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in web.incoming().flatten() {
            use std::io::Write as _;
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let pw = write_file(dir.path(), "pw", "secret\n");
    let mut client = Running::start(&client_args(&addr.to_string(), "alice", &pw, "smol"));
    client.wait_line(Stream::Out, "the hint", |l| {
        l.contains("hint: is this an FNP server? it answered like HTTP")
    });
    client.interrupt();
    client.wait_exit();
    assert_for_people(&client.dump());
}

/// A callback listener bound to another address than the one the server
/// calls back (`listen_address` set to an IP of another interface) is
/// named as the cause, before the firewall hint that would not help.
#[test]
fn a_listener_on_another_address_than_the_callback_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let server = TestServer::start("smol", &users, dir.path(), &[]);
    let settings = dir.path().join("client.toml");
    faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&settings)
        .args([
            "--port",
            "dynamic",
            "--listen-address",
            "127.0.0.2",
            "--trust",
            "off",
        ])
        .assert()
        .success();
    let pw = write_file(dir.path(), "pw", &format!("{PASSWORD}\n"));
    let mut args = client_args(&server.addr.to_string(), "alice", &pw, "smol");
    args.extend(["--settings".into(), settings.display().to_string()]);
    let mut client = Running::start(&args);
    client.wait_line(Stream::Out, "the listen address hint", |l| {
        l.contains(
            "hint: the callback listener is bound to 127.0.0.2, but the server calls back \
             127.0.0.1 (the address this host reaches it from): set the listen address to `route`",
        )
    });
    client.wait_line(Stream::Out, "the firewall hint after it", |l| {
        l.contains("hint: the server cannot reach 127.0.0.1:")
    });
    client.interrupt();
    client.wait_exit();
    assert_for_people(&client.dump());
}

#[test]
fn a_port_conflict_is_one_message_and_a_json_stopped_event() {
    let held = TcpListener::bind("0.0.0.0:0").expect("a free port");
    let port = held.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let pw = write_file(dir.path(), "pw", "secret\n");
    for runtime in RUNTIMES {
        let mut args = client_args("127.0.0.1:9", "alice", &pw, runtime);
        args.extend(["--listen".into(), format!("fixed:{port}")]);
        let text = run_to_end(faxnotify().args(&args), 4);
        assert_eq!(text.matches("is already in use").count(), 1, "{text}");
        args.push("--json".into());
        let out = faxnotify()
            .args(&args)
            .assert()
            .code(4)
            .get_output()
            .clone();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout
                .lines()
                .any(|l| json(l).is_some_and(|v| v["event"] == "stopped")),
            "{runtime}: {stdout}"
        );
    }
}

#[test]
fn bad_server_files_and_admin_paths_exit_2_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let server = |users: &Path, admin: &Path| {
        let mut cmd = faxnotify();
        cmd.args(["server", "--listen", "127.0.0.1:0", "--users"])
            .arg(users)
            .arg("--admin-socket")
            .arg(admin);
        cmd
    };
    let admin = dir.path().join("admin.sock");
    // A directory as the users file is a bad file, like a missing one.
    let text = run_to_end(&mut server(dir.path(), &admin), 2);
    assert!(!text.contains("listening on"), "{text}");
    run_to_end(
        faxnotify()
            .args(["user", "list", "--users"])
            .arg(dir.path()),
        2,
    );
    let long = dir.path().join(format!("{}.sock", "a".repeat(120)));
    let text = run_to_end(&mut server(&users, &long), 2);
    assert!(
        text.contains("a Unix socket path can have at most 107"),
        "{text}"
    );
    assert!(!text.contains("listening on"), "{text}");
    // A path that fits, in a directory too long for the safe creation.
    let base = dir.path().as_os_str().len();
    let long_dir = dir.path().join("d".repeat(99 - base)).join("a.sock");
    let text = run_to_end(&mut server(&users, &long_dir), 2);
    assert!(!text.contains("listening on"), "{text}");
    let missing = dir.path().join("no/such/dir/admin.sock");
    let text = run_to_end(&mut server(&users, &missing), 2);
    assert!(!text.contains("listening on"), "{text}");
    let text = run_to_end(server(&users, &admin).args(["--queue-limit", "0"]), 2);
    assert!(text.contains("--queue-limit must not be zero"), "{text}");
}

#[test]
fn notify_takes_its_options_anywhere_and_reads_text_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    // Recipient after the kind; a text that reads `help` is a text: both
    // get as far as the (missing) admin socket.
    for args in [
        vec!["notify", "message", "hi", "--user", "alice"],
        vec!["notify", "--user", "alice", "help"],
        vec![
            "notify",
            "fax-received",
            "--job",
            "1",
            "--from",
            "a",
            "--to",
            "b",
            "--pages",
            "1",
            "--all",
        ],
    ] {
        let text = run_to_end(
            faxnotify().args(&args).arg("--admin-socket").arg(&socket),
            1,
        );
        assert!(text.contains("no admin socket at"), "{args:?}: {text}");
    }
    let big = write_file(dir.path(), "big.txt", &"x".repeat(5000));
    let text = run_to_end(
        faxnotify()
            .args(["notify", "--user", "alice", "--text-file"])
            .arg(&big)
            .arg("--admin-socket")
            .arg(&socket),
        2,
    );
    assert!(text.contains("at most 4096 bytes"), "{text}");
    let text = run_to_end(
        faxnotify()
            .args(["notify", "--user", "alice", "message", "--text-file", "-"])
            .arg("--admin-socket")
            .arg(&socket)
            .write_stdin("from stdin\n"),
        1,
    );
    assert!(text.contains("no admin socket at"), "{text}");
    let text = run_to_end(
        faxnotify()
            .args(["notify", "--user", "alice", "--text-file"])
            .arg(dir.path().join("missing.txt")),
        2,
    );
    assert!(text.contains("cannot read the text file"), "{text}");
    run_to_end(faxnotify().args(["notify", "message", "hi"]), 2);
    faxnotify()
        .args(["notify", "--help"])
        .assert()
        .success()
        .stdout(contains("4096 bytes").and(contains("--text-file")));
}

/// A text without end (`yes | faxnotify notify --text-file -`, or
/// `--text-file /dev/zero`) is refused once it is longer than any
/// notification can carry, not read until the memory runs out.
#[test]
fn notify_stops_reading_a_text_longer_than_any_notification() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    /// What the writer offers: far more than any notification carries.
    const OFFERED: usize = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::bin())
        .args([
            "notify",
            "--user",
            "alice",
            "--text-file",
            "-",
            "--admin-socket",
        ])
        .arg(dir.path().join("none.sock"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faxnotify starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let chunk = [b'y'; 64 << 10];
        let mut written = 0;
        while written < OFFERED {
            if stdin.write_all(&chunk).is_err() {
                break; // notify stopped reading and exited
            }
            written += chunk.len();
        }
        written
    });
    let output = child.wait_with_output().expect("faxnotify ends");
    let written = writer.join().expect("writer");
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("the text from standard input is longer than"),
        "{text}"
    );
    assert!(
        written < OFFERED,
        "notify read all {written} bytes of a text it could never send"
    );
    assert_for_people(&text);
}

/// Every exit status `--help` documents that a test can provoke here (5,
/// the demo's lost notifications, needs a broken server; 7 and 8 are in
/// notify_wait.rs).
#[test]
fn documented_exit_statuses() {
    let help = faxnotify()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .clone();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for code in 0..=8 {
        assert!(help.contains(&format!("\n  {code}  ")), "{code} in {help}");
    }
    for runtime in RUNTIMES {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        add_users(&users, &[("alice", PASSWORD)]);
        let server = TestServer::start(runtime, &users, dir.path(), &[]);
        let notify = |exit: i32| {
            run_to_end(
                faxnotify()
                    .args(["notify", "--admin-socket"])
                    .arg(&server.admin)
                    .args(["message", "hello", "--user", "alice"]),
                exit,
            )
        };
        // 6: nobody to queue it for.
        let text = notify(6);
        assert!(text.contains("alice has no session"), "{text}");
        // 3: a wrong password, said once.
        let wrong = write_file(dir.path(), "wrong", "not the password\n");
        let text = run_to_end(
            faxnotify().args(client_args(
                &server.addr.to_string(),
                "alice",
                &wrong,
                runtime,
            )),
            3,
        );
        let said: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("callback listener on"))
            .collect();
        assert_eq!(said.len(), 1, "one message: {text}");
        assert!(said[0].contains("login refused"), "{text}");
        // 0: queued for alice's client.
        let mut client = start_json_client(dir.path(), runtime, server.addr, "alice", PASSWORD);
        notify(0);
        client.wait_line(Stream::Out, "the notification", |l| {
            json(l).is_some_and(|v| v["event"] == "notification")
        });
        client.interrupt();
        assert!(client.wait_exit().success(), "{}", client.dump());
        assert_for_people(&client.dump());
    }
    // 1: no admin socket; 2: a usage error; 4: in the test above.
    run_to_end(
        faxnotify().args(["sessions", "--admin-socket", "/nonexistent/x.sock"]),
        1,
    );
    run_to_end(faxnotify().args(["client", "--bogus"]), 2);
}
