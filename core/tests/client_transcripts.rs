//! Transcript tests of the client: a scripted server drives it through each
//! scenario; the whole exchange (inputs, outputs, decoded frames, events,
//! virtual time) is an insta snapshot, and the key facts are asserted too.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod client_harness;
#[allow(unreachable_pub)] // the shared support module is written with `pub`
mod support;

use std::time::Duration;

use client_harness::server::{ScriptedServer, notify, notify_raw};
use client_harness::{Harness, LEASE_MS, SERVER, SESSION, config, server_peer};
use faxnotify_core::ConnId;
use faxnotify_core::client::{
    BindError, CallbackClosure, CallbackRejection, ChangeSettingsError, ClientState, ConnectError,
    ConnectionKind, DisconnectReason, Event, Input, ListenPolicy, NetworkSettings, Peer,
    ProtocolError, SessionEndReason, SettingsChange, StopReason,
};
use faxnotify_core::wire::{
    Advertise, ByeReason, CallbackState, CallbackStatus, ErrorCode, Frame, Notification,
    NotificationKind, PolicyKind,
};

#[test]
fn happy_path() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Range { lo: 6000, hi: 6010 }));
    h.bind(6000);
    let ctl = h.login(&mut server, SESSION);
    h.send(
        ctl,
        &[Frame::CallbackStatus(CallbackStatus {
            state: CallbackState::Reachable,
            detail: "callback to port 6000 works".into(),
        })],
    );
    let _ = h.expect_event();
    let (cb, last) = h.open_callback(&mut server, 50_000);
    assert_eq!(last, 0, "a new session starts at seq 0 [B-2]");
    h.send(cb, &[notify(1)]);
    let (seqs, ack) = h.delivered_then_ack(cb);
    assert_eq!((seqs, ack), (vec![1], 1));
    h.send(cb, &[notify(2), notify(3)]);
    let (seqs, ack) = h.delivered_then_ack(cb);
    assert_eq!((seqs, ack), (vec![2, 3], 3), "one cumulative ACK per read");
    h.send(cb, &[Frame::Ping { nonce: 9 }]);
    assert_eq!(h.expect_frame(cb), Frame::Pong { nonce: 9 });

    // Keepalive: PING on control after lease/3 without sending there [D-4],
    // even though the callback carried ACKs meanwhile.
    h.advance(Duration::from_millis(u64::from(LEASE_MS / 3)));
    assert!(matches!(h.expect_frame(ctl), Frame::Ping { .. }));

    h.logout();
    assert_eq!(h.expect_frame(ctl), Frame::Logout);
    h.send(
        ctl,
        &[Frame::Bye {
            reason: faxnotify_core::wire::ByeReason::Logout,
        }],
    );
    h.expect_close(ctl);
    h.expect_close(cb);
    h.expect_stop_listening();
    assert_eq!(h.expect_event(), Event::LoggedOut { confirmed: true });
    assert!(h.client.is_finished());
    insta::assert_snapshot!(h.transcript());
}

/// A client logged in with a callback that delivered seq 1 and 2.
fn logged_in_with_callback() -> (Harness, ScriptedServer, ConnId, ConnId) {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    let ctl = h.login(&mut server, SESSION);
    let (cb, _) = h.open_callback(&mut server, 50_000);
    h.send(cb, &[notify(1), notify(2)]);
    let (seqs, ack) = h.delivered_then_ack(cb);
    assert_eq!((seqs, ack), (vec![1, 2], 2));
    (h, server, ctl, cb)
}

fn expect_stopped(h: &mut Harness) -> StopReason {
    match h.expect_event() {
        Event::Stopped { reason } => reason,
        other => panic!("expected Stopped, got {other:?}"),
    }
}

fn expect_error_frame(h: &mut Harness, conn: ConnId, code: ErrorCode) {
    match h.expect_frame(conn) {
        Frame::Error(e) => assert_eq!(e.code, code, "ERROR {}", e.message),
        other => panic!("expected ERROR {code}, got {other}"),
    }
}

/// Runs the login up to LOGIN_PROOF and returns the proof frame.
fn login_to_proof(h: &mut Harness, server: &mut ScriptedServer) -> (ConnId, Frame<'static>) {
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });
    h.send(ctl, &[server.hello()]);
    let login = h.expect_frame(ctl);
    let challenge = server.challenge_for(&login);
    h.send(ctl, &[challenge]);
    let proof = h.expect_frame(ctl);
    (ctl, proof)
}

#[test]
fn wrong_server_signature() {
    // the server signed a 30 s lease but the LOGIN_OK on the wire
    // carries 60 s (a downgrade/tamper attempt, or a fake server).
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let (ctl, proof) = login_to_proof(&mut h, &mut server);
    let ok = server.login_ok_unsigned(&proof, SESSION, LEASE_MS);
    let Frame::LoginOk(mut tampered) = server.sign(ok) else {
        unreachable!()
    };
    tampered.lease_ms = 60_000;
    h.send(ctl, &[Frame::LoginOk(tampered)]);
    expect_error_frame(&mut h, ctl, ErrorCode::AuthFailed);
    h.expect_close(ctl);
    h.expect_stop_listening();
    assert_eq!(expect_stopped(&mut h), StopReason::ServerSignatureInvalid);
    assert!(h.client.is_finished());
    assert_eq!(
        h.client.session(),
        None,
        "no session from an unverified LOGIN_OK"
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn iteration_cap() {
    // a challenge above the client's cap is refused with AUTH_FAILED
    // before any PBKDF2 work.
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });
    h.send(ctl, &[server.hello()]);
    let login = h.expect_frame(ctl);
    let challenge = server.challenge_with(&login, 1_000_001);
    h.send(ctl, &[challenge]);
    expect_error_frame(&mut h, ctl, ErrorCode::AuthFailed);
    h.expect_close(ctl);
    h.expect_stop_listening();
    assert_eq!(
        expect_stopped(&mut h),
        StopReason::IterationsOutOfBounds {
            iterations: 1_000_001,
            min: 4096,
            cap: 1_000_000
        }
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn fixed_port_in_use() {
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    let addr = h.bind_fail(BindError::AddrInUse);
    assert_eq!(addr.port(), 6003);
    let reason = expect_stopped(&mut h);
    assert_eq!(reason, StopReason::FixedPortInUse { port: 6003 });
    let text = reason.to_string();
    assert!(text.contains("only one client per machine"), "{text}");
    assert!(
        text.contains("`dynamic`") && text.contains("range"),
        "{text}"
    );
    h.expect_no_output(); // nothing was ever sent on the network
    assert!(h.client.is_finished());
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn range_exhausted() {
    let mut h = Harness::new(config(ListenPolicy::Range { lo: 6000, hi: 6002 }));
    let tried = [
        h.bind_fail(BindError::AddrInUse).port(),
        h.bind_fail(BindError::PermissionDenied).port(),
        h.bind_fail(BindError::AddrInUse).port(),
    ];
    assert_eq!(tried, [6000, 6001, 6002]);
    let reason = expect_stopped(&mut h);
    assert_eq!(reason, StopReason::RangeExhausted { lo: 6000, hi: 6002 });
    assert!(reason.to_string().contains("6000-6002"), "{reason}");
    h.expect_no_output();
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn range_skips_taken_ports() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Range { lo: 6000, hi: 6010 }));
    h.bind_fail(BindError::AddrInUse);
    h.bind_fail(BindError::AddrInUse);
    h.bind(6002);
    let (ctl, proof) = login_to_proof(&mut h, &mut server);
    h.send(ctl, &[server.login_ok(&proof, SESSION, LEASE_MS)]);
    assert_eq!(
        h.expect_frame(ctl),
        Frame::Advertise(Advertise {
            port: 6002,
            policy: PolicyKind::Range,
            range_lo: 6000,
            range_hi: 6010,
        })
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn spoofed_cb_hello_rejected() {
    let (mut h, mut server, _ctl, _cb) = logged_in_with_callback();
    h.note("another local process connects to the callback port, posing as the server");

    // Wrong proof, with a NOTIFY behind it in the same read: nothing is delivered [B-1].
    let spoof = h.accept(server_peer(50_001));
    let challenge = h.expect_frame(spoof);
    let (hello, _, _) = server.cb_hello(&challenge);
    let Frame::CbHello(mut bad) = hello else {
        unreachable!()
    };
    bad.proof[0] ^= 1;
    h.send(spoof, &[Frame::CbHello(bad), notify(3)]);
    expect_error_frame(&mut h, spoof, ErrorCode::AuthFailed);
    h.expect_close(spoof);
    assert!(matches!(
        h.expect_event(),
        Event::CallbackRejected {
            reason: CallbackRejection::BadProof,
            ..
        }
    ));

    // Right proof for another session id.
    let other = h.accept(server_peer(50_002));
    let challenge = h.expect_frame(other);
    let (hello, _, _) = server.cb_hello(&challenge);
    let Frame::CbHello(mut wrong) = hello else {
        unreachable!()
    };
    wrong.session_id = 0x1111;
    h.send(other, &[Frame::CbHello(wrong)]);
    expect_error_frame(&mut h, other, ErrorCode::AuthFailed);
    h.expect_close(other);
    assert!(matches!(
        h.expect_event(),
        Event::CallbackRejected {
            reason: CallbackRejection::WrongSession { received: 0x1111 },
            ..
        }
    ));
    assert_eq!(h.client.last_delivered_seq(), 2);
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn duplicate_notify_acked_not_redelivered() {
    let (mut h, mut server, _ctl, cb) = logged_in_with_callback();
    // A duplicate on the same connection: acknowledged again (cumulatively), not delivered.
    h.send(cb, &[notify(2)]);
    assert_eq!(h.expect_frame(cb), Frame::Ack { seq: 2 });

    // A newer callback completes while the old one still flushes [D-2]: the
    // server resends from the lowest unacknowledged; seqs already delivered
    // are acknowledged but handed over only once [B-3].
    let (cb2, last) = h.open_callback(&mut server, 50_001);
    assert_eq!(last, 2, "CB_READY carries the last delivered seq");
    h.send(cb2, &[notify(1), notify(2), notify(3)]);
    let (seqs, ack) = h.delivered_then_ack(cb2);
    assert_eq!((seqs, ack), (vec![3], 3));
    h.send(cb, &[notify(3), notify(4)]);
    let (seqs, ack) = h.delivered_then_ack(cb);
    assert_eq!((seqs, ack), (vec![4], 4));
    let delivered: Vec<u64> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Notification { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [1, 2, 3, 4]);
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn gap_is_an_error() {
    let (mut h, _server, ctl, cb) = logged_in_with_callback();
    // 3 is delivered and acknowledged before the gap at 5 is refused [B-3].
    h.send(cb, &[notify(3), notify(5), notify(4)]);
    assert!(matches!(
        h.expect_event(),
        Event::Notification { seq: 3, .. }
    ));
    match h.expect_frames(cb).as_slice() {
        [Frame::Ack { seq: 3 }, Frame::Error(e)] => assert_eq!(e.code, ErrorCode::UnexpectedFrame),
        other => panic!("expected ACK 3 then ERROR, got {other:?}"),
    }
    h.expect_close(cb);
    assert_eq!(
        h.expect_event(),
        Event::ProtocolError {
            conn: cb,
            connection: ConnectionKind::Callback,
            peer: Peer::Server {
                addr: server_peer(50_000)
            },
            error: ProtocolError::SequenceGap {
                expected: 4,
                received: 5
            },
        }
    );
    // Only that callback is affected: the session goes on.
    assert_eq!(h.client.session().map(|s| s.get()), Some(SESSION));
    assert!(matches!(h.client.state(), ClientState::LoggedIn { .. }));
    h.send(ctl, &[Frame::Ping { nonce: 1 }]);
    assert_eq!(h.expect_frame(ctl), Frame::Pong { nonce: 1 });
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn unknown_kind() {
    let (mut h, _server, _ctl, cb) = logged_in_with_callback();
    // [N-1]: an unknown kind, a known kind whose payload does not parse, and
    // a known kind with extra bytes after its fields: all acknowledged and
    // handed over, none an error.
    let mut extended = Notification::server_message("hi!")
        .to_payload()
        .expect("small")
        .to_vec();
    extended.extend_from_slice(b"future field");
    h.send(
        cb,
        &[
            notify_raw(3, 200, b"\x01\x02\x03"),
            notify_raw(4, 1, b"\x00\x01"),
            notify_raw(5, 3, &extended),
        ],
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        match h.expect_event() {
            Event::Notification { seq, notification } => got.push((seq, notification)),
            other => panic!("expected a notification, got {other:?}"),
        }
    }
    assert_eq!(h.expect_frame(cb), Frame::Ack { seq: 5 });
    assert!(
        matches!(&got[0].1, Notification::Unknown { kind: 200, payload } if payload.as_ref() == b"\x01\x02\x03")
    );
    assert!(matches!(
        &got[1].1,
        Notification::Malformed {
            kind: NotificationKind::FaxReceived,
            ..
        }
    ));
    assert_eq!(got[2].1, Notification::server_message("hi!"));
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn control_loss_and_resume() {
    let (mut h, mut server, ctl, _cb) = logged_in_with_callback();
    h.input(Input::Closed { conn: ctl });
    let retry_in = match h.expect_event() {
        Event::ConnectionLost {
            reason: DisconnectReason::Closed,
            attempt: 1,
            retry_in,
            ..
        } => retry_in,
        other => panic!("expected ConnectionLost, got {other:?}"),
    };
    // 0.5 s ± 20 % [B-5-like backoff].
    assert!((400..=600).contains(&retry_in.as_millis()), "{retry_in:?}");
    assert!(matches!(
        h.client.state(),
        ClientState::WaitingToReconnect {
            session: Some(_),
            attempt: 1,
            ..
        }
    ));
    h.fire_timer();
    let ctl2 = h.expect_connect();
    h.input(Input::Connected { conn: ctl2 });
    h.send(ctl2, &[server.hello()]);
    let login = h.expect_frame(ctl2);
    let Frame::Login(l) = &login else {
        panic!("{login}")
    };
    assert_eq!(
        l.resume_session, SESSION,
        "the client resumes its session [C-6]"
    );
    h.send(ctl2, &[server.challenge_for(&login)]);
    let proof = h.expect_frame(ctl2);
    h.send(ctl2, &[server.login_ok(&proof, SESSION, LEASE_MS)]);
    // Re-advertised on the new connection.
    assert!(matches!(h.expect_frame(ctl2), Frame::Advertise(_)));
    h.send(
        ctl2,
        &[Frame::AdvertiseOk {
            callback: "192.0.2.10:6003".parse().unwrap(),
        }],
    );
    assert!(matches!(
        h.expect_event(),
        Event::LoggedIn { resumed: true, .. }
    ));
    // The server dials again (with the new session key); delivery goes on from 2.
    let (cb2, last) = h.open_callback(&mut server, 50_001);
    assert_eq!(last, 2);
    h.send(cb2, &[notify(3)]);
    assert_eq!(h.delivered_then_ack(cb2), (vec![3], 3));
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::NotificationsMayHaveBeenMissed { .. })),
        "a resume loses nothing"
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn server_silence_then_resume() {
    let (mut h, _server, ctl, cb) = logged_in_with_callback();
    // A server that pings its callbacks [D-4] [D-16]: the callback's silence
    // will count too.
    h.send(cb, &[Frame::Ping { nonce: 9 }]);
    assert_eq!(h.expect_frame(cb), Frame::Pong { nonce: 9 });
    // PING after a third of the lease [C-5] [D-4]; unanswered for another
    // third, it means the path to the server is gone [D-18] (a third of
    // the server's lease is left for the resume).
    h.fire_timer();
    assert!(matches!(h.expect_frame(ctl), Frame::Ping { .. }));
    h.fire_timer();
    h.expect_close(ctl);
    assert!(matches!(
        h.expect_event(),
        Event::ConnectionLost {
            reason: DisconnectReason::ServerSilent,
            attempt: 1,
            ..
        }
    ));
    // The reconnect comes first, resuming the session; the callback's own
    // silence counts only after a whole lease (the server pings live ones
    // [D-4]), which ends it a third of a lease later.
    h.fire_timer();
    let _ = h.expect_connect();
    h.fire_timer();
    h.expect_close(cb);
    assert!(matches!(
        h.expect_event(),
        Event::CallbackClosed {
            reason: CallbackClosure::Silent { .. },
            ..
        }
    ));
    assert!(matches!(
        h.client.state(),
        ClientState::Connecting {
            resuming: Some(_),
            ..
        }
    ));
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn resume_refused_then_fresh_login() {
    let (mut h, mut server, ctl, cb) = logged_in_with_callback();
    h.input(Input::Closed { conn: ctl });
    let _ = h.expect_event();
    h.fire_timer();
    let ctl2 = h.expect_connect();
    h.input(Input::Connected { conn: ctl2 });
    h.send(ctl2, &[server.hello()]);
    let login = h.expect_frame(ctl2);
    let _ = server.challenge_for(&login);
    assert_eq!(server.last_resume, SESSION);
    h.note("the server restarted: the session is gone");
    h.send(
        ctl2,
        &[Frame::error(ErrorCode::UnknownSession, "no such session")],
    );
    assert!(matches!(
        h.expect_event(),
        Event::ErrorReceived {
            code: ErrorCode::UnknownSession,
            ..
        }
    ));
    h.expect_close(ctl2);
    assert!(matches!(
        h.expect_event(),
        Event::SessionEnded {
            reason: SessionEndReason::ResumeRefused,
            ..
        }
    ));
    assert!(matches!(
        h.expect_event(),
        Event::NotificationsMayHaveBeenMissed {
            last_delivered_seq: 2,
            ..
        }
    ));
    h.expect_close(cb); // it belonged to the old session
    // A fresh login at once, without resume [C-6], seq reset [B-2].
    h.login(&mut server, 0x2222);
    assert_eq!(server.last_resume, 0);
    assert_eq!(h.client.last_delivered_seq(), 0);
    let (cb2, last) = h.open_callback(&mut server, 50_001);
    assert_eq!(last, 0);
    h.send(cb2, &[notify(1)]);
    assert_eq!(h.delivered_then_ack(cb2), (vec![1], 1));
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn backchannel() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Range { lo: 6000, hi: 6010 }));
    h.bind(6000);
    let ctl = h.login(&mut server, SESSION);
    // The callback is unreachable; the server delivers over the control connection [D-2].
    h.send(
        ctl,
        &[Frame::CallbackStatus(CallbackStatus {
            state: CallbackState::Backchannel,
            detail: "callback to port 6000 failed; delivering over the control connection".into(),
        })],
    );
    match h.expect_event() {
        Event::CallbackStatus {
            state: CallbackState::Backchannel,
            hint: Some(hint),
            ..
        } => {
            assert!(hint.contains("192.0.2.10:6000"), "{hint}");
            assert!(
                hint.contains("open ports 6000-6010 (TCP) inbound"),
                "{hint}"
            );
        }
        other => panic!("expected CallbackStatus with a hint, got {other:?}"),
    }
    h.send(ctl, &[notify(1), notify(2)]);
    assert_eq!(h.delivered_then_ack(ctl), (vec![1, 2], 2));
    // The firewall was opened: a callback completes, the server says reachable.
    let (cb, last) = h.open_callback(&mut server, 50_000);
    assert_eq!(last, 2);
    h.send(
        ctl,
        &[Frame::CallbackStatus(CallbackStatus {
            state: CallbackState::Reachable,
            detail: "callback works".into(),
        })],
    );
    assert!(matches!(
        h.expect_event(),
        Event::CallbackStatus { hint: None, .. }
    ));
    h.send(cb, &[notify(3)]);
    assert_eq!(h.delivered_then_ack(cb), (vec![3], 3));
    // A NOTIFY on control after `reachable` is UNEXPECTED_FRAME [D-2], and an
    // ERROR on control ends the session [F-6].
    h.send(ctl, &[notify(4)]);
    expect_error_frame(&mut h, ctl, ErrorCode::UnexpectedFrame);
    h.expect_close(ctl);
    assert!(matches!(
        h.expect_event(),
        Event::ProtocolError {
            connection: ConnectionKind::Control,
            ..
        }
    ));
    assert!(matches!(
        h.expect_event(),
        Event::SessionEnded {
            reason: SessionEndReason::ControlError {
                code: ErrorCode::UnexpectedFrame
            },
            ..
        }
    ));
    assert!(matches!(
        h.expect_event(),
        Event::NotificationsMayHaveBeenMissed {
            last_delivered_seq: 3,
            ..
        }
    ));
    h.expect_close(cb);
    assert!(matches!(
        h.expect_event(),
        Event::ConnectionLost {
            reason: DisconnectReason::ProtocolError,
            ..
        }
    ));
    h.fire_timer();
    let ctl2 = h.expect_connect();
    h.input(Input::Connected { conn: ctl2 });
    h.send(ctl2, &[server.hello()]);
    let Frame::Login(l) = h.expect_frame(ctl2) else {
        panic!()
    };
    assert_eq!(l.resume_session, 0, "an ended session is not resumed");
    insta::assert_snapshot!(h.transcript_unchecked());
}

fn bye(reason: ByeReason) -> Harness {
    let (mut h, _server, ctl, cb) = logged_in_with_callback();
    h.send(ctl, &[Frame::Bye { reason }]);
    match h.expect_event() {
        Event::SessionEnded {
            session,
            reason: end,
        } => {
            assert_eq!(session.get(), SESSION);
            let expected = match reason {
                ByeReason::Logout => SessionEndReason::LoggedOutByServer,
                ByeReason::LeaseExpired => SessionEndReason::LeaseExpired,
                ByeReason::Replaced => SessionEndReason::Replaced,
                ByeReason::Shutdown => SessionEndReason::Shutdown,
                ByeReason::EndedByServer => SessionEndReason::EndedByServer,
                other => panic!("no such reason {other}"),
            };
            assert_eq!(end, expected);
        }
        other => panic!("expected SessionEnded, got {other:?}"),
    }
    assert!(matches!(
        h.expect_event(),
        Event::NotificationsMayHaveBeenMissed {
            last_delivered_seq: 2,
            ..
        }
    ));
    h.expect_close(cb);
    h.expect_close(ctl);
    h
}

fn bye_stops(reason: ByeReason) -> String {
    let mut h = bye(reason);
    h.expect_stop_listening();
    assert!(matches!(
        expect_stopped(&mut h),
        StopReason::SessionEnded { .. }
    ));
    assert!(h.client.is_finished());
    h.transcript()
}

fn bye_reconnects(reason: ByeReason) -> String {
    let mut h = bye(reason);
    assert!(matches!(
        h.expect_event(),
        Event::ConnectionLost {
            reason: DisconnectReason::SessionEnded,
            attempt: 1,
            ..
        }
    ));
    assert!(!h.client.is_finished());
    assert_eq!(h.client.session(), None);
    h.fire_timer();
    let _ = h.expect_connect();
    assert!(matches!(
        h.client.state(),
        ClientState::Connecting { resuming: None, .. }
    ));
    h.transcript()
}

#[test]
fn bye_logout_unsolicited() {
    insta::assert_snapshot!(bye_stops(ByeReason::Logout));
}

#[test]
fn bye_lease_expired() {
    insta::assert_snapshot!(bye_reconnects(ByeReason::LeaseExpired));
}

#[test]
fn bye_replaced() {
    insta::assert_snapshot!(bye_stops(ByeReason::Replaced));
}

#[test]
fn bye_shutdown() {
    insta::assert_snapshot!(bye_reconnects(ByeReason::Shutdown));
}

#[test]
fn bye_ended_by_server() {
    insta::assert_snapshot!(bye_stops(ByeReason::EndedByServer));
}

#[test]
fn bye_on_callback_closes_only_it() {
    let (mut h, _server, ctl, cb) = logged_in_with_callback();
    h.send(
        cb,
        &[Frame::Bye {
            reason: ByeReason::Replaced,
        }],
    );
    h.expect_close(cb);
    assert!(matches!(
        h.expect_event(),
        Event::CallbackClosed {
            reason: CallbackClosure::Bye {
                reason: ByeReason::Replaced
            },
            ..
        }
    ));
    h.expect_no_output();
    assert_eq!(h.client.session().map(|s| s.get()), Some(SESSION));
    h.send(ctl, &[Frame::Ping { nonce: 5 }]);
    assert_eq!(h.expect_frame(ctl), Frame::Pong { nonce: 5 });
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn settings_locked_restart_required() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    let range = NetworkSettings::new(ListenPolicy::Range { lo: 6000, hi: 6010 });

    let r = h.client.change_settings(range);
    h.note(format!(
        "change_settings(range:6000-6010) while starting = {r:?}"
    ));
    assert_eq!(r, Ok(SettingsChange::RestartRequired));
    h.bind(6003);
    let ctl = h.login(&mut server, SESSION);

    let r = h
        .client
        .change_settings(NetworkSettings::new(ListenPolicy::Dynamic));
    h.note(format!("change_settings(dynamic) while logged in = {r:?}"));
    assert!(matches!(r, Err(ChangeSettingsError::SettingsLocked { .. })));
    assert!(r.unwrap_err().to_string().contains("locked"));

    h.input(Input::Closed { conn: ctl });
    let _ = h.expect_event();
    let r = h
        .client
        .change_settings(NetworkSettings::new(ListenPolicy::Dynamic));
    h.note(format!(
        "change_settings(dynamic) while reconnecting to resume = {r:?}"
    ));
    assert!(matches!(r, Err(ChangeSettingsError::SettingsLocked { .. })));

    let r = h
        .client
        .change_settings(NetworkSettings::new(ListenPolicy::Range {
            lo: 7000,
            hi: 6000,
        }));
    h.note(format!("change_settings(range:7000-6000) = {r:?}"));
    assert!(matches!(r, Err(ChangeSettingsError::Invalid(_))));

    h.logout();
    h.expect_stop_listening();
    assert_eq!(h.expect_event(), Event::LoggedOut { confirmed: false });
    let r = h.client.change_settings(range);
    h.note(format!(
        "change_settings(range:6000-6010) after logout = {r:?}"
    ));
    assert_eq!(r, Ok(SettingsChange::RestartRequired));
    assert_eq!(
        h.client.settings().listen,
        ListenPolicy::Fixed { port: 6003 }
    );
    assert_eq!(h.client.pending_settings(), Some(&range));
    let r = h
        .client
        .change_settings(NetworkSettings::new(ListenPolicy::Fixed { port: 6003 }));
    h.note(format!("change_settings(fixed:6003) = {r:?}"));
    assert_eq!(r, Ok(SettingsChange::Unchanged));
    assert_eq!(h.client.pending_settings(), None);
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn unsupported_version() {
    let server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });
    let Frame::ServerHello(mut hello) = server.hello() else {
        unreachable!()
    };
    hello.version_min = 2;
    hello.version_max = 3;
    h.send(ctl, &[Frame::ServerHello(hello)]);
    // [D-10]: ERROR UNSUPPORTED_VERSION, close, report the server's range, no retry.
    expect_error_frame(&mut h, ctl, ErrorCode::UnsupportedVersion);
    h.expect_close(ctl);
    h.expect_stop_listening();
    assert_eq!(
        expect_stopped(&mut h),
        StopReason::UnsupportedVersion {
            server_min: 2,
            server_max: 3
        }
    );
    assert_eq!(h.client.poll_timeout(), None, "no retry");
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn lease_too_short() {
    // [D-3]: a correctly signed LOGIN_OK with lease_ms 2999 is refused with MALFORMED.
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let (ctl, proof) = login_to_proof(&mut h, &mut server);
    h.send(ctl, &[server.login_ok(&proof, SESSION, 2_999)]);
    expect_error_frame(&mut h, ctl, ErrorCode::Malformed);
    h.expect_close(ctl);
    h.expect_stop_listening();
    assert_eq!(
        expect_stopped(&mut h),
        StopReason::LeaseTooShort { lease_ms: 2_999 }
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn wrong_password() {
    let mut server = ScriptedServer::new();
    let mut cfg = config(ListenPolicy::Dynamic);
    cfg.password = "wrong horse".into();
    let mut h = Harness::new(cfg);
    h.bind(41_000);
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });
    h.send(ctl, &[server.hello()]);
    let login = h.expect_frame(ctl);
    h.send(ctl, &[server.challenge_for(&login)]);
    assert!(matches!(h.expect_frame(ctl), Frame::LoginProof { .. }));
    h.send(
        ctl,
        &[Frame::error(ErrorCode::AuthFailed, "authentication failed")],
    );
    assert!(matches!(
        h.expect_event(),
        Event::ErrorReceived {
            code: ErrorCode::AuthFailed,
            ..
        }
    ));
    h.expect_close(ctl);
    h.expect_stop_listening();
    assert_eq!(
        expect_stopped(&mut h),
        StopReason::AuthFailed {
            message: "authentication failed".into()
        }
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn handshake_timeout_and_backoff() {
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    // The server accepts but never speaks: closed after the handshake timeout [C-9].
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });
    h.fire_timer();
    h.expect_close(ctl);
    assert!(matches!(
        h.expect_event(),
        Event::ConnectionLost {
            reason: DisconnectReason::HandshakeTimeout,
            attempt: 1,
            ..
        }
    ));
    // Then the server is down: the delays double, with jitter, up to 30 s.
    let mut delays = Vec::new();
    for attempt in 2..=10 {
        h.fire_timer();
        let conn = h.expect_connect();
        let error = ConnectError::Refused;
        h.input(Input::ConnectFailed { conn, error });
        match h.expect_event() {
            Event::ConnectionLost {
                reason: DisconnectReason::ConnectFailed { error: e },
                attempt: a,
                retry_in,
                ..
            } => {
                assert_eq!(a, attempt);
                assert_eq!(e, error, "the OS's reason reaches the application");
                delays.push(retry_in);
            }
            other => panic!("expected ConnectionLost, got {other:?}"),
        }
    }
    for (i, d) in delays.iter().enumerate() {
        let base = (500u128 << (i + 1)).min(30_000);
        let ms = d.as_millis();
        assert!(
            ms * 100 >= base * 80 && ms * 100 <= base * 120,
            "attempt {}: {ms} ms vs {base}",
            i + 2
        );
    }
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn pending_callback_limit_and_timeout() {
    let (mut h, _server, _ctl, _cb) = logged_in_with_callback();
    let mut pending = Vec::new();
    for i in 0..8 {
        let c = h.accept(server_peer(51_000 + i));
        assert!(matches!(h.expect_frame(c), Frame::CbChallenge { .. }));
        pending.push(c);
    }
    // A ninth awaiting its handshake closes the oldest at once [B-7].
    let ninth = h.accept(server_peer(51_008));
    let oldest = pending.remove(0);
    h.expect_close(oldest);
    assert!(matches!(
        h.expect_event(),
        Event::CallbackRejected {
            reason: CallbackRejection::TooManyPending,
            ..
        }
    ));
    assert!(matches!(h.expect_frame(ninth), Frame::CbChallenge { .. }));
    pending.push(ninth);
    // Inputs for the closed one race with the close and are ignored.
    h.send(oldest, &[Frame::Ping { nonce: 1 }]);
    h.expect_no_output();
    // 5 s later the eight time out with ERROR TIMEOUT.
    h.advance(Duration::from_secs(5));
    for c in pending {
        expect_error_frame(&mut h, c, ErrorCode::Timeout);
        h.expect_close(c);
        assert!(matches!(
            h.expect_event(),
            Event::CallbackRejected {
                reason: CallbackRejection::HandshakeTimeout,
                ..
            }
        ));
    }
    // Room again.
    let again = h.accept(server_peer(52_000));
    assert!(matches!(h.expect_frame(again), Frame::CbChallenge { .. }));
    insta::assert_snapshot!(h.transcript());
}

/// Strangers on the callback port that never send CB_HELLO fill every
/// place for callbacks awaiting their handshake [B-7]; the server's own
/// callback, dialled next, must still get in (a newer connection closes
/// the oldest unverified one), or a few silent connections per handshake
/// timeout would keep the server's callbacks out for good.
#[test]
fn silent_strangers_cannot_keep_the_servers_callback_out() {
    let (mut h, mut server, _ctl, _cb) = logged_in_with_callback();
    let strangers: Vec<ConnId> = (0..8)
        .map(|i| {
            let c = h.accept(server_peer(51_000 + i));
            assert!(matches!(h.expect_frame(c), Frame::CbChallenge { .. }));
            c
        })
        .collect();
    let cb = h.accept(server_peer(50_001));
    h.expect_close(strangers[0]);
    match h.expect_event() {
        Event::CallbackRejected { conn, reason, .. } => {
            assert_eq!(conn, strangers[0]);
            assert_eq!(reason, CallbackRejection::TooManyPending);
        }
        other => panic!("expected CallbackRejected, got {other:?}"),
    }
    let challenge = h.expect_frame(cb);
    let (hello, cn, sn) = server.cb_hello(&challenge);
    h.send(cb, &[hello]);
    let ready = h.expect_frame(cb);
    server.check_cb_ready(&ready, &cn, &sn);
    match h.expect_event() {
        Event::CallbackEstablished { conn, .. } => assert_eq!(conn, cb),
        other => panic!("expected CallbackEstablished, got {other:?}"),
    }
    // The other strangers are left to their handshake timeout.
    h.expect_no_output();
}

#[test]
fn oversized_frame_before_login() {
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });
    // [F-1]: a length over 4 145 before LOGIN_OK is refused as soon as the
    // four length bytes are in, before any body arrives.
    h.send_bytes(ctl, &4_146u32.to_be_bytes());
    expect_error_frame(&mut h, ctl, ErrorCode::FrameTooLarge);
    h.expect_close(ctl);
    assert!(matches!(
        h.expect_event(),
        Event::ProtocolError {
            connection: ConnectionKind::Control,
            ..
        }
    ));
    assert!(matches!(
        h.expect_event(),
        Event::ConnectionLost {
            reason: DisconnectReason::ProtocolError,
            ..
        }
    ));
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn unexpected_frame_in_login() {
    let server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });
    h.send(ctl, &[server.hello()]);
    let _login = h.expect_frame(ctl);
    // A PING while awaiting LOGIN_CHALLENGE [F-3].
    h.send(ctl, &[Frame::Ping { nonce: 3 }]);
    expect_error_frame(&mut h, ctl, ErrorCode::UnexpectedFrame);
    h.expect_close(ctl);
    assert_eq!(
        h.expect_event(),
        Event::ProtocolError {
            conn: ctl,
            connection: ConnectionKind::Control,
            // Before LOGIN_OK the server has not proven itself.
            peer: Peer::Unauthenticated {
                addr: SERVER.parse().unwrap()
            },
            error: ProtocolError::UnexpectedFrame {
                frame: faxnotify_core::wire::FrameType::Ping,
                state: "while awaiting LOGIN_CHALLENGE"
            }
        }
    );
    assert!(matches!(h.expect_event(), Event::ConnectionLost { .. }));
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn logout_times_out_without_bye() {
    let (mut h, _server, ctl, cb) = logged_in_with_callback();
    h.logout();
    assert_eq!(h.expect_frame(ctl), Frame::Logout);
    assert_eq!(h.client.state(), ClientState::LoggingOut);
    // Late NOTIFYs before the BYE are still delivered exactly once.
    h.send(cb, &[notify(3)]);
    assert_eq!(h.delivered_then_ack(cb), (vec![3], 3));
    h.fire_timer();
    h.expect_close(ctl);
    h.expect_close(cb);
    h.expect_stop_listening();
    assert_eq!(h.expect_event(), Event::LoggedOut { confirmed: false });
    assert_eq!(h.client.state(), ClientState::LoggedOut);
    insta::assert_snapshot!(h.transcript());
}

/// `ListenPolicy::None`: no listener, ADVERTISE port 0, delivery over the
/// control connection from the start [C-2] [D-7].
#[test]
fn no_listener_backchannel_only() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::None));
    // No Listen: the first output is the dial.
    let (ctl, proof) = login_to_proof(&mut h, &mut server);
    h.send(ctl, &[server.login_ok(&proof, SESSION, LEASE_MS)]);
    assert_eq!(
        h.expect_frame(ctl),
        Frame::Advertise(Advertise {
            port: 0,
            policy: PolicyKind::Dynamic,
            range_lo: 0,
            range_hi: 0,
        }),
        "port 0: no listener [C-2]"
    );
    let callback = server_peer(0);
    h.send(ctl, &[Frame::AdvertiseOk { callback }]);
    match h.expect_event() {
        Event::LoggedIn {
            callback: c,
            resumed: false,
            ..
        } => assert_eq!(c, callback),
        other => panic!("expected LoggedIn, got {other:?}"),
    }
    assert_eq!(h.client.listen_addr(), None);
    // [D-7]: CALLBACK_STATUS backchannel right after ADVERTISE_OK; no hint,
    // since this is what the user chose.
    h.send(
        ctl,
        &[Frame::CallbackStatus(CallbackStatus {
            state: CallbackState::Backchannel,
            detail: "no callback port; delivering over the control connection".into(),
        })],
    );
    assert!(matches!(
        h.expect_event(),
        Event::CallbackStatus {
            state: CallbackState::Backchannel,
            hint: None,
            ..
        }
    ));
    h.send(ctl, &[notify(1), notify(2)]);
    assert_eq!(h.delivered_then_ack(ctl), (vec![1, 2], 2));

    h.logout();
    assert_eq!(h.expect_frame(ctl), Frame::Logout);
    h.send(
        ctl,
        &[Frame::Bye {
            reason: ByeReason::Logout,
        }],
    );
    h.expect_close(ctl);
    // Nothing to stop listening on.
    assert_eq!(h.expect_event(), Event::LoggedOut { confirmed: true });
    assert!(h.client.is_finished());
    insta::assert_snapshot!(h.transcript());
}

/// A server without the backchannel refuses port 0 with BAD_PORT [C-2]:
/// the client stops with the server's reason.
#[test]
fn no_listener_without_server_backchannel_stops() {
    let mut server = ScriptedServer::with_caps(faxnotify_core::wire::Caps::NONE);
    let mut h = Harness::new(config(ListenPolicy::None));
    let (ctl, proof) = login_to_proof(&mut h, &mut server);
    h.send(ctl, &[server.login_ok(&proof, SESSION, LEASE_MS)]);
    assert!(matches!(h.expect_frame(ctl), Frame::Advertise(a) if a.port == 0));
    h.send(
        ctl,
        &[Frame::error(
            ErrorCode::BadPort,
            "port 0 needs the backchannel, which was not negotiated",
        )],
    );
    let events: Vec<Event> = h
        .take_all()
        .into_iter()
        .filter_map(|o| match o {
            faxnotify_core::client::Output::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Stopped {
                reason: StopReason::AdvertiseRefused { message }
            } if message.contains("backchannel")
        )),
        "{events:?}"
    );
    assert!(h.client.is_finished());
}
