//! `server` + `client` + `notify` (+ `sessions`, `end-session`, `settings`)
//! over real sockets, on every runtime (mio, smol, tokio) and across them.

mod common;

use common::{RUNTIMES, Stream, TestServer, add_users, faxnotify, json, write_file};
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

/// Waits for the client's JSON line with `"event":event` (and `pred`).
fn wait_event(
    client: &mut common::Running,
    event: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let line = client.wait_line(Stream::Out, event, |l| {
        json(l).is_some_and(|v| v["event"] == event && pred(&v))
    });
    json(&line).expect("json")
}

fn notify(admin: &std::path::Path, args: &[&str]) -> assert_cmd::assert::Assert {
    faxnotify()
        .arg("notify")
        .arg("--admin-socket")
        .arg(admin)
        .args(args)
        .assert()
}

fn deliver(server_runtime: &str, client_runtime: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start(server_runtime, &users, dir.path(), &[]);

    // The machine-wide settings, written by `settings set`.
    let settings = dir.path().join("client.toml");
    faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&settings)
        .args(["--port", "dynamic", "--server", &server.addr.to_string()])
        .assert()
        .success()
        .stdout(contains("restarted"));
    let password = write_file(dir.path(), "pw", &format!("{PASSWORD}\n"));
    let mut client = common::Running::start(&[
        "client".to_owned(),
        "--runtime".into(),
        client_runtime.into(),
        "--user".into(),
        "Alice".into(), // prepared to "alice"
        "--password-file".into(),
        password.display().to_string(),
        "--settings".into(),
        settings.display().to_string(),
        "--json".into(),
    ]);
    wait_event(&mut client, "logged_in", |_| true);
    wait_event(&mut client, "status", |v| v["state"] == "reachable");

    // `sessions` sees it.
    let out = faxnotify()
        .args(["sessions", "--json", "--admin-socket"])
        .arg(&server.admin)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let listing = json(String::from_utf8_lossy(&out).trim()).expect("sessions JSON");
    let sessions = listing["sessions"].as_array().expect("a sessions array");
    assert_eq!(sessions.len(), 1, "{listing}");
    assert_eq!(sessions[0]["user"], "alice");
    assert_eq!(sessions[0]["path"], "callback");
    assert_eq!(sessions[0]["policy"], "dynamic");

    // The fax engine reports activity; the client prints it, in order.
    notify(
        &server.admin,
        &["--user", "alice", "message", "hello from the fax engine"],
    )
    .success()
    .stdout(contains("queued: seq 1"));
    notify(
        &server.admin,
        &[
            "--all",
            "fax-received",
            "--job",
            "42",
            "--from",
            "+1 555 0100",
            "--to",
            "sales",
            "--pages",
            "3",
        ],
    )
    .success()
    .stdout(contains("queued: seq 2"));
    let first = wait_event(&mut client, "notification", |_| true);
    assert_eq!(first["seq"], 1);
    assert_eq!(first["kind"], 3);
    assert_eq!(first["fields"]["text"], "hello from the fax engine");
    let second = wait_event(&mut client, "notification", |_| true);
    assert_eq!(second["seq"], 2);
    assert_eq!(second["kind"], 1);
    assert_eq!(second["fields"]["job"], 42);
    assert_eq!(second["fields"]["from"], "+1 555 0100");
    assert_eq!(second["fields"]["pages"], 3);

    // An unknown user is refused; so are bad fields.
    notify(&server.admin, &["--user", "mallory", "message", "x"])
        .code(2)
        .stderr(contains("no user \"mallory\""));
    notify(
        &server.admin,
        &[
            "--user",
            "alice",
            "job-status",
            "--job",
            "1",
            "--state",
            "done",
        ],
    )
    .code(2)
    .stderr(contains("not one of queued, dialing"));

    // Ctrl-C logs the client out.
    client.interrupt();
    wait_event(&mut client, "logged_out", |v| v["confirmed"] == true);
    assert!(client.wait_exit().success(), "{}", client.dump());

    // Nobody is left to notify.
    notify(&server.admin, &["--user", "alice", "message", "anyone?"])
        .code(6)
        .stderr(contains("alice has no session"));

    // Ctrl-C shuts the server down and removes its admin socket.
    server.stop_cleanly();
    assert!(!server.admin.exists(), "the admin socket is removed");
    assert!(
        !server.process.dump().contains("panicked"),
        "{}",
        server.process.dump()
    );
}

#[test]
fn a_notification_reaches_the_client_on_mio() {
    deliver("mio", "mio");
}

#[test]
fn a_notification_reaches_the_client_on_smol() {
    deliver("smol", "smol");
}

#[test]
fn a_notification_reaches_the_client_on_tokio() {
    deliver("tokio", "tokio");
}

#[test]
fn a_notification_reaches_the_client_across_runtimes() {
    deliver("mio", "smol");
    deliver("tokio", "mio");
    deliver("smol", "tokio");
}

/// The server's shutdown reaches a logged-in client as BYE shutdown; an
/// administrator can end a session; a wrong password exits 3.
#[test]
fn sessions_end_as_the_server_says() {
    for runtime in RUNTIMES {
        let dir = tempfile::tempdir().expect("tempdir");
        let users = dir.path().join("users.toml");
        add_users(&users, &[("bob", PASSWORD)]);
        let mut server = TestServer::start(runtime, &users, dir.path(), &[]);
        let password = write_file(dir.path(), "pw", PASSWORD);
        let start_client = |pw: &std::path::Path| {
            common::Running::start(&[
                "client".to_owned(),
                "--runtime".into(),
                runtime.into(),
                "--server".into(),
                server.addr.to_string(),
                "--user".into(),
                "bob".into(),
                "--password-file".into(),
                pw.display().to_string(),
                "--listen".into(),
                "dynamic".into(),
                "--json".into(),
            ])
        };

        // A wrong password: exit 3 with a sentence.
        let wrong = write_file(dir.path(), "wrong", "not the password");
        let mut refused = start_client(&wrong);
        let status = refused.wait_exit();
        assert_eq!(status.code(), Some(3), "{}", refused.dump());
        assert!(
            refused.dump().contains("wrong user name or password"),
            "{}",
            refused.dump()
        );

        // The administrator ends the session: the client stops (exit 1).
        let mut client = start_client(&password);
        let logged_in = wait_event(&mut client, "logged_in", |_| true);
        let session = logged_in["session"]
            .as_str()
            .expect("session id")
            .to_owned();
        faxnotify()
            .args(["end-session", "--admin-socket"])
            .arg(&server.admin)
            .arg(&session)
            .assert()
            .success()
            .stdout(contains(session.as_str()));
        let status = client.wait_exit();
        assert_eq!(status.code(), Some(1), "{}", client.dump());
        assert!(
            client.dump().contains("administrator ended session"),
            "{}",
            client.dump()
        );
        faxnotify()
            .args(["end-session", "--admin-socket"])
            .arg(&server.admin)
            .arg(&session)
            .assert()
            .code(2)
            .stderr(contains("no live session"));

        // Server shutdown: the client hears BYE shutdown and keeps trying
        // to come back (it does not exit).
        let mut client = start_client(&password);
        wait_event(&mut client, "status", |v| v["state"] == "reachable");
        server.process.interrupt();
        wait_event(&mut client, "session_ended", |v| {
            v["reason"] == "server_shutdown"
        });
        assert!(
            server.process.wait_exit().success(),
            "{}",
            server.process.dump()
        );
        client.interrupt();
        assert!(client.wait_exit().success(), "{}", client.dump());
    }
}

/// A user added while the server runs can log in without a restart.
#[test]
fn the_server_picks_up_new_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start("mio", &users, dir.path(), &[]);
    add_users(&users, &[("carol", "carol's password")]);
    server.process.wait_line(Stream::Err, "the reload", |l| {
        l.contains("users file reloaded: 2 users")
    });
    let password = write_file(dir.path(), "pw", "carol's password");
    let mut client = common::Running::start(&[
        "client".to_owned(),
        "--runtime".into(),
        "mio".into(),
        "--server".into(),
        server.addr.to_string(),
        "--user".into(),
        "carol".into(),
        "--password-file".into(),
        password.display().to_string(),
        "--listen".into(),
        "dynamic".into(),
        "--json".into(),
    ]);
    wait_event(&mut client, "logged_in", |_| true);
    client.interrupt();
    assert!(client.wait_exit().success(), "{}", client.dump());
    server.stop_cleanly();
}
