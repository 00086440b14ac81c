//! Cluster mode's logins [D-17]: a new session is registered by the
//! application before LOGIN_OK; a resume of a session this server does not
//! hold is looked up, restored or refused; the wait is bounded in number
//! and in time.

#![allow(unreachable_pub)]
#![allow(clippy::unwrap_used)]

mod support;

#[allow(dead_code)]
#[path = "server_rules/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "cluster/common.rs"]
mod common;

use std::time::Duration;

use common::{CLAIM_TIMEOUT, answer, claims, clustered, clustered_with, one_claim, open};
use faxnotify_core::SessionId;
use faxnotify_core::server::{
    ClaimAnswer, ClaimError, ClaimId, ClaimKind, ClaimRefusal, ClusterConfig, ConfigError, Event,
    LoginFailure, MemoryUserStore, Server, ServerConfig, SessionRecord,
};
use faxnotify_core::wire::{ByeReason, Caps, ErrorCode, Frame};
use harness::{ALICE_PW, BOB_PW, error_code};

const X: u64 = 0x0123_4567_89ab_cdef;

#[test]
fn a_new_login_waits_for_the_application_then_opens_the_claimed_id() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    let proven = h
        .login_to_proof(conn, "alice", ALICE_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    assert!(h.recv(conn).is_empty(), "no LOGIN_OK before the answer");
    assert_eq!(h.server.session_count(), 0);
    let (claim, kind, session, user) = one_claim(&mut h);
    assert_eq!((kind, user.as_str()), (ClaimKind::Open, "alice"));
    answer(&mut h, claim, ClaimAnswer::Opened);
    let client = h.login_reply(&proven).unwrap();
    assert_eq!(client.session, session, "LOGIN_OK names the claimed id");
    assert!(
        h.take_events()
            .iter()
            .any(|e| matches!(e, Event::SessionOpened { session: s, .. } if *s == session))
    );
    // Answered once: a second answer finds nothing pending.
    let now = h.now;
    assert_eq!(
        h.server.handle_claim(now, claim, ClaimAnswer::Opened),
        Err(ClaimError::NotPending(claim))
    );
}

#[test]
fn an_id_taken_elsewhere_is_drawn_again_a_few_times_then_refused() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    let proven = h
        .login_to_proof(conn, "alice", ALICE_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, first, _) = one_claim(&mut h);
    answer(&mut h, claim, ClaimAnswer::IdTaken);
    let (again, kind, second, _) = one_claim(&mut h);
    assert_eq!((again, kind), (claim, ClaimKind::Open), "the same claim");
    assert_ne!(second, first, "another id");
    answer(&mut h, claim, ClaimAnswer::Opened);
    assert_eq!(h.login_reply(&proven).unwrap().session, second);

    // Three ids taken in a row: the application's answers cannot be right.
    let conn = h.accept("192.0.2.1:5001");
    h.login_to_proof(conn, "bob", BOB_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    for _ in 0..3 {
        let (claim, _, _, _) = one_claim(&mut h);
        answer(&mut h, claim, ClaimAnswer::IdTaken);
    }
    assert!(claims(&mut h).is_empty());
    assert_eq!(error_code(&h.recv_one(conn)), Some(ErrorCode::ShuttingDown));
    assert!(h.is_closed(conn));
}

#[test]
fn a_resume_of_a_session_held_elsewhere_is_restored_from_its_record() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    let proven = h
        .login_to_proof(conn, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, kind, session, user) = one_claim(&mut h);
    assert_eq!(
        (kind, session.get(), user.as_str()),
        (ClaimKind::Resume, X, "alice")
    );
    answer(
        &mut h,
        claim,
        ClaimAnswer::Restore(SessionRecord::new("alice", 5)),
    );
    let client = h.login_reply(&proven).unwrap();
    assert_eq!(client.session.get(), X, "[C-6]: the same session");
    let events = h.take_events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SessionRestored { session, acked_seq: 5, .. } if session.get() == X
    )));
    let info = h.server.session(client.session).unwrap();
    assert!(info.attached);
    assert_eq!((info.acked_seq, info.last_seq, info.queue_depth), (5, 5, 0));
}

#[test]
fn a_refused_lookup_is_unknown_session_or_a_temporary_refusal() {
    let mut h = clustered();
    for (refusal, code, reason, says) in [
        (
            ClaimRefusal::UnknownSession,
            ErrorCode::UnknownSession,
            LoginFailure::UnknownSession { requested: X },
            "not a live session",
        ),
        (
            ClaimRefusal::Unavailable,
            ErrorCode::ShuttingDown,
            LoginFailure::ClusterUnavailable,
            "bus is unreachable",
        ),
        // The bus is fine: another server holds the session (its lease, or
        // a lost race). Same code; a message and a logged reason that do not
        // blame the bus.
        (
            ClaimRefusal::HeldElsewhere,
            ErrorCode::ShuttingDown,
            LoginFailure::HeldElsewhere,
            "held by another server",
        ),
    ] {
        let conn = h.accept("192.0.2.1:5000");
        h.login_to_proof(conn, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
            .unwrap();
        let (claim, _, _, _) = one_claim(&mut h);
        answer(&mut h, claim, ClaimAnswer::Refused(refusal));
        match h.recv_one(conn) {
            Frame::Error(e) => {
                assert_eq!(e.code, code);
                assert!(e.message.contains(says), "{refusal:?}: {:?}", e.message);
            }
            other => panic!("{refusal:?}: expected ERROR, got {other:?}"),
        }
        assert!(h.is_closed(conn));
        let failed: Vec<LoginFailure> = h
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::LoginFailed { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(failed, vec![reason]);
    }
    assert_eq!(h.server.session_count(), 0);
}

#[test]
fn a_record_of_another_user_is_refused_and_the_application_told() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    h.login_to_proof(conn, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(&mut h);
    let now = h.now;
    assert_eq!(
        h.server.handle_claim(
            now,
            claim,
            ClaimAnswer::Restore(SessionRecord::new("bob", 0))
        ),
        Err(ClaimError::OtherUser(claim))
    );
    h.drain();
    assert_eq!(
        error_code(&h.recv_one(conn)),
        Some(ErrorCode::UnknownSession)
    );
    assert_eq!(h.server.session_count(), 0);
}

#[test]
fn an_answer_that_does_not_fit_the_claim_is_misuse_and_refuses_the_login() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    h.login_to_proof(conn, "alice", ALICE_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(&mut h);
    let now = h.now;
    assert_eq!(
        h.server.handle_claim(
            now,
            claim,
            ClaimAnswer::Restore(SessionRecord::new("alice", 0))
        ),
        Err(ClaimError::WrongAnswer {
            claim,
            asked: ClaimKind::Open
        })
    );
    h.drain();
    assert_eq!(error_code(&h.recv_one(conn)), Some(ErrorCode::ShuttingDown));

    let conn = h.accept("192.0.2.1:5001");
    h.login_to_proof(conn, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let (resume, _, _, _) = one_claim(&mut h);
    assert_eq!(
        h.server.handle_claim(now, resume, ClaimAnswer::Opened),
        Err(ClaimError::WrongAnswer {
            claim: resume,
            asked: ClaimKind::Resume
        })
    );
}

#[test]
fn a_claim_never_answered_times_out_and_a_late_answer_finds_nothing() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    h.login_to_proof(conn, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(&mut h);
    h.advance(CLAIM_TIMEOUT - Duration::from_millis(1));
    assert!(h.recv(conn).is_empty() && !h.is_closed(conn));
    h.advance(Duration::from_millis(1));
    let error = h.recv_one(conn);
    assert_eq!(error_code(&error), Some(ErrorCode::ShuttingDown), "{error}");
    assert!(h.is_closed(conn));
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::LoginFailed {
            reason: LoginFailure::ClaimTimedOut,
            ..
        }
    )));
    // The application took the session meanwhile: it must give it back.
    let now = h.now;
    assert_eq!(
        h.server.handle_claim(
            now,
            claim,
            ClaimAnswer::Restore(SessionRecord::new("alice", 0))
        ),
        Err(ClaimError::NotPending(claim))
    );
    assert_eq!(h.server.session_count(), 0);
    assert_eq!(h.server.poll_timeout(), None, "no deadline left behind");
}

#[test]
fn waiting_claims_are_bounded_and_an_answer_frees_a_place() {
    let mut h = clustered_with(|c| c.max_pending_claims = 2);
    for port in [5000, 5001] {
        let conn = h.accept(&format!("192.0.2.1:{port}"));
        h.login_to_proof(conn, "alice", ALICE_PW, 0, Caps::BACKCHANNEL)
            .unwrap();
    }
    let waiting = claims(&mut h);
    assert_eq!(waiting.len(), 2);
    let third = h.accept("192.0.2.2:5000");
    h.login_to_proof(third, "bob", BOB_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    assert_eq!(
        error_code(&h.recv_one(third)),
        Some(ErrorCode::LimitExceeded)
    );
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::LoginFailed {
            reason: LoginFailure::TooManyClaims,
            ..
        }
    )));
    answer(&mut h, waiting[0].0, ClaimAnswer::Opened);
    let fourth = h.accept("192.0.2.2:5001");
    h.login_to_proof(fourth, "bob", BOB_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    assert_eq!(one_claim(&mut h).1, ClaimKind::Open, "a place was free");
}

#[test]
fn a_claim_whose_client_left_is_no_longer_pending() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    h.login_to_proof(conn, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(&mut h);
    h.peer_closed(conn);
    let now = h.now;
    assert_eq!(
        h.server.handle_claim(
            now,
            claim,
            ClaimAnswer::Restore(SessionRecord::new("alice", 0))
        ),
        Err(ClaimError::NotPending(claim))
    );
    assert_eq!(h.server.session_count(), 0);
}

#[test]
fn a_frame_while_the_login_waits_is_unexpected() {
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    h.login_to_proof(conn, "alice", ALICE_PW, 0, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(&mut h);
    h.send(conn, &Frame::Ping { nonce: 1 });
    assert_eq!(
        error_code(&h.recv_one(conn)),
        Some(ErrorCode::UnexpectedFrame)
    );
    let now = h.now;
    assert_eq!(
        h.server.handle_claim(now, claim, ClaimAnswer::Opened),
        Err(ClaimError::NotPending(claim))
    );
}

#[test]
fn a_session_held_here_resumes_without_asking() {
    let mut h = clustered();
    let client = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    h.peer_closed(client.conn);
    let again = h
        .try_login(
            "192.0.2.1:5001",
            "alice",
            ALICE_PW,
            client.session.get(),
            Caps::BACKCHANNEL,
        )
        .unwrap();
    assert_eq!(again.session, client.session);
    assert!(claims(&mut h).is_empty(), "held here: no claim");
}

#[test]
fn two_logins_restoring_one_session_here_end_as_a_resume_of_the_first() {
    let mut h = clustered();
    let c1 = h.accept("192.0.2.1:5000");
    let p1 = h
        .login_to_proof(c1, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let c2 = h.accept("192.0.2.1:5001");
    let p2 = h
        .login_to_proof(c2, "alice", ALICE_PW, X, Caps::BACKCHANNEL)
        .unwrap();
    let both = claims(&mut h);
    assert_eq!(both.len(), 2);
    answer(
        &mut h,
        both[0].0,
        ClaimAnswer::Restore(SessionRecord::new("alice", 2)),
    );
    assert_eq!(h.login_reply(&p1).unwrap().session.get(), X);
    answer(
        &mut h,
        both[1].0,
        ClaimAnswer::Restore(SessionRecord::new("alice", 2)),
    );
    assert_eq!(h.login_reply(&p2).unwrap().session.get(), X);
    // [C-6]: the first connection was replaced.
    let frames = h.recv(c1);
    assert!(
        frames.contains(&Frame::Bye {
            reason: ByeReason::Replaced
        }),
        "{frames:?}"
    );
    assert_eq!(h.server.session_count(), 1);
}

#[test]
fn claims_this_server_never_issued_are_misuse() {
    let mut h = clustered();
    let now = h.now;
    for raw in [0, 1] {
        let claim = ClaimId::from_raw(raw);
        assert_eq!(
            h.server.handle_claim(now, claim, ClaimAnswer::Opened),
            Err(ClaimError::NeverIssued(claim))
        );
    }
    let _ = open(&mut h, "192.0.2.1:5000", "alice", ALICE_PW);
    assert_eq!(
        h.server
            .handle_claim(now, ClaimId::from_raw(1), ClaimAnswer::Opened),
        Err(ClaimError::NotPending(ClaimId::from_raw(1)))
    );
}

#[test]
fn the_claim_timeout_must_be_shorter_than_the_handshake_timeout() {
    let mut config = ServerConfig::new([1; 32]);
    let mut cluster = ClusterConfig::default();
    cluster.claim_timeout = config.handshake_timeout;
    config.cluster = Some(cluster);
    assert!(matches!(
        Server::new(config.clone(), Box::new(MemoryUserStore::new()), [2; 32]),
        Err(ConfigError::TooLong {
            field: "cluster.claim_timeout",
            ..
        })
    ));
    cluster.claim_timeout = Duration::ZERO;
    config.cluster = Some(cluster);
    assert!(matches!(
        config.validate(),
        Err(ConfigError::Zero {
            field: "cluster.claim_timeout"
        })
    ));
    cluster.claim_timeout = Duration::from_secs(1);
    cluster.max_pending_claims = 0;
    config.cluster = Some(cluster);
    assert!(matches!(config.validate(), Err(ConfigError::Zero { .. })));
}

#[test]
fn session_ids_are_checked_for_zero_before_a_lookup() {
    // resume_session 0 means "new session" [C-6]; any other id unknown
    // here is looked up, whatever it is.
    let mut h = clustered();
    let conn = h.accept("192.0.2.1:5000");
    h.login_to_proof(conn, "alice", ALICE_PW, u64::MAX, Caps::BACKCHANNEL)
        .unwrap();
    let (_, kind, session, _) = one_claim(&mut h);
    assert_eq!(
        (kind, session),
        (ClaimKind::Resume, SessionId::new(u64::MAX).unwrap())
    );
}
