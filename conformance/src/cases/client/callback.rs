//! The callback connection against a client: the CB_HELLO it must check
//! (wrong proof, wrong session, replay), its handshake timeout and bound on
//! unverified connections, keepalive, and a quiet callback kept open.

use std::time::{Duration, Instant};

use faxnotify_core::auth::cb_hello_proof_bound;
use faxnotify_core::wire::{CbHello, ErrorCode, Frame};

use super::common::{challenged, established_with_lease, expect_delivered};
use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::client_ctx::{ClientCtx, ClientSession, ServeOpts, expect_ack, message_payload, notify};
use crate::peer::conn::{FrameConn, Got, first_event, secs};

const S: Section = Section::Callback;

pub(crate) const CASES: &[Case] = &[
    Case::client(
        "client/callback/wrong-hello-proof",
        S,
        &["B-1"],
        "a CB_HELLO with a wrong proof gets AUTH_FAILED, and the NOTIFY right behind it is not delivered",
        wrong_hello_proof,
    ),
    Case::client(
        "client/callback/wrong-session",
        S,
        &["B-1"],
        "a CB_HELLO for another session id (with a proof for that id) gets AUTH_FAILED",
        wrong_session,
    ),
    Case::client(
        "client/callback/replayed-hello",
        S,
        &["B-1"],
        "a CB_HELLO replayed from an earlier callback connection gets AUTH_FAILED",
        replayed_hello,
    ),
    Case::client(
        "client/callback/answers-ping",
        S,
        &["B-7"],
        "a PING on the callback gets a PONG with its nonce",
        answers_ping,
    ),
    Case::client(
        "client/callback/unverified-bound",
        S,
        &["B-7"],
        "of 10 callback connections left without CB_HELLO, at most 8 stay open (the newest refused or the oldest closed)",
        unverified_bound,
    ),
    Case::client(
        "client/callback/handshake-timeout",
        S,
        &["B-7"],
        "a callback connection without CB_HELLO is closed by the client within 5 s",
        handshake_timeout,
    )
    .slow(),
    Case::client(
        "client/callback/quiet-kept-open",
        S,
        &["D-16"],
        "a callback the server never pings stays open through two quiet leases, and a NOTIFY on it then is acknowledged",
        quiet_kept_open,
    )
    .slow(),
];

pub(crate) fn refused_hello(
    ctx: &mut ClientCtx<'_>,
    make: impl FnOnce(&mut ClientCtx<'_>, &ClientSession, &[u8; 32]) -> CbHello,
    why: &str,
) -> Verdict {
    let (mut running, session, mut conn, client_nonce) = challenged(ctx)?;
    let hello = make(ctx, &session, &client_nonce);
    conn.send_all(&[
        Frame::CbHello(hello),
        notify(1, 3, &message_payload("must not be delivered")),
    ])?;
    conn.expect_error(ErrorCode::AuthFailed)
        .map_err(|f| f.during(why))?;
    if ctx.target.stdout_contract {
        expect_delivered(
            ctx,
            &mut running,
            &[],
            "from a callback that failed its handshake [B-1]",
        )?;
    }
    Ok(())
}

fn wrong_hello_proof(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_hello(
        ctx,
        |ctx, session, _| CbHello {
            session_id: session.ok.session_id,
            server_nonce: ctx.nonce(),
            proof: ctx.nonce(),
        },
        "for a CB_HELLO with a random proof [B-1]",
    )
}

fn wrong_session(ctx: &mut ClientCtx<'_>) -> Verdict {
    // The suite cannot know the key of a session that does not exist; it
    // proves "another session" with this session's key, which a client that
    // checks the session id must still refuse.
    let (mut running, session, mut conn, client_nonce) = challenged(ctx)?;
    let other = session.ok.session_id ^ 1;
    let server_nonce = ctx.nonce();
    let hello = CbHello {
        session_id: other,
        server_nonce,
        proof: cb_hello_proof_bound(
            &session.key,
            &client_nonce,
            &server_nonce,
            other,
            conn.binding().as_ref(),
        ),
    };
    conn.send_all(&[
        Frame::CbHello(hello),
        notify(1, 3, &message_payload("must not be delivered")),
    ])?;
    conn.expect_error(ErrorCode::AuthFailed).map_err(|f| {
        f.during(&format!(
            "for a CB_HELLO naming session {other:#018x} [B-1]"
        ))
    })?;
    if ctx.target.stdout_contract {
        expect_delivered(
            ctx,
            &mut running,
            &[],
            "from a callback that failed its handshake [B-1]",
        )?;
    }
    Ok(())
}

fn replayed_hello(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, session, first) = ctx.establish(&ServeOpts::default())?;
    let replay = ctx.cb_hello(
        &session,
        &first.conn,
        &first.client_nonce,
        first.server_nonce,
    );
    let port = first.conn.peer_addr().port();
    let mut second = ctx.dial(&session, port)?;
    ctx.expect_cb_challenge(&mut second)?;
    second.send(&replay)?;
    second
        .expect_error(ErrorCode::AuthFailed)
        .map_err(|f| f.during("for the first connection's CB_HELLO replayed on a second [B-1]"))?;
    Ok(())
}

fn answers_ping(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    let nonce = ctx.random_u64();
    callback.conn.ping_pong(
        nonce,
        &format!("PONG nonce={nonce:#x} on the callback [B-7]"),
    )
}

fn unverified_bound(ctx: &mut ClientCtx<'_>) -> Verdict {
    const DIALS: usize = 10;
    const BOUND: usize = 8;
    let (_running, session, first, _) = challenged(ctx)?;
    let port = first.peer_addr().port();
    first.note("the first connection is left waiting too");
    let mut conns: Vec<FrameConn> = vec![first];
    let mut refused = 0;
    for _ in 1..DIALS {
        match ctx.dial(&session, port) {
            Ok(conn) => conns.push(conn),
            Err(_) => refused += 1,
        }
    }
    // Well within the 5 s handshake timeout, count the connections the
    // client still holds open unverified. Either way of bounding them
    // passes: refusing the newest, or closing the oldest to make room
    // (which keeps strangers from holding the server's callback out).
    let window = ctx
        .t
        .callback_handshake
        .saturating_sub(Duration::from_millis(1_500));
    let deadline = Instant::now() + window;
    let mut open = 0;
    for conn in &mut conns {
        open += usize::from(stays_open(conn, deadline));
    }
    ensure(
        open <= BOUND,
        format!("at most {BOUND} unverified callback connections held open at once [B-7]"),
        || {
            format!(
                "{open} of {DIALS} connections still open within {} ({refused} dials refused)",
                secs(window)
            )
        },
    )
}

/// How long a connection that was closed at its accept may take to show
/// it on loopback.
const SETTLE: Duration = Duration::from_millis(200);

/// Whether `conn` is still open once whatever it was sent is read: it
/// stays quiet for [`SETTLE`] (or until `deadline`) without closing.
fn stays_open(conn: &mut FrameConn, deadline: Instant) -> bool {
    loop {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(SETTLE);
        if wait.is_zero() {
            return true;
        }
        match conn.next_relevant(wait) {
            Got::Closed(_) => return false,
            Got::Nothing(_) => return true,
            Got::Frame(_) | Got::Undecodable(_) => {}
        }
    }
}

fn handshake_timeout(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, _session, mut conn, _) = challenged(ctx)?;
    let limit = ctx.t.callback_handshake + ctx.t.margin;
    conn.tolerate(faxnotify_core::wire::FrameType::Error);
    conn.expect_closed_within(
        limit,
        &format!(
            "the client to close a callback without CB_HELLO within {} [B-7]",
            secs(limit)
        ),
    )
}

fn quiet_kept_open(ctx: &mut ClientCtx<'_>) -> Verdict {
    const LEASE_MS: u32 = 3_000;
    let (_running, mut session, mut callback) = established_with_lease(ctx, LEASE_MS)?;
    // The suite plays a server that never pings its callbacks: it answers
    // the client's PINGs on control (auto_pong) and says nothing on the
    // callback for two leases.
    let quiet = 2 * Duration::from_millis(u64::from(LEASE_MS));
    let deadline = Instant::now() + quiet;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match first_event(&mut [&mut session.control, &mut callback.conn], left) {
            None => break,
            Some((0, Got::Frame(Frame::Ping { .. }))) => {}
            Some((i, got)) => {
                let on = if i == 0 { "control" } else { "callback" };
                return Err(Fail::failed(
                    format!(
                        "the callback to stay open while quiet for {}, since the server never pinged it [D-16]",
                        secs(quiet)
                    ),
                    format!("{got} on the {on} connection"),
                ));
            }
        }
    }
    callback
        .conn
        .send(&notify(1, 3, &message_payload("after two quiet leases")))?;
    expect_ack(
        &mut callback.conn,
        1,
        "for a NOTIFY on a callback that had been quiet for two leases [D-16]",
    )
}
