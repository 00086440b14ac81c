//! `notify --wait` while the server shuts down: every recipient still
//! waiting is reported (undelivered, "server shutdown") before the server
//! exits, so a fax engine never loses the outcome of an accepted
//! notification (issue 17, case 6).

mod common;

use common::{Running, Stream, TestServer, add_users};

const PASSWORD: &str = "correct horse battery";

#[test]
fn a_graceful_shutdown_reports_waiting_recipients_undelivered() {
    for runtime in common::RUNTIMES {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let users = dir.join("users.toml");
        add_users(&users, &[("alice", PASSWORD)]);
        // A long grace: alice's detached session outlives the wait, so only
        // the shutdown can end it.
        let mut server = TestServer::start(
            runtime,
            &users,
            dir,
            &["--lease", "30s", "--detached-grace", "300s"],
        );
        let mut client = common::start_json_client(dir, runtime, server.addr, "alice", PASSWORD);
        // The client dies: nothing acknowledges what follows.
        client.kill();
        server
            .process
            .wait_line(Stream::Err, "the session detached", |l| {
                l.contains("session detached")
            });

        let mut notify = Running::start(&[
            "notify".to_owned(),
            "--admin-socket".into(),
            server.admin.display().to_string(),
            "--wait=120s".into(),
            "--user".into(),
            "alice".into(),
            "message".into(),
            "pending".into(),
        ]);
        notify.wait_line(Stream::Out, "queued", |l| l.contains("queued: seq 1"));

        server.process.interrupt();
        notify.wait_line(Stream::Err, "the undelivered report", |l| {
            l.contains("undelivered: seq 1") && l.contains("shutdown")
        });
        assert_eq!(
            notify.wait_exit().code(),
            Some(7),
            "{runtime}: notify --wait exits 7 (undelivered)\n{}",
            notify.dump()
        );
        assert!(server.process.wait_exit().success(), "{runtime}");
    }
}
