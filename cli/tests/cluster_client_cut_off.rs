//! A client cut off from its server alone: the path between them drops
//! everything, both ways, without a close (a dropped route, a firewall
//! that lost its state), while the other server and the bus are fine, and
//! new connections to the first server fail the same way. The client's
//! PING goes unanswered and it moves on [D-18]; the other server refuses
//! the resume while the first holds the session; the first, hearing
//! nothing for a lease, detaches the session instead of ending it and
//! gives it up [D-17] rule 6; the client resumes on the other server.
//! Every notification arrives once, in order, and every one is reported
//! delivered. Before, the first server ended the session at its lease:
//! the client started a new one, "notifications may have been missed".

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::valve::{Flow, Valve};
use cluster_support::{Bed, admin_lines, admin_notify, assert_exactly, cluster_client, nats};
use common::{Stream, WAIT, json};

const PASSWORD: &str = "correct horse battery";

#[test]
fn a_client_cut_off_from_its_server_resumes_on_another_with_nothing_lost() {
    let Some(nats) = nats("a_client_cut_off_from_its_server_resumes_on_another") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let lease = ["--lease", "6s"];
    let a = bed.server("a", &nats, &lease);
    let b = bed.server("b", &nats, &lease);
    // The client reaches A through a valve, B directly; A dials its
    // callback directly.
    let valve = Valve::start(&a.addr.to_string());
    let mut alice = cluster_client(bed.dir.path(), "alice", PASSWORD, &[valve.addr, b.addr]);

    let (mut requests, lines) = admin_lines(&b.admin);
    let mut others = Vec::new();
    let mut texts = Vec::new();
    let mut notify = |texts: &mut Vec<String>, text: String| {
        admin_notify(&mut requests, &lines, &mut others, "alice", &text, true);
        texts.push(text);
    };
    for i in 1..=3 {
        notify(&mut texts, format!("before-{i}"));
    }
    cluster_support::wait_for_text(&mut alice, "before-3");

    valve.set(Flow::Held);
    let cut = Instant::now();
    for i in 1..=3 {
        notify(&mut texts, format!("during-{i}"));
    }
    let resumed = alice.wait_line(Stream::Out, "the resume on B", |l| {
        json(l).is_some_and(|v| v["event"] == "logged_in" && v["resumed"] == true)
    });
    let resumed = json(&resumed).expect("json");
    assert_eq!(resumed["server"], b.addr.to_string(), "{resumed}");
    eprintln!("the client resumed on B {:?} after the cut", cut.elapsed());
    for i in 1..=3 {
        notify(&mut texts, format!("after-{i}"));
    }
    cluster_support::wait_for_text(&mut alice, "after-3");
    assert_exactly(&alice, &texts);

    // Every notification reported delivered to its submitter, none
    // undelivered.
    let mut reports: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        reports.extend(
            others
                .drain(..)
                .chain(lines.try_iter())
                .filter(|l| l.get("report").is_some() && l["report"] != "done"),
        );
        if reports.len() >= texts.len() {
            break;
        }
        assert!(Instant::now() < deadline, "reports so far: {reports:?}");
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            others.push(line);
        }
    }
    assert!(
        reports.iter().all(|r| r["report"] == "delivered"),
        "{reports:#?}"
    );
    assert_eq!(reports.len(), texts.len(), "{reports:#?}");
    valve.set(Flow::Open);
}
