//! The login: framing before LOGIN_OK [F-1]..[F-5], version [C-8], unknown
//! users, the failed-login limiter and unauthenticated bound,
//! the handshake timeout [C-9], session limits [C-7], and IPv4-mapped peers [C-1].

use std::time::Duration;

use faxnotify_core::auth::{DEFAULT_ITERATIONS, unknown_user_salt};
use faxnotify_core::server::{Event, LoginFailure, Refusal, Server};
use faxnotify_core::wire::{
    CallbackState, Caps, ErrorCode, Frame, Login, MAX_PRELOGIN_FRAME_LEN, Role,
};

use crate::assert_transcript;
use crate::harness::*;

#[test]
fn login_happy_path() {
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    assert_eq!(client.role, Role::User);
    assert_eq!(client.lease_ms, 30_000);
    assert_eq!(client.caps, Caps::BACKCHANNEL);
    let replies = h.advertise(&client, 0);
    // [D-7]: port 0 → ADVERTISE_OK with the client's IP and port 0, then backchannel.
    assert_eq!(
        replies[0],
        Frame::AdvertiseOk {
            callback: addr("192.0.2.10:0")
        }
    );
    assert_eq!(
        callback_state(&replies[1]),
        Some(CallbackState::Backchannel)
    );
    let events = h.take_events();
    assert!(
        matches!(&events[0], Event::SessionOpened { user, role: Role::User, .. } if &**user == "alice")
    );
    let info = h.server.session(client.session).unwrap();
    assert!(info.attached);
    assert_eq!(info.callback_state, Some(CallbackState::Backchannel));
    assert_transcript!("login_happy_path", h.transcript());
}

#[test]
fn admin_role_and_caps_intersection() {
    let mut h = Harness::new();
    let client = h
        .try_login(
            "192.0.2.10:50000",
            "bob",
            BOB_PW,
            0,
            Caps::from_bits(0xffff_fffe),
        )
        .unwrap();
    assert_eq!(client.role, Role::Admin);
    // Unknown bits ignored; BACKCHANNEL not requested → not negotiated.
    assert_eq!(client.caps, Caps::NONE);
}

#[test]
fn unknown_user_looks_like_wrong_password() {
    // same challenge shape, same ERROR, same event reason.
    let mut h = Harness::new();
    let wrong = h
        .try_login("192.0.2.10:50000", "alice", "wrong", 0, Caps::BACKCHANNEL)
        .unwrap_err();
    let unknown = h
        .try_login(
            "192.0.2.10:50001",
            "mallory",
            "whatever",
            0,
            Caps::BACKCHANNEL,
        )
        .unwrap_err();
    assert_eq!(wrong.1, unknown.1);
    assert_eq!(error_code(&wrong.1), Some(ErrorCode::AuthFailed));
    assert!(h.is_closed(wrong.0) && h.is_closed(unknown.0));
    let reasons: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::LoginFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, vec![LoginFailure::BadCredentials; 2]);
    assert_transcript!("unknown_user_looks_like_wrong_password", h.transcript());
}

/// The challenge an unknown user gets: salt and iterations.
fn challenge_for(h: &mut Harness, peer: &str, user: &str) -> (Vec<u8>, u32) {
    let conn = h.accept(peer);
    h.recv(conn);
    h.send(
        conn,
        &Frame::Login(Login {
            version: 1,
            user: user.to_owned().into(),
            client_nonce: [9; 32],
            caps: Caps::BACKCHANNEL,
            resume_session: 0,
        }),
    );
    match h.recv_one(conn) {
        Frame::LoginChallenge(c) => (c.salt.into_owned(), c.iterations),
        other => panic!("expected a challenge, got {other}"),
    }
}

#[test]
fn unknown_user_salt_is_stable_across_restarts() {
    let mut h = Harness::new();
    let (salt, iterations) = challenge_for(&mut h, "192.0.2.10:50000", "mallory");
    assert_eq!(salt, unknown_user_salt(&SECRET, "mallory").to_vec());
    assert_eq!(iterations, DEFAULT_ITERATIONS);
    let (again, _) = challenge_for(&mut h, "192.0.2.10:50001", "mallory");
    assert_eq!(salt, again);
    // A restarted server (another seed, same persisted secret) gives the same salt.
    let mut restarted = Harness::with_seed([1; 32], |_| {});
    let (after_restart, _) = challenge_for(&mut restarted, "192.0.2.10:50000", "mallory");
    assert_eq!(salt, after_restart);
    // Real users get their own salt, same length and count as fake ones.
    let (real, real_iterations) = challenge_for(&mut h, "192.0.2.10:50002", "alice");
    assert_eq!(real, SALT_ALICE.to_vec());
    assert_eq!(real.len(), salt.len());
    assert_eq!(real_iterations, iterations);
}

#[test]
fn unsupported_version() {
    // [C-8]
    let mut h = Harness::new();
    let conn = h.accept("192.0.2.10:50000");
    h.recv(conn);
    h.send(
        conn,
        &Frame::Login(Login {
            version: 2,
            user: "alice".into(),
            client_nonce: [1; 32],
            caps: Caps::BACKCHANNEL,
            resume_session: 0,
        }),
    );
    assert_eq!(
        error_code(&h.recv_one(conn)),
        Some(ErrorCode::UnsupportedVersion)
    );
    assert!(h.is_closed(conn));
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::LoginFailed {
            reason: LoginFailure::UnsupportedVersion { version: 2 },
            ..
        }
    )));
    assert_transcript!("unsupported_version", h.transcript());
}

#[test]
fn prelogin_frame_limit() {
    // [F-1]: refused as soon as the length prefix is in, before any body.
    let mut h = Harness::new();
    let conn = h.accept("192.0.2.10:50000");
    h.recv(conn);
    h.send_bytes(
        conn,
        &(MAX_PRELOGIN_FRAME_LEN + 1).to_be_bytes(),
        "length prefix 4146",
    );
    assert_eq!(
        error_code(&h.recv_one(conn)),
        Some(ErrorCode::FrameTooLarge)
    );
    assert!(h.is_closed(conn));

    // The largest LOGIN (a 4 096-byte user) is exactly at the limit and accepted.
    let conn = h.accept("192.0.2.10:50001");
    h.recv(conn);
    let login = Frame::Login(Login {
        version: 1,
        user: "u".repeat(4096).into(),
        client_nonce: [1; 32],
        caps: Caps::BACKCHANNEL,
        resume_session: 0,
    });
    assert_eq!(login.encoded_len() - 4, MAX_PRELOGIN_FRAME_LEN as usize);
    h.log_client_frames = false;
    h.send(conn, &login);
    assert!(matches!(h.recv_one(conn), Frame::LoginChallenge(_)));
    assert_transcript!("prelogin_frame_limit", h.transcript());
}

#[test]
fn after_login_the_limit_is_65535() {
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advertise(&client, 0);
    // A 5 000-byte frame of an unknown type: past the length check, refused by type.
    let mut bytes = 5000u32.to_be_bytes().to_vec();
    bytes.push(0x55);
    bytes.extend_from_slice(&[0; 4999]);
    h.send_bytes(client.conn, &bytes, "5000-byte frame of type 0x55");
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::UnknownFrame)
    );
}

#[test]
fn framing_errors_before_login() {
    // [F-2] [F-3] [F-4]: each closes the connection with its code.
    let mut h = Harness::new();
    let cases: [(&[u8], &str, ErrorCode); 4] = [
        (&[0, 0, 0, 0], "length 0", ErrorCode::Malformed),
        (
            &[0, 0, 0, 1, 0x66],
            "unknown type 0x66",
            ErrorCode::UnknownFrame,
        ),
        (
            &[0, 0, 0, 3, 0x12, 0, 0],
            "LOGOUT with two bytes of body",
            ErrorCode::Malformed,
        ),
        (
            &[0, 0, 0, 9, 0x10, 0, 0, 0, 0, 0, 0, 0, 1],
            "PING before LOGIN",
            ErrorCode::UnexpectedFrame,
        ),
    ];
    for (i, (bytes, what, code)) in cases.into_iter().enumerate() {
        let conn = h.accept(&format!("192.0.2.10:{}", 50000 + i));
        h.recv(conn);
        h.send_bytes(conn, bytes, what);
        assert_eq!(error_code(&h.recv_one(conn)), Some(code), "{what}");
        assert!(h.is_closed(conn), "{what}");
    }
    assert_transcript!("framing_errors_before_login", h.transcript());
}

#[test]
fn one_byte_at_a_time() {
    // [F-5]: a login split into single bytes works like a whole one.
    let mut h = Harness::new();
    h.log_client_frames = false;
    let conn = h.accept("192.0.2.10:50000");
    h.recv(conn);
    let login = Frame::Login(Login {
        version: 1,
        user: "alice".into(),
        client_nonce: [3; 32],
        caps: Caps::BACKCHANNEL,
        resume_session: 0,
    })
    .to_vec()
    .unwrap();
    for byte in &login[..login.len() - 1] {
        h.server
            .handle_input(
                h.now,
                faxnotify_core::server::Input::Received {
                    conn,
                    data: std::slice::from_ref(byte),
                },
            )
            .unwrap();
        assert_eq!(
            h.server.poll_output(),
            None,
            "no output before the frame is whole"
        );
    }
    h.send_bytes(conn, &login[login.len() - 1..], "last byte of LOGIN");
    assert!(matches!(h.recv_one(conn), Frame::LoginChallenge(_)));
}

#[test]
fn failed_login_limiter() {
    // [A-5] [D-15]: 5 failures of one name from one address in a burst, then
    // LOGIN for that name there is refused until one failure is forgiven
    // (60 s / 5 = every 12 s); 20 failures of any names shut the address
    // (one forgiven every 3 s); other addresses are unaffected.
    let mut h = Harness::new();
    for i in 0..5 {
        let err = h
            .try_login(
                &format!("192.0.2.66:{}", 40000 + i),
                "alice",
                "guess",
                0,
                Caps::NONE,
            )
            .unwrap_err();
        assert_eq!(error_code(&err.1), Some(ErrorCode::AuthFailed));
    }
    let err = h
        .try_login("192.0.2.66:40005", "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::LimitExceeded));
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::LoginFailed {
            reason: LoginFailure::TooManyFailedLogins,
            ..
        }
    )));
    h.log_client_frames = false;
    for i in 0..15 {
        let err = h
            .try_login(
                &format!("192.0.2.66:{}", 40010 + i),
                &format!("user{i}"),
                "guess",
                0,
                Caps::NONE,
            )
            .unwrap_err();
        assert_eq!(error_code(&err.1), Some(ErrorCode::AuthFailed));
    }
    h.log_client_frames = true;
    let refused = h.accept("192.0.2.66:40100");
    assert_eq!(
        error_code(&h.recv_one(refused)),
        Some(ErrorCode::LimitExceeded)
    );
    assert!(h.is_closed(refused));
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::ConnectionRefused {
            reason: Refusal::TooManyFailedLogins,
            ..
        }
    )));
    // Another address logs in fine.
    h.login("192.0.2.67:40000", "alice", ALICE_PW);
    // After 12 s one more attempt is allowed, and it can succeed.
    h.advance(Duration::from_secs(12));
    h.login("192.0.2.66:40101", "alice", ALICE_PW);
    assert_transcript!("failed_login_limiter", h.transcript());
}

#[test]
fn unauthenticated_connections_per_ip_are_bounded() {
    let mut h = Harness::with(|c| c.max_unauthenticated_per_ip = 2);
    let a = h.accept("192.0.2.20:1");
    let _b = h.accept("192.0.2.20:2");
    let c = h.accept("192.0.2.20:3");
    let frames = h.recv(c);
    assert_eq!(error_code(&frames[0]), Some(ErrorCode::LimitExceeded));
    assert!(h.is_closed(c));
    // Another address is not affected.
    let other = h.accept("192.0.2.21:1");
    assert!(matches!(h.recv(other)[0], Frame::ServerHello(_)));
    // Once one of them logs in, it no longer counts.
    h.try_login_on(a, "alice", ALICE_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    let d = h.accept("192.0.2.20:4");
    assert!(matches!(h.recv(d)[0], Frame::ServerHello(_)));
    // A closed one frees its slot too.
    let e = h.accept("192.0.2.20:5");
    assert_eq!(error_code(&h.recv(e)[0]), Some(ErrorCode::LimitExceeded));
    h.peer_closed(d);
    let f = h.accept("192.0.2.20:6");
    assert!(matches!(h.recv(f)[0], Frame::ServerHello(_)));
    assert_transcript!(
        "unauthenticated_connections_per_ip_are_bounded",
        h.transcript()
    );
}

#[test]
fn handshake_timeout_before_login() {
    // [C-9]: nothing reaches ADVERTISE_OK within 10 s → ERROR TIMEOUT.
    let mut h = Harness::new();
    let conn = h.accept("192.0.2.10:50000");
    h.recv(conn);
    h.advance(Duration::from_millis(9_999));
    assert!(!h.is_closed(conn));
    h.advance(Duration::from_millis(1));
    assert_eq!(error_code(&h.recv_one(conn)), Some(ErrorCode::Timeout));
    assert!(h.is_closed(conn));
    assert_eq!(h.elapsed_ms(), 10_000);
    assert_transcript!("handshake_timeout_before_login", h.transcript());
}

#[test]
fn handshake_timeout_after_login_ends_the_session() {
    // [C-9] counts up to ADVERTISE_OK, and an ERROR after LOGIN_OK ends the session [F-6].
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.advance(Duration::from_secs(10));
    assert_eq!(
        error_code(&h.recv_one(client.conn)),
        Some(ErrorCode::Timeout)
    );
    assert!(h.server.session(client.session).is_none());
    assert!(
        h.take_events()
            .iter()
            .any(|e| matches!(e, Event::SessionClosed { .. }))
    );
    assert_transcript!(
        "handshake_timeout_after_login_ends_the_session",
        h.transcript()
    );
}

#[test]
fn a_handshake_timer_called_late_reads_what_waited_first() {
    // A server that did not run past a resumed login's handshake deadline
    // [C-9] (stopped, a stalled VM) wakes to the timer, late, with the
    // client's ADVERTISE waiting in its socket; its runtime may call the
    // timer first. The delay was the server's: the handshake completes and
    // the session lives (an ERROR after LOGIN_OK would end it [F-6]).
    let mut h = Harness::new();
    let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
    h.now += Duration::from_secs(15);
    h.server.handle_timeout(h.now);
    h.drain();
    assert!(!h.is_closed(client.conn), "{:?}", h.recv(client.conn));
    assert!(h.server.session(client.session).is_some());
    h.advertise(&client, 0);
    assert!(!h.is_closed(client.conn));
    assert!(h.server.session(client.session).is_some());
    // A handshake still not done a moment later times out, as always.
    let late = h.login("192.0.2.11:50000", "alice", ALICE_PW);
    h.now += Duration::from_secs(15);
    h.server.handle_timeout(h.now);
    h.drain();
    h.advance(Duration::from_secs(1));
    assert_eq!(error_code(&h.recv_one(late.conn)), Some(ErrorCode::Timeout));
    assert!(h.server.session(late.session).is_none());
}

#[test]
fn trickling_cannot_extend_the_handshake() {
    // A client that sends a partial frame byte by byte still hits [C-9].
    let mut h = Harness::new();
    let conn = h.accept("192.0.2.10:50000");
    h.recv(conn);
    h.send_bytes(conn, &[0, 0, 0, 60, 0x02], "the start of a 60-byte LOGIN");
    for _ in 0..9 {
        h.advance(Duration::from_secs(1));
        h.send_bytes(conn, &[0], "one more byte");
    }
    h.advance(Duration::from_secs(1));
    assert_eq!(error_code(&h.recv_one(conn)), Some(ErrorCode::Timeout));
}

#[test]
fn session_limits_per_user_and_ip() {
    // [C-7]
    let mut h = Harness::with(|c| {
        c.max_sessions_per_user = 2;
        c.max_sessions_per_ip = 3;
    });
    h.login("192.0.2.1:1", "alice", ALICE_PW);
    h.login("192.0.2.2:1", "alice", ALICE_PW);
    let err = h
        .try_login("192.0.2.3:1", "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::LimitExceeded));
    // Per IP: bob twice and carol once on 192.0.2.9, the fourth is refused.
    h.login("192.0.2.9:1", "bob", BOB_PW);
    h.login("192.0.2.9:2", "bob", BOB_PW);
    h.login("192.0.2.9:3", "carol", "carol pw");
    let err = h
        .try_login("192.0.2.9:4", "carol", "carol pw", 0, Caps::NONE)
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::LimitExceeded));
    let reasons: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::LoginFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            LoginFailure::TooManySessionsForUser,
            LoginFailure::TooManySessionsFromIp
        ]
    );
    assert_eq!(h.server.session_count(), 5);
    assert_transcript!("session_limits_per_user_and_ip", h.transcript());
}

#[test]
fn ipv4_mapped_peer_is_dialled_as_ipv4() {
    // [C-1]
    let mut h = Harness::new();
    let client = h.login("[::ffff:192.0.2.7]:50000", "alice", ALICE_PW);
    let replies = h.advertise(&client, 6003);
    assert_eq!(
        replies[0],
        Frame::AdvertiseOk {
            callback: addr("192.0.2.7:6003")
        }
    );
    let (_, dialled) = h.take_dial();
    assert_eq!(dialled, addr("192.0.2.7:6003"));
    let info = h.server.session(client.session).unwrap();
    assert_eq!(info.peer, addr("192.0.2.7:50000"));
    assert_transcript!("ipv4_mapped_peer_is_dialled_as_ipv4", h.transcript());
}

#[test]
fn ipv6_peer_is_dialled_at_its_own_address() {
    let mut h = Harness::new();
    let client = h.login("[2001:db8::10]:50000", "alice", ALICE_PW);
    let replies = h.advertise(&client, 6003);
    assert_eq!(
        replies[0],
        Frame::AdvertiseOk {
            callback: addr("[2001:db8::10]:6003")
        }
    );
    assert_eq!(h.take_dial().1, addr("[2001:db8::10]:6003"));
}

#[test]
fn same_inputs_same_outputs() {
    // Determinism: the same script twice gives the same transcript; another
    // seed gives other session ids and nonces.
    fn run(seed: [u8; 32]) -> String {
        let mut h = Harness::with_seed(seed, |_| {});
        let client = h.login("192.0.2.10:50000", "alice", ALICE_PW);
        h.advertise(&client, 6003);
        let (dial, _) = h.take_dial();
        h.connect_failed(dial);
        h.advance(Duration::from_secs(5));
        h.transcript()
    }
    let a = run(SEED);
    assert_eq!(a, run(SEED));
    assert_ne!(a, run([7; 32]));
}

#[test]
fn server_rejects_bad_config() {
    let mut c = config();
    c.lease = Duration::from_secs(1);
    assert!(Server::new(c, Box::new(users()), SEED).is_err());
}

#[test]
fn unauthenticated_connections_in_all_are_bounded() {
    let mut h = Harness::with(|c| c.max_unauthenticated = 3);
    let first = h.accept("192.0.2.1:1");
    h.accept("192.0.2.2:1");
    h.accept("[2001:db8::3]:1");
    let refused = h.accept("192.0.2.4:1");
    assert_eq!(
        error_code(&h.recv_one(refused)),
        Some(ErrorCode::LimitExceeded)
    );
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::ConnectionRefused {
            reason: Refusal::Busy,
            ..
        }
    )));
    // Logging in frees a place.
    h.try_login_on(first, "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap();
    let next = h.accept("192.0.2.4:2");
    assert!(matches!(h.recv(next)[0], Frame::ServerHello(_)));
}
