//! `notify --wait` and the admin protocol's delivery reports: "accepted"
//! becomes "delivered" or "undelivered" for the application (issue 17,
//! case 6), with an exit status per outcome.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;

use common::{Running, Stream, TestServer, WAIT, add_users, faxnotify, json, start_json_client};
use predicates::prelude::*;
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

/// A server (lease `lease`) and alice's client, logged in and reachable.
fn server_and_client(runtime: &str, dir: &std::path::Path, lease: &str) -> (TestServer, Running) {
    let users = dir.join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    // No detached grace: a detached session ends with its lease [D-15], so
    // the undelivered report comes within the test's wait.
    let server = TestServer::start(
        runtime,
        &users,
        dir,
        &["--lease", lease, "--detached-grace", "0s"],
    );
    let client = start_json_client(dir, runtime, server.addr, "alice", PASSWORD);
    (server, client)
}

fn notify(server: &TestServer, args: &[&str]) -> assert_cmd::assert::Assert {
    faxnotify()
        .arg("notify")
        .arg("--admin-socket")
        .arg(&server.admin)
        .args(args)
        .assert()
}

#[test]
fn wait_exits_by_outcome_delivered_timed_out_undelivered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, mut client) = server_and_client("smol", dir.path(), "10s");

    // Delivered: the client acknowledged it.
    notify(&server, &["--wait", "--user", "alice", "message", "one"])
        .code(0)
        .stdout(contains("queued: seq 1").and(contains("delivered: seq 1")));

    // The client dies: its session holds the next ones, undelivered so far.
    client.kill();
    server
        .process
        .wait_line(Stream::Err, "the session detached", |l| {
            l.contains("session detached")
        });
    notify(
        &server,
        &["--user", "alice", "--wait", "1s", "message", "two"],
    )
    .code(8)
    .stdout(contains("queued: seq 2"))
    .stderr(contains("timed out: 1 of 1 recipient not reported"));

    // Undelivered: the lease ends the session with both still unacknowledged.
    notify(
        &server,
        &["--user", "alice", "--wait=60s", "message", "three"],
    )
    .code(7)
    .stdout(contains("queued: seq 3"))
    .stderr(contains("undelivered: seq 3").and(contains("lease expired")));

    server.stop_cleanly();
}

#[test]
fn the_admin_protocol_reports_deliveries_by_request_id() {
    for runtime in common::RUNTIMES {
        let dir = tempfile::tempdir().unwrap();
        let (mut server, _client) = server_and_client(runtime, dir.path(), "30s");
        let mut stream = UnixStream::connect(&server.admin).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut lines = BufReader::new(stream.try_clone().unwrap());
        let mut next = || {
            let mut line = String::new();
            lines.read_line(&mut line).unwrap();
            json(line.trim()).unwrap_or_else(|| panic!("not JSON: {line:?}"))
        };
        // Two requests in a row; the reports follow each reply and carry
        // the request's id.
        for id in ["fax-41", "fax-42"] {
            stream
                .write_all(
                    format!(
                        r#"{{"op":"notify","id":"{id}","delivery_reports":true,"to":{{"user":"alice"}},"notification":{{"kind":"job_status","job":42,"state":"completed"}}}}"#
                    )
                    .as_bytes(),
                )
                .unwrap();
            stream.write_all(b"\n").unwrap();
        }
        let mut by_id: std::collections::HashMap<String, Vec<serde_json::Value>> =
            std::collections::HashMap::new();
        while by_id
            .values()
            .filter(|v| v.last().is_some_and(|l| l["report"] == "done"))
            .count()
            < 2
        {
            let line = next();
            let id = line["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no id: {line}"));
            by_id.entry(id.to_owned()).or_default().push(line);
        }
        for (seq, id) in [(1, "fax-41"), (2, "fax-42")] {
            let got = &by_id[id];
            assert_eq!(got.len(), 3, "{runtime} {id}: {got:?}");
            assert_eq!(got[0]["ok"], true, "{got:?}");
            assert_eq!(got[0]["accepted"][0]["seq"], seq, "{got:?}");
            assert_eq!(got[1]["report"], "delivered", "{got:?}");
            assert_eq!(got[1]["seq"], seq, "{got:?}");
            assert_eq!(got[1]["user"], "alice", "{got:?}");
            assert_eq!(got[1]["session"], got[0]["accepted"][0]["session"]);
            assert_eq!(got[2]["delivered"], 1, "{got:?}");
            assert_eq!(got[2]["undelivered"], 0, "{got:?}");
        }
        // Reports need an id; ids come back on plain replies too.
        stream
            .write_all(b"{\"op\":\"notify\",\"delivery_reports\":true,\"to\":\"all\",\"notification\":{\"kind\":\"server_message\",\"text\":\"x\"}}\n{\"op\":\"sessions\",\"id\":9}\n")
            .unwrap();
        let refused = next();
        assert_eq!(refused["error"], "bad_request", "{refused}");
        assert!(refused["message"].as_str().unwrap().contains("needs an id"));
        let sessions = next();
        assert_eq!(sessions["id"], 9, "{sessions}");
        assert_eq!(sessions["ok"], true, "{sessions}");
        drop(stream);
        server.stop_cleanly();
    }
}

/// A `notify --wait` that goes away (interrupted, or its own timeout) no
/// longer holds its place among the admin socket's 64 until its reports
/// come: with every place held so, `notify` was refused as busy for as
/// long as a detached session's grace.
#[test]
fn waits_whose_client_has_gone_give_their_place_back() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    // Reports for a detached session come when its grace ends: not within
    // this test.
    let mut server = TestServer::start("mio", &users, dir.path(), &["--detached-grace", "10m"]);
    let mut client = start_json_client(dir.path(), "mio", server.addr, "alice", PASSWORD);
    client.kill();
    server
        .process
        .wait_line(Stream::Err, "the session detached", |l| {
            l.contains("session detached")
        });
    // Every place: a wait for reports, answered "queued", then gone.
    for n in 0..64 {
        let mut stream = UnixStream::connect(&server.admin).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream
            .write_all(
                format!(
                    r#"{{"op":"notify","id":"w{n}","delivery_reports":true,"to":{{"user":"alice"}},"notification":{{"kind":"server_message","text":"n{n}"}}}}"#
                )
                .as_bytes(),
            )
            .unwrap();
        stream.write_all(b"\n").unwrap();
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply).unwrap();
        let reply = json(reply.trim()).unwrap_or_else(|| panic!("not JSON: {reply:?}"));
        assert_eq!(reply["ok"], true, "{reply}");
    }
    // The server notices each close on its own time: wait for it to
    // answer, with a deadline; before, it stayed `busy` until the grace.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let out = faxnotify()
            .args(["notify", "--admin-socket"])
            .arg(&server.admin)
            .args(["--user", "alice", "message", "after"])
            .output()
            .unwrap();
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("queued: seq 65"));
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("admin connections at once"), "{stderr}");
        assert!(
            std::time::Instant::now() < deadline,
            "the admin socket stayed busy with the places of clients that had gone: {stderr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.stop_cleanly();
}

/// A client that shuts down only its writing half after its request (as
/// `… | nc -U` does) is still reading: it gets its reports.
#[test]
fn a_client_that_only_stops_writing_still_gets_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _client) = server_and_client("mio", dir.path(), "30s");
    let mut stream = UnixStream::connect(&server.admin).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
        .write_all(
            br#"{"op":"notify","id":"half","delivery_reports":true,"to":{"user":"alice"},"notification":{"kind":"server_message","text":"x"}}
"#,
        )
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let reports: Vec<serde_json::Value> = BufReader::new(&stream)
        .lines()
        .map(|l| json(l.unwrap().trim()).unwrap())
        .collect();
    let kinds: Vec<_> = reports
        .iter()
        .map(|r| r["report"].as_str().unwrap_or("reply"))
        .collect();
    assert_eq!(kinds, ["reply", "delivered", "done"], "{reports:?}");
    server.stop_cleanly();
}
