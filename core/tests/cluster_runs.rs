//! Cluster mode's runs [D-17]: a log message's notifications handed to a
//! session at consecutive seqs in one call, all or a prefix, with the
//! refusals of one at a time.

#![allow(unreachable_pub)]
#![allow(clippy::unwrap_used)]

mod support;

#[allow(dead_code)]
#[path = "server_rules/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "cluster/common.rs"]
mod common;

use bytes::Bytes;
use common::{clustered, delivered, open, restored};
use faxnotify_core::SessionId;
use faxnotify_core::server::{ClusterConfig, Refused, RunError, RunSequenced, SeqError};
use faxnotify_core::wire::{EncodedNotification, Frame, MAX_PAYLOAD_LEN};
use harness::{ALICE_PW, Harness, notify_seqs};

const X: u64 = 0x0123_4567_89ab_cdef;

fn run(seqs: std::ops::RangeInclusive<u64>) -> Vec<EncodedNotification> {
    seqs.map(|seq| EncodedNotification::from_slice(3, &[seq as u8]).unwrap())
        .collect()
}

fn run_at(
    h: &mut Harness,
    s: SessionId,
    first: u64,
    notes: &[EncodedNotification],
) -> Result<RunSequenced, RunError> {
    let now = h.now;
    let r = h.server.notify_session_run_at(now, s, first, notes);
    h.drain();
    r
}

fn queued(n: usize) -> RunSequenced {
    let mut done = RunSequenced::default();
    done.queued = n;
    done
}

#[test]
fn a_run_is_queued_at_consecutive_seqs_and_sent_in_order() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    assert_eq!(run_at(&mut h, s, 1, &run(1..=3)), Ok(queued(3)));
    assert_eq!(run_at(&mut h, s, 4, &run(4..=5)), Ok(queued(2)));
    assert_eq!(h.server.session(s).unwrap().last_seq, 5);
    let replies = h.advertise(&client, 0);
    assert_eq!(notify_seqs(&replies), vec![1, 2, 3, 4, 5], "{replies:?}");
    assert_eq!(run_at(&mut h, s, 6, &[]), Ok(RunSequenced::default()));
}

#[test]
fn a_gap_or_a_repeat_refuses_the_whole_run_and_changes_nothing() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    run_at(&mut h, s, 1, &run(1..=2)).unwrap();
    let gap = SeqError::Gap {
        expected: 3,
        got: 4,
    };
    let err = run_at(&mut h, s, 4, &run(4..=6)).unwrap_err();
    assert_eq!((err.taken, err.error), (0, gap));
    let err = run_at(&mut h, s, 2, &run(2..=4)).unwrap_err();
    assert_eq!(
        (err.taken, err.error),
        (
            0,
            SeqError::Repeat {
                expected: 3,
                got: 2
            }
        )
    );
    assert_eq!(h.server.session(s).unwrap().last_seq, 2, "nothing changed");
    let unknown = SessionId::new(7).unwrap();
    let err = run_at(&mut h, unknown, 1, &run(1..=2)).unwrap_err();
    assert_eq!(err.error, SeqError::Refused(Refused::NoSuchSession));
}

#[test]
fn a_full_queue_takes_a_prefix_and_the_rest_is_offered_again() {
    let mut h = Harness::with(|c| {
        c.queue_limit = 3;
        c.cluster = Some(ClusterConfig::default());
    });
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    let notes = run(1..=5);
    let err = run_at(&mut h, s, 1, &notes).unwrap_err();
    assert_eq!(err.taken, 3);
    assert_eq!(
        err.error,
        SeqError::Refused(Refused::QueueFull { limit: 3 })
    );
    assert!(err.to_string().contains("after the first 3"), "{err}");
    let replies = h.advertise(&client, 0);
    assert_eq!(notify_seqs(&replies), vec![1, 2, 3], "{replies:?}");
    h.send(client.conn, &Frame::Ack { seq: 1 });
    let err = run_at(&mut h, s, 4, &notes[3..]).unwrap_err();
    assert_eq!(err.taken, 1, "room for one more: {err}");
    h.send(client.conn, &Frame::Ack { seq: 4 });
    assert_eq!(run_at(&mut h, s, 5, &notes[4..]), Ok(queued(1)));
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![4, 5]);
}

#[test]
fn a_payload_too_large_is_refused_one_at_a_time_and_changes_nothing() {
    // A run's notifications cannot be too large: EncodedNotification
    // refuses them when it is made. Raw bytes one at a time are checked.
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    assert_eq!(run_at(&mut h, s, 1, &run(1..=1)), Ok(queued(1)));
    let now = h.now;
    let huge = Bytes::from(vec![0; MAX_PAYLOAD_LEN + 1]);
    assert_eq!(
        h.server.notify_session_at(now, s, 2, 3, huge),
        Err(SeqError::Refused(Refused::PayloadTooLarge {
            len: MAX_PAYLOAD_LEN + 1
        }))
    );
    assert_eq!(h.server.session(s).unwrap().last_seq, 1);
}

#[test]
fn small_payloads_of_a_run_are_sent_as_given_whether_inline_or_shared() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    let small = EncodedNotification::from_slice(3, &[0, 5, b'h', b'e', b'l', b'l', b'o']).unwrap();
    let large = EncodedNotification::from_slice(3, &[b'x'; 200]).unwrap();
    assert!(small.is_inline() && !large.is_inline());
    let notes = [small.clone(), large.clone()];
    assert_eq!(run_at(&mut h, s, 1, &notes), Ok(queued(2)));
    let replies = h.advertise(&client, 0);
    let sent: Vec<(u8, Vec<u8>)> = replies
        .iter()
        .filter_map(|frame| match frame {
            Frame::Notify(n) => Some((n.kind, n.payload.to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![(3, small.payload().to_vec()), (3, large.payload().to_vec())]
    );
}

#[test]
fn a_restored_run_skips_what_was_acknowledged_and_reports_what_the_client_had() {
    // Restored at 3 (persisted acks lag); the client had up to 6 from the
    // previous server [D-17] [B-3].
    let mut h = clustered();
    let client = restored(&mut h, X, 3);
    let s = client.session;
    assert_eq!(run_at(&mut h, s, 2, &run(2..=4)).unwrap().queued, 1);
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![4]);
    h.send(client.conn, &Frame::Ack { seq: 6 });
    assert_eq!(delivered(&h.take_events()), vec![(s, 4, 4)]);
    // One message of the log with 4 (acknowledged), 5, 6 (had) and 7, 8.
    let done = run_at(&mut h, s, 4, &run(4..=8)).unwrap();
    assert_eq!(
        (
            done.already_acknowledged,
            done.delivered_before,
            done.queued,
            done.taken()
        ),
        (1, 2, 2, 5)
    );
    assert_eq!(
        delivered(&h.take_events()),
        vec![(s, 5, 6)],
        "one report for the range"
    );
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![7, 8]);
}

#[test]
fn a_run_is_refused_whole_without_the_bus_or_outside_cluster_mode() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let now = h.now;
    h.server.set_bus_available(now, false);
    h.drain();
    let err = run_at(&mut h, client.session, 1, &run(1..=2)).unwrap_err();
    assert_eq!(
        (err.taken, err.error),
        (0, SeqError::Refused(Refused::BusUnavailable))
    );

    let mut plain = Harness::new();
    let c = plain.login("192.0.2.1:5000", "alice", ALICE_PW);
    let err = run_at(&mut plain, c.session, 1, &run(1..=2)).unwrap_err();
    assert_eq!(err.error, SeqError::NotClustered);
}

#[test]
fn the_seqs_end_below_u64_max_and_nothing_overflows_there() {
    // Found by fuzzing the server harness in cluster mode: a session
    // restored at the end of the seq space computed the seq after its
    // newest, and a run reaching u64::MAX the seq after the run's last
    // (overflow panics in debug builds, wraps in release ones).
    let mut h = clustered();
    let s = restored(&mut h, X, u64::MAX - 2).session;
    let err = run_at(&mut h, s, u64::MAX - 1, &run(u64::MAX - 1..=u64::MAX)).unwrap_err();
    let past_end = SeqError::PastEnd { got: u64::MAX };
    assert_eq!((err.taken, err.error), (1, past_end));
    assert_eq!(h.server.session(s).unwrap().last_seq, u64::MAX - 1);
    let err = run_at(&mut h, s, u64::MAX, &run(1..=1)).unwrap_err();
    assert_eq!((err.taken, err.error), (0, past_end));
    let now = h.now;
    let payload = Bytes::from_static(b"x");
    let single = h.server.notify_session_at(now, s, u64::MAX, 3, payload);
    assert_eq!(single, Err(past_end));

    // Restored with everything acknowledged: it takes nothing more, and it
    // ends with nothing to report.
    let mut h = clustered();
    let s = restored(&mut h, X, u64::MAX).session;
    let err = run_at(&mut h, s, u64::MAX, &run(1..=2)).unwrap_err();
    assert_eq!(
        (err.taken, err.error),
        (1, past_end),
        "u64::MAX acknowledged"
    );
    let now = h.now;
    h.server.end_session(now, s).unwrap();
    h.drain();
    let events = h.take_events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, faxnotify_core::server::Event::Undelivered { .. })),
        "{events:?}"
    );
}
