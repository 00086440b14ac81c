//! The admin socket: owner-only, created safely, and a bad request gets an
//! error line, never a crash.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};

use common::{TestServer, add_users, faxnotify, json};
use predicates::str::contains;

fn ask(
    stream: &mut UnixStream,
    reader: &mut BufReader<UnixStream>,
    line: &str,
) -> serde_json::Value {
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    json(reply.trim()).unwrap_or_else(|| panic!("not JSON: {reply:?}"))
}

#[test]
fn bad_requests_get_error_lines_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    let mut server = TestServer::start("mio", &users, dir.path(), &[]);

    let meta = std::fs::symlink_metadata(&server.admin).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let mut stream = UnixStream::connect(&server.admin).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for (line, code) in [
        ("this is not json", "bad_request"),
        (r#"{"op":"reboot"}"#, "bad_request"),
        (
            r#"{"op":"notify","to":"all","notification":{"kind":"server_message"}}"#,
            "bad_request",
        ),
        (
            r#"{"op":"notify","to":{"user":"nobody"},"notification":{"kind":"server_message","text":"x"}}"#,
            "no_such_user",
        ),
        (r#"{"op":"end_session","session":"zz"}"#, "no_such_session"),
        (
            r#"{"op":"end_session","session":"0123456789abcdef"}"#,
            "no_such_session",
        ),
    ] {
        let reply = ask(&mut stream, &mut reader, line);
        assert_eq!(reply["ok"], false, "{line}: {reply}");
        assert_eq!(reply["error"], code, "{line}: {reply}");
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
    // A payload too large for a NOTIFY frame.
    let huge = "x".repeat(70_000);
    let reply = ask(
        &mut stream,
        &mut reader,
        &format!(
            r#"{{"op":"notify","to":"all","notification":{{"kind":"server_message","text":"{huge}"}}}}"#
        ),
    );
    assert_eq!(reply["error"], "cannot_encode", "{reply}");
    // The same connection still answers.
    let reply = ask(&mut stream, &mut reader, r#"{"op":"sessions"}"#);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["sessions"], serde_json::json!([]));
    let reply = ask(
        &mut stream,
        &mut reader,
        r#"{"op":"notify","to":{"user":"ALICE"},"notification":{"kind":"job_status","job":1,"state":3}}"#,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["accepted"], serde_json::json!([]));
    drop(stream);

    server.process.interrupt();
    assert!(
        server.process.wait_exit().success(),
        "{}",
        server.process.dump()
    );
}

#[test]
fn the_socket_path_is_never_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);

    // A regular file at the path: refused, and left alone.
    let file = dir.path().join("file.sock");
    std::fs::write(&file, "precious").unwrap();
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--admin-socket")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("is not a socket"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");

    // A stale socket (nobody listening) is replaced.
    let mut server = {
        let stale = dir.path().join("admin-smol.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        TestServer::start("smol", &users, dir.path(), &[])
    };
    // A live one is not: a second server refuses to start.
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--admin-socket")
        .arg(&server.admin)
        .assert()
        .code(2)
        .stderr(contains("in use by a running server"));
    // ... and the first one still answers on it.
    faxnotify()
        .args(["sessions", "--admin-socket"])
        .arg(&server.admin)
        .assert()
        .success()
        .stdout(contains("no sessions"));
    server.process.interrupt();
    assert!(
        server.process.wait_exit().success(),
        "{}",
        server.process.dump()
    );
    assert!(!server.admin.exists());
}
