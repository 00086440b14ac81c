//! Nothing accepted is lost silently in cluster mode (issue 19): a session
//! that ends while its user's log holds notifications it has not been
//! given gets every one of them reported undelivered to their submitter —
//! those queued in the core, the one its reader was handing over, and those
//! its reader never reached.
//!
//! The client logs in at the protocol level and acknowledges nothing, so
//! the server's queue (limit 2) fills and the session's reader stops
//! reading the log; 8 notifications are accepted with delivery reports,
//! then the client logs out.

mod cluster_support;
mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Barrier;

use cluster_support::raw::{self, Answer, resume};
use cluster_support::{Bed, admin_lines, nats};
use common::WAIT;
use faxnotify_conformance::peer::conn::Got;
use faxnotify_core::wire::Frame;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
const TOTAL: usize = 8;
const QUEUE_LIMIT: &str = "2";

#[test]
fn a_session_that_ends_behind_its_log_reports_every_unread_notification_undelivered() {
    let Some(nats) = nats("a_session_that_ends_behind_its_log_reports_every_unread") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let a = bed.server("a", &nats, &["--queue-limit", QUEUE_LIMIT]);

    // The admin connection: requests from here, every line it answers
    // into `lines`.
    let (mut requests, lines) = admin_lines(&a.admin);
    let mut reports: Vec<Value> = Vec::new();

    let (answer, received) = resume(
        a.addr,
        "alice",
        PASSWORD,
        0,
        7,
        &Barrier::new(1),
        |mut session| {
            let mut callback = raw::callback(&mut session, 0);

            for n in 1..=TOTAL {
                let request = format!(
                    r#"{{"op":"notify","id":"n{n}","delivery_reports":true,"to":{{"user":"alice"}},"notification":{{"kind":"server_message","text":"n{n}"}}}}"#
                );
                writeln!(requests, "{request}").expect("admin write");
            }
            // Every one accepted (durable in the log) before the session ends.
            let mut accepted = 0;
            while accepted < TOTAL {
                let line = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
                    panic!("accepted {accepted}; server:\n{}", a.process.dump())
                });
                if line.get("ok").is_some() {
                    assert_eq!(line["ok"], true, "{line}");
                    accepted += 1;
                } else {
                    reports.push(line);
                }
            }
            // The queue's worth arrives, and is never acknowledged.
            let mut received = 0;
            while received < QUEUE_LIMIT.parse().unwrap() {
                match callback.conn.next_relevant(WAIT) {
                    Got::Frame(Frame::Notify(_)) => received += 1,
                    other => panic!("no NOTIFY: {other:?}"),
                }
            }
            session.logout().unwrap_or_else(|f| panic!("{f}"));
            drop(callback);
            received
        },
    );
    assert!(matches!(answer, Answer::LoggedIn(_)), "{answer:?}");
    assert_eq!(received, Some(2));

    // Every accepted notification is reported undelivered, each once.
    let mut done: BTreeMap<String, Value> = BTreeMap::new();
    while done.len() < TOTAL {
        let line = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!(
                "done so far: {done:?}; reports: {reports:?}; server:\n{}",
                a.process.dump()
            )
        });
        if line["report"] == "done" {
            done.insert(line["id"].as_str().unwrap_or_default().to_owned(), line);
        } else {
            reports.push(line);
        }
    }
    for (id, line) in &done {
        assert_eq!(
            (line["delivered"].as_u64(), line["undelivered"].as_u64()),
            (Some(0), Some(1)),
            "{id}: {line}"
        );
    }
    let undelivered: BTreeMap<String, Value> = reports
        .iter()
        .filter(|r| r["report"] == "undelivered")
        .map(|r| (r["id"].as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect();
    assert_eq!(undelivered.len(), TOTAL, "{reports:?}");
    // The two the client held had seqs 1 and 2; at least the last ones
    // were never read from the log, so never numbered (seq null).
    assert_eq!(undelivered["n1"]["seq"], 1, "{reports:?}");
    assert_eq!(undelivered["n2"]["seq"], 2, "{reports:?}");
    assert!(undelivered["n8"]["seq"].is_null(), "{reports:?}");
    for r in undelivered.values() {
        assert!(
            r["message"]
                .as_str()
                .is_some_and(|m| m.contains("the session ended")),
            "{r}"
        );
    }
}
