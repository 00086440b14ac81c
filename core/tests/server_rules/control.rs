//! The control connection after LOGIN_OK: ADVERTISE [C-2] [C-3] [D-6]
//! [D-7], lease [C-5], logout and errors [C-10] [F-6], detach and resume
//! [C-6], ending sessions and shutdown.

use std::time::Duration;

use faxnotify_core::server::{CloseReason, DeliveryPath, Event, LoginFailure, Target};
use faxnotify_core::wire::{
    Advertise, ByeReason, CallbackState, Caps, ErrorCode, Frame, Notification, PolicyKind,
};

use crate::assert_transcript;
use crate::harness::*;

fn closed_reasons(events: &[Event]) -> Vec<CloseReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionClosed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn undelivered_seqs(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .flat_map(|e| match e {
            Event::Undelivered { notifications, .. } => {
                notifications.iter().map(|n| n.seq).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn advertise_checks() {
    // [C-2] [D-6]: every inconsistent advertisement is BAD_PORT, which (an
    // ERROR after LOGIN_OK) ends the session [F-6].
    let mut h = Harness::new();
    let bad = [
        (1023, PolicyKind::Fixed, 0, 0, "port below 1024"),
        (6011, PolicyKind::Range, 6000, 6010, "port above the range"),
        (5999, PolicyKind::Range, 6000, 6010, "port below the range"),
        (1000, PolicyKind::Range, 1000, 1010, "range below 1024"),
        (
            6003,
            PolicyKind::Dynamic,
            6000,
            6010,
            "range with dynamic [D-6]",
        ),
        (
            6003,
            PolicyKind::Fixed,
            0,
            6010,
            "range_hi with fixed [D-6]",
        ),
    ];
    for (i, (port, policy, range_lo, range_hi, what)) in bad.into_iter().enumerate() {
        h.note(what);
        let client = h.login(&format!("192.0.2.10:{}", 50000 + i), "alice", ALICE_PW);
        h.send(
            client.conn,
            &Frame::Advertise(Advertise {
                port,
                policy,
                range_lo,
                range_hi,
            }),
        );
        assert_eq!(
            error_code(&h.recv_one(client.conn)),
            Some(ErrorCode::BadPort),
            "{what}"
        );
        assert!(h.is_closed(client.conn));
        assert!(h.server.session(client.session).is_none(), "{what}");
    }
    h.note("port 0 without BACKCHANNEL");
    let client = h
        .try_login("192.0.2.11:1", "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap();
    h.advertise(&client, 0);
    assert!(h.is_closed(client.conn));
    h.note("a valid range advertisement");
    let client = h.login("192.0.2.12:1", "alice", ALICE_PW);
    h.send(
        client.conn,
        &Frame::Advertise(Advertise {
            port: 6003,
            policy: PolicyKind::Range,
            range_lo: 6000,
            range_hi: 6010,
        }),
    );
    assert_eq!(
        h.recv_one(client.conn),
        Frame::AdvertiseOk {
            callback: addr("192.0.2.12:6003")
        }
    );
    assert_eq!(h.take_dial().1, addr("192.0.2.12:6003"));
    let info = h.server.session(client.session).unwrap();
    assert_eq!(info.advertised.map(|a| a.policy), Some(PolicyKind::Range));
    assert_transcript!("advertise_checks", h.transcript());
}

#[test]
fn advertise_exactly_once_right_after_login() {
    // [C-3]
    let mut h = Harness::new();
    h.note("a PING before ADVERTISE");
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.send(client.conn, &Frame::Ping { nonce: 1 });
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
    assert!(h.server.session(client.session).is_none());

    h.note("a second ADVERTISE");
    let client = h.login("192.0.2.10:50001", "alice", ALICE_PW);
    h.advertise(&client, 0);
    let replies = h.advertise(&client, 0);
    assert_eq!(error_code(&replies[0]), Some(ErrorCode::UnexpectedFrame));
    assert!(h.server.session(client.session).is_none());
    assert_transcript!("advertise_exactly_once_right_after_login", h.transcript());
}

#[test]
fn ping_keeps_the_lease_and_silence_expires_it() {
    // [C-5]: PING renews the lease and is answered; a lease of silence ends
    // the session with BYE lease expired, reporting what was undelivered.
    let mut h = Harness::with(|c| c.lease = Duration::from_secs(9));
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    for i in 0..5 {
        h.advance(Duration::from_secs(3));
        h.send(client.conn, &Frame::Ping { nonce: i });
        assert_eq!(h.recv_one(client.conn), Frame::Pong { nonce: i });
    }
    assert!(h.server.session(client.session).is_some());
    // Silence from now: a notification goes out but is never acknowledged.
    h.server
        .notify(h.now, Target::All, &Notification::server_message("hi"))
        .unwrap();
    h.drain();
    h.advance(Duration::from_millis(8_999));
    assert!(h.server.session(client.session).is_some());
    h.advance(Duration::from_millis(1));
    let frames = h.recv(client.conn);
    assert_eq!(
        frames.last(),
        Some(&Frame::Bye {
            reason: ByeReason::LeaseExpired
        })
    );
    assert!(h.is_closed(client.conn));
    let events = h.take_events();
    assert_eq!(closed_reasons(&events), vec![CloseReason::LeaseExpired]);
    assert_eq!(undelivered_seqs(&events), vec![1]);
    assert_transcript!(
        "ping_keeps_the_lease_and_silence_expires_it",
        h.transcript()
    );
}

#[test]
fn a_lease_timer_called_late_reads_what_waited_before_ending_the_session() {
    // A server that did not run for longer than the lease (SIGSTOP, a
    // stalled VM) wakes to its lease timer, late, and the client's PING
    // waiting in the socket; its runtime may call the timer first. The
    // silence was the server's own: the session must live on.
    let mut h = Harness::with(|c| c.lease = Duration::from_secs(9));
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    h.take_events();
    h.now += Duration::from_secs(15);
    h.server.handle_timeout(h.now);
    h.drain();
    assert!(
        h.server.session(client.session).is_some(),
        "ended for a silence of the server's own: {:?}",
        h.take_events()
    );
    h.send(client.conn, &Frame::Ping { nonce: 1 });
    assert_eq!(h.recv_one(client.conn), Frame::Pong { nonce: 1 });
    // Silence while the server runs still ends it, a lease after the PING.
    h.advance(Duration::from_millis(8_999));
    assert!(h.server.session(client.session).is_some());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        closed_reasons(&h.take_events()),
        vec![CloseReason::LeaseExpired]
    );
}

#[test]
fn a_lease_timer_called_late_ends_a_silent_session_a_moment_later() {
    // Nothing waited: the session ends once the server has run a moment
    // (1 s) past its late timer, and only once it has.
    let mut h = Harness::with(|c| c.lease = Duration::from_secs(9));
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    h.take_events();
    h.now += Duration::from_secs(15);
    h.server.handle_timeout(h.now);
    h.drain();
    assert!(h.server.session(client.session).is_some());
    h.advance(Duration::from_millis(999));
    assert!(h.server.session(client.session).is_some());
    h.advance(Duration::from_millis(1));
    assert!(h.server.session(client.session).is_none());
    assert_eq!(
        closed_reasons(&h.take_events()),
        vec![CloseReason::LeaseExpired]
    );
}

#[test]
fn callback_traffic_does_not_renew_the_lease() {
    // [C-5] [D-4]: only control frames count.
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    for i in 0..5 {
        h.advance(Duration::from_secs(5));
        h.server
            .notify(
                h.now,
                Target::All,
                &Notification::server_message(format!("n{i}")),
            )
            .unwrap();
        h.drain();
        let seqs = notify_seqs(&h.recv(cb));
        assert_eq!(seqs, vec![i + 1]);
        h.send(cb, &Frame::Ack { seq: i + 1 });
    }
    // 30 s after the last control frame (ADVERTISE at t=0).
    h.advance(Duration::from_secs(5));
    assert!(h.server.session(client.session).is_none());
    let frames = h.recv(cb);
    assert!(frames.contains(&Frame::Bye {
        reason: ByeReason::LeaseExpired
    }));
    assert_eq!(
        closed_reasons(&h.take_events()),
        vec![CloseReason::LeaseExpired]
    );
}

#[test]
fn logout_says_bye_on_both_connections() {
    // [C-10]
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    h.server
        .notify(
            h.now,
            Target::Session(client.session),
            &Notification::server_message("a"),
        )
        .unwrap();
    h.drain();
    h.recv(cb);
    h.send(client.conn, &Frame::Logout);
    let bye = Frame::Bye {
        reason: ByeReason::Logout,
    };
    assert_eq!(h.recv_one(client.conn), bye);
    assert_eq!(h.recv_one(cb), bye);
    assert!(h.is_closed(client.conn) && h.is_closed(cb));
    let events = h.take_events();
    assert_eq!(undelivered_seqs(&events), vec![1]);
    assert_eq!(closed_reasons(&events), vec![CloseReason::Logout]);
    assert_eq!(h.server.session_count(), 0);
    assert_eq!(h.server.connection_count(), 0);
    assert_transcript!("logout_says_bye_on_both_connections", h.transcript());
}

#[test]
fn error_from_client_ends_the_session() {
    // [F-6]: an ERROR received on the control connection after LOGIN_OK ends
    // the session as LOGOUT does.
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    h.send(
        client.conn,
        &Frame::error(ErrorCode::Malformed, "client is unhappy"),
    );
    assert!(h.recv(client.conn).is_empty(), "no reply to an ERROR");
    assert_eq!(
        h.recv_one(cb),
        Frame::Bye {
            reason: ByeReason::Logout
        }
    );
    assert!(h.is_closed(client.conn) && h.is_closed(cb));
    let events = h.take_events();
    assert!(matches!(
        &closed_reasons(&events)[..],
        [CloseReason::ProtocolError(e)] if e.code() == ErrorCode::Malformed
    ));
    assert_transcript!("error_from_client_ends_the_session", h.transcript());
}

#[test]
fn unexpected_frame_after_login_ends_the_session() {
    // [F-3] [F-6]: the server's ERROR ends the session too.
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    h.send(
        client.conn,
        &Frame::CbChallenge {
            client_nonce: [0; 32],
        },
    );
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
    assert!(h.server.session(client.session).is_none());
}

#[test]
fn ack_on_control_without_backchannel_is_unexpected() {
    // Section 7: ACK only on the active path; this control connection never
    // carried a NOTIFY, so [D-1] does not apply.
    let mut h = Harness::new();
    let (client, _cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    h.send(client.conn, &Frame::Ack { seq: 0 });
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
    assert!(h.server.session(client.session).is_none());
}

#[test]
fn detached_session_queues_then_expires() {
    // [C-5]: the control connection closes → callback closed, session
    // detached with its queue; it ends when the lease runs out [C-10].
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    h.advance(Duration::from_secs(2));
    h.peer_closed(client.conn);
    assert!(h.is_closed(cb));
    let info = h.server.session(client.session).unwrap();
    assert!(!info.attached);
    assert_eq!(info.path, DeliveryPath::None);
    let report = h
        .server
        .notify(
            h.now,
            Target::user("Alice").unwrap(),
            &Notification::server_message("queued"),
        )
        .unwrap();
    h.drain();
    assert_eq!(report.accepted.len(), 1);
    assert_eq!(h.server.session(client.session).unwrap().queue_depth, 1);
    // Detached at t=2 s: it lives for the detached grace period (120 s by
    // default), which is longer than what is left of its lease [D-15].
    h.advance(Duration::from_millis(119_999));
    assert!(h.server.session(client.session).is_some());
    h.advance(Duration::from_millis(1));
    assert!(h.server.session(client.session).is_none());
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SessionDetached { .. }))
    );
    assert_eq!(undelivered_seqs(&events), vec![1]);
    assert_eq!(closed_reasons(&events), vec![CloseReason::LeaseExpired]);
    assert_transcript!("detached_session_queues_then_expires", h.transcript());
}

#[test]
fn resume_keeps_the_queue_with_a_new_key() {
    // [C-6]
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    for text in ["one", "two", "three"] {
        h.server
            .notify(
                h.now,
                Target::Session(client.session),
                &Notification::server_message(text),
            )
            .unwrap();
    }
    h.drain();
    h.send(cb, &Frame::Ack { seq: 1 });
    h.peer_closed(client.conn);
    h.advance(Duration::from_secs(5));
    // The client comes back from another address of the same host.
    let resumed = h
        .try_login(
            "192.0.2.11:50001",
            "alice",
            ALICE_PW,
            client.session.get(),
            Caps::BACKCHANNEL,
        )
        .unwrap();
    assert_eq!(resumed.session, client.session);
    assert_ne!(
        resumed.key.as_bytes(),
        client.key.as_bytes(),
        "a new session key"
    );
    let replies = h.advertise(&resumed, 6003);
    assert_eq!(
        replies[0],
        Frame::AdvertiseOk {
            callback: addr("192.0.2.11:6003")
        }
    );
    let (dial, endpoint) = h.take_dial();
    assert_eq!(endpoint, addr("192.0.2.11:6003"));
    h.callback(&resumed, dial, 1);
    // Nothing was reported undelivered; 2 and 3 are resent.
    assert_eq!(notify_seqs(&h.recv(dial)), vec![2, 3]);
    let events = h.take_events();
    assert!(undelivered_seqs(&events).is_empty());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SessionResumed { .. }))
    );
    assert_transcript!("resume_keeps_the_queue_with_a_new_key", h.transcript());
}

#[test]
fn resume_replaces_an_open_control_connection() {
    // [C-6]: the old control connection gets BYE replaced; its callback is closed.
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    let resumed = h
        .try_login(
            "192.0.2.10:50001",
            "alice",
            ALICE_PW,
            client.session.get(),
            Caps::BACKCHANNEL,
        )
        .unwrap();
    assert_eq!(resumed.session, client.session);
    assert_eq!(
        h.recv_one(client.conn),
        Frame::Bye {
            reason: ByeReason::Replaced
        }
    );
    assert!(h.is_closed(client.conn));
    assert!(h.is_closed(cb));
    assert!(
        h.recv(cb).is_empty(),
        "the callback is closed without a BYE"
    );
    assert_eq!(h.server.session_count(), 1);
    assert!(closed_reasons(&h.take_events()).is_empty());
    assert_transcript!("resume_replaces_an_open_control_connection", h.transcript());
}

#[test]
fn resume_of_unknown_or_foreign_session() {
    // [C-6]: UNKNOWN_SESSION, checked only after a valid proof.
    let mut h = Harness::new();
    let alice = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&alice, 0);
    let err = h
        .try_login(
            "192.0.2.10:50001",
            "bob",
            BOB_PW,
            alice.session.get(),
            Caps::NONE,
        )
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::UnknownSession));
    let err = h
        .try_login("192.0.2.10:50002", "alice", ALICE_PW, 0x1234, Caps::NONE)
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::UnknownSession));
    // A wrong password never learns whether the session exists.
    let err = h
        .try_login(
            "192.0.2.10:50003",
            "alice",
            "wrong",
            alice.session.get(),
            Caps::NONE,
        )
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::AuthFailed));
    let failures: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::LoginFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        vec![
            LoginFailure::UnknownSession {
                requested: alice.session.get()
            },
            LoginFailure::UnknownSession { requested: 0x1234 },
            LoginFailure::BadCredentials,
        ]
    );
    // Alice's session is untouched.
    assert!(h.server.session(alice.session).unwrap().attached);
    assert_transcript!("resume_of_unknown_or_foreign_session", h.transcript());
}

#[test]
fn without_a_grace_period_a_detached_session_lives_out_its_lease() {
    // [C-5] alone: detached_grace 0 ends it when the lease runs out.
    let mut h = Harness::with(|c| c.detached_grace = Duration::ZERO);
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    h.advance(Duration::from_secs(10));
    h.peer_closed(client.conn);
    h.advance(Duration::from_millis(19_999));
    assert!(h.server.session(client.session).is_some());
    h.advance(Duration::from_millis(1));
    assert!(h.server.session(client.session).is_none());
    assert_eq!(
        closed_reasons(&h.take_events()),
        vec![CloseReason::LeaseExpired]
    );
}

#[test]
fn a_grace_shorter_than_the_lease_does_not_shorten_it() {
    let mut h = Harness::with(|c| c.detached_grace = Duration::from_secs(5));
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    h.peer_closed(client.conn);
    h.advance(Duration::from_millis(29_999));
    assert!(h.server.session(client.session).is_some());
    h.advance(Duration::from_millis(1));
    assert!(h.server.session(client.session).is_none());
}

#[test]
fn expired_session_cannot_be_resumed() {
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    h.peer_closed(client.conn);
    h.advance(Duration::from_secs(120));
    let err = h
        .try_login(
            "192.0.2.10:50001",
            "alice",
            ALICE_PW,
            client.session.get(),
            Caps::NONE,
        )
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::UnknownSession));
}

#[test]
fn application_ends_a_session() {
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    h.server.end_session(h.now, client.session).unwrap();
    h.drain();
    let bye = Frame::Bye {
        reason: ByeReason::EndedByServer,
    };
    assert_eq!(h.recv_one(client.conn), bye);
    assert_eq!(h.recv_one(cb), bye);
    assert_eq!(
        closed_reasons(&h.take_events()),
        vec![CloseReason::EndedByServer]
    );
    assert!(h.server.end_session(h.now, client.session).is_err());
    assert_transcript!("application_ends_a_session", h.transcript());
}

#[test]
fn shutdown_says_bye_to_everyone() {
    let mut h = Harness::new();
    let (alice, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    let bob = h.login("192.0.2.20:50000", "bob", BOB_PW);
    h.advertise(&bob, 0);
    h.server
        .notify(
            h.now,
            Target::Session(bob.session),
            &Notification::server_message("x"),
        )
        .unwrap();
    h.drain();
    h.recv(bob.conn);
    let pending = h.accept("192.0.2.30:1");
    h.recv(pending);
    h.server.shutdown(h.now);
    h.drain();
    let bye = Frame::Bye {
        reason: ByeReason::Shutdown,
    };
    assert_eq!(h.recv_one(alice.conn), bye);
    assert_eq!(h.recv_one(cb), bye);
    assert_eq!(h.recv_one(bob.conn), bye);
    assert_eq!(
        error_code(&h.recv_one(pending)),
        Some(ErrorCode::ShuttingDown)
    );
    let events = h.take_events();
    assert_eq!(
        closed_reasons(&events),
        vec![CloseReason::Shutdown, CloseReason::Shutdown]
    );
    assert_eq!(undelivered_seqs(&events), vec![1]);
    assert!(h.server.is_shut_down());
    assert_eq!(h.server.poll_timeout(), None);
    let late = h.accept("192.0.2.30:2");
    assert_eq!(error_code(&h.recv_one(late)), Some(ErrorCode::ShuttingDown));
    assert_transcript!("shutdown_says_bye_to_everyone", h.transcript());
}

#[test]
fn backchannel_delivery_with_port_zero() {
    // [D-7]: delivery on the control connection; ACKs there are on the active path.
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    assert!(h.take_dials().is_empty(), "port 0 is never dialled");
    h.server
        .notify(
            h.now,
            Target::All,
            &Notification::server_message("over control"),
        )
        .unwrap();
    h.drain();
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![1]);
    h.send(client.conn, &Frame::Ack { seq: 1 });
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::Delivered {
            first_seq: 1,
            last_seq: 1,
            ..
        }
    )));
    let info = h.server.session(client.session).unwrap();
    assert_eq!(info.path, DeliveryPath::Backchannel(client.conn));
    assert_eq!(info.callback_state, Some(CallbackState::Backchannel));
    assert_eq!(info.queue_depth, 0);
    assert_transcript!("backchannel_delivery_with_port_zero", h.transcript());
}
