//! `faxnotify client` with several servers (issue 19): `servers = [...]`
//! in the settings file or `--server` repeated; the client moves to the
//! next server when it cannot reach one or loses it, and says which server
//! it is on.

mod common;

use std::path::Path;

use common::{
    RUNTIMES, Running, Stream, TestServer, add_users, faxnotify, json, refusing_port, write_file,
};
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

/// `faxnotify settings set --settings FILE ARGS...`, which must succeed.
fn settings_set(file: &Path, args: &[&str]) -> String {
    let out = faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(file)
        .args(args)
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

fn client(runtime: &str, settings: &Path, pw: &Path, extra: &[&str]) -> Running {
    let mut args: Vec<String> = vec![
        "client".into(),
        "--runtime".into(),
        runtime.into(),
        "--user".into(),
        "alice".into(),
        "--password-file".into(),
        pw.display().to_string(),
        "--settings".into(),
        settings.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    Running::start(&args)
}

#[test]
fn settings_set_writes_a_server_list_and_show_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.toml");
    let shown = settings_set(
        &file,
        &[
            "--server",
            "fax1.example:4580",
            "--server",
            "fax2.example:4580",
        ],
    );
    assert!(
        shown.contains("servers: fax1.example:4580, fax2.example:4580 (tried in turn"),
        "{shown}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("servers = [\"fax1.example:4580\", \"fax2.example:4580\"]"),
        "{text}"
    );
    assert!(!text.contains("\nserver ="), "{text}");
    // One server again: the old key, the list gone.
    let shown = settings_set(&file, &["--server", "fax.example:4580"]);
    assert!(shown.contains("server: fax.example:4580"), "{shown}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("server = \"fax.example:4580\""), "{text}");
    assert!(!text.contains("servers ="), "{text}");
}

#[test]
fn both_server_keys_are_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "client.toml",
        "server = \"127.0.0.1:4580\"\nservers = [\"127.0.0.2:4580\"]\n",
    );
    let pw = write_file(dir.path(), "pw", "secret\n");
    faxnotify()
        .args(["client", "--user", "alice", "--password-file"])
        .arg(&pw)
        .arg("--settings")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("both server and servers are set: keep one"));
}

#[test]
fn servers_of_two_families_are_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let pw = write_file(dir.path(), "pw", "secret\n");
    faxnotify()
        .args(["client", "--user", "alice", "--password-file"])
        .arg(&pw)
        .args(["--server", "127.0.0.1:4580", "--server", "[::1]:4580"])
        .assert()
        .code(2)
        .stderr(contains(
            "server [::1]:4580 has no IPv4 address, but 127.0.0.1:4580 is IPv4",
        ));
}

#[test]
fn an_unreachable_first_server_is_skipped_and_a_lost_one_left() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let pw = write_file(dir.path(), "pw", &format!("{PASSWORD}\n"));
    for runtime in RUNTIMES {
        let (_held, refusing) = refusing_port();
        let server = TestServer::start(runtime, &users, dir.path(), &[]);
        let settings = dir.path().join(format!("{runtime}.toml"));
        let (dead, live) = (refusing.to_string(), server.addr.to_string());
        settings_set(&settings, &["--server", &dead, "--server", &live]);

        // The first server refuses: the client says so and where it goes next.
        let mut c = client(runtime, &settings, &pw, &[]);
        c.wait_line(Stream::Out, "the refused first server", |l| {
            l.starts_with(&format!(
                "cannot connect to {dead}: connection refused (is the server running? is the \
                 address right?); retrying {live} in"
            ))
        });
        c.wait_line(Stream::Out, "the login on the second", |l| {
            l.starts_with("logged in to ") && l.contains(&format!(" at {live} (new session"))
        });
        c.interrupt();
        assert!(c.wait_exit().success(), "{runtime}: {}", c.dump());

        // JSON names both servers.
        let mut c = client(runtime, &settings, &pw, &["--json"]);
        let line = c.wait_line(Stream::Out, "connection_lost", |l| {
            json(l).is_some_and(|v| v["event"] == "connection_lost")
        });
        let v = json(&line).unwrap();
        assert_eq!(v["server"], dead, "{line}");
        assert_eq!(v["next_server"], live, "{line}");
        let line = c.wait_line(Stream::Out, "logged_in", |l| {
            json(l).is_some_and(|v| v["event"] == "logged_in")
        });
        assert_eq!(json(&line).unwrap()["server"], live, "{line}");
        c.interrupt();
        assert!(c.wait_exit().success(), "{runtime}: {}", c.dump());

        // A second server on its own (no cluster: it does not know the
        // session): the client on the first moves there when the first
        // dies, and logs in anew [C-6].
        let other_dir = tempfile::tempdir().unwrap(); // its own admin socket
        let other = TestServer::start(runtime, &users, other_dir.path(), &[]);
        let mut first = server;
        let (a, b) = (first.addr.to_string(), other.addr.to_string());
        let mut c = client(runtime, &settings, &pw, &["--server", &a, "--server", &b]);
        c.wait_line(Stream::Out, "the login on the first", |l| {
            l.contains(&format!(" at {a} (new session"))
        });
        first.process.kill();
        c.wait_line(Stream::Out, "the loss of the first", |l| {
            l.starts_with(&format!("connection to {a} lost"))
                && l.contains(&format!("retrying {b} in"))
        });
        c.wait_line(Stream::Out, "the login on the second", |l| {
            l.contains(&format!(" at {b} (new session"))
        });
        c.interrupt();
        assert!(c.wait_exit().success(), "{runtime}: {}", c.dump());
    }
}
