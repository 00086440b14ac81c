//! What an honest user behind a shared address (a NAT, a Terminal Server)
//! survives: another user's wrong passwords [A-5] [D-15], a lockout that
//! outlasts the lease (the detached-session grace), a flood of
//! unauthenticated connections from one prefix, and another user's
//! black-holed callbacks [B-5].

use std::time::Duration;

use faxnotify_core::server::{Event, LoginFailure, Refusal, Target};
use faxnotify_core::wire::{CallbackState, Caps, ErrorCode, Frame, Notification};

use crate::harness::*;

/// The address alice shares with the other users of her Terminal Server.
const NAT: &str = "198.51.100.7";

fn at(ip: &str, port: u16) -> String {
    format!("{ip}:{port}")
}

fn notify_alice(h: &mut Harness, n: usize) {
    for i in 0..n {
        h.server
            .notify(
                h.now,
                Target::user("alice").unwrap(),
                &Notification::server_message(format!("fax {i}")),
            )
            .unwrap();
        h.drain();
    }
}

fn undelivered(events: &[Event]) -> usize {
    events
        .iter()
        .map(|e| match e {
            Event::Undelivered { notifications, .. } => notifications.len(),
            _ => 0,
        })
        .sum()
}

/// Alice's client after her control connection broke: it reconnects every
/// `retry` to resume `client.session` (as the real client does, with
/// backoff), until the resume succeeds or `give_up` has passed. Before
/// each attempt the neighbour's script (`tick`) runs, so the neighbour
/// takes any opening of the limiter first. Returns the resumed login.
fn resume_with_retries(
    h: &mut Harness,
    client: &Client,
    port: u16,
    retry: Duration,
    give_up: Duration,
    mut tick: impl FnMut(&mut Harness),
) -> Option<Client> {
    let start = h.now;
    while h.now - start <= give_up {
        tick(h);
        match h.try_login(
            &at(NAT, port),
            "alice",
            ALICE_PW,
            client.session.get(),
            Caps::BACKCHANNEL,
        ) {
            Ok(resumed) => return Some(resumed),
            Err((_, frame)) => {
                // Refused by a limit, or the session is gone for good.
                if error_code(&frame) == Some(ErrorCode::UnknownSession) {
                    return None;
                }
            }
        }
        h.advance(retry);
    }
    None
}

/// Resumes delivery on a new callback and returns the seqs delivered.
fn deliver_after_resume(h: &mut Harness, resumed: &Client, port: u16, last_seq: u64) -> Vec<u64> {
    let replies = h.advertise(resumed, port);
    assert!(
        matches!(replies[0], Frame::AdvertiseOk { .. }),
        "{replies:?}"
    );
    let (dial, _) = h.take_dial();
    h.callback(resumed, dial, last_seq);
    let seqs = notify_seqs(&h.recv(dial));
    let status = h.recv_one(resumed.conn);
    assert_eq!(callback_state(&status), Some(CallbackState::Reachable));
    seqs
}

/// Alice's client keeps its connections alive: PING on the control
/// connection [C-5], PONG to the server's PINGs on the callback [D-4].
fn keep_alive(h: &mut Harness, client: &Client, cb: faxnotify_core::ConnId) {
    h.send(client.conn, &Frame::Ping { nonce: 7 });
    h.recv(client.conn);
    for frame in h.recv(cb) {
        if let Frame::Ping { nonce } = frame {
            h.send(cb, &Frame::Pong { nonce });
        }
    }
}

#[test]
fn another_users_wrong_passwords_do_not_refuse_alices_resume() {
    // Issue 17, case 3: one wrong password every ~12 s from bob behind the
    // same address; alice's control connection resets and she resumes at
    // once, and nothing queued meanwhile is lost.
    let mut h = Harness::new();
    h.log_client_frames = false;
    let (alice, cb) = h.online(&at(NAT, 50000), "alice", ALICE_PW, 6003);
    // bob mistypes a few times in a row, then keeps failing every 12 s.
    for i in 0..5 {
        let err = h
            .try_login(&at(NAT, 40000 + i), "bob", "wrong", 0, Caps::NONE)
            .unwrap_err();
        assert_eq!(error_code(&err.1), Some(ErrorCode::AuthFailed));
    }
    let mut last_typo = h.now;
    let mut bob_types = |h: &mut Harness| {
        if h.now - last_typo >= Duration::from_secs(12) {
            last_typo = h.now;
            let _ = h.try_login(&at(NAT, 41000), "bob", "wrong", 0, Caps::NONE);
        }
    };
    for _ in 0..10 {
        h.advance(Duration::from_secs(6));
        keep_alive(&mut h, &alice, cb);
        bob_types(&mut h);
    }
    // The reset: alice's session detaches, and faxes arrive meanwhile.
    h.peer_closed(alice.conn);
    assert!(h.is_closed(cb));
    notify_alice(&mut h, 56);
    let resumed = resume_with_retries(
        &mut h,
        &alice,
        50001,
        Duration::from_secs(2),
        Duration::from_secs(60),
        bob_types,
    )
    .expect("alice's resume is refused because of bob's wrong passwords");
    assert_eq!(resumed.session, alice.session);
    let seqs = deliver_after_resume(&mut h, &resumed, 6003, 0);
    assert_eq!(seqs, (1..=56).collect::<Vec<u64>>());
    assert_eq!(undelivered(&h.take_events()), 0);
}

#[test]
fn a_detached_session_outlives_the_lease_until_its_grace_ends() {
    // Alice is locked out with everyone at her address while a brute
    // forcer there cycles user names for 45 s — longer than the 30 s lease.
    // Her session waits, detached, and resumes with nothing lost once the
    // limiter opens.
    let mut h = Harness::new();
    h.log_client_frames = false;
    let (alice, _) = h.online(&at(NAT, 50000), "alice", ALICE_PW, 6003);
    notify_alice(&mut h, 3);
    // Sent on the callback, never acknowledged: they wait for the resume too.
    assert_eq!(notify_seqs(&h.recv(alice_callback(&h))), vec![1, 2, 3]);
    h.peer_closed(alice.conn);
    notify_alice(&mut h, 5);
    let started = h.now;
    let mut guess = 0u32;
    let mut brute_force = |h: &mut Harness| {
        // Two names a second: far above any per-address ceiling.
        if h.now - started < Duration::from_secs(45) {
            for _ in 0..2 {
                guess += 1;
                let _ = h.try_login(
                    &at(NAT, 30000 + (guess % 20_000) as u16),
                    &format!("user{guess}"),
                    "guess",
                    0,
                    Caps::NONE,
                );
            }
        }
    };
    // The brute force starts with a burst, before alice's first retry.
    for _ in 0..13 {
        brute_force(&mut h);
    }
    let resumed = resume_with_retries(
        &mut h,
        &alice,
        50001,
        Duration::from_secs(1),
        Duration::from_secs(110),
        brute_force,
    )
    .expect("alice's detached session ended before the limiter opened");
    assert!(
        h.now - started > Duration::from_secs(30),
        "the lockout outlasted the lease"
    );
    let seqs = deliver_after_resume(&mut h, &resumed, 6003, 0);
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    assert_eq!(undelivered(&h.take_events()), 0);
}

/// The callback connection of alice's only session.
fn alice_callback(h: &Harness) -> faxnotify_core::ConnId {
    let info = h.server.sessions().next().unwrap();
    match info.path {
        faxnotify_core::server::DeliveryPath::Callback(conn) => conn,
        other => panic!("alice's path is {other:?}"),
    }
}

#[test]
fn the_limiter_treats_unknown_names_like_known_ones_per_name() {
    // [A-3] [D-15]: five failures lock a name at an address, whether the
    // user exists or not, with the same ERROR; other names from the same
    // address still log in.
    let mut h = Harness::new();
    h.log_client_frames = false;
    let mut locked = Vec::new();
    for (n, name) in ["alice", "mallory"].into_iter().enumerate() {
        for i in 0..5u16 {
            let err = h
                .try_login(
                    &at(NAT, 40000 + 10 * n as u16 + i),
                    name,
                    "guess",
                    0,
                    Caps::NONE,
                )
                .unwrap_err();
            assert_eq!(error_code(&err.1), Some(ErrorCode::AuthFailed), "{name}");
        }
        let err = h
            .try_login(&at(NAT, 40100 + n as u16), name, "guess", 0, Caps::NONE)
            .unwrap_err();
        locked.push(err.1);
    }
    assert_eq!(error_code(&locked[0]), Some(ErrorCode::LimitExceeded));
    assert_eq!(
        locked[0], locked[1],
        "a locked unknown name looks like a locked user"
    );
    // Even alice's right password is refused while her name is locked here …
    let err = h
        .try_login(&at(NAT, 40200), "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::LimitExceeded));
    // … but carol, at the same address, logs in.
    h.login(&at(NAT, 40201), "carol", "carol pw");
    let reasons: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::LoginFailed { user, reason, .. } if reason != LoginFailure::BadCredentials => {
                Some((user, reason))
            }
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    // One failure is forgiven every 12 s, for both names alike.
    h.advance(Duration::from_secs(12));
    h.login(&at(NAT, 40300), "alice", ALICE_PW);
    let err = h
        .try_login(&at(NAT, 40301), "mallory", "guess", 0, Caps::NONE)
        .unwrap_err();
    assert_eq!(error_code(&err.1), Some(ErrorCode::AuthFailed));
}

#[test]
fn a_flood_from_one_prefix_cannot_refuse_a_new_address() {
    // 64 places for connections that have not logged in, all taken by one
    // /24 (8 addresses × 8 connections); then a new address still logs in,
    // and the flood cannot push it out while it does.
    let mut h = Harness::with(|c| c.max_unauthenticated = 64);
    h.log_client_frames = false;
    let mut flood = Vec::new();
    for host in 1..=8 {
        for port in 0..8 {
            let conn = h.accept(&format!("203.0.113.{host}:{}", 1000 + port));
            assert!(matches!(h.recv_one(conn), Frame::ServerHello(_)));
            flood.push(conn);
        }
    }
    let honest = h.accept("192.0.2.10:50000");
    assert!(!h.is_closed(honest), "the flood refuses a new address");
    // The flood goes on from its prefix while alice logs in.
    for port in 0..16 {
        let conn = h.accept(&format!("203.0.113.9:{}", 2000 + port));
        h.recv(conn);
    }
    h.try_login_on(honest, "alice", ALICE_PW, 0, Caps::NONE)
        .expect("the flood pushed the honest login out");
    // The flood's oldest connection made room, and only that one: the
    // flood's later connections were refused instead of displacing alice.
    let closed: Vec<_> = flood.iter().filter(|c| h.is_closed(**c)).collect();
    assert_eq!(closed, vec![&flood[0]]);
    let reasons: Vec<Refusal> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ConnectionRefused { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons[0], Refusal::Displaced);
    assert_eq!(reasons[1..], [Refusal::Busy; 16]);
}

#[test]
fn a_flood_from_one_ipv6_64_counts_as_one_address() {
    // An IPv6 host has a whole /64 to send from: per-address limits
    // aggregate it, so 4 096 addresses in one /64 cannot fill the table.
    let mut h = Harness::new();
    h.log_client_frames = false;
    for i in 1..=4_096u32 {
        let conn = h.accept(&format!(
            "[2001:db8:1:1::{:x}:{:x}]:1000",
            i >> 16,
            i & 0xffff
        ));
        h.recv(conn);
    }
    let honest = h.accept("[2001:db8:2:2::10]:50000");
    assert!(!h.is_closed(honest), "the flood refuses a new address");
    h.try_login_on(honest, "alice", ALICE_PW, 0, Caps::NONE)
        .unwrap();
    let refused = h
        .take_events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ConnectionRefused {
                    reason: Refusal::TooManyUnauthenticated,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, 4_096 - 8, "8 per /64");
}

#[test]
fn black_holed_callbacks_of_one_user_do_not_delay_anothers_redial() {
    // Issue 17, case 3: 16 sessions of alice advertise ports that never
    // answer; bob, behind the same address, has a working callback that
    // resets. [D-8] says bob is redialled at once; alice's dials must not
    // hold his slot.
    let mut h = Harness::new();
    h.log_client_frames = false;
    let (bob, bob_cb) = h.online(&at(NAT, 50000), "bob", BOB_PW, 7000);
    for i in 0..16u16 {
        let alice = h.login(&at(NAT, 51000 + i), "alice", ALICE_PW);
        h.advertise(&alice, 6000 + i);
    }
    let black_holed = h.take_dials();
    assert_eq!(black_holed.len(), 4, "alice has at most 4 dials at once");
    h.peer_closed(bob_cb);
    let redial = h.take_dials();
    assert_eq!(
        redial.iter().map(|d| d.1).collect::<Vec<_>>(),
        vec![addr(&at(NAT, 7000))],
        "bob's redial waits behind alice's black-holed dials"
    );
    h.callback(&bob, redial[0].0, 0);
    assert_eq!(h.server.session(bob.session).unwrap().queue_depth, 0);
    // Alice's dials time out after 5 s, and the next 4 of hers go.
    h.advance(Duration::from_secs(5));
    assert_eq!(h.take_dials().len(), 4);
}
