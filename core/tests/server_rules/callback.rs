//! Callback connections: the handshake [B-1], dialling with backoff and
//! per-IP caps [B-5], the backchannel and back [B-4] [D-1] [D-8], timeouts
//! and keepalive [B-7] [D-4], takeover [C-4].

use std::time::Duration;

use faxnotify_core::server::{CloseReason, DeliveryPath, Event, Target};
use faxnotify_core::wire::{
    ByeReason, CallbackState, Caps, CbReady, ErrorCode, Frame, Notification,
};

use crate::assert_transcript;
use crate::harness::*;

fn notify_text(h: &mut Harness, target: Target, text: &str) {
    h.server
        .notify(h.now, target, &Notification::server_message(text))
        .unwrap();
    h.drain();
}

fn callback_statuses(events: &[Event]) -> Vec<CallbackState> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::CallbackStatus { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_and_first_delivery() {
    // Spec section 7 / the worked example: CB_CHALLENGE, CB_HELLO, CB_READY, NOTIFY, ACK.
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    notify_text(
        &mut h,
        Target::Session(client.session),
        "queued before ADVERTISE",
    );
    let replies = h.advertise(&client, 6003);
    assert_eq!(replies.len(), 1, "no status before the first outcome");
    let (dial, endpoint) = h.take_dial();
    assert_eq!(endpoint, addr("192.0.2.10:6003"));
    let cb = h.callback_hello(&client, dial);
    assert!(
        h.recv(dial).is_empty(),
        "nothing before CB_READY is verified"
    );
    h.cb_ready(&client, &cb, 0);
    assert_eq!(notify_seqs(&h.recv(dial)), vec![1]);
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Reachable)
    );
    h.send(dial, &Frame::Ack { seq: 1 });
    let events = h.take_events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Delivered {
            first_seq: 1,
            last_seq: 1,
            ..
        }
    )));
    assert_eq!(callback_statuses(&events), vec![CallbackState::Reachable]);
    let info = h.server.session(client.session).unwrap();
    assert_eq!(info.path, DeliveryPath::Callback(dial));
    assert_eq!((info.queue_depth, info.unacked, info.acked_seq), (0, 0, 1));
    assert_transcript!("handshake_and_first_delivery", h.transcript());
}

#[test]
fn bad_cb_ready_proof_delivers_nothing() {
    // [B-1]: a listener without the session key (another local user's
    // process on that port) gets AUTH_FAILED and nothing else; the server
    // backs off and dials again.
    let mut h = Harness::with(|c| c.caps = Caps::NONE);
    let client = h
        .try_login("192.0.2.10:50000", "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap();
    notify_text(&mut h, Target::All, "secret");
    h.advertise(&client, 6003);
    let (dial, _) = h.take_dial();
    let cb = h.callback_hello(&client, dial);
    h.send(
        dial,
        &Frame::CbReady(CbReady {
            last_seq: 0,
            proof: [0xee; 32],
        }),
    );
    let _ = cb;
    let frames = h.recv(dial);
    assert_eq!(frames.len(), 1);
    assert_eq!(error_code(&frames[0]), Some(ErrorCode::AuthFailed));
    assert!(h.is_closed(dial));
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Unreachable)
    );
    let info = h.server.session(client.session).unwrap();
    assert_eq!(info.queue_depth, 1);
    h.advance(Duration::from_millis(600));
    assert_eq!(h.take_dials().len(), 1, "dialled again after the backoff");
    assert_transcript!("bad_cb_ready_proof_delivers_nothing", h.transcript());
}

#[test]
fn unreachable_then_reachable() {
    // [B-5] without BACKCHANNEL: first failure → unreachable; notifications
    // queue; a later success → reachable and delivery.
    let mut h = Harness::new();
    let client = h
        .try_login("192.0.2.10:50000", "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap();
    h.advertise(&client, 6003);
    let (dial, _) = h.take_dial();
    h.connect_failed(dial);
    let status = h.recv_one(client.conn);
    assert_eq!(callback_state(&status), Some(CallbackState::Unreachable));
    // [B-5]: the detail does not say refused or timed out.
    let Frame::CallbackStatus(s) = &status else {
        unreachable!()
    };
    assert!(!s.detail.contains("refused") && !s.detail.contains("timed out"));
    notify_text(&mut h, Target::All, "waiting");
    assert!(h.recv(client.conn).is_empty(), "no NOTIFY without a path");
    // The second attempt times out (no Connected within 5 s): no new status.
    h.advance(Duration::from_millis(600));
    let (dial, _) = h.take_dial();
    h.advance(Duration::from_secs(5));
    assert!(h.is_closed(dial));
    assert!(h.recv(client.conn).is_empty());
    // The third succeeds.
    h.advance(Duration::from_millis(1_200));
    let (dial, _) = h.take_dial();
    h.callback(&client, dial, 0);
    assert_eq!(notify_seqs(&h.recv(dial)), vec![1]);
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Reachable)
    );
    assert_eq!(
        callback_statuses(&h.take_events()),
        vec![CallbackState::Unreachable, CallbackState::Reachable]
    );
    assert_transcript!("unreachable_then_reachable", h.transcript());
}

#[test]
fn backchannel_and_back() {
    // [B-5] with BACKCHANNEL: a failure moves delivery to the control
    // connection; a later handshake moves it back, resending from the lowest
    // unacknowledged [B-4]; a late ACK on the control connection is fine [D-1].
    let mut h = Harness::with(|c| c.window = 8);
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 6003);
    let (dial, _) = h.take_dial();
    h.connect_failed(dial);
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Backchannel)
    );
    for text in ["a", "b", "c", "d"] {
        notify_text(&mut h, Target::All, text);
    }
    assert_eq!(notify_seqs(&h.recv(client.conn)), vec![1, 2, 3, 4]);
    h.send(client.conn, &Frame::Ack { seq: 1 });
    // The retry succeeds; the client has 1..=2 (it acknowledges 2 late).
    h.advance(Duration::from_millis(600));
    let (dial, _) = h.take_dial();
    let cb = h.callback_hello(&client, dial);
    h.cb_ready(&client, &cb, 1);
    assert_eq!(notify_seqs(&h.recv(dial)), vec![2, 3, 4]);
    let frames = h.recv(client.conn);
    assert_eq!(callback_state(&frames[0]), Some(CallbackState::Reachable));
    assert!(
        notify_seqs(&frames).is_empty(),
        "nothing more on the control connection"
    );
    h.send(client.conn, &Frame::Ack { seq: 2 }); // [D-1] late, accepted
    assert!(h.recv(client.conn).is_empty());
    h.send(dial, &Frame::Ack { seq: 4 });
    let info = h.server.session(client.session).unwrap();
    assert_eq!((info.queue_depth, info.acked_seq), (0, 4));
    assert_eq!(
        callback_statuses(&h.take_events()),
        vec![CallbackState::Backchannel, CallbackState::Reachable]
    );
    // A late ACK above what was sent is still a violation [D-1].
    h.send(client.conn, &Frame::Ack { seq: 9 });
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
    assert!(h.server.session(client.session).is_none());
    assert_transcript!("backchannel_and_back", h.transcript());
}

#[test]
fn backoff_doubles_with_jitter_up_to_thirty_seconds() {
    // [B-5]: 0.5 s doubling to 30 s, ±20 %, for as long as the session lives.
    let mut h = Harness::with(|c| c.lease = Duration::from_secs(600));
    h.log_client_frames = false;
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 6003);
    let mut failures_at = Vec::new();
    let mut dials_at = Vec::new();
    for _ in 0..10 {
        let (dial, _) = h.take_dial();
        dials_at.push(h.now);
        h.connect_failed(dial);
        failures_at.push(h.now);
        // Step in 10 ms increments until the next dial shows up.
        while h.pending_dials() == 0 {
            h.advance(Duration::from_millis(10));
            if (h.now - failures_at[failures_at.len() - 1]) > Duration::from_secs(40) {
                panic!("no redial within 40 s");
            }
        }
    }
    let delays: Vec<u128> = failures_at
        .iter()
        .zip(&dials_at[1..])
        .map(|(f, d)| (*d - *f).as_millis())
        .collect();
    let bases = [
        500u128, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ];
    for (delay, base) in delays.iter().zip(bases) {
        assert!(
            *delay >= base * 80 / 100 && *delay <= base * 120 / 100 + 10,
            "delay {delay} ms outside base {base} ± 20 %: {delays:?}"
        );
    }
    // Jitter: not all 30 s delays are equal.
    assert!(delays[6..].windows(2).any(|w| w[0] != w[1]), "{delays:?}");
    // Heartbeats keep the session; it is still dialling.
    assert!(h.server.session(client.session).is_some());
}

#[test]
fn at_most_four_dials_per_destination_ip() {
    // [B-5]: a Terminal Server with six users behind one address.
    let mut h = Harness::with(|c| c.max_sessions_per_user = 10);
    h.log_client_frames = false;
    let mut clients = Vec::new();
    for i in 0..6u16 {
        let client = h.login(&format!("192.0.2.50:{}", 50000 + i), "alice", ALICE_PW);
        h.advertise(&client, 6000 + i);
        clients.push(client);
    }
    let first = h.take_dials();
    assert_eq!(first.len(), 4, "{first:?}");
    // Another destination is not held up.
    let other = h.login("192.0.2.51:50000", "bob", BOB_PW);
    h.advertise(&other, 6000);
    assert_eq!(h.take_dials().len(), 1);
    // Each connect that finishes, either way, frees a slot for the next in line.
    h.connect_failed(first[0].0);
    let fifth = h.take_dial();
    assert_eq!(fifth.1, addr("192.0.2.50:6004"));
    h.connected(first[1].0);
    let sixth = h.take_dial();
    assert_eq!(sixth.1, addr("192.0.2.50:6005"));
    // A handshake in progress does not hold a slot; the failed first dial's retry waits.
    h.advance(Duration::from_millis(700));
    assert!(
        h.take_dials().is_empty(),
        "4 connects in progress: the retry waits"
    );
    h.connect_failed(first[2].0);
    assert_eq!(h.take_dial().1, addr("192.0.2.50:6000"));
    assert_transcript!("at_most_four_dials_per_destination_ip", h.transcript());
}

#[test]
fn callback_handshake_timeout() {
    // [B-7]: 5 s to connect, then 5 s for the handshake.
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 6003);
    let (dial, _) = h.take_dial();
    h.advance(Duration::from_secs(4));
    h.connected(dial);
    h.advance(Duration::from_millis(4_999));
    assert!(!h.is_closed(dial));
    h.advance(Duration::from_millis(1));
    assert_eq!(error_code(&h.recv_one(dial)), Some(ErrorCode::Timeout));
    assert!(h.is_closed(dial));
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Backchannel)
    );
    // A dial that never connects is closed by the server after 5 s.
    h.advance(Duration::from_millis(600));
    let (dial, _) = h.take_dial();
    h.advance(Duration::from_secs(5));
    assert!(h.is_closed(dial));
    assert!(
        h.recv(dial).is_empty(),
        "nothing is written on a dial that never connected"
    );
    assert_transcript!("callback_handshake_timeout", h.transcript());
}

#[test]
fn keepalive_and_dead_callback() {
    // [D-4]: PING after lease/3 idle; a lease of silence kills the callback,
    // which is dialled again at once [D-8]; when that fails the path changes.
    let mut h = Harness::with(|c| c.lease = Duration::from_secs(9));
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    for _ in 0..3 {
        h.advance(Duration::from_secs(3));
        h.send(client.conn, &Frame::Ping { nonce: 7 });
        h.recv(client.conn);
    }
    // PINGs went out at 3 s and 6 s; no PONG came back, so at 9 s the
    // callback is dead (checked before another PING would be due).
    let pings = h
        .recv(cb)
        .into_iter()
        .filter(|f| matches!(f, Frame::Ping { .. }))
        .count();
    assert_eq!(pings, 2);
    assert!(h.is_closed(cb), "silent for a lease: dead");
    let (redial, _) = h.take_dial();
    h.connect_failed(redial);
    assert_eq!(
        callback_state(&h.recv_one(client.conn)),
        Some(CallbackState::Backchannel)
    );
    assert!(h.server.session(client.session).is_some());
    assert_transcript!("keepalive_and_dead_callback", h.transcript());
}

#[test]
fn pong_keeps_a_callback_alive() {
    let mut h = Harness::with(|c| c.lease = Duration::from_secs(9));
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    for _ in 0..6 {
        h.advance(Duration::from_secs(3));
        h.send(client.conn, &Frame::Ping { nonce: 1 });
        for frame in h.recv(cb) {
            if let Frame::Ping { nonce } = frame {
                h.send(cb, &Frame::Pong { nonce });
            }
        }
    }
    assert!(!h.is_closed(cb));
    // A PONG with an unknown nonce is ignored [B-7].
    h.send(cb, &Frame::Pong { nonce: 0xdead });
    assert!(!h.is_closed(cb));
    let _ = client;
}

#[test]
fn working_callback_reset_is_redialled_at_once() {
    // [D-8]: no status while the immediate redial succeeds; NOTIFYs resent [B-4].
    let mut h = Harness::new();
    let (client, cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    notify_text(&mut h, Target::All, "one");
    assert_eq!(notify_seqs(&h.recv(cb)), vec![1]);
    h.peer_closed(cb);
    let (redial, _) = h.take_dial();
    h.callback(&client, redial, 0);
    assert_eq!(notify_seqs(&h.recv(redial)), vec![1]);
    assert!(
        h.recv(client.conn).is_empty(),
        "still reachable: no CALLBACK_STATUS"
    );
    // A second reset whose redial fails changes the path.
    h.peer_closed(redial);
    let (again, _) = h.take_dial();
    h.connect_failed(again);
    let frames = h.recv(client.conn);
    assert_eq!(callback_state(&frames[0]), Some(CallbackState::Backchannel));
    assert_eq!(notify_seqs(&frames), vec![1], "resent on the backchannel");
    assert_transcript!(
        "working_callback_reset_is_redialled_at_once",
        h.transcript()
    );
}

#[test]
fn takeover_of_a_held_endpoint() {
    // [C-4]: a client restarted on the same fixed port logs in anew; when
    // its handshake succeeds, the old session is replaced and its
    // unacknowledged notifications are reported.
    let mut h = Harness::new();
    let (old, old_cb) = h.online("192.0.2.10:50000", "alice", ALICE_PW, 6003);
    notify_text(&mut h, Target::Session(old.session), "for the old instance");
    h.recv(old_cb);
    // The old process died without closing (its control connection still looks open).
    let new = h.login("192.0.2.10:50001", "alice", ALICE_PW);
    h.advertise(&new, 6003);
    let (dial, _) = h.take_dial();
    // Holding needs a *successful* handshake: while it runs nothing changes.
    let cb = h.callback_hello(&new, dial);
    assert!(h.server.session(old.session).is_some());
    h.cb_ready(&new, &cb, 0);
    assert_eq!(
        h.recv_one(old.conn),
        Frame::Bye {
            reason: ByeReason::Replaced
        }
    );
    assert!(h.is_closed(old.conn) && h.is_closed(old_cb));
    assert!(h.server.session(old.session).is_none());
    let events = h.take_events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Undelivered { session, notifications, .. }
            if *session == old.session && notifications.len() == 1
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SessionClosed { reason: CloseReason::Replaced { by }, .. } if *by == new.session
    )));
    assert_transcript!("takeover_of_a_held_endpoint", h.transcript());
}

#[test]
fn no_takeover_without_a_handshake() {
    // [C-4]: sessions that are unreachable or backchannel-only hold nothing.
    let mut h = Harness::new();
    let a = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&a, 6003);
    let (dial, _) = h.take_dial();
    h.connect_failed(dial);
    let b = h.login("192.0.2.10:50001", "bob", BOB_PW);
    h.advertise(&b, 6003);
    let (dial, _) = h.take_dial();
    h.callback(&b, dial, 0);
    assert!(h.server.session(a.session).is_some());
    // Now b holds it: a's next successful handshake there replaces b.
    h.advance(Duration::from_millis(600));
    let (dial, _) = h.take_dial();
    h.callback(&a, dial, 0);
    assert!(h.server.session(b.session).is_none());
    assert!(h.server.session(a.session).is_some());
}
