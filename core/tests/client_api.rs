//! The client's API contract: misuse errors, determinism, segmentation,
//! logout and resume corner cases.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod client_harness;
#[allow(unreachable_pub)] // the shared support module is written with `pub`
mod support;

use std::time::{Duration, Instant};

use client_harness::server::{ScriptedServer, notify};
use client_harness::{Harness, LEASE_MS, SESSION, config, server_peer};
use faxnotify_core::ConnId;
use faxnotify_core::client::{
    BindError, CallbackRejection, Client, ClientState, ConnectError, ConnectionKind, Event, Input,
    InputError, ListenPolicy, LogoutError, Output, Peer, ProtocolError, SessionEndReason,
};
use faxnotify_core::wire::{ByeReason, ErrorCode, Frame, FrameType};
use faxnotify_testkit::Endpoint;
use faxnotify_testkit::frames::encode;

/// A scripted session touching every part of the client, including jittered
/// reconnects, PINGs and fresh nonces.
fn script(seed: [u8; 32]) -> String {
    let mut server = ScriptedServer::new();
    let mut h = Harness::with_seed(config(ListenPolicy::Range { lo: 6000, hi: 6010 }), seed);
    h.bind_fail(BindError::AddrInUse);
    h.bind(6001);
    let ctl = h.login(&mut server, SESSION);
    let (cb, _) = h.open_callback(&mut server, 50_000);
    h.send(cb, &[notify(1), notify(2)]);
    h.advance(Duration::from_secs(10));
    h.input(Input::Closed { conn: ctl });
    h.fire_timer();
    let ctl2 = h
        .take_all()
        .into_iter()
        .find_map(|o| match o {
            Output::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("a reconnect");
    h.input(Input::Connected { conn: ctl2 });
    h.login_on(ctl2, &mut server, SESSION);
    let (cb2, _) = h.open_callback(&mut server, 50_001);
    h.send(cb2, &[notify(2), notify(3)]);
    h.logout();
    h.send(
        ctl2,
        &[Frame::Bye {
            reason: ByeReason::Logout,
        }],
    );
    h.transcript_unchecked()
}

#[test]
fn same_seed_same_transcript() {
    let a = script([1; 32]);
    let b = script([1; 32]);
    assert_eq!(a, b);
    let c = script([2; 32]);
    assert_ne!(a, c, "nonces and jitter come from the seed");
}

/// The events of a whole session, with every input fed whole or split into
/// pieces of `chunk` bytes.
fn events_with_chunks(chunk: Option<usize>) -> Vec<Event> {
    let mut server = ScriptedServer::new();
    let now = Instant::now();
    let client = Client::new(config(ListenPolicy::Fixed { port: 6003 }), [3; 32], now).unwrap();
    let mut client = Endpoint::new(client);
    let feed = |client: &mut Endpoint<Client>, conn: ConnId, frames: &[Frame<'_>]| {
        let data = encode(frames);
        let step = chunk.unwrap_or(data.len());
        for piece in data.chunks(step) {
            client.receive(now, conn, piece);
        }
    };
    let local = "0.0.0.0:6003".parse().unwrap();
    client.input(now, Input::Bound { local });
    let ctl = ConnId::from_raw(1);
    client.input(now, Input::Connected { conn: ctl });
    feed(&mut client, ctl, &[server.hello()]);
    let login = client.take_frames(ctl).remove(0);
    feed(&mut client, ctl, &[server.challenge_for(&login)]);
    let proof = client.take_frames(ctl).remove(0);
    feed(
        &mut client,
        ctl,
        &[
            server.login_ok(&proof, SESSION, LEASE_MS),
            Frame::AdvertiseOk {
                callback: "192.0.2.10:6003".parse().unwrap(),
            },
            Frame::Ping { nonce: 4 },
        ],
    );
    client.take_transmitted(ctl);
    let cb = client.accept(now, server_peer(50_000));
    let challenge = client.take_frames(cb).remove(0);
    let (hello, _, _) = server.cb_hello(&challenge);
    // CB_HELLO and the first NOTIFYs in one stream.
    feed(
        &mut client,
        cb,
        &[hello, notify(1), notify(2), notify(1), notify(3)],
    );
    client.take_events()
}

#[test]
fn any_segmentation_gives_the_same_events() {
    // [F-5]: one byte at a time, odd chunks, or whole.
    let whole = events_with_chunks(None);
    let delivered: Vec<u64> = whole
        .iter()
        .filter_map(|e| match e {
            Event::Notification { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [1, 2, 3]);
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(events_with_chunks(Some(chunk)), whole, "chunk {chunk}");
    }
}

#[test]
fn api_misuse_is_an_error_and_changes_nothing() {
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    let now = h.now;
    let listen = h.expect_listen();
    // A handle the client never issued.
    assert_eq!(
        h.client.handle_input(
            now,
            Input::Connected {
                conn: ConnId::from_raw(1)
            }
        ),
        Err(InputError::UnknownConnection {
            conn: ConnId::from_raw(1)
        })
    );
    // Bound on another port than the fixed one.
    assert!(matches!(
        h.client.handle_input(
            now,
            Input::Bound {
                local: "0.0.0.0:6004".parse().unwrap()
            }
        ),
        Err(InputError::ListenMismatch { .. })
    ));
    assert!(matches!(
        h.client.handle_input(
            now,
            Input::BindFailed {
                addr: "0.0.0.0:6004".parse().unwrap(),
                error: BindError::AddrInUse
            }
        ),
        Err(InputError::ListenMismatch { .. })
    ));
    assert_eq!(h.client.state(), ClientState::Starting);
    assert!(h.client.poll_output().is_none());
    h.client
        .handle_input(now, Input::Bound { local: listen })
        .unwrap();
    assert_eq!(
        h.client.handle_input(now, Input::Bound { local: listen }),
        Err(InputError::NoListenPending)
    );
    h.client.discard_outputs();
    let ctl = ConnId::from_raw(1);
    assert_eq!(
        h.client.handle_input(
            now,
            Input::Received {
                conn: ctl,
                data: b"x"
            }
        ),
        Err(InputError::NotConnected { conn: ctl })
    );
    h.client
        .handle_input(now, Input::Connected { conn: ctl })
        .unwrap();
    assert_eq!(
        h.client.handle_input(now, Input::Connected { conn: ctl }),
        Err(InputError::AlreadyConnected { conn: ctl })
    );
    assert_eq!(
        h.client.handle_input(
            now,
            Input::ConnectFailed {
                conn: ctl,
                error: ConnectError::Refused
            }
        ),
        Err(InputError::AlreadyConnected { conn: ctl })
    );
    let cb = h.client.handle_accept(now, server_peer(50_000));
    assert_eq!(
        h.client.handle_input(now, Input::Connected { conn: cb }),
        Err(InputError::NotDialled { conn: cb })
    );
    assert_eq!(
        h.client.handle_input(
            now,
            Input::Closed {
                conn: ConnId::from_raw(99)
            }
        ),
        Err(InputError::UnknownConnection {
            conn: ConnId::from_raw(99)
        })
    );
    // Closed connections: late inputs race with Close and are ignored.
    h.client
        .handle_input(now, Input::Closed { conn: cb })
        .unwrap();
    h.client
        .handle_input(
            now,
            Input::Received {
                conn: cb,
                data: b"\0\0\0\x09\x10",
            },
        )
        .unwrap();
    h.client
        .handle_input(now, Input::Closed { conn: cb })
        .unwrap();
    let _ = h.transcript_unchecked();
}

#[test]
fn logout_corner_cases() {
    // Before the listener is bound: finishes at once; the late Bound gets a StopListening.
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    let listen = h.expect_listen();
    h.logout();
    assert_eq!(h.expect_event(), Event::LoggedOut { confirmed: false });
    h.input(Input::Bound { local: listen });
    h.expect_stop_listening();
    assert_eq!(h.client.logout(h.now), Err(LogoutError::Finished));
    assert_eq!(h.client.poll_timeout(), None);
    let conn = h.accept(server_peer(50_000));
    h.expect_close(conn);
    assert!(matches!(
        h.expect_event(),
        Event::CallbackRejected {
            reason: CallbackRejection::NotListening,
            ..
        }
    ));

    // While logging out.
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    let ctl = h.login(&mut server, SESSION);
    h.logout();
    assert_eq!(h.expect_frame(ctl), Frame::Logout);
    assert_eq!(h.client.logout(h.now), Err(LogoutError::AlreadyLoggingOut));
    // The server closes without BYE: logged out, unconfirmed.
    h.input(Input::Closed { conn: ctl });
    h.expect_stop_listening();
    assert_eq!(h.expect_event(), Event::LoggedOut { confirmed: false });
    assert_eq!(h.client.state(), ClientState::LoggedOut);
    let _ = h.transcript();
}

#[test]
fn resume_answered_with_another_session_resets_the_seq() {
    // [B-2]: LOGIN_OK.session_id differs from the session asked to resume.
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    let ctl = h.login(&mut server, SESSION);
    let (cb, _) = h.open_callback(&mut server, 50_000);
    h.send(cb, &[notify(1)]);
    let _ = h.delivered_then_ack(cb);
    h.input(Input::Closed { conn: ctl });
    let _ = h.expect_event();
    h.fire_timer();
    let ctl2 = h.expect_connect();
    h.input(Input::Connected { conn: ctl2 });
    h.send(ctl2, &[server.hello()]);
    let login = h.expect_frame(ctl2);
    h.send(ctl2, &[server.challenge_for(&login)]);
    assert_eq!(server.last_resume, SESSION);
    let proof = h.expect_frame(ctl2);
    h.send(ctl2, &[server.login_ok(&proof, 0x9999, LEASE_MS)]);
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
            last_delivered_seq: 1,
            ..
        }
    ));
    h.expect_close(cb);
    assert!(matches!(h.expect_frame(ctl2), Frame::Advertise(_)));
    assert_eq!(h.client.last_delivered_seq(), 0);
    assert_eq!(h.client.session().map(|s| s.get()), Some(0x9999));
    let _ = h.transcript();
}

#[test]
fn callback_misbehaviour_closes_only_that_callback() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    let ctl = h.expect_connect();
    h.input(Input::Connected { conn: ctl });

    // CB_HELLO before any session exists.
    let early = h.accept(server_peer(50_000));
    let challenge = h.expect_frame(early);
    server.key = Some(faxnotify_core::auth::SessionKey::from_bytes([1; 32]));
    server.session_id = SESSION;
    let (hello, _, _) = server.cb_hello(&challenge);
    h.send(early, &[hello]);
    match h.expect_frame(early) {
        Frame::Error(e) => assert_eq!(e.code, ErrorCode::AuthFailed),
        other => panic!("{other}"),
    }
    h.expect_close(early);
    assert!(matches!(
        h.expect_event(),
        Event::CallbackRejected {
            reason: CallbackRejection::NoSession,
            ..
        }
    ));

    h.login_on(ctl, &mut server, SESSION);
    // NOTIFY before the handshake [D-2].
    let c = h.accept(server_peer(50_001));
    let _ = h.expect_frame(c);
    h.send(c, &[notify(1)]);
    match h.expect_frame(c) {
        Frame::Error(e) => assert_eq!(e.code, ErrorCode::UnexpectedFrame),
        other => panic!("{other}"),
    }
    h.expect_close(c);
    assert_eq!(
        h.expect_event(),
        Event::ProtocolError {
            conn: c,
            connection: ConnectionKind::Callback,
            // Before CB_HELLO the peer is anyone who can reach the port.
            peer: Peer::Unauthenticated {
                addr: server_peer(50_001)
            },
            error: ProtocolError::UnexpectedFrame {
                frame: FrameType::Notify,
                state: "on a callback awaiting CB_HELLO"
            }
        }
    );
    // Garbage on an established callback: UNKNOWN_FRAME.
    let (cb, _) = h.open_callback(&mut server, 50_002);
    h.send_bytes(cb, &[0, 0, 0, 1, 0x55]);
    match h.expect_frame(cb) {
        Frame::Error(e) => assert_eq!(e.code, ErrorCode::UnknownFrame),
        other => panic!("{other}"),
    }
    h.expect_close(cb);
    assert!(matches!(h.expect_event(), Event::ProtocolError { .. }));
    // An ERROR from the server on a callback.
    let (cb, _) = h.open_callback(&mut server, 50_003);
    h.send(cb, &[Frame::error(ErrorCode::ShuttingDown, "bye")]);
    assert_eq!(
        h.expect_event(),
        Event::ErrorReceived {
            conn: cb,
            connection: ConnectionKind::Callback,
            // After a verified CB_HELLO it is the server.
            peer: Peer::Server {
                addr: server_peer(50_003)
            },
            code: ErrorCode::ShuttingDown,
            message: "bye".into(),
        }
    );
    h.expect_close(cb);
    // An ERROR from a stranger before any CB_HELLO: its text is reported as
    // an unauthenticated peer's, with its address, never as the server's.
    let stranger = "10.0.0.7:40000".parse().unwrap();
    let c = h.accept(stranger);
    let _ = h.expect_frame(c);
    h.send(
        c,
        &[Frame::error(
            ErrorCode::ShuttingDown,
            "\n#2 server message: \"pay\"\x1b[2J",
        )],
    );
    assert_eq!(
        h.expect_event(),
        Event::ErrorReceived {
            conn: c,
            connection: ConnectionKind::Callback,
            peer: Peer::Unauthenticated { addr: stranger },
            code: ErrorCode::ShuttingDown,
            message: "\n#2 server message: \"pay\"\x1b[2J".into(),
        }
    );
    h.expect_close(c);
    // None of this touched the session.
    assert!(matches!(h.client.state(), ClientState::LoggedIn { .. }));
    h.send(ctl, &[Frame::Ping { nonce: 2 }]);
    assert_eq!(h.expect_frame(ctl), Frame::Pong { nonce: 2 });
    let _ = h.transcript();
}

#[test]
fn old_callbacks_beyond_the_limit_are_closed() {
    let mut server = ScriptedServer::new();
    let mut cfg = config(ListenPolicy::Fixed { port: 6003 });
    cfg.max_callbacks = 2;
    let mut h = Harness::new(cfg);
    h.bind(6003);
    h.login(&mut server, SESSION);
    let (a, _) = h.open_callback(&mut server, 50_000);
    let (b, _) = h.open_callback(&mut server, 50_001);
    let c = h.accept(server_peer(50_002));
    let challenge = h.expect_frame(c);
    let (hello, _, _) = server.cb_hello(&challenge);
    h.send(c, &[hello]);
    assert!(matches!(h.expect_frame(c), Frame::CbReady(_)));
    assert!(matches!(
        h.expect_event(),
        Event::CallbackEstablished { .. }
    ));
    h.expect_close(a);
    match h.expect_event() {
        Event::CallbackClosed { conn, reason, .. } => {
            assert_eq!(conn, a);
            assert_eq!(reason, faxnotify_core::client::CallbackClosure::Superseded);
        }
        other => panic!("expected CallbackClosed, got {other:?}"),
    }
    // b and c still deliver.
    h.send(b, &[notify(1)]);
    assert_eq!(h.delivered_then_ack(b), (vec![1], 1));
    h.send(c, &[notify(2)]);
    assert_eq!(h.delivered_then_ack(c), (vec![2], 2));
    let _ = h.transcript();
}

#[test]
fn user_name_is_sent_prepared() {
    let mut server = ScriptedServer::new();
    let mut cfg = config(ListenPolicy::Dynamic);
    cfg.user = "ALICE".into();
    let mut h = Harness::new(cfg);
    h.bind(41_000);
    // The scripted server asserts LOGIN.user == "alice" (UsernameCaseMapped)
    // and checks the proof computed from the prepared password.
    h.login(&mut server, SESSION);
    let _ = h.transcript();
}

#[test]
fn ipv6_server_listens_on_ipv6() {
    let mut cfg = config(ListenPolicy::Dynamic);
    cfg.servers = vec!["[2001:db8::1]:4580".parse().unwrap()];
    let mut client = Endpoint::new(Client::new(cfg, [0; 32], Instant::now()).unwrap());
    assert_eq!(
        client.next_output(),
        Some(Output::Listen {
            addr: "[::]:0".parse().unwrap()
        })
    );
    // An IPv4-mapped server address counts as IPv4 [C-1].
    let mut cfg = config(ListenPolicy::Fixed { port: 6003 });
    cfg.servers = vec!["[::ffff:192.0.2.1]:4580".parse().unwrap()];
    let mut client = Endpoint::new(Client::new(cfg, [0; 32], Instant::now()).unwrap());
    assert_eq!(
        client.next_output(),
        Some(Output::Listen {
            addr: "0.0.0.0:6003".parse().unwrap()
        })
    );
}

#[test]
fn state_follows_the_life_of_the_client() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    assert_eq!(h.client.state(), ClientState::Starting);
    h.bind(6003);
    assert_eq!(
        h.client.state(),
        ClientState::Connecting {
            resuming: None,
            attempt: 0
        }
    );
    let ctl = h.login(&mut server, SESSION);
    assert!(matches!(
        h.client.state(),
        ClientState::LoggedIn { callback: None, .. }
    ));
    h.input(Input::Closed { conn: ctl });
    let _ = h.expect_event();
    match h.client.state() {
        ClientState::WaitingToReconnect {
            session: Some(s),
            attempt: 1,
            retry_in,
        } => {
            assert_eq!(s.get(), SESSION);
            assert!(retry_in > Duration::ZERO);
        }
        other => panic!("{other:?}"),
    }
    h.fire_timer();
    let _ = h.expect_connect();
    assert!(matches!(
        h.client.state(),
        ClientState::Connecting {
            resuming: Some(_),
            attempt: 1
        }
    ));
    let _ = h.transcript();
}

#[test]
fn frames_received_on_control_do_not_postpone_the_keepalive() {
    // [C-5] [D-4]: the client pings a third of the lease after it last
    // *sent* on the control connection. Receiving a frame that needs no
    // answer (here CALLBACK_STATUS) sends nothing, so it must not move the
    // PING; otherwise a server sending such frames often enough would never
    // hear from the client and expire its lease.
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    let ctl = h.login(&mut server, SESSION); // ADVERTISE was the last frame sent
    let ping_after = Duration::from_millis(u64::from(LEASE_MS / 3));
    h.advance(ping_after - Duration::from_secs(1));
    h.expect_no_output();
    let status = Frame::CallbackStatus(faxnotify_core::wire::CallbackStatus {
        state: faxnotify_core::wire::CallbackState::Reachable,
        detail: "callback to port 6003 connected".into(),
    });
    h.send(ctl, &[status]);
    assert!(matches!(h.expect_event(), Event::CallbackStatus { .. }));
    h.expect_no_output();
    h.advance(Duration::from_secs(1));
    assert!(
        matches!(h.expect_frame(ctl), Frame::Ping { .. }),
        "PING a third of the lease after the last frame sent"
    );
    let _ = h.transcript();
}
