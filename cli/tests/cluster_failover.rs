//! kill -9 of the server a client is on, mid-stream (issue 19): the client
//! resumes its session on another server of the cluster — 0 lost, 0
//! duplicated, every accepted notification reported delivered.
//!
//! Twice: with both servers in the client's settings (`servers = [...]`,
//! the client moves to the next on failure), and through a relay pointed
//! at the surviving server when the first one dies (one address, as an
//! older client or a load balancer has it).

mod cluster_support;
mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::mpsc;
use std::time::Duration;

use cluster_support::{Bed, Relay, admin_lines, cluster_client, nats};
use common::{Stream, WAIT, json, start_json_client};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
const TOTAL: usize = 60;

/// Publishes `TOTAL` notifications "n1".."nTOTAL" through `admin`, each
/// with delivery reports, and sends back every line the socket answers.
fn publish_all(admin: std::path::PathBuf, lines: mpsc::Sender<Value>) {
    let (mut writer, answers) = admin_lines(&admin);
    std::thread::spawn(move || {
        for v in answers {
            if lines.send(v).is_err() {
                return;
            }
        }
    });
    for n in 1..=TOTAL {
        let request = format!(
            r#"{{"op":"notify","id":"n{n}","delivery_reports":true,"to":{{"user":"alice"}},"notification":{{"kind":"server_message","text":"n{n}"}}}}"#
        );
        writeln!(writer, "{request}").expect("admin write");
        // Paced a little, so that the stream is still flowing when the
        // server dies (not a wait for anything).
        std::thread::sleep(Duration::from_millis(50));
    }
    // Kept open until the reports are read (the test ends the process).
    std::thread::sleep(WAIT * 2);
    drop(writer);
}

#[test]
fn a_client_whose_server_is_killed_resumes_on_the_next_of_its_servers() {
    let Some(nats) = nats("a_client_whose_server_is_killed_resumes_on_the_next_of_its_servers")
    else {
        return;
    };
    failover(&nats, Via::Settings);
}

#[test]
fn a_client_whose_server_is_killed_resumes_elsewhere_with_nothing_lost_or_repeated() {
    let Some(nats) = nats("a_client_whose_server_is_killed_resumes_elsewhere") else {
        return;
    };
    failover(&nats, Via::Relay);
}

/// How the client reaches the other server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// Both servers in its settings.
    Settings,
    /// One address, a relay re-pointed when the first server dies.
    Relay,
}

fn failover(nats: &faxnotify_cluster::harness::NatsCluster, via: Via) {
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let dir = &bed.dir;
    // A 5 s owner lease (the shortest): the sessions of A move sooner.
    let lease = ["--cluster-owner-lease", "5s"];
    let mut a = bed.server("a", nats, &lease);
    let b = bed.server("b", nats, &lease);
    let relay = Relay::start(a.addr);
    let mut alice = match via {
        Via::Relay => start_json_client(dir.path(), "tokio", relay.addr, "alice", PASSWORD),
        Via::Settings => cluster_client(dir.path(), "alice", PASSWORD, &[a.addr, b.addr]),
    };
    let first = alice.seen.iter().find_map(|(_, l)| {
        json(l)
            .filter(|v| v["event"] == "logged_in")
            .map(|v| v["session"].clone())
    });

    // Notifications flow through B's admin socket to alice's session on A.
    let (tx, lines) = mpsc::channel();
    let admin = b.admin.clone();
    std::thread::spawn(move || publish_all(admin, tx));
    let mut got: Vec<(u64, String)> = Vec::new();
    let next = |alice: &mut common::Running| {
        let line = alice.wait_line(Stream::Out, "a notification", |l| {
            json(l).is_some_and(|v| v["event"] == "notification")
        });
        let v = json(&line).expect("json");
        (
            v["seq"].as_u64().expect("seq"),
            v["fields"]["text"].as_str().unwrap_or_default().to_owned(),
        )
    };
    while got.len() < 10 {
        got.push(next(&mut alice));
    }

    // Mid-stream: A dies at once; the client's reconnects reach B.
    a.process.kill();
    relay.point_to(b.addr);
    while got.len() < TOTAL {
        got.push(next(&mut alice));
    }
    let expected: Vec<(u64, String)> = (1..=TOTAL as u64).map(|n| (n, format!("n{n}"))).collect();
    assert_eq!(
        got, expected,
        "every notification once, in order, with its seq"
    );

    // The same session, resumed, nothing reported missed.
    let resumed = alice
        .seen
        .iter()
        .find_map(|(_, l)| json(l).filter(|v| v["event"] == "logged_in" && v["resumed"] == true));
    assert_eq!(
        resumed.map(|v| v["session"].clone()),
        first,
        "{}",
        alice.dump()
    );
    assert!(
        !alice
            .seen
            .iter()
            .any(|(_, l)| l.contains("may_have_missed")),
        "{}",
        alice.dump()
    );

    // Every accepted notification was reported delivered to its submitter.
    let mut done: BTreeMap<String, Value> = BTreeMap::new();
    let mut accepted = 0;
    while done.len() < TOTAL {
        let line = lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("reports so far: {done:?}; B:\n{}", b.process.dump()));
        if line["ok"] == true {
            accepted += 1;
        }
        if line["report"] == "done" {
            done.insert(line["id"].as_str().unwrap_or_default().to_owned(), line);
        }
    }
    assert_eq!(accepted, TOTAL);
    for (id, line) in &done {
        assert_eq!(
            (line["delivered"].as_u64(), line["undelivered"].as_u64()),
            (Some(1), Some(0)),
            "{id}: {line}"
        );
    }
}
