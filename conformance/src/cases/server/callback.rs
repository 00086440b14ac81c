//! The callback connection against a server: who speaks first, the proofs
//! it must check (a stranger on the port, replays), redials, unreachable
//! ports and the backchannel, timeouts and keepalive.

use std::time::{Duration, Instant};

use faxnotify_core::auth::cb_ready_proof_bound;
use faxnotify_core::wire::{
    CallbackState, Caps, CbReady, ErrorCode, Frame, FrameType, MAX_FRAME_LEN,
};

use crate::case::{Case, Fail, Needs, Section, Verdict, ensure};
use crate::peer::conn::{FrameConn, Got, first_event, secs};
use crate::peer::listener::Listener;
use crate::peer::raw;
use crate::peer::session::Session;
use crate::server_ctx::ServerCtx;

const S: Section = Section::Callback;

pub(crate) const CASES: &[Case] = &[
    Case::server(
        "server/callback/handshake",
        S,
        &["B-1", "B-5"],
        "the server waits for CB_CHALLENGE, proves the session key in CB_HELLO, then reports reachable",
        handshake,
    ),
    Case::server(
        "server/callback/stranger-on-port",
        S,
        &["B-1", "B-5"],
        "a stranger holding the callback port cannot answer CB_HELLO: AUTH_FAILED, no notification, CALLBACK_STATUS for the failed handshake, and a redial",
        stranger_on_port,
    ),
    Case::server(
        "server/callback/ready-proof-other-seq",
        S,
        &["B-1", "B-5"],
        "CB_READY whose proof was made for another last_seq gets AUTH_FAILED, then CALLBACK_STATUS for the failed handshake and a redial",
        ready_proof_other_seq,
    ),
    Case::server(
        "server/callback/replayed-ready",
        S,
        &["B-1", "A-4"],
        "on a redialled callback the server nonce is fresh and a replayed CB_READY gets AUTH_FAILED",
        replayed_ready,
    ),
    Case::server(
        "server/callback/redial-after-close",
        S,
        &["D-8"],
        "a working callback that closes is dialled again at once",
        redial_after_close,
    ),
    Case::server(
        "server/callback/unreachable-then-reachable",
        S,
        &["B-5"],
        "without BACKCHANNEL a refused dial reports unreachable; retries reach the port once it listens",
        unreachable_then_reachable,
    ),
    Case::server(
        "server/callback/backchannel-fallback",
        S,
        &["B-5", "D-8"],
        "with BACKCHANNEL a refused dial reports backchannel; a later handshake reports reachable",
        backchannel_fallback,
    ),
    Case::server(
        "server/callback/client-ping",
        S,
        &["B-7", "F-3"],
        "a PING from the client on the callback is UNEXPECTED_FRAME (only the server pings there)",
        client_ping,
    ),
    Case::server(
        "server/callback/pong-unknown-nonce",
        S,
        &["B-7"],
        "a PONG with an unknown nonce on the callback is ignored",
        pong_unknown_nonce,
    ),
    Case::server(
        "server/callback/large-frame-before-handshake",
        S,
        &["D-12", "F-1"],
        "a 5 000-byte frame before the callback handshake is read whole (MALFORMED, not FRAME_TOO_LARGE)",
        large_frame_before_handshake,
    ),
    Case::server(
        "server/callback/oversized",
        S,
        &["F-1"],
        "a length prefix of 65 536 on the callback gets FRAME_TOO_LARGE",
        oversized,
    ),
    Case::server(
        "server/callback/handshake-timeout",
        S,
        &["B-7"],
        "a callback whose listener never sends CB_CHALLENGE is closed within 5 s",
        handshake_timeout,
    )
    .slow(),
    Case::server(
        "server/callback/handshake-trickle",
        S,
        &["B-7"],
        "a callback whose CB_CHALLENGE trickles in one byte per second is closed within 5 s of the dial",
        handshake_trickle,
    )
    .slow(),
    Case::server(
        "server/callback/keepalive",
        S,
        &["D-4"],
        "an idle callback gets PING after lease/3; a callback silent for lease_ms is closed and dialled again",
        keepalive,
    )
    .slow(),
];

/// Login, a listener, ADVERTISE of its port, and the server's dial (no handshake yet).
pub(crate) fn dialled(ctx: &mut ServerCtx<'_>) -> Result<(Session, Listener, FrameConn), Fail> {
    let mut session = ctx.login()?;
    let mut listener = ctx.listener(&session)?;
    session.advertise_port(listener.port())?;
    let conn = ctx.accept_callback(&mut listener, "after ADVERTISE_OK")?;
    Ok((session, listener, conn))
}

fn handshake(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, mut conn) = dialled(ctx)?;
    conn.expect_quiet(
        ctx.t.quiet,
        "the server to wait for CB_CHALLENGE (the listening client speaks first)",
    )?;
    let nonce = ctx.nonce();
    let _callback = session.cb_handshake(conn, nonce, 0)?;
    session.expect_status(
        CallbackState::Reachable,
        "after the first callback handshake succeeded [B-5]",
    )?;
    session.logout()
}

fn stranger_on_port(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    let mut listener = ctx.listener(&session)?;
    if ctx.has_trigger() {
        // Something to steal: a notification queued before the dial.
        ctx.notify()?;
    }
    session.advertise_port(listener.port())?;
    let mut conn = ctx.accept_callback(&mut listener, "after ADVERTISE_OK")?;
    let client_nonce = ctx.nonce();
    Session::cb_challenge(&mut conn, client_nonce)?;
    let hello = session.expect_cb_hello(&mut conn, &client_nonce)?;
    conn.send(&Frame::CbReady(CbReady {
        last_seq: 0,
        proof: ctx.nonce(),
    }))?;
    conn.expect_error(ErrorCode::AuthFailed)
        .map_err(|f| f.during("for a CB_READY with a random proof [B-1]"))?;
    let _ = hello;
    // The server falls back to the backchannel and may deliver there [B-5]:
    // what matters is that the stranger got nothing.
    session.control.tolerate(FrameType::Notify);
    // The status comes first: a PING now would pass over it.
    after_failed_handshake(ctx, &mut session, &mut listener)?;
    let nonce = ctx.random_u64();
    session.control.ping_pong(
        nonce,
        "the session to go on after a failed callback handshake",
    )?;
    session.logout()
}

/// After the first callback handshake failed: CALLBACK_STATUS backchannel
/// (or unreachable without BACKCHANNEL), a retried dial, and reachable once
/// that handshake succeeds [B-5].
pub(crate) fn after_failed_handshake(
    ctx: &mut ServerCtx<'_>,
    session: &mut Session,
    listener: &mut Listener,
) -> Verdict {
    let state = if session.backchannel() {
        CallbackState::Backchannel
    } else {
        CallbackState::Unreachable
    };
    session.expect_status(state, "after the first callback handshake failed [B-5]")?;
    let conn = listener.accept_within(
        retry_wait(ctx),
        "a retried dial after the failed handshake (backoff from 0.5 s) [B-5]",
    )?;
    let nonce = ctx.nonce();
    let _callback = session.cb_handshake(conn, nonce, 0)?;
    session.expect_status(
        CallbackState::Reachable,
        "after the retried dial's handshake succeeded [B-5]",
    )
}

fn ready_proof_other_seq(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, mut listener, mut conn) = dialled(ctx)?;
    let client_nonce = ctx.nonce();
    Session::cb_challenge(&mut conn, client_nonce)?;
    let hello = session.expect_cb_hello(&mut conn, &client_nonce)?;
    let proof = cb_ready_proof_bound(
        &session.key,
        &client_nonce,
        &hello.server_nonce,
        session.id(),
        1,
        conn.binding().as_ref(),
    );
    conn.send(&Frame::CbReady(CbReady { last_seq: 0, proof }))?;
    conn.expect_error(ErrorCode::AuthFailed)
        .map_err(|f| f.during("for CB_READY last_seq=0 carrying the proof for last_seq=1 [B-1]"))?;
    after_failed_handshake(ctx, &mut session, &mut listener)?;
    session.logout()
}

fn replayed_ready(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, mut listener, mut first) = ctx.establish()?;
    let replay = session.cb_ready(&first.conn, &first.client_nonce, &first.hello, 0);
    first.conn.close();
    // The redial is [D-8]'s; without it the replay cannot be tried.
    let mut conn = ctx
        .accept_callback(&mut listener, "again after the callback closed [D-8]")
        .needs("D-8")?;
    Session::cb_challenge(&mut conn, first.client_nonce)?;
    let hello = session.expect_cb_hello(&mut conn, &first.client_nonce)?;
    ensure(
        hello.server_nonce != first.hello.server_nonce,
        "a fresh server nonce in each CB_HELLO [A-4]",
        || {
            format!(
                "the previous nonce again: {}",
                Frame::CbHello(hello.clone())
            )
        },
    )?;
    conn.send(&replay)?;
    conn.expect_error(ErrorCode::AuthFailed)
        .map_err(|f| f.during("for the previous connection's CB_READY replayed [B-1]"))?;
    session.logout()
}

fn redial_after_close(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, mut listener, mut first) = ctx.establish()?;
    first.conn.close();
    let conn = ctx.accept_callback(
        &mut listener,
        "at once after the working callback closed [D-8]",
    )?;
    let nonce = ctx.nonce();
    let _callback = session.cb_handshake(conn, nonce, 0)?;
    session.logout()
}

/// How long to wait for a dial retry once the port listens: the backoff
/// (0.5 s doubling, ±20 %) reaches 4 s by the fourth retry.
fn retry_wait(ctx: &ServerCtx<'_>) -> Duration {
    ctx.t.expect + ctx.t.margin + Duration::from_secs(5)
}

fn unreachable_then_reachable(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut plan = ctx.plan()?;
    plan.caps = Caps::NONE;
    let mut session = ctx.login_with(&plan)?;
    let ip = session.control.local_addr().ip();
    let dead = ctx.dead_port(ip)?;
    session.advertise_port(dead.port())?;
    session.expect_status(
        CallbackState::Unreachable,
        "after the first dial was refused [B-5]",
    )?;
    let mut listener = ctx.listen_on(dead)?;
    let conn = listener.accept_within(
        retry_wait(ctx),
        "a retried dial once the port listens (backoff from 0.5 s) [B-5]",
    )?;
    let nonce = ctx.nonce();
    let _callback = session.cb_handshake(conn, nonce, 0)?;
    session.expect_status(
        CallbackState::Reachable,
        "after a retried dial's handshake succeeded [B-5]",
    )?;
    session.logout()
}

fn backchannel_fallback(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    if !session.backchannel() {
        return Err(Fail::skipped(
            "the server does not offer BACKCHANNEL (SERVER_HELLO caps)",
        ));
    }
    let ip = session.control.local_addr().ip();
    let dead = ctx.dead_port(ip)?;
    session.advertise_port(dead.port())?;
    session.expect_status(
        CallbackState::Backchannel,
        "after the first dial was refused [B-5]",
    )?;
    let mut listener = ctx.listen_on(dead)?;
    let conn = listener.accept_within(
        retry_wait(ctx),
        "a retried dial once the port listens [B-5]",
    )?;
    let nonce = ctx.nonce();
    let _callback = session.cb_handshake(conn, nonce, 0)?;
    session.expect_status(
        CallbackState::Reachable,
        "after the handshake moved delivery back [B-5]",
    )?;
    session.logout()
}

fn client_ping(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, _listener, mut callback) = ctx.establish()?;
    callback.conn.send(&Frame::Ping { nonce: 7 })?;
    callback.conn.expect_error(ErrorCode::UnexpectedFrame)?;
    session.logout()
}

fn pong_unknown_nonce(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, mut callback) = ctx.establish()?;
    callback.conn.send(&Frame::Pong { nonce: 0xdead_beef })?;
    callback.conn.expect_quiet(
        ctx.t.quiet,
        "no ERROR and no close for a PONG with an unknown nonce [B-7]",
    )?;
    let nonce = ctx.random_u64();
    session.control.ping_pong(nonce, "the session to go on")?;
    session.logout()
}

fn large_frame_before_handshake(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, _listener, mut conn) = dialled(ctx)?;
    let challenge = Frame::CbChallenge {
        client_nonce: ctx.nonce(),
    };
    let padding = vec![0u8; 5_000 - 1 - 32];
    conn.send_raw(
        &raw::with_trailing(&challenge, &padding),
        "CB_CHALLENGE with 4967 bytes after its nonce (length 5000)",
    )?;
    // Only FRAME_TOO_LARGE shows the frame was refused for its size [D-12];
    // any other answer means it was read, and only [F-4] is left to judge.
    match conn.next_relevant(conn.wait()) {
        Got::Frame(Frame::Error(e)) if e.code == ErrorCode::Malformed => {
            conn.expect_closed("the connection to close after ERROR MALFORMED [F-6]")?;
        }
        Got::Frame(Frame::Error(e)) if e.code == ErrorCode::FrameTooLarge => {
            return Err(Fail::failed(
                "callbacks read frames up to 65 535 bytes before the handshake [D-12]: ERROR MALFORMED for the 4 967 bytes after the nonce [F-4], then close",
                format!("ERROR {} message={:?}", e.code, e.message),
            ));
        }
        other => {
            return Err(Fail::failed(
                "ERROR MALFORMED for the 4 967 bytes after the CB_CHALLENGE nonce [F-4], then close",
                other.to_string(),
            ));
        }
    }
    session.logout()
}

fn oversized(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, _listener, mut conn) = dialled(ctx)?;
    conn.send_raw(
        &raw::length_prefix(MAX_FRAME_LEN + 1),
        "length prefix 65536, no body",
    )?;
    conn.expect_error(ErrorCode::FrameTooLarge)?;
    session.logout()
}

fn handshake_timeout(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, mut conn) = dialled(ctx)?;
    let limit = ctx.t.callback_handshake + ctx.t.margin;
    let expected = format!(
        "the server to close a callback without CB_CHALLENGE within {} [B-7]",
        secs(limit)
    );
    conn.tolerate(FrameType::Error);
    let started = Instant::now();
    // Only control frames renew the lease, which may be shorter than the wait.
    let slice = Duration::from_millis(u64::from(session.ok.lease_ms) / 4);
    loop {
        match conn.next_relevant(slice) {
            Got::Closed(_) => break,
            Got::Nothing(_) if started.elapsed() < limit => {
                let nonce = ctx.random_u64();
                session.control.ping_pong(nonce, "the session to go on")?;
            }
            Got::Nothing(_) => {
                return Err(Fail::failed(
                    expected,
                    format!("the callback still open after {}", secs(started.elapsed())),
                ));
            }
            other => return Err(Fail::failed(expected, other.to_string())),
        }
    }
    session.logout()
}

fn handshake_trickle(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, mut conn) = dialled(ctx)?;
    let started = Instant::now();
    let limit = ctx.t.callback_handshake + ctx.t.margin;
    let expected = format!(
        "the server to close a callback whose handshake is not done within {} of the dial, however slowly bytes keep coming [B-7]",
        secs(limit)
    );
    let challenge = Frame::CbChallenge {
        client_nonce: ctx.nonce(),
    }
    .to_vec()
    .map_err(|e| Fail::failed("an encodable CB_CHALLENGE", e.to_string()))?;
    conn.tolerate(FrameType::Error);
    conn.note("trickling the CB_CHALLENGE one byte per second (never its last byte)");
    let mut bytes = challenge[..challenge.len() - 1].iter();
    let slice = Duration::from_millis(250);
    let mut next_byte = Instant::now();
    let mut next_ping = Instant::now() + Duration::from_millis(u64::from(session.ok.lease_ms) / 4);
    loop {
        if Instant::now() >= next_byte {
            next_byte += Duration::from_secs(1);
            if let Some(byte) = bytes.next() {
                // A failed write means the server closed; the read below says so.
                let _ = conn.send_raw_quiet(&[*byte], "one byte of a CB_CHALLENGE");
            }
        }
        if Instant::now() >= next_ping {
            // Only control frames renew the lease, which may be shorter than the wait.
            let nonce = ctx.random_u64();
            session.control.ping_pong(nonce, "the session to go on")?;
            next_ping = Instant::now() + Duration::from_millis(u64::from(session.ok.lease_ms) / 4);
        }
        match conn.next_relevant(slice) {
            Got::Closed(_) if started.elapsed() <= limit => break,
            Got::Closed(_) => {
                return Err(Fail::failed(
                    expected,
                    format!("the callback closed after {}", secs(started.elapsed())),
                ));
            }
            Got::Nothing(_) if started.elapsed() <= limit => {}
            Got::Nothing(_) => {
                return Err(Fail::failed(
                    expected,
                    format!("the callback still open after {}", secs(started.elapsed())),
                ));
            }
            other => return Err(Fail::failed(expected, other.to_string())),
        }
    }
    session.logout()
}

fn keepalive(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, mut listener, mut callback) = ctx.establish()?;
    let lease = Duration::from_millis(u64::from(session.ok.lease_ms));
    if lease > ctx.t.max_timer_wait {
        return Err(Fail::skipped(format!(
            "the server's lease is {}, longer than the suite waits for a timer ({}); start it with a shorter lease",
            secs(lease),
            secs(ctx.t.max_timer_wait)
        )));
    }
    let silent_since = Instant::now();
    callback.conn.auto_pong = false;
    let ping_by = lease / 3 + ctx.t.margin;
    let close_by = lease + ctx.t.margin;
    let mut pinged = false;
    let mut next_control_ping = Instant::now() + lease / 4;
    loop {
        if Instant::now() >= next_control_ping {
            // Keeps the session's lease alive: only control frames renew it.
            session.control.send(&Frame::Ping {
                nonce: ctx.random_u64(),
            })?;
            next_control_ping = Instant::now() + lease / 4;
        }
        let elapsed = silent_since.elapsed();
        if !pinged && elapsed > ping_by {
            return Err(Fail::failed(
                format!(
                    "PING on the idle callback within {} (lease/3 = {}) [D-4]",
                    secs(ping_by),
                    secs(lease / 3)
                ),
                format!("nothing after {}", secs(elapsed)),
            ));
        }
        if elapsed > close_by {
            return Err(Fail::failed(
                format!(
                    "the server to close a callback silent for lease_ms, within {} [D-4]",
                    secs(close_by)
                ),
                format!("the callback still open after {}", secs(elapsed)),
            ));
        }
        match first_event(
            &mut [&mut session.control, &mut callback.conn],
            Duration::from_millis(200),
        ) {
            None => {}
            Some((1, Got::Frame(Frame::Ping { .. }))) => {
                callback
                    .conn
                    .note("suite does not answer the PING (a dead client)");
                pinged = true;
            }
            Some((1, Got::Closed(_))) if pinged => break,
            Some((1, Got::Frame(Frame::Error(e)))) if pinged && e.code == ErrorCode::Timeout => {}
            Some((1, got)) => {
                let expected = if pinged {
                    "the callback to close after lease_ms of silence [D-4]"
                } else {
                    "PING on the idle callback after lease/3 [D-4]"
                };
                return Err(Fail::failed(expected, got.to_string()));
            }
            Some((_, got)) => {
                return Err(Fail::failed(
                    "the control connection to stay quiet",
                    got.to_string(),
                ));
            }
        }
    }
    let conn = ctx.accept_callback(
        &mut listener,
        "again after it closed the silent callback [D-4]",
    )?;
    let nonce = ctx.nonce();
    let _callback = session.cb_handshake(conn, nonce, 0)?;
    session.logout()
}
