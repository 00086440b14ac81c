//! A server that froze (SIGSTOP: a stalled VM, a swap storm) while the
//! path from its client was a black hole, for longer than the session's
//! lease: the client moves to the other server, which takes the session
//! over. When the frozen server wakes, the session's lease has run out
//! there and it ends the session on its side; the session lives on at the
//! other server, so the stale one must report nothing of it — before, it
//! reported every notification accepted since it froze "undelivered",
//! and a submitter waiting on one heard that first although the client
//! got it.

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::valve::{Flow, Valve};
use cluster_support::{Bed, admin_lines, admin_notify, cluster_client, nats};
use common::{Stream, WAIT, json};
use faxnotify_testkit::process::signal;

const PASSWORD: &str = "correct horse battery";
/// Notifications accepted while the session is at its new server.
const AFTER: usize = 3;

#[test]
fn a_server_that_wakes_after_its_session_moved_reports_none_of_it() {
    let Some(nats) = nats("a_server_that_wakes_after_its_session_moved_reports_none_of_it") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let lease = ["--lease", "10s"];
    let mut a = bed.server("a", &nats, &lease);
    let b = bed.server("b", &nats, &lease);
    // The client reaches A through a valve, B directly.
    let valve = Valve::start(&a.addr.to_string());
    let mut alice = cluster_client(bed.dir.path(), "alice", PASSWORD, &[valve.addr, b.addr]);

    // A freezes, and nothing from the client reaches it any more (its
    // pings would otherwise be read when it wakes).
    valve.set(Flow::Held);
    signal(a.process.pid(), "STOP");
    let frozen = Instant::now();
    let resumed = alice.wait_line(Stream::Out, "the resume on B", |l| {
        json(l).is_some_and(|v| v["event"] == "logged_in" && v["resumed"] == true)
    });
    let resumed = json(&resumed).expect("json");
    assert_eq!(resumed["server"], b.addr.to_string(), "{resumed}");
    eprintln!(
        "the client resumed on B {:?} after A froze",
        frozen.elapsed()
    );

    // Accepted by B while the client cannot acknowledge (it froze too, for
    // a moment): their reports are still to come when A wakes.
    signal(alice.pid(), "STOP");
    let (mut requests, lines) = admin_lines(&b.admin);
    let mut others = Vec::new();
    let texts: Vec<String> = (1..=AFTER).map(|i| format!("after-{i}")).collect();
    for text in &texts {
        admin_notify(&mut requests, &lines, &mut others, "alice", text, true);
    }

    // A wakes, finds the session's lease run out, ends it on its side and
    // sees that B holds it (or lets it go first, if its own release comes
    // before the lease's end): either way it reports nothing.
    signal(a.process.pid(), "CONT");
    let deadline = Instant::now() + WAIT;
    loop {
        a.process.collect_for(Duration::from_millis(100));
        others.extend(lines.try_iter());
        if let Some(report) = others.iter().find(|l| l["report"] == "undelivered") {
            signal(alice.pid(), "CONT");
            panic!(
                "A, woken after B took the session over, reported a notification B delivers \
                 undelivered: {report}\nA:\n{}",
                a.process.dump()
            );
        }
        let left = |needle: &str| !a.process.lines_with(needle).is_empty();
        if left("left to that server") || left("session released") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A did not let the session go within {WAIT:?}:\n{}",
            a.process.dump()
        );
    }

    // The client acknowledges: each notification is delivered once, in
    // order, and reported delivered to its submitter.
    signal(alice.pid(), "CONT");
    for text in &texts {
        cluster_support::wait_for_text(&mut alice, text);
    }
    let got: Vec<String> = cluster_support::notifications(&alice)
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert_eq!(got, texts, "{}", alice.dump());
    let mut reports = Vec::new();
    let deadline = Instant::now() + WAIT;
    while reports.len() < AFTER {
        others.extend(lines.try_iter());
        reports.extend(others.drain(..).filter(|l| l.get("report").is_some()));
        reports.retain(|l| l["report"] != "done");
        assert!(Instant::now() < deadline, "reports so far: {reports:?}");
        if reports.len() < AFTER
            && let Ok(line) = lines.recv_timeout(Duration::from_millis(200))
        {
            others.push(line);
        }
    }
    for report in &reports {
        assert_eq!(report["report"], "delivered", "{reports:?}");
    }
    valve.set(Flow::Open);
}

/// A frozen server that wakes past its owner lease, its client still
/// attached (behind a black hole) and its session's lease not run out,
/// lets the session go at once — and stays let go. It used to renew the
/// lease in the same turn as it released the session, so its give-back
/// lost to its own renewal and the record named it owner for another
/// lease: the client, moving on, was refused by every other server as
/// "still held by another server" for 10 s.
#[test]
fn a_server_that_wakes_past_its_owner_lease_lets_the_session_go_at_once() {
    let Some(nats) = nats("a_server_that_wakes_past_its_owner_lease_lets_the_session_go_at_once")
    else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    // The session's lease outlasts the freeze; the owner lease (10 s) not.
    let lease = ["--lease", "60s"];
    let mut a = bed.server("a", &nats, &lease);
    let b = bed.server("b", &nats, &lease);
    let valve = Valve::start(&a.addr.to_string());
    let mut alice = cluster_client(bed.dir.path(), "alice", PASSWORD, &[valve.addr, b.addr]);

    valve.set(Flow::Held);
    signal(a.process.pid(), "STOP");
    // The fault itself: frozen past the owner lease (10 s).
    std::thread::sleep(Duration::from_secs(11));
    signal(a.process.pid(), "CONT");
    a.process.wait_line(Stream::Err, "the session let go", |l| {
        l.contains("session released")
    });

    // The client sees the connection A closed and moves to B, which takes
    // the session over at once.
    valve.set(Flow::Open);
    let lost = Instant::now();
    let line = alice.wait_line(Stream::Out, "a resume or a refusal", |l| {
        json(l).is_some_and(|v| {
            (v["event"] == "logged_in" && v["resumed"] == true) || v["event"] == "error_received"
        })
    });
    let v = json(&line).expect("json");
    assert_eq!(
        (&v["event"], &v["server"]),
        (&"logged_in".into(), &b.addr.to_string().into()),
        "B refused the session A let go ({:?} after the client lost A): {v}\nA:\n{}",
        lost.elapsed(),
        a.process.dump()
    );
}
