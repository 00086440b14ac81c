//! Delivery: sequence numbers and their bounds [B-2] [D-9] [D-14], the window and
//! resending [B-4], bounded queues [B-6], targets, and payloads [N-1].

use std::time::Duration;

use bytes::Bytes;
use faxnotify_core::server::{CloseReason, Event, Output, Refused, Target};
use faxnotify_core::wire::{
    ByeReason, CallbackState, CbReady, EncodedNotification, ErrorCode, Frame, MAX_PAYLOAD_LEN,
    Notification, NotificationKind, decode_whole_frames,
};

use crate::assert_transcript;
use crate::harness::*;

fn notify_n(h: &mut Harness, target: Target, n: usize) {
    for i in 0..n {
        h.server
            .notify(
                h.now,
                target.clone(),
                &Notification::server_message(format!("#{i}")),
            )
            .unwrap();
    }
    h.drain();
}

fn delivered(events: &[Event]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered {
                first_seq,
                last_seq,
                ..
            } => Some((*first_seq, *last_seq)),
            _ => None,
        })
        .collect()
}

#[test]
fn window_and_cumulative_ack() {
    // [B-4]: at most `window` in flight, pipelined; a cumulative ACK opens it.
    let mut h = Harness::with(|c| c.window = 4);
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    notify_n(&mut h, Target::Session(client.session), 10);
    assert_eq!(notify_seqs(&h.recv(cb)), vec![1, 2, 3, 4]);
    let info = h.server.session(client.session).unwrap();
    assert_eq!((info.queue_depth, info.unacked, info.last_seq), (10, 4, 10));
    h.send(cb, &Frame::Ack { seq: 2 });
    assert_eq!(notify_seqs(&h.recv(cb)), vec![5, 6]);
    h.send(cb, &Frame::Ack { seq: 6 });
    assert_eq!(notify_seqs(&h.recv(cb)), vec![7, 8, 9, 10]);
    // A repeat is harmless [D-9].
    h.send(cb, &Frame::Ack { seq: 6 });
    h.send(cb, &Frame::Ack { seq: 10 });
    assert!(h.recv(cb).is_empty());
    assert_eq!(delivered(&h.take_events()), vec![(1, 2), (3, 6), (7, 10)]);
    let info = h.server.session(client.session).unwrap();
    assert_eq!((info.queue_depth, info.unacked, info.acked_seq), (0, 0, 10));
    assert_transcript!("window_and_cumulative_ack", h.transcript());
}

#[test]
fn default_window_is_64() {
    let mut h = Harness::new();
    h.log_client_frames = false;
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    notify_n(&mut h, Target::Session(client.session), 100);
    assert_eq!(notify_seqs(&h.recv(cb)), (1..=64).collect::<Vec<_>>());
}

#[test]
fn ack_above_the_highest_sent_ends_the_session() {
    // [B-2]: UNEXPECTED_FRAME, nothing discarded, the session ends with
    // everything reported undelivered; the control connection is told why.
    let mut h = Harness::with(|c| c.window = 2);
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    notify_n(&mut h, Target::Session(client.session), 3);
    h.recv(cb);
    h.send(cb, &Frame::Ack { seq: 3 });
    assert_eq!(
        error_code(&h.recv_one(cb)),
        Some(ErrorCode::UnexpectedFrame)
    );
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
    assert!(h.is_closed(cb) && h.is_closed(client.conn));
    let events = h.take_events();
    let undelivered: Vec<u64> = events
        .iter()
        .flat_map(|e| match e {
            Event::Undelivered { notifications, .. } => {
                notifications.iter().map(|n| n.seq).collect()
            }
            _ => vec![],
        })
        .collect();
    assert_eq!(undelivered, vec![1, 2, 3]);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SessionClosed {
            reason: CloseReason::ProtocolError(_),
            ..
        }
    )));
    assert_transcript!(
        "ack_above_the_highest_sent_ends_the_session",
        h.transcript()
    );
}

#[test]
fn cb_ready_bounds() {
    // [B-2] [D-14]: last_seq above the highest sent, or below the highest
    // acknowledged before CB_HELLO.
    for (last_seq, what) in [(3u64, "above sent"), (0, "below acked")] {
        let mut h = Harness::new();
        let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
        notify_n(&mut h, Target::Session(client.session), 2);
        assert_eq!(notify_seqs(&h.recv(cb)), vec![1, 2]);
        h.send(cb, &Frame::Ack { seq: 1 });
        h.peer_closed(cb);
        let (dial, _) = h.take_dial();
        let listener = h.callback_hello(&client, dial);
        h.cb_ready(&client, &listener, last_seq);
        assert_eq!(
            error_code(&h.recv_one(dial)),
            Some(ErrorCode::UnexpectedFrame),
            "{what}"
        );
        assert!(h.server.session(client.session).is_none(), "{what}");
    }
}

#[test]
fn stale_cb_ready_after_crossing_acks() {
    // [D-14]: while a new callback's handshake is in flight, delivery goes
    // on over the backchannel and the client's ACKs overtake its CB_READY.
    // A CB_READY below what was acknowledged since CB_HELLO is merely stale:
    // the callback becomes the path and nothing is lost. Below what was
    // acknowledged *before* CB_HELLO the client went back: still a violation.
    let mut h = Harness::with(|c| c.window = 8);
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 6003);
    let (dial, _) = h.take_dial();
    h.connect_failed(dial);
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Backchannel)
    );
    notify_n(&mut h, Target::Session(client.session), 6);
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![1, 2, 3, 4, 5, 6]);
    h.send(client.conn, &Frame::Ack { seq: 2 });
    h.advance(Duration::from_millis(600));
    let (dial, _) = h.take_dial();
    h.note("CB_HELLO goes out with 2 acknowledged");
    let cb = h.callback_hello(&client, dial);
    h.note("the client, having 3, answers CB_READY 3; its ACK 4 on the backchannel overtakes it");
    h.send(client.conn, &Frame::Ack { seq: 4 });
    h.cb_ready(&client, &cb, 3);
    assert_eq!(
        notify_seqs(&h.recv(dial)),
        vec![5, 6],
        "the unacknowledged rest is resent on the new callback [B-4]"
    );
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Reachable)
    );
    h.send(dial, &Frame::Ack { seq: 6 });
    assert_eq!(
        delivered(&h.take_events()),
        vec![(1, 2), (3, 4), (5, 6)],
        "the stale CB_READY acknowledged nothing"
    );
    let info = h.server.session(client.session).unwrap();
    assert_eq!((info.queue_depth, info.acked_seq), (0, 6));

    h.note("the callback resets; the redial's CB_READY goes back below 6");
    h.peer_closed(dial);
    let (redial, _) = h.take_dial();
    let cb = h.callback_hello(&client, redial);
    h.cb_ready(&client, &cb, 5);
    let Frame::Error(error) = h.recv_one(redial) else {
        panic!("expected ERROR for CB_READY 5 after ACK 6 before CB_HELLO")
    };
    assert_eq!(error.code, ErrorCode::UnexpectedFrame);
    assert_eq!(
        error.message,
        "CB_READY last_seq 5 is below the highest seq acknowledged before CB_HELLO (6)"
    );
    assert!(h.server.session(client.session).is_none());
    assert_transcript!("stale_cb_ready_after_crossing_acks", h.transcript());
}

#[test]
fn cb_ready_discards_what_the_client_has() {
    // [B-4]: after CB_READY the server first discards everything ≤ last_seq.
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    notify_n(&mut h, Target::Session(client.session), 5);
    assert_eq!(notify_seqs(&h.recv(cb)), vec![1, 2, 3, 4, 5]);
    h.send(cb, &Frame::Ack { seq: 1 });
    h.peer_closed(cb);
    let (dial, _) = h.take_dial();
    // The client had received up to 3 before the reset.
    h.callback(&client, dial, 3);
    assert_eq!(notify_seqs(&h.recv(dial)), vec![4, 5]);
    assert_eq!(delivered(&h.take_events()), vec![(1, 1), (2, 3)]);
    assert_transcript!("cb_ready_discards_what_the_client_has", h.transcript());
}

#[test]
fn queue_is_bounded_and_refusals_are_reported() {
    // [B-6]: nothing is dropped silently.
    let mut h = Harness::with(|c| c.queue_limit = 3);
    let a = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    let b = h.login("192.0.2.11:50000", "bob", BOB_PW);
    h.advertise(&a, 0);
    h.advertise(&b, 0);
    notify_n(&mut h, Target::Session(a.session), 3);
    let report = h
        .server
        .notify(h.now, Target::All, &Notification::server_message("to all"))
        .unwrap();
    h.drain();
    assert_eq!(
        report.refused,
        vec![(a.session, Refused::QueueFull { limit: 3 })]
    );
    assert_eq!(report.accepted.len(), 1);
    assert_eq!(report.accepted[0].session, b.session);
    assert_eq!(report.accepted[0].seq, 1);
    assert!(!report.all_accepted());
    // An ACK frees room.
    h.recv(a.conn);
    h.send(a.conn, &Frame::Ack { seq: 2 });
    let report = h
        .server
        .notify(
            h.now,
            Target::Session(a.session),
            &Notification::server_message("again"),
        )
        .unwrap();
    assert_eq!(report.accepted[0].seq, 4);
}

#[test]
fn targets() {
    let mut h = Harness::new();
    let a1 = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    let a2 = h.login("192.0.2.11:50000", "alice", ALICE_PW);
    let b = h.login("192.0.2.12:50000", "bob", BOB_PW);
    for c in [&a1, &a2, &b] {
        h.advertise(c, 0);
    }
    let msg = Notification::server_message("m");
    let report = h
        .server
        .notify(h.now, Target::user("ALICE").unwrap(), &msg)
        .unwrap();
    let mut sessions: Vec<_> = report.accepted.iter().map(|a| a.session).collect();
    sessions.sort();
    let mut expected = vec![a1.session, a2.session];
    expected.sort();
    assert_eq!(sessions, expected);
    let report = h.server.notify(h.now, Target::All, &msg).unwrap();
    assert_eq!(report.accepted.len(), 3);
    let report = h
        .server
        .notify(h.now, Target::User("nobody".into()), &msg)
        .unwrap();
    assert!(report.accepted.is_empty() && report.refused.is_empty());
    let gone = faxnotify_core::SessionId::new(12345).unwrap();
    let report = h.server.notify(h.now, Target::Session(gone), &msg).unwrap();
    assert_eq!(report.refused, vec![(gone, Refused::NoSuchSession)]);
    h.drain();
    // Bob got one, each alice session two.
    assert_eq!(notify_seqs(&h.recv(b.conn)), vec![1]);
    assert_eq!(notify_seqs(&h.recv(a1.conn)), vec![1, 2]);
    assert_eq!(notify_seqs(&h.recv(a2.conn)), vec![1, 2]);
    // The listing shows who has what.
    let listing: Vec<_> = h
        .server
        .sessions()
        .map(|s| (s.user.to_string(), s.queue_depth))
        .collect();
    assert_eq!(listing.len(), 3);
    assert!(listing.contains(&("bob".to_owned(), 1)));
}

#[test]
fn payloads_are_shared_and_checked() {
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    // [N-1]: a kind this version does not know passes through unchanged.
    let seq = h
        .server
        .notify_session(h.now, client.session, 99, Bytes::from_static(b"\x01\x02"))
        .unwrap();
    assert_eq!(seq, 1);
    h.drain();
    let frames = h.recv(client.conn);
    assert!(
        matches!(&frames[0], Frame::Notify(n) if n.kind == 99 && &n.payload[..] == b"\x01\x02")
    );
    // Too large for a NOTIFY.
    let big = Bytes::from(vec![0u8; MAX_PAYLOAD_LEN + 1]);
    assert_eq!(
        h.server.notify_session(h.now, client.session, 3, big),
        Err(Refused::PayloadTooLarge {
            len: MAX_PAYLOAD_LEN + 1
        })
    );
    let fits = Bytes::from(vec![0u8; MAX_PAYLOAD_LEN]);
    assert_eq!(
        h.server.notify_session(h.now, client.session, 3, fits),
        Ok(2)
    );
    // A notification that cannot be encoded is an error for `notify`.
    let too_long = Notification::server_message("x".repeat(5000));
    assert!(h.server.notify(h.now, Target::All, &too_long).is_err());
    // A typed notification arrives as its kind and payload.
    let fax = Notification::decode(
        NotificationKind::FaxReceived.to_wire(),
        &hex::decode(
            "000000000000002a000b2b31203535352030313030000573616c657300030000018bcfe56800",
        )
        .unwrap(),
    );
    h.server.notify(h.now, Target::All, &fax).unwrap();
    h.drain();
    let frames = h.recv(client.conn);
    let Some(Frame::Notify(n)) = frames.last() else {
        panic!("{frames:?}")
    };
    assert_eq!(Notification::decode(n.kind, &n.payload), fax);
}

#[test]
fn undelivered_on_end_includes_unsent() {
    // [C-10]: every unacknowledged notification, sent or not.
    let mut h = Harness::with(|c| c.window = 2);
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    notify_n(&mut h, Target::Session(client.session), 5);
    h.recv(cb);
    h.send(cb, &Frame::Ack { seq: 1 });
    h.server.end_session(h.now, client.session).unwrap();
    h.drain();
    assert_eq!(
        h.recv(cb).last(),
        Some(&Frame::Bye {
            reason: ByeReason::EndedByServer
        })
    );
    let events = h.take_events();
    let Some(Event::Undelivered { notifications, .. }) = events
        .iter()
        .find(|e| matches!(e, Event::Undelivered { .. }))
    else {
        panic!("no undelivered event: {events:?}")
    };
    let seqs: Vec<u64> = notifications.iter().map(|n| n.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4, 5]);
    assert_eq!(
        Notification::decode(notifications[0].kind, &notifications[0].payload),
        Notification::server_message("#1")
    );
}

#[test]
fn notify_before_the_handshake_is_not_sent_early() {
    // [B-1]: nothing is sent on a callback before CB_READY is verified.
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 6003);
    let (dial, _) = h.take_dial();
    h.connected(dial);
    notify_n(&mut h, Target::All, 2);
    assert!(h.recv(dial).is_empty());
    h.send(
        dial,
        &Frame::CbChallenge {
            client_nonce: [1; 32],
        },
    );
    notify_n(&mut h, Target::All, 1);
    let frames = h.recv(dial);
    assert_eq!(frames.len(), 1, "only CB_HELLO: {frames:?}");
    // A CB_READY with a wrong proof never sees a NOTIFY.
    h.send(
        dial,
        &Frame::CbReady(CbReady {
            last_seq: 0,
            proof: [0; 32],
        }),
    );
    assert_eq!(notify_seqs(&h.recv(dial)), Vec::<u64>::new());
}

/// Notifications 0..n for `notify_session_batch`, each its own text.
fn encoded_n(n: usize) -> Vec<EncodedNotification> {
    (0..n)
        .map(|i| {
            EncodedNotification::encode(&Notification::server_message(format!("#{i}"))).unwrap()
        })
        .collect()
}

#[test]
fn a_batch_for_one_session_is_each_notification_in_turn() {
    // [B-4] [B-6]: a batch says and sends exactly what one notify_session
    // per notification would: its own seq each, the items beyond the
    // queue's room refused one by one, the window's NOTIFYs in seq order,
    // byte for byte the same transcript.
    let run = |batched: bool| {
        let mut h = Harness::with(|c| {
            c.window = 3;
            c.queue_limit = 6;
        });
        let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
        notify_n(&mut h, Target::Session(client.session), 2);
        assert_eq!(notify_seqs(&h.recv(cb)), vec![1, 2]);
        let mut results = Vec::new();
        let notifications = encoded_n(7);
        if batched {
            h.server
                .notify_session_batch(h.now, client.session, notifications, |r| results.push(r));
        } else {
            for n in notifications {
                results.push(h.server.notify_session(
                    h.now,
                    client.session,
                    n.kind(),
                    n.payload_bytes(),
                ));
            }
        }
        h.drain();
        let sent = notify_seqs(&h.recv(cb));
        h.send(cb, &Frame::Ack { seq: 3 });
        let after_ack = notify_seqs(&h.recv(cb));
        h.send(cb, &Frame::Ack { seq: 6 });
        let info = h.server.session(client.session).unwrap();
        let state = (info.queue_depth, info.unacked, info.last_seq);
        (
            results,
            sent,
            after_ack,
            state,
            h.take_events(),
            h.transcript(),
        )
    };
    let (results, sent, after_ack, state, events, transcript) = run(true);
    let full = Err(Refused::QueueFull { limit: 6 });
    assert_eq!(results, vec![Ok(3), Ok(4), Ok(5), Ok(6), full, full, full]);
    assert_eq!(sent, vec![3], "the window of 3 had room for one more");
    assert_eq!(after_ack, vec![4, 5, 6]);
    assert_eq!(state, (0, 0, 6));
    assert_eq!(delivered(&events), vec![(1, 3), (4, 6)]);
    let (results2, sent2, after_ack2, state2, events2, transcript2) = run(false);
    assert_eq!(results, results2);
    assert_eq!((sent, after_ack, state), (sent2, after_ack2, state2));
    assert_eq!(events, events2);
    assert_eq!(transcript, transcript2);
}

#[test]
fn a_batch_sends_a_whole_window_in_one_transmit() {
    // The batch's NOTIFYs leave back to back: one transmit for the window.
    let mut h = Harness::with(|c| c.window = 4);
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    let mut seqs = Vec::new();
    h.server
        .notify_session_batch(h.now, client.session, encoded_n(6), |r| {
            seqs.push(r.unwrap())
        });
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    let mut transmits = Vec::new();
    h.server.drain_into(|_, output| {
        if let Output::Transmit { conn, data } = output {
            transmits.push((conn, data));
        }
    });
    assert_eq!(transmits.len(), 1, "{transmits:?}");
    assert_eq!(transmits[0].0, cb);
    let frames = decode_whole_frames(&transmits[0].1).unwrap();
    assert_eq!(notify_seqs(&frames), vec![1, 2, 3, 4]);
    let texts: Vec<_> = frames
        .iter()
        .map(|f| match f {
            Frame::Notify(n) => Notification::decode_bytes(n.kind, n.payload.to_vec().into()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        (0..4)
            .map(|i| Notification::server_message(format!("#{i}")))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_batch_for_no_session_refuses_each() {
    let mut h = Harness::new();
    let gone = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.server.end_session(h.now, gone.session).unwrap();
    h.drain();
    let mut results = Vec::new();
    h.server
        .notify_session_batch(h.now, gone.session, encoded_n(3), |r| results.push(r));
    assert_eq!(results, vec![Err(Refused::NoSuchSession); 3]);
    h.drain();
    assert!(
        h.take_events()
            .iter()
            .all(|e| !matches!(e, Event::Delivered { .. }))
    );
}
