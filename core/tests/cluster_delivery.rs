//! Cluster mode's delivery [D-17]: notifications from the shared log with
//! their seq, a restored session's first acknowledgement, acknowledgements
//! to persist, release without BYE, and a server cut off from the bus.

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
use common::{answer, claims, clustered, delivered, on_backchannel, one_claim, open, restored};
use faxnotify_core::SessionId;
use faxnotify_core::server::{
    ClaimAnswer, Event, LoginFailure, Refused, SeqError, Sequenced, SessionRecord, Target,
};
use faxnotify_core::wire::{Caps, ErrorCode, Frame, Notification};
use harness::{ALICE_PW, Harness, error_code, notify_seqs};

const X: u64 = 0x0123_4567_89ab_cdef;

fn payload(n: u8) -> Bytes {
    Bytes::from(vec![n])
}

fn at(h: &mut Harness, s: SessionId, seq: u64) -> Result<Sequenced, SeqError> {
    let now = h.now;
    let r = h
        .server
        .notify_session_at(now, s, seq, 3, payload(seq as u8));
    h.drain();
    r
}

#[test]
fn a_seq_from_the_log_must_be_the_next_one() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    assert_eq!(at(&mut h, s, 1), Ok(Sequenced::Queued));
    assert_eq!(
        at(&mut h, s, 3),
        Err(SeqError::Gap {
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        at(&mut h, s, 1),
        Err(SeqError::Repeat {
            expected: 2,
            got: 1
        })
    );
    assert_eq!(at(&mut h, s, 2), Ok(Sequenced::Queued));
    assert_eq!(
        h.server.session(s).unwrap().last_seq,
        2,
        "errors change nothing"
    );
    let replies = h.advertise(&client, 0);
    assert_eq!(notify_seqs(&replies), vec![1, 2], "{replies:?}");
    h.send(client.conn, &Frame::Ack { seq: 2 });
    assert_eq!(
        delivered(&h.take_events()),
        vec![(s, 1, 2)],
        "what to persist"
    );
    assert_eq!(at(&mut h, s, 2), Ok(Sequenced::AlreadyAcknowledged));
    assert_eq!(at(&mut h, s, 1), Ok(Sequenced::AlreadyAcknowledged));
    let unknown = SessionId::new(7).unwrap();
    assert_eq!(
        at(&mut h, unknown, 1),
        Err(SeqError::Refused(Refused::NoSuchSession))
    );
}

#[test]
fn a_full_queue_refuses_the_seq_which_is_given_again_later() {
    let mut h = Harness::with(|c| {
        c.queue_limit = 2;
        c.cluster = Some(faxnotify_core::server::ClusterConfig::default());
    });
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    at(&mut h, s, 1).unwrap();
    at(&mut h, s, 2).unwrap();
    assert_eq!(
        at(&mut h, s, 3),
        Err(SeqError::Refused(Refused::QueueFull { limit: 2 }))
    );
    on_backchannel(&mut h, &client);
    h.recv(client.conn);
    h.send(client.conn, &Frame::Ack { seq: 1 });
    assert_eq!(at(&mut h, s, 3), Ok(Sequenced::Queued));
}

#[test]
fn the_servers_own_numbering_is_refused_in_cluster_mode_and_seqs_outside_it() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let now = h.now;
    let report = h
        .server
        .notify(
            now,
            Target::Session(client.session),
            &Notification::server_message("hi"),
        )
        .unwrap();
    assert_eq!(report.refused, vec![(client.session, Refused::Clustered)]);

    let mut plain = Harness::new();
    let c = plain.login("192.0.2.1:5000", "alice", ALICE_PW);
    assert_eq!(at(&mut plain, c.session, 1), Err(SeqError::NotClustered));
}

#[test]
fn a_restored_session_continues_after_the_records_acknowledged_seq() {
    let mut h = clustered();
    let client = restored(&mut h, X, 5);
    let s = client.session;
    assert_eq!(at(&mut h, s, 5), Ok(Sequenced::AlreadyAcknowledged));
    assert_eq!(
        at(&mut h, s, 7),
        Err(SeqError::Gap {
            expected: 6,
            got: 7
        })
    );
    assert_eq!(at(&mut h, s, 6), Ok(Sequenced::Queued));
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![6]);
    h.send(client.conn, &Frame::Ack { seq: 6 });
    assert_eq!(delivered(&h.take_events()), vec![(s, 6, 6)]);
}

#[test]
fn the_first_ack_after_a_restore_says_what_the_client_had_from_the_previous_server() {
    // The record says 3 (persisted acks lag); the client had 4..=6 from the
    // previous server. Redelivered 4 is a duplicate to it, so it ACKs 6
    // [B-3]: that is not "above what was sent" here.
    let mut h = clustered();
    let client = restored(&mut h, X, 3);
    let s = client.session;
    at(&mut h, s, 4).unwrap();
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![4]);
    h.send(client.conn, &Frame::Ack { seq: 6 });
    assert!(!h.is_closed(client.conn), "accepted");
    assert_eq!(delivered(&h.take_events()), vec![(s, 4, 4)]);
    // 5 and 6 arrive from the log: reported delivered, never sent again.
    assert_eq!(at(&mut h, s, 5), Ok(Sequenced::DeliveredBefore));
    assert_eq!(at(&mut h, s, 6), Ok(Sequenced::DeliveredBefore));
    assert_eq!(delivered(&h.take_events()), vec![(s, 5, 5), (s, 6, 6)]);
    assert!(h.recv(client.conn).is_empty());
    assert_eq!(at(&mut h, s, 7), Ok(Sequenced::Queued));
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![7]);
    h.send(client.conn, &Frame::Ack { seq: 6 });
    h.send(client.conn, &Frame::Ack { seq: 7 });
    assert_eq!(delivered(&h.take_events()), vec![(s, 7, 7)]);
    // Only the first acknowledgement may exceed what was sent [B-2].
    h.send(client.conn, &Frame::Ack { seq: 9 });
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
    assert_eq!(h.server.session_count(), 0);
}

#[test]
fn a_first_ack_within_what_was_sent_ends_the_allowance() {
    let mut h = clustered();
    let client = restored(&mut h, X, 3);
    let s = client.session;
    at(&mut h, s, 4).unwrap();
    h.recv(client.conn);
    h.send(client.conn, &Frame::Ack { seq: 4 });
    at(&mut h, s, 5).unwrap();
    h.recv(client.conn);
    h.send(client.conn, &Frame::Ack { seq: 8 });
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
}

#[test]
fn a_cb_ready_after_a_restore_may_state_more_than_was_sent_here() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    let proven = h
        .login_to_proof(conn, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(&mut h);
    answer(
        &mut h,
        claim,
        ClaimAnswer::Restore(SessionRecord::new("alice", 3)),
    );
    let client = h.login_reply(&proven).unwrap();
    let replies = h.advertise(&client, 6000);
    assert!(matches!(replies[0], Frame::AdvertiseOk { .. }));
    let (dial, _) = h.take_dial();
    let cb = h.callback(&client, dial, 10);
    assert!(!h.is_closed(cb.conn));
    h.take_events();
    let s = client.session;
    for seq in 4..=10 {
        assert_eq!(at(&mut h, s, seq), Ok(Sequenced::DeliveredBefore));
    }
    assert_eq!(at(&mut h, s, 11), Ok(Sequenced::Queued));
    assert_eq!(notify_seqs(&h.recv(cb.conn)), vec![11]);
}

#[test]
fn release_closes_without_bye_and_reports_nothing_undelivered() {
    let mut h = clustered();
    let (client, dial) = {
        let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
        h.advertise(&client, 6000);
        let (dial, _) = h.take_dial();
        h.callback(&client, dial, 0);
        h.recv(client.conn);
        (client, dial)
    };
    let s = client.session;
    at(&mut h, s, 1).unwrap();
    at(&mut h, s, 2).unwrap();
    h.recv(dial);
    h.take_events();
    let now = h.now;
    h.server.release_session(now, s).unwrap();
    h.drain();
    assert!(
        h.recv(client.conn).is_empty(),
        "no BYE: the session lives on"
    );
    assert!(h.recv(dial).is_empty());
    assert!(h.is_closed(client.conn) && h.is_closed(dial));
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::SessionReleased { session, .. }] if *session == s),
        "{events:?}"
    );
    assert_eq!(h.server.session_count(), 0);
    assert!(h.server.release_session(now, s).is_err());
    // Its client comes back: this server no longer holds it, so it asks.
    let conn = h.accept("192.0.2.1:5001");
    h.login_to_proof(conn, "alice", ALICE_PW, s.get(), Caps::BACKCHANNEL)
        .unwrap();
    assert_eq!(one_claim(&mut h).2, s);
}

#[test]
fn without_the_bus_nothing_is_accepted_and_logins_are_refused_for_now() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    let s = client.session;
    h.peer_closed(client.conn);
    let waiting = h.accept("192.0.2.1:5001");
    h.login_to_proof(waiting, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(&mut h);
    let proving = h.accept("192.0.2.1:5002");
    let now = h.now;
    h.server.set_bus_available(now, false);
    h.drain();
    assert!(!h.server.bus_available());
    // The waiting login is refused at once; its answer finds nothing.
    assert_eq!(
        error_code(&h.recv_one(waiting)),
        Some(ErrorCode::ShuttingDown)
    );
    assert!(
        h.server
            .handle_claim(now, claim, ClaimAnswer::Opened)
            .is_err()
    );
    // A login in progress is refused after its proof, a resume of a
    // session held here too: the server may no longer own it.
    h.login_to_proof(proving, "alice", ALICE_PW, s.get(), Caps::BACKCHANNEL)
        .unwrap();
    assert_eq!(
        error_code(&h.recv_one(proving)),
        Some(ErrorCode::ShuttingDown)
    );
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::LoginFailed {
            reason: LoginFailure::ClusterUnavailable,
            ..
        }
    )));
    // New connections are refused before SERVER_HELLO.
    let late = h.accept("192.0.2.1:5003");
    assert_eq!(error_code(&h.recv_one(late)), Some(ErrorCode::ShuttingDown));
    assert!(h.is_closed(late));
    assert_eq!(
        at(&mut h, s, 1),
        Err(SeqError::Refused(Refused::BusUnavailable))
    );
    // Back: the held session resumes without a claim.
    h.server.set_bus_available(now, true);
    let again = h
        .try_login(
            "192.0.2.1:5004",
            "alice",
            ALICE_PW,
            s.get(),
            Caps::BACKCHANNEL,
        )
        .unwrap();
    assert_eq!(again.session, s);
    assert!(claims(&mut h).is_empty());
    assert_eq!(at(&mut h, s, 1), Ok(Sequenced::Queued));
}

/// [D-17] rule 6: a client cut off from its server alone (a dropped route)
/// falls silent there while it may reach another server, which refuses the
/// resume while this one holds the session. A lease of silence detaches
/// the session instead of ending it: no BYE, nothing reported undelivered,
/// the session kept for its grace (the node's glue lets it go to the
/// cluster); a single server still ends it ([D-15], server_rules).
#[test]
fn a_control_connection_silent_for_a_lease_detaches_the_session() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    on_backchannel(&mut h, &client);
    let s = client.session;
    at(&mut h, s, 1).unwrap();
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![1]);
    h.take_events();
    let lease = std::time::Duration::from_millis(u64::from(client.lease_ms));
    h.advance(lease + std::time::Duration::from_secs(1));
    assert!(
        h.recv(client.conn).is_empty(),
        "no BYE: the session lives on"
    );
    assert!(h.is_closed(client.conn));
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SessionDetached { session, .. } if *session == s)),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::SessionClosed { .. } | Event::Undelivered { .. })),
        "{events:?}"
    );
    assert_eq!(h.server.session_count(), 1);
    // What the client missed is still there for the next owner: releasing
    // it reports nothing undelivered either.
    let now = h.now;
    h.server.release_session(now, s).unwrap();
    h.drain();
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::SessionReleased { session, .. }] if *session == s),
        "{events:?}"
    );
}

#[test]
fn shutdown_in_cluster_mode_releases_every_session() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    on_backchannel(&mut h, &client);
    h.recv(client.conn);
    at(&mut h, client.session, 1).unwrap();
    h.recv(client.conn);
    h.take_events();
    let now = h.now;
    h.server.shutdown(now);
    h.drain();
    assert!(h.recv(client.conn).is_empty(), "no BYE shutdown");
    assert!(h.is_closed(client.conn));
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SessionReleased { .. }))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Undelivered { .. } | Event::SessionClosed { .. })),
        "{events:?}"
    );
    assert!(h.server.is_shut_down());
}
