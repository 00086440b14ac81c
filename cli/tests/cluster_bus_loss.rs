//! A server cut from the NATS cluster (issue 19): it stops accepting what
//! it cannot make durable — notify is refused as not durable, logins are
//! refused with a clear message — and lets its sessions go before their
//! owner leases could pass to another server; once the bus is back it
//! serves again and the client resumes its session with nothing missed.

mod cluster_support;
mod common;

use cluster_support::{Bed, nats};
use common::{Running, Stream, WAIT, faxnotify, json, start_json_client, write_file};
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

#[test]
fn a_server_cut_from_the_bus_refuses_notify_and_logins_then_recovers() {
    let Some(nats) = nats("a_server_cut_from_the_bus_refuses_notify_and_logins_then_recovers")
    else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD), ("bob", PASSWORD)]);
    let dir = &bed.dir;
    let mut a = bed.server("a", &nats, &[]);
    let mut alice = start_json_client(dir.path(), "tokio", a.addr, "alice", PASSWORD);
    let session = alice
        .seen
        .iter()
        .find_map(|(_, l)| json(l).filter(|v| v["event"] == "logged_in"))
        .map(|v| v["session"].clone())
        .expect("logged in");

    // Every NATS node stops answering: the server is cut from the bus.
    for node in 0..nats.size() {
        nats.pause(node);
    }
    a.process
        .wait_line(Stream::Err, "the bus loss noticed", |l| {
            l.contains("the cluster bus is unreachable: refusing logins and notifications")
        });

    // Nothing is accepted that could not be made durable.
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&a.admin)
        .args(["--user", "alice", "message", "lost?"])
        .assert()
        .code(6)
        .stderr(contains("not durable: the cluster bus is unreachable"));

    // A new login is refused, saying why (the client tries again later).
    let settings = dir.path().join("bob-client.toml");
    faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&settings)
        .args(["--port", "dynamic", "--server", &a.addr.to_string()])
        .assert()
        .success();
    let pw = write_file(dir.path(), "bob.pw", &format!("{PASSWORD}\n"));
    let mut bob = Running::start(&[
        "client".to_owned(),
        "--runtime".into(),
        "tokio".into(),
        "--user".into(),
        "bob".into(),
        "--password-file".into(),
        pw.display().to_string(),
        "--settings".into(),
        settings.display().to_string(),
        "--json".into(),
    ]);
    let refused = bob.wait_line(Stream::Out, "a refusal", |l| {
        json(l).is_some_and(|v| v["event"] == "error_received")
    });
    let refused = json(&refused).expect("json");
    assert_eq!(refused["code"], "SHUTTING_DOWN");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("cluster bus is unreachable")),
        "{refused}"
    );
    bob.kill();

    // Alice's session is let go before its owner lease could run out
    // (closed without BYE: the session lives on in the cluster).
    alice.wait_line(Stream::Out, "the connection closed", |l| {
        json(l).is_some_and(|v| v["event"] == "connection_lost")
    });

    // The bus comes back: the server serves again, alice resumes the same
    // session, and what is accepted now reaches her.
    for node in 0..nats.size() {
        nats.resume(node);
    }
    a.process.wait_line(Stream::Err, "the bus back", |l| {
        l.contains("the cluster bus is reachable again")
    });
    let resumed = alice.wait_line(Stream::Out, "the resume", |l| {
        json(l).is_some_and(|v| v["event"] == "logged_in" && v["resumed"] == true)
    });
    assert_eq!(json(&resumed).map(|v| v["session"].clone()), Some(session));
    // JetStream elects its leaders again first; until then a notify is
    // refused as not durable, and an operator tries again.
    nats.wait_for_leader(WAIT).unwrap_or_else(|e| panic!("{e}"));
    let mut out = None;
    for _ in 0..20 {
        let tried = faxnotify()
            .args(["notify", "--admin-socket"])
            .arg(&a.admin)
            .args(["--wait", "30s", "--user", "alice", "message", "back"])
            .output()
            .unwrap();
        let refused = String::from_utf8_lossy(&tried.stderr).contains("not durable");
        out = Some(tried);
        if !refused {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let out = out.expect("tried");
    if !out.status.success() {
        a.process.interrupt();
        a.process.wait_exit();
        alice.kill();
        panic!(
            "{}\nA:\n{}\nalice:\n{}",
            String::from_utf8_lossy(&out.stderr),
            a.process.dump(),
            alice.dump()
        );
    }
    let line = alice.wait_line(Stream::Out, "the notification", |l| {
        json(l).is_some_and(|v| v["event"] == "notification")
    });
    let v = json(&line).expect("json");
    assert_eq!(
        (v["seq"].as_u64(), v["fields"]["text"].as_str()),
        (Some(1), Some("back"))
    );
    assert!(
        !alice
            .seen
            .iter()
            .any(|(_, l)| l.contains("may_have_missed") || l.contains("session_ended")),
        "{}",
        alice.dump()
    );
}
