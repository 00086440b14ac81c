//! What the cluster tests share: a clustered server in the scripted
//! harness, and an application that answers claims.

use std::time::Duration;

use faxnotify_core::SessionId;
use faxnotify_core::server::{
    ClaimAnswer, ClaimId, ClaimKind, ClusterConfig, Event, SessionRecord,
};
use faxnotify_core::wire::{Caps, Frame};

use crate::harness::{ALICE_PW, Client, Harness};

pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(2);

/// A server in cluster mode [D-17].
pub fn clustered() -> Harness {
    clustered_with(|_| {})
}

pub fn clustered_with(tweak: impl FnOnce(&mut ClusterConfig)) -> Harness {
    Harness::with(|c| {
        let mut cluster = ClusterConfig::default();
        cluster.claim_timeout = CLAIM_TIMEOUT;
        tweak(&mut cluster);
        c.cluster = Some(cluster);
    })
}

/// The claims asked since the last call: (claim, kind, session, user).
pub fn claims(h: &mut Harness) -> Vec<(ClaimId, ClaimKind, SessionId, String)> {
    h.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ClaimSession {
                claim,
                kind,
                session,
                user,
                ..
            } => Some((claim, kind, session, user.to_string())),
            _ => None,
        })
        .collect()
}

/// Exactly one claim was asked since the last call.
pub fn one_claim(h: &mut Harness) -> (ClaimId, ClaimKind, SessionId, String) {
    let mut all = claims(h);
    assert_eq!(all.len(), 1, "expected one claim, got {all:?}");
    all.pop().unwrap()
}

/// Answers a claim, which must apply.
pub fn answer(h: &mut Harness, claim: ClaimId, answer: ClaimAnswer) {
    let now = h.now;
    h.server.handle_claim(now, claim, answer).unwrap();
    h.drain();
}

/// A new session: login, the application registers it, LOGIN_OK.
pub fn open(h: &mut Harness, peer: &str, user: &str, password: &str) -> Client {
    let conn = h.accept(peer);
    let proven = h
        .login_to_proof(conn, user, password, 0, Caps::BACKCHANNEL)
        .unwrap();
    assert!(h.recv(conn).is_empty(), "nothing before the claim's answer");
    let (claim, kind, _, _) = one_claim(h);
    assert_eq!(kind, ClaimKind::Open);
    answer(h, claim, ClaimAnswer::Opened);
    h.login_reply(&proven).unwrap()
}

/// A resume of alice's `session`, restored with `acked` acknowledged, on
/// the backchannel; the events so far taken.
pub fn restored(h: &mut Harness, session: u64, acked: u64) -> Client {
    let conn = h.accept("192.0.2.1:5000");
    let proven = h
        .login_to_proof(conn, "alice", ALICE_PW, session, Caps::BACKCHANNEL)
        .unwrap();
    let (claim, _, _, _) = one_claim(h);
    answer(
        h,
        claim,
        ClaimAnswer::Restore(SessionRecord::new("alice", acked)),
    );
    let client = h.login_reply(&proven).unwrap();
    on_backchannel(h, &client);
    h.recv(client.conn); // CALLBACK_STATUS backchannel [D-7]
    h.take_events();
    client
}

/// ADVERTISE port 0: delivery on the backchannel [D-7].
pub fn on_backchannel(h: &mut Harness, client: &Client) {
    let replies = h.advertise(client, 0);
    assert!(
        matches!(replies[0], Frame::AdvertiseOk { .. }),
        "{replies:?}"
    );
}

/// The Delivered ranges reported since the last call, per session.
pub fn delivered(events: &[Event]) -> Vec<(SessionId, u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered {
                session,
                first_seq,
                last_seq,
            } => Some((*session, *first_seq, *last_seq)),
            _ => None,
        })
        .collect()
}
