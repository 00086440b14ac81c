//! `faxnotify server --cluster` with real processes on a real 3-node NATS
//! JetStream cluster (issue 19): a notification accepted through one
//! server's admin socket reaches the user's sessions on every server, and
//! its delivery reports come back to the submitter; a server cut from the
//! bus refuses notifications and logins, saying why, and recovers.

mod cluster_support;
mod common;

use cluster_support::{Bed, nats, next_notifications};
use common::{faxnotify, start_json_client};
use predicates::prelude::*;
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

#[test]
fn a_notification_through_one_server_reaches_sessions_on_every_server() {
    let Some(nats) = nats("a_notification_through_one_server_reaches_sessions_on_every_server")
    else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let dir = &bed.dir;
    let a = bed.server("a", &nats, &[]);
    let b = bed.server("b", &nats, &[]);
    let on_a = dir.path().join("a");
    let on_b = dir.path().join("b");
    // The bus's connection is logged once, in the server's words: not
    // again by the NATS client ("event: connected", "connected
    // successfully server=PORT").
    assert_eq!(
        a.process.lines_with("connected to the cluster bus").len(),
        1
    );
    assert!(
        a.process.lines_with("event: connected").is_empty()
            && a.process.lines_with("connected successfully").is_empty(),
        "{}",
        a.process.dump()
    );
    // Each server lists the sessions it holds, and says so when it has none.
    faxnotify()
        .args(["sessions", "--admin-socket"])
        .arg(&a.admin)
        .assert()
        .code(0)
        .stdout(contains(
            "no sessions on this server (cluster mode: each server lists the sessions it holds",
        ));
    faxnotify()
        .args(["end-session", "--admin-socket"])
        .arg(&a.admin)
        .arg("0123456789abcdef")
        .assert()
        .code(2)
        .stderr(contains(
            "no live session 0123456789abcdef on this server (cluster mode: end it through the \
             admin socket of the server that holds it",
        ));
    let mut alice_a = start_json_client(&on_a, "tokio", a.addr, "alice", PASSWORD);
    let mut alice_b = start_json_client(&on_b, "tokio", b.addr, "alice", PASSWORD);

    // Accepted by A once durable; both sessions report delivered.
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&a.admin)
        .args([
            "--wait",
            "30s",
            "--user",
            "alice",
            "message",
            "hello cluster",
        ])
        .assert()
        .code(0)
        .stdout(
            contains("accepted: log seq")
                .and(contains("durable in the cluster"))
                .and(contains("delivered: seq 1").count(2)),
        );
    assert_eq!(
        next_notifications(&mut alice_a, 1),
        [(1, "hello cluster".to_owned())]
    );
    assert_eq!(
        next_notifications(&mut alice_b, 1),
        [(1, "hello cluster".to_owned())]
    );

    // Through B now: the seqs go on in both sessions.
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&b.admin)
        .args(["--user", "alice", "message", "second"])
        .assert()
        .code(0);
    assert_eq!(
        next_notifications(&mut alice_a, 1),
        [(2, "second".to_owned())]
    );
    assert_eq!(
        next_notifications(&mut alice_b, 1),
        [(2, "second".to_owned())]
    );

    // A session is no target in cluster mode: refused, saying what to do.
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&a.admin)
        .args(["--session", "0000000000000001", "message", "x"])
        .assert()
        .code(2)
        .stderr(contains("notify the user (--user)"));
}

#[test]
fn cluster_mode_runs_on_tokio_only() {
    let bed = Bed::new(&[("alice", PASSWORD)]);
    faxnotify()
        .args([
            "server",
            "--runtime",
            "mio",
            "--listen",
            "127.0.0.1:0",
            "--users",
        ])
        .arg(&bed.users)
        .args(["--cluster", "nats://127.0.0.1:1", "--cluster-secret"])
        .arg(&bed.secret)
        .assert()
        .code(2)
        .stderr(contains("cluster mode runs on the tokio runtime, not mio"));
    // A secret others can read is refused before anything starts.
    std::fs::set_permissions(
        &bed.secret,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&bed.users)
        .args(["--cluster", "nats://127.0.0.1:1", "--cluster-secret"])
        .arg(&bed.secret)
        .assert()
        .code(2)
        .stderr(contains("--cluster-secret"));
}
