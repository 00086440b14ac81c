//! The cluster log's age limit (`--cluster-log-max-age`, issue 19): the log
//! is trimmed by age, and a session never reads on over a hole that left.
//!
//! - A session whose client acknowledged nothing while its notifications
//!   aged out of the log is ended: its connection closes, a resume is
//!   refused as unknown, so its client starts a new session told it may
//!   have missed notifications [C-10].
//! - An idle session is not mistaken for one: its position follows the log
//!   while it has nothing to read, so other users' notifications aging out
//!   before it do not end it; and its index entry in the sessions bucket
//!   (which ages out as the log does) is kept, so `notify --wait` still
//!   counts it.
//!
//! The servers run with a short lease (3 s) and grace (1 s), so that an
//! 8 s age limit is allowed (at least twice lease + grace).

mod cluster_support;
mod common;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use cluster_support::raw::{self, Answer, resume};
use cluster_support::{Bed, LogWatch, admin_lines, admin_notify as notify, nats, wait_for_text};
use common::{Stream, WAIT, start_json_client};
use faxnotify_conformance::peer::conn::{FrameConn, Got};
use faxnotify_core::wire::{Frame, FrameType};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
const MAX_AGE: Duration = Duration::from_secs(8);
const SHORT: [&str; 6] = [
    "--lease",
    "3s",
    "--detached-grace",
    "1s",
    "--cluster-log-max-age",
    "8s",
];

/// The log seq a notify reply says the notification was accepted at.
fn log_seq(reply: &Value) -> u64 {
    reply["accepted"][0]["log_seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no log_seq in {reply}"))
}

/// PINGs on `control` about every second, and answers the server's PINGs
/// on both connections, until `until` returns true (asked every 100 ms):
/// the session must stay alive while the test acknowledges nothing. A
/// connection the server closed is left alone.
fn keep_alive(
    control: &mut FrameConn,
    callback: &mut FrameConn,
    mut until: impl FnMut(&mut FrameConn) -> bool,
) {
    control.tolerate(FrameType::Pong);
    let deadline = Instant::now() + WAIT * 2;
    let mut nonce = 0u64;
    let mut pinged = Instant::now();
    let mut open = true;
    while !until(callback) {
        assert!(Instant::now() < deadline, "kept alive too long");
        if !open {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if pinged.elapsed() >= Duration::from_secs(1) {
            nonce += 1;
            let _ = control.send(&Frame::Ping { nonce });
            pinged = Instant::now();
        }
        if control.next_within(Duration::from_millis(100)).is_closed() {
            open = false;
        }
    }
}

#[test]
fn a_session_whose_unread_notifications_aged_out_of_the_log_is_ended() {
    let Some(nats) = nats("a_session_whose_unread_notifications_aged_out_of_the_log") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let mut extra = SHORT.to_vec();
    extra.extend(["--queue-limit", "2"]);
    let a = bed.server("a", &nats, &extra);
    let (mut requests, lines) = admin_lines(&a.admin);
    let mut others = Vec::new();
    let watch = LogWatch::new(&nats);

    let (answer, id) = resume(
        a.addr,
        "alice",
        PASSWORD,
        0,
        7,
        &Barrier::new(1),
        |mut session| {
            let mut callback = raw::callback(&mut session, 0);

            let mut last = 0;
            for n in 1..=6 {
                last = log_seq(&notify(
                    &mut requests,
                    &lines,
                    &mut others,
                    "alice",
                    &format!("n{n}"),
                    true,
                ));
            }
            // The queue's worth (2) arrives and is not acknowledged: the
            // session's reader waits with n3 while n4..n6 age in the log.
            for seq in 1..=2u64 {
                match callback.conn.next_relevant(WAIT) {
                    Got::Frame(Frame::Notify(n)) => assert_eq!(n.seq, seq),
                    other => panic!("no NOTIFY {seq}: {other:?}"),
                }
            }
            // Waiting, the callback is read too: the server's PINGs there
            // are answered (nothing else comes while the queue is full).
            keep_alive(&mut session.control, &mut callback.conn, |cb| {
                match cb.next_within(Duration::from_millis(10)) {
                    Got::Frame(frame) => panic!("while the queue is full: {frame:?}"),
                    Got::Closed(why) => panic!("the callback closed early: {why:?}"),
                    _ => {}
                }
                watch.trimmed(last)
            });
            // Acknowledged now: n3 (which the reader held) comes, then the
            // reader finds n4.. gone and the session is ended.
            callback
                .conn
                .send(&Frame::Ack { seq: 2 })
                .unwrap_or_else(|f| panic!("{f}"));
            let mut closed = false;
            let mut got = Vec::new();
            keep_alive(&mut session.control, &mut callback.conn, |cb| {
                match cb.next_within(Duration::from_millis(100)) {
                    Got::Frame(Frame::Notify(n)) => {
                        got.push(n.seq);
                        let _ = cb.send(&Frame::Ack { seq: n.seq });
                    }
                    Got::Closed(_) => closed = true,
                    _ => {}
                }
                closed
            });
            assert_eq!(got, [3], "only n3, read before the hole");
            session.id()
        },
    );
    let Answer::LoggedIn(first) = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(id, Some(first));

    // A resume anywhere is refused as unknown: the client starts anew.
    let (answer, _) = resume(
        a.addr,
        "alice",
        PASSWORD,
        first,
        8,
        &Barrier::new(1),
        |_| (),
    );
    match answer {
        Answer::Refused(code, _) => assert_eq!(code, "UNKNOWN_SESSION"),
        other => panic!("a resume of the ended session: {other:?}"),
    }
    let mut server = a.process;
    server.wait_line(Stream::Err, "the age limit warning", |l| {
        l.contains("fell behind the cluster log's age limit")
    });
}

#[test]
fn an_idle_session_outlives_other_users_notifications_aging_out() {
    let Some(nats) = nats("an_idle_session_outlives_other_users_notifications_aging_out") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD), ("bob", PASSWORD)]);
    let dir = &bed.dir;
    let a = bed.server("a", &nats, &SHORT);
    let mut alice = start_json_client(dir.path(), "tokio", a.addr, "alice", PASSWORD);
    let (mut requests, lines) = admin_lines(&a.admin);
    let mut others = Vec::new();

    // After alice's session began: bob's, which ages out of the log while
    // alice has nothing to read.
    let bobs = log_seq(&notify(
        &mut requests,
        &lines,
        &mut others,
        "bob",
        "for bob",
        false,
    ));
    LogWatch::new(&nats).wait_until_trimmed(bobs, MAX_AGE * 4);
    // Waited on, it counts alice's session: the session's index entry in
    // the bucket, older than the age limit by now had it been written
    // once, was written again by its owner's renewals.
    let reply = notify(&mut requests, &lines, &mut others, "alice", "after", true);
    assert_eq!(reply["recipients"], 1, "{reply}");
    wait_for_text(&mut alice, "after");
    cluster_support::assert_exactly(&alice, &["after".to_owned()]);
}
