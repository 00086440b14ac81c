//! When the client closes an authenticated callback, and that it says so:
//! a quiet callback from a server never seen to ping stays open [D-16]; one
//! from a server that pings is closed after a silent lease [D-4]; every
//! close of an authenticated callback comes with `Event::CallbackClosed`.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod client_harness;
#[allow(unreachable_pub)] // the shared support module is written with `pub`
mod support;

use std::time::Duration;

use client_harness::server::{ScriptedServer, notify};
use client_harness::{Harness, LEASE_MS, SESSION, config};
use faxnotify_core::ConnId;
use faxnotify_core::client::{CallbackClosure, CloseKind, Event, Input, ListenPolicy, Output};
use faxnotify_core::wire::{ByeReason, Frame};

const THIRD: Duration = Duration::from_millis(LEASE_MS as u64 / 3);
const LEASE: Duration = Duration::from_millis(LEASE_MS as u64);

/// A logged-in client with one authenticated callback.
fn with_callback() -> (Harness, ScriptedServer, ConnId, ConnId) {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    let ctl = h.login(&mut server, SESSION);
    let (cb, _) = h.open_callback(&mut server, 50_000);
    (h, server, ctl, cb)
}

/// Advances a third of the lease, answers the client's control PING as a
/// live server does, and returns every other output of the step.
fn third_of_a_lease(h: &mut Harness, ctl: ConnId) -> Vec<Output> {
    h.advance(THIRD);
    let mut rest = Vec::new();
    for out in h.take_all() {
        match out {
            Output::Transmit { conn, ref data } if conn == ctl => {
                let frames = client_harness::decode_all(data);
                for frame in frames {
                    match frame {
                        Frame::Ping { nonce } => h.send(ctl, &[Frame::Pong { nonce }]),
                        other => panic!("unexpected {other} on control"),
                    }
                }
            }
            other => rest.push(other),
        }
    }
    rest
}

#[test]
fn a_quiet_callback_from_a_server_that_never_pings_stays_open() {
    let (mut h, _server, ctl, cb) = with_callback();
    // Three whole leases without a frame on the callback.
    for step in 0..9 {
        let rest = third_of_a_lease(&mut h, ctl);
        assert!(rest.is_empty(), "step {step}: {rest:?}");
    }
    // It still delivers.
    h.send(cb, &[notify(1)]);
    assert_eq!(h.delivered_then_ack(cb), (vec![1], 1));
}

#[test]
fn a_silent_callback_is_closed_once_the_server_has_pinged_one() {
    let (mut h, _server, ctl, cb) = with_callback();
    h.send(cb, &[Frame::Ping { nonce: 7 }]);
    assert_eq!(h.expect_frame(cb), Frame::Pong { nonce: 7 });
    // Two thirds of a lease: still open.
    for _ in 0..2 {
        assert!(third_of_a_lease(&mut h, ctl).is_empty());
    }
    // A whole lease of silence after the PING: closed, and said why.
    let rest = third_of_a_lease(&mut h, ctl);
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(
        rest[0],
        Output::Close {
            conn: cb,
            kind: CloseKind::Graceful
        }
    );
    match &rest[1] {
        Output::Event(Event::CallbackClosed { conn, reason, .. }) => {
            assert_eq!(*conn, cb);
            assert_eq!(*reason, CallbackClosure::Silent { after: LEASE });
            let text = reason.to_string();
            assert!(text.contains("presumed dead"), "{text}");
        }
        other => panic!("expected CallbackClosed, got {other:?}"),
    }
}

#[test]
fn a_ping_seen_in_an_earlier_login_does_not_count_after_a_new_one() {
    // The flag belongs to the login: after a reconnect the server may be
    // another implementation (an upgrade), so a quiet callback stays open
    // until that server pings one.
    let (mut h, mut server, ctl, cb) = with_callback();
    h.send(cb, &[Frame::Ping { nonce: 1 }]);
    assert_eq!(h.expect_frame(cb), Frame::Pong { nonce: 1 });
    h.input(Input::Closed { conn: ctl });
    let _ = h.take_all(); // ConnectionLost, and the retry timer
    h.fire_timer();
    let ctl = h.login(&mut server, SESSION); // resumes the session
    let (cb2, _) = h.open_callback(&mut server, 50_001);
    for step in 0..6 {
        for out in third_of_a_lease(&mut h, ctl) {
            // Only the older callback (from before the reconnect) may go:
            // [D-9] keeps the newest; the new one must stay.
            assert!(
                !matches!(out, Output::Close { conn, .. } if conn == cb2),
                "step {step}: the new login's quiet callback was closed"
            );
        }
    }
    h.send(cb2, &[notify(1)]);
    assert_eq!(h.delivered_then_ack(cb2), (vec![1], 1));
}

#[test]
fn every_close_of_an_authenticated_callback_is_reported() {
    let (mut h, _server, _ctl, cb) = with_callback();
    h.input(Input::Closed { conn: cb });
    match h.expect_event() {
        Event::CallbackClosed { conn, reason, .. } => {
            assert_eq!(conn, cb);
            assert_eq!(reason, CallbackClosure::ClosedByServer);
        }
        other => panic!("expected CallbackClosed, got {other:?}"),
    }

    let (mut h, mut server, _ctl, _) = with_callback();
    let (cb, _) = h.open_callback(&mut server, 50_001);
    h.send(
        cb,
        &[Frame::Bye {
            reason: ByeReason::Replaced,
        }],
    );
    h.expect_close(cb);
    match h.expect_event() {
        Event::CallbackClosed { reason, .. } => {
            assert_eq!(
                reason,
                CallbackClosure::Bye {
                    reason: ByeReason::Replaced
                }
            );
        }
        other => panic!("expected CallbackClosed, got {other:?}"),
    }
    h.expect_no_output();
}
