//! The server's log: `--log-format json` writes one JSON object per line
//! (through the same non-blocking writer as text), and at the default
//! level no log, the server's or the client's, holds what a notification
//! says; debug adds it.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{Running, Stream, TestServer, add_users, faxnotify, json, write_file};
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";
/// A message text no log line has any other reason to contain.
const SECRET: &str = "fax from +49 30 5550123 for Erika Mustermann";

#[test]
fn json_log_lines_carry_timestamp_level_message_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start(
        "smol",
        &users,
        dir.path(),
        &["--log-format", "json", "--metrics", "127.0.0.1:0"],
    );
    let line = server
        .process
        .seen
        .iter()
        .map(|(_, l)| l.clone())
        .find(|l| l.contains("metrics at"))
        .unwrap_or_else(|| panic!("no metrics line:\n{}", server.process.dump()));
    let value = json(&line).unwrap_or_else(|| panic!("not JSON: {line:?}"));
    assert_eq!(value["level"], "INFO", "{line}");
    assert!(value["timestamp"].is_string(), "{line}");
    let message = value["fields"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("metrics at http://127.0.0.1:"),
        "{line}"
    );
    // A structured field beside the message.
    let address = value["fields"]["address"].as_str().unwrap_or_default();
    assert!(message.contains(address) && !address.is_empty(), "{line}");

    server.stop_cleanly();
    // Every line the server wrote is a JSON object, the last ones included.
    for (stream, line) in &server.process.seen {
        if *stream == Stream::Err {
            assert!(
                json(line).is_some_and(|v| v["fields"]["message"].is_string()),
                "not a JSON log line: {line:?}"
            );
        }
    }
    assert!(
        server
            .process
            .seen
            .iter()
            .any(|(_, l)| l.contains("server stopped")),
        "{}",
        server.process.dump()
    );
}

/// A server (RUST_LOG `level`, unset for `None`), alice's client, and one
/// delivered message whose text is [`SECRET`]; returns the server's and
/// the client's output.
fn deliver_secret(dir: &Path, level: Option<&str>) -> (Running, Running) {
    let users = dir.join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let admin = dir.join("admin.sock");
    let args = [
        "server".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--users".into(),
        users.display().to_string(),
        "--admin-socket".into(),
        admin.display().to_string(),
    ];
    let env: Vec<(&str, &OsStr)> = level
        .map(|l| ("RUST_LOG", OsStr::new(l)))
        .into_iter()
        .collect();
    let mut server = Running::start_with_env(&args, &env);
    let line = server.wait_line(Stream::Err, "\"listening on\"", |l| {
        l.contains("listening on ")
    });
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    server.wait_line(Stream::Err, "\"ready\"", |l| l.contains("ready: serving"));

    let settings = dir.join("client.toml");
    faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&settings)
        .args(["--port", "dynamic", "--server", &addr])
        .assert()
        .success();
    let password = write_file(dir, "pw", &format!("{PASSWORD}\n"));
    let client_args = [
        "client".to_owned(),
        "--user".into(),
        "alice".into(),
        "--password-file".into(),
        password.display().to_string(),
        "--settings".into(),
        settings.display().to_string(),
    ];
    let mut client = Running::start_with_env(&client_args, &env);
    client.wait_line(Stream::Out, "reachable", |l| l.contains("reachable"));
    faxnotify()
        .arg("notify")
        .arg("--admin-socket")
        .arg(&admin)
        .args(["--wait", "--user", "alice", "message", SECRET])
        .assert()
        .code(0)
        .stdout(contains("delivered: seq 1"));
    // The client printed it: it was there to be logged.
    client.wait_line(Stream::Out, "the message", |l| l.contains(SECRET));
    client.interrupt();
    client.wait_exit();
    server.interrupt();
    assert!(server.wait_exit().success(), "{}", server.dump());
    (server, client)
}

fn logged(process: &Running) -> bool {
    process
        .seen
        .iter()
        .any(|(stream, line)| *stream == Stream::Err && line.contains(SECRET))
}

#[test]
fn what_a_notification_says_is_logged_at_debug_only() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = deliver_secret(dir.path(), None);
    assert!(
        !logged(&server),
        "the server logged it at info:\n{}",
        server.dump()
    );
    assert!(
        !logged(&client),
        "the client logged it at info:\n{}",
        client.dump()
    );

    let dir = tempfile::tempdir().unwrap();
    let (server, _) = deliver_secret(dir.path(), Some("debug"));
    assert!(
        logged(&server),
        "the server's debug log lacks it:\n{}",
        server.dump()
    );
}
