//! A client with several server addresses [D-17]: after a failed dial, a
//! lost control connection or a temporary refusal it moves to the next
//! address, round robin, under one backoff that switching never resets, and
//! its session resumes on whichever server answers [C-6].

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod client_harness;
#[allow(unreachable_pub)] // the shared support module is written with `pub`
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use client_harness::server::{ScriptedServer, notify};
use client_harness::{Harness, LEASE_MS, SEED, SESSION, config};
use faxnotify_core::client::{
    Backoff, Client, ClientConfig, ConfigError, ConnectError, DisconnectReason, Event, Input,
    ListenPolicy, SessionEndReason,
};
use faxnotify_core::wire::{ErrorCode, Frame};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// Three servers of one cluster.
fn servers() -> [SocketAddr; 3] {
    [
        addr("192.0.2.1:4580"),
        addr("192.0.2.2:4580"),
        addr("192.0.2.3:4580"),
    ]
}

/// A client of the three servers, without jitter so that delays are exact.
fn cluster_config(policy: ListenPolicy) -> ClientConfig {
    let mut config = config(policy);
    config.servers = servers().to_vec();
    config.reconnect = Backoff::new(Duration::from_millis(500), Duration::from_secs(30), 0);
    config
}

/// The next event, which must be a `ConnectionLost`: (reason, attempt,
/// retry_in in ms, server, next server).
fn expect_lost(h: &mut Harness) -> (DisconnectReason, u32, u128, SocketAddr, SocketAddr) {
    match h.expect_event() {
        Event::ConnectionLost {
            reason,
            attempt,
            retry_in,
            server,
            next_server,
        } => (reason, attempt, retry_in.as_millis(), server, next_server),
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
}

/// Runs a login on `ctl` (connected) granting `session`; returns the
/// LOGIN's resume_session and the LoggedIn event's (resumed, server).
fn login_granting(
    h: &mut Harness,
    server: &mut ScriptedServer,
    ctl: faxnotify_core::ConnId,
    session: u64,
) -> (u64, bool, SocketAddr) {
    h.send(ctl, &[server.hello()]);
    let login = h.expect_frame(ctl);
    let Frame::Login(l) = &login else {
        panic!("expected LOGIN, got {login}")
    };
    let resume = l.resume_session;
    h.send(ctl, &[server.challenge_for(&login)]);
    let proof = h.expect_frame(ctl);
    h.send(ctl, &[server.login_ok(&proof, session, LEASE_MS)]);
    let Frame::Advertise(a) = h.expect_frame(ctl) else {
        panic!("expected ADVERTISE")
    };
    let callback = SocketAddr::from(([192, 0, 2, 10], a.port));
    h.send(ctl, &[Frame::AdvertiseOk { callback }]);
    match h.expect_event() {
        Event::LoggedIn {
            session: s,
            resumed,
            server,
            ..
        } => {
            assert_eq!(s.get(), session);
            (resume, resumed, server)
        }
        other => panic!("expected LoggedIn, got {other:?}"),
    }
}

#[test]
fn failed_dials_rotate_round_robin_under_one_backoff() {
    let [a, b, c] = servers();
    let mut h = Harness::new(cluster_config(ListenPolicy::Dynamic));
    h.bind(41_000);
    assert_eq!(h.client.server(), a, "the first server is dialled first");
    let mut expected = Vec::new();
    let mut seen = Vec::new();
    // Five failures in a row: A, B, C, A, B. The delays double across the
    // switches (0.5, 1, 2, 4, 8 s): moving on never resets the backoff, so
    // a cluster that is down as a whole is not hammered.
    for (i, (dialled, next)) in [(a, b), (b, c), (c, a), (a, b), (b, c)]
        .into_iter()
        .enumerate()
    {
        let ctl = h.expect_connect_to(dialled);
        h.input(Input::ConnectFailed {
            conn: ctl,
            error: ConnectError::Refused,
        });
        seen.push(expect_lost(&mut h));
        expected.push((
            DisconnectReason::ConnectFailed {
                error: ConnectError::Refused,
            },
            i as u32 + 1,
            500u128 << i,
            dialled,
            next,
        ));
        assert_eq!(h.client.server(), next);
        h.fire_timer();
    }
    assert_eq!(seen, expected);
    h.expect_connect_to(c);
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn session_resumes_on_the_next_server_with_its_seq() {
    let [a, b, _] = servers();
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(cluster_config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    let ctl = h.expect_connect_to(a);
    h.input(Input::Connected { conn: ctl });
    assert_eq!(
        login_granting(&mut h, &mut server, ctl, SESSION),
        (0, false, a)
    );
    let (cb, _) = h.open_callback(&mut server, 50_000);
    h.send(cb, &[notify(1), notify(2)]);
    assert_eq!(h.delivered_then_ack(cb), (vec![1, 2], 2));

    h.note("server A dies (no BYE): its connections just close [D-17]");
    h.input(Input::Closed { conn: ctl });
    let (reason, attempt, retry_ms, lost, next) = expect_lost(&mut h);
    assert_eq!(
        (reason, attempt, retry_ms),
        (DisconnectReason::Closed, 1, 500)
    );
    assert_eq!((lost, next), (a, b));
    assert_eq!(h.client.session().map(|s| s.get()), Some(SESSION));
    h.fire_timer();
    let ctl2 = h.expect_connect_to(b);
    h.input(Input::Connected { conn: ctl2 });
    // The same session id on the other server: B restores it [C-6] [D-17].
    assert_eq!(
        login_granting(&mut h, &mut server, ctl2, SESSION),
        (SESSION, true, b)
    );
    assert_eq!(h.client.server(), b);
    // Delivery goes on from the last seq the client had (CB_READY 2).
    let (cb2, last) = h.open_callback(&mut server, 50_001);
    assert_eq!(last, 2);
    h.send(cb2, &[notify(3)]);
    assert_eq!(h.delivered_then_ack(cb2), (vec![3], 3));
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::NotificationsMayHaveBeenMissed { .. })),
        "a resume on another server loses nothing"
    );

    h.note("B goes too: the backoff starts over, since the login on B succeeded");
    h.input(Input::Closed { conn: ctl2 });
    let (_, attempt, retry_ms, lost, next) = expect_lost(&mut h);
    assert_eq!((attempt, retry_ms, lost, next), (1, 500, b, servers()[2]));
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn shutting_down_moves_on_and_keeps_the_session() {
    let [a, b, c] = servers();
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(cluster_config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let ctl = h.expect_connect_to(a);
    h.input(Input::Connected { conn: ctl });
    login_granting(&mut h, &mut server, ctl, SESSION);
    h.input(Input::Closed { conn: ctl });
    expect_lost(&mut h);
    h.fire_timer();

    h.note("B cannot reach the cluster bus: a temporary refusal [D-17]");
    let ctl2 = h.expect_connect_to(b);
    h.input(Input::Connected { conn: ctl2 });
    h.send(ctl2, &[server.hello()]);
    let login = h.expect_frame(ctl2);
    let _ = server.challenge_for(&login);
    assert_eq!(server.last_resume, SESSION);
    h.send(
        ctl2,
        &[Frame::error(
            ErrorCode::ShuttingDown,
            "the cluster bus is unreachable; try again",
        )],
    );
    assert!(matches!(
        h.expect_event(),
        Event::ErrorReceived {
            code: ErrorCode::ShuttingDown,
            ..
        }
    ));
    h.expect_close(ctl2);
    let (reason, attempt, retry_ms, lost, next) = expect_lost(&mut h);
    assert_eq!(
        reason,
        DisconnectReason::ErrorReceived {
            code: ErrorCode::ShuttingDown
        }
    );
    assert_eq!((attempt, retry_ms, lost, next), (2, 1000, b, c));
    assert_eq!(
        h.client.session().map(|s| s.get()),
        Some(SESSION),
        "a refusal before LOGIN_OK keeps the session"
    );
    h.fire_timer();
    let ctl3 = h.expect_connect_to(c);
    h.input(Input::Connected { conn: ctl3 });
    assert_eq!(
        login_granting(&mut h, &mut server, ctl3, SESSION),
        (SESSION, true, c)
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn unknown_session_logs_in_anew_on_the_same_server() {
    let [a, b, _] = servers();
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(cluster_config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let ctl = h.expect_connect_to(a);
    h.input(Input::Connected { conn: ctl });
    login_granting(&mut h, &mut server, ctl, SESSION);
    h.input(Input::Closed { conn: ctl });
    expect_lost(&mut h);
    h.fire_timer();

    h.note("B is a standalone server that never knew the session [C-6]");
    let ctl2 = h.expect_connect_to(b);
    h.input(Input::Connected { conn: ctl2 });
    h.send(ctl2, &[server.hello()]);
    let login = h.expect_frame(ctl2);
    let _ = server.challenge_for(&login);
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
        Event::NotificationsMayHaveBeenMissed { .. }
    ));
    // At once, on the server that answered: it works, only the session is gone.
    let ctl3 = h.expect_connect_to(b);
    h.input(Input::Connected { conn: ctl3 });
    assert_eq!(
        login_granting(&mut h, &mut server, ctl3, 0x2222),
        (0, false, b)
    );
    insta::assert_snapshot!(h.transcript());
}

#[test]
fn one_server_is_redialled_as_before() {
    let mut h = Harness::new(config(ListenPolicy::Dynamic));
    h.bind(41_000);
    let only = h.client.server();
    let ctl = h.expect_connect_to(only);
    h.input(Input::ConnectFailed {
        conn: ctl,
        error: ConnectError::TimedOut,
    });
    let (_, attempt, _, lost, next) = expect_lost(&mut h);
    assert_eq!((attempt, lost, next), (1, only, only));
    h.fire_timer();
    h.expect_connect_to(only);
}

#[test]
fn the_same_seed_gives_the_same_failover() {
    // Jittered delays, from the seed: two runs of the same inputs agree.
    let run = || {
        let mut config = cluster_config(ListenPolicy::Dynamic);
        config.reconnect = Backoff::default();
        let mut h = Harness::with_seed(config, SEED);
        h.bind(41_000);
        let mut seen = Vec::new();
        for dialled in [servers()[0], servers()[1], servers()[2], servers()[0]] {
            let ctl = h.expect_connect_to(dialled);
            h.input(Input::ConnectFailed {
                conn: ctl,
                error: ConnectError::Unreachable,
            });
            seen.push(expect_lost(&mut h));
            h.fire_timer();
        }
        seen
    };
    let first = run();
    assert_eq!(first, run());
    for (i, (_, attempt, retry_ms, _, _)) in first.iter().enumerate() {
        assert_eq!(*attempt, i as u32 + 1);
        let base = 500u128 << i;
        assert!(
            (base * 8 / 10..=base * 12 / 10).contains(retry_ms),
            "{retry_ms} ms is not {base} ms ± 20 %"
        );
    }
}

#[test]
fn the_server_list_is_validated() {
    let now = std::time::Instant::now();
    let mut config = cluster_config(ListenPolicy::Dynamic);
    config.servers.clear();
    assert_eq!(
        Client::new(config, SEED, now).unwrap_err(),
        ConfigError::NoServer
    );

    let mut config = cluster_config(ListenPolicy::Dynamic);
    config.servers.push(addr("[2001:db8::1]:4580"));
    let err = Client::new(config, SEED, now).unwrap_err();
    assert_eq!(
        err,
        ConfigError::ServerFamiliesMixed {
            first: servers()[0],
            other: addr("[2001:db8::1]:4580"),
        }
    );
    assert!(err.to_string().contains("one family"), "{err}");

    // An IPv4-mapped address is IPv4 [C-1].
    let mut config = cluster_config(ListenPolicy::Dynamic);
    config.servers.push(addr("[::ffff:192.0.2.9]:4580"));
    assert!(Client::new(config, SEED, now).is_ok());

    let mut config = cluster_config(ListenPolicy::Dynamic);
    config.servers.push(addr("192.0.2.9:0"));
    assert_eq!(
        Client::new(config, SEED, now).unwrap_err(),
        ConfigError::ServerPortZero(addr("192.0.2.9:0"))
    );
}

#[test]
fn the_listener_serves_every_server() {
    // One loopback server and one elsewhere: a loopback listener could not
    // take the remote one's callbacks.
    let mut config = config(ListenPolicy::Dynamic);
    config.servers = vec![addr("127.0.0.1:4580"), addr("192.0.2.2:4580")];
    let mut h = Harness::new(config);
    assert_eq!(h.expect_listen().ip(), addr("0.0.0.0:0").ip());

    let mut config = client_harness::config(ListenPolicy::Dynamic);
    config.servers = vec![addr("127.0.0.1:4580"), addr("127.0.0.2:4580")];
    let mut h = Harness::new(config);
    assert!(h.expect_listen().ip().is_loopback());
}
