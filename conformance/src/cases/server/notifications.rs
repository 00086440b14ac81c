//! Delivery against a server: sequence numbers, ACK and CB_READY bounds,
//! resending on path changes, the backchannel and late ACKs.

use faxnotify_core::wire::{CallbackState, Caps, ErrorCode, Frame, FrameType};

use crate::case::{Case, Fail, Needs, Section, Verdict};
use crate::client_ctx::notify;
use crate::peer::conn::FrameConn;
use crate::peer::listener::Listener;
use crate::peer::session::{Session, expect_message};
use crate::server_ctx::ServerCtx;

const S: Section = Section::Notifications;

pub(crate) const CASES: &[Case] = &[
    Case::server(
        "server/notifications/seq-from-one",
        S,
        &["B-2"],
        "notifications of a new session carry seq 1, 2, 3 in the order they were queued",
        seq_from_one,
    ),
    Case::server(
        "server/notifications/resend-after-redial",
        S,
        &["B-4", "D-8"],
        "after a new callback handshake (CB_READY last_seq=1) the unacknowledged seq 2 is resent first",
        resend_after_redial,
    ),
    Case::server(
        "server/notifications/ready-discards",
        S,
        &["B-4"],
        "after CB_READY last_seq=2 nothing at or below 2 is resent",
        ready_discards,
    ),
    Case::server(
        "server/notifications/ack-beyond-sent",
        S,
        &["B-2", "C-10"],
        "an ACK above the highest seq sent is UNEXPECTED_FRAME and ends the session",
        ack_beyond_sent,
    ),
    Case::server(
        "server/notifications/ready-beyond-sent",
        S,
        &["B-2", "C-10"],
        "CB_READY last_seq above the highest seq sent is UNEXPECTED_FRAME and ends the session",
        ready_beyond_sent,
    ),
    Case::server(
        "server/notifications/ready-below-acked",
        S,
        &["B-2", "D-9", "D-14"],
        "CB_READY last_seq below the seq acknowledged before CB_HELLO is UNEXPECTED_FRAME and ends the session",
        ready_below_acked,
    ),
    Case::server(
        "server/notifications/ready-stale",
        S,
        &["D-14", "B-4"],
        "a CB_READY overtaken by an ACK on the backchannel is accepted; nothing acknowledged is resent",
        ready_stale,
    ),
    Case::server(
        "server/notifications/repeated-ack",
        S,
        &["D-9"],
        "ACKs at or below the highest acknowledged seq are accepted without effect",
        repeated_ack,
    ),
    Case::server(
        "server/notifications/acked-not-resent",
        S,
        &["B-4", "C-6", "D-7"],
        "after a resume over the backchannel only the unacknowledged notification is resent",
        acked_not_resent,
    ),
    Case::server(
        "server/notifications/late-ack-former-backchannel",
        S,
        &["D-1", "B-5"],
        "an ACK on the control connection after delivery moved from the backchannel to a callback is accepted",
        late_ack_former_backchannel,
    ),
    Case::server(
        "server/notifications/ack-on-control",
        S,
        &["D-1", "F-3"],
        "an ACK on a control connection that never carried backchannel delivery is UNEXPECTED_FRAME",
        ack_on_control,
    ),
    Case::server(
        "server/notifications/notify-from-client",
        S,
        &["F-3"],
        "a NOTIFY sent by the client on the callback is UNEXPECTED_FRAME",
        notify_from_client,
    ),
];

fn seq_from_one(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_trigger()?;
    let (session, _listener, mut callback) = ctx.establish()?;
    let texts = [ctx.notify()?, ctx.notify()?, ctx.notify()?];
    for (seq, text) in (1..).zip(&texts) {
        expect_message(
            &mut callback.conn,
            seq,
            text,
            "(seqs start at 1 and grow by 1) [B-2]",
        )?;
    }
    callback.conn.send(&Frame::Ack { seq: 3 })?;
    session.logout()
}

/// Two notifications delivered on a fresh callback, none acknowledged yet.
fn two_delivered(
    ctx: &mut ServerCtx<'_>,
) -> Result<(Session, Listener, FrameConn, [String; 2]), Fail> {
    ctx.need_trigger()?;
    let (session, listener, mut callback) = ctx.establish()?;
    let texts = [ctx.notify()?, ctx.notify()?];
    expect_message(&mut callback.conn, 1, &texts[0], "[B-2]")?;
    expect_message(&mut callback.conn, 2, &texts[1], "[B-2]")?;
    Ok((session, listener, callback.conn, texts))
}

fn resend_after_redial(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, mut listener, mut conn, texts) = two_delivered(ctx)?;
    conn.send(&Frame::Ack { seq: 1 })?;
    conn.close();
    let redial = ctx
        .accept_callback(&mut listener, "again after the callback closed [D-8]")
        .needs("D-8")?;
    let nonce = ctx.nonce();
    let mut callback = session.cb_handshake(redial, nonce, 1)?;
    expect_message(
        &mut callback.conn,
        2,
        &texts[1],
        "first on the new path: the lowest unacknowledged, resent [B-4]",
    )?;
    callback.conn.send(&Frame::Ack { seq: 2 })?;
    session.logout()
}

fn ready_discards(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, mut listener, mut conn, _texts) = two_delivered(ctx)?;
    conn.close();
    let redial = ctx
        .accept_callback(&mut listener, "again after the callback closed [D-8]")
        .needs("D-8")?;
    let nonce = ctx.nonce();
    let mut callback = session.cb_handshake(redial, nonce, 2)?;
    let third = ctx.notify()?;
    expect_message(
        &mut callback.conn,
        3,
        &third,
        "as the next NOTIFY: CB_READY last_seq=2 discarded seqs 1 and 2 [B-4]",
    )?;
    callback.conn.send(&Frame::Ack { seq: 3 })?;
    session.logout()
}

/// After a sequence violation: the session must end — its control
/// connection closes (BYE allowed first) and a resume fails.
fn expect_session_ended(ctx: &mut ServerCtx<'_>, mut session: Session, why: &str) -> Verdict {
    session.ended = true;
    let id = session.id();
    // BYE or an ERROR may come first; the spec names no BYE reason for this.
    session.control.tolerate(FrameType::Bye);
    session.control.tolerate(FrameType::Error);
    session.control.expect_closed(&format!(
        "the control connection to close: the session ends {why} [C-10]"
    ))?;
    ctx.expect_session_gone(id, &format!("ended {why}"))
}

fn ack_beyond_sent(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, _listener, mut callback) = ctx.establish()?;
    callback.conn.send(&Frame::Ack { seq: 1 })?;
    callback
        .conn
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for ACK seq=1 when nothing was sent [B-2]"))?;
    expect_session_ended(ctx, session, "after ACK beyond the highest seq sent")
}

fn ready_beyond_sent(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    let mut listener = ctx.listener(&session)?;
    session.advertise_port(listener.port())?;
    let conn = ctx.accept_callback(&mut listener, "after ADVERTISE_OK")?;
    let nonce = ctx.nonce();
    let mut callback = session.cb_handshake(conn, nonce, 5)?;
    callback
        .conn
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for CB_READY last_seq=5 when nothing was sent [B-2]"))?;
    expect_session_ended(ctx, session, "after CB_READY beyond the highest seq sent")
}

fn ready_below_acked(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, mut listener, mut conn, _texts) = two_delivered(ctx)?;
    conn.send(&Frame::Ack { seq: 2 })?;
    // Let the ACK land before the path changes.
    conn.expect_quiet(ctx.t.quiet, "nothing after ACK seq=2")?;
    conn.close();
    let redial = ctx
        .accept_callback(&mut listener, "again after the callback closed [D-8]")
        .needs("D-8")?;
    let nonce = ctx.nonce();
    let mut callback = session.cb_handshake(redial, nonce, 1)?;
    callback
        .conn
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for CB_READY last_seq=1 after ACK seq=2 [B-2]"))?;
    expect_session_ended(
        ctx,
        session,
        "after CB_READY below the highest acknowledged seq",
    )
}

fn ready_stale(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_trigger()?;
    let mut session = ctx.login()?;
    need_backchannel(&session)?;
    let ip = session.control.local_addr().ip();
    let dead = ctx.dead_port(ip)?;
    session.advertise_port(dead.port())?;
    session.expect_status(
        CallbackState::Backchannel,
        "after the first dial was refused [B-5]",
    )?;
    let texts = [ctx.notify()?, ctx.notify()?];
    expect_message(&mut session.control, 1, &texts[0], "on the backchannel")?;
    expect_message(&mut session.control, 2, &texts[1], "on the backchannel")?;
    let mut listener = ctx.listen_on(dead)?;
    let mut conn = listener.accept_within(
        ctx.t.expect + ctx.t.margin + std::time::Duration::from_secs(5),
        "a retried dial once the port listens [B-5]",
    )?;
    let nonce = ctx.nonce();
    Session::cb_challenge(&mut conn, nonce)?;
    let hello = session.expect_cb_hello(&mut conn, &nonce)?;
    // CB_HELLO went out with nothing acknowledged; the ACK for both crosses
    // the handshake on the backchannel, and the PONG shows it was read
    // before the CB_READY (which still says 0) is sent.
    session.control.send(&Frame::Ack { seq: 2 })?;
    let ping = ctx.random_u64();
    session
        .control
        .ping_pong(ping, "no ERROR for the ACK on the backchannel")?;
    let ready = session.cb_ready(&conn, &nonce, &hello, 0);
    conn.send(&ready)?;
    session.expect_status(
        CallbackState::Reachable,
        "after CB_READY last_seq=0 that ACK 2 overtook: stale, not an error [D-14]",
    )?;
    let third = ctx.notify()?;
    expect_message(
        &mut conn,
        3,
        &third,
        "first on the callback: 1 and 2 were acknowledged, so not resent [D-14]",
    )?;
    conn.send(&Frame::Ack { seq: 3 })?;
    session.logout()
}

fn repeated_ack(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, _listener, mut conn, _texts) = two_delivered(ctx)?;
    for seq in [2, 2, 1] {
        conn.send(&Frame::Ack { seq })?;
    }
    conn.expect_quiet(ctx.t.quiet, "no ERROR for repeated ACKs (2, 2, 1) [D-9]")?;
    let third = ctx.notify()?;
    expect_message(
        &mut conn,
        3,
        &third,
        "next, with nothing resent: the repeats had no effect [D-9]",
    )?;
    conn.send(&Frame::Ack { seq: 3 })?;
    session.logout()
}

/// Skips unless BACKCHANNEL was negotiated.
fn need_backchannel(session: &Session) -> Verdict {
    if session.backchannel() {
        Ok(())
    } else {
        Err(Fail::skipped(
            "the server does not offer BACKCHANNEL (SERVER_HELLO caps)",
        ))
    }
}

fn acked_not_resent(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_trigger()?;
    let mut session = ctx.login()?;
    need_backchannel(&session)?;
    session.advertise_port(0)?;
    session.expect_status(
        CallbackState::Backchannel,
        "after ADVERTISE of port 0 [D-7]",
    )?;
    let texts = [ctx.notify()?, ctx.notify()?];
    expect_message(
        &mut session.control,
        1,
        &texts[0],
        "on the backchannel [D-7]",
    )?;
    expect_message(
        &mut session.control,
        2,
        &texts[1],
        "on the backchannel [D-7]",
    )?;
    session.control.send(&Frame::Ack { seq: 2 })?;
    let third = ctx.notify()?;
    expect_message(&mut session.control, 3, &third, "on the backchannel")?;
    // Drop the control connection: the session is detached, queue intact [C-5].
    session.ended = true;
    session.control.close();

    let mut plan = ctx.plan()?;
    plan.resume_session = session.id();
    let mut resumed = ctx.login_with(&plan)?;
    if resumed.id() != session.id() {
        // A new session has a new queue: what it resends says nothing about
        // [B-4]. Dropping it sends LOGOUT, which ends it.
        drop(resumed);
        return Err(Fail::failed(
            format!(
                "LOGIN_OK session_id={:#018x}, the resumed session [C-6]",
                session.id()
            ),
            "a new session id; the server ignored resume_session".to_owned(),
        )
        .needs("C-6"));
    }
    resumed.advertise_port(0)?;
    resumed.expect_status(
        CallbackState::Backchannel,
        "after ADVERTISE of port 0 [D-7]",
    )?;
    expect_message(
        &mut resumed.control,
        3,
        &third,
        "as the only resend: seqs 1 and 2 were acknowledged [B-4]",
    )?;
    resumed.control.send(&Frame::Ack { seq: 3 })?;
    resumed.logout()
}

fn late_ack_former_backchannel(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_trigger()?;
    let mut session = ctx.login()?;
    need_backchannel(&session)?;
    let ip = session.control.local_addr().ip();
    let dead = ctx.dead_port(ip)?;
    session.advertise_port(dead.port())?;
    session.expect_status(
        CallbackState::Backchannel,
        "after the first dial was refused [B-5]",
    )?;
    let text = ctx.notify()?;
    expect_message(&mut session.control, 1, &text, "on the backchannel")?;
    let mut listener = ctx.listen_on(dead)?;
    let conn = listener.accept_within(
        ctx.t.expect + ctx.t.margin + std::time::Duration::from_secs(5),
        "a retried dial once the port listens [B-5]",
    )?;
    let nonce = ctx.nonce();
    let mut callback = session.cb_handshake(conn, nonce, 0)?;
    session.expect_status(
        CallbackState::Reachable,
        "after the handshake moved delivery to the callback",
    )?;
    // The ACK for the NOTIFY received on the backchannel arrives late, on the control connection.
    session.control.send(&Frame::Ack { seq: 1 })?;
    callback.conn.tolerate(FrameType::Notify);
    let nonce = ctx.random_u64();
    session.control.ping_pong(
        nonce,
        "no ERROR for a late ACK on the former backchannel [D-1]",
    )?;
    let _ = callback.conn.next_relevant(ctx.t.quiet);
    session.logout()
}

fn ack_on_control(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut plan = ctx.plan()?;
    plan.caps = Caps::NONE;
    let session = ctx.login_with(&plan)?;
    let (mut session, _listener, _callback) = ctx.establish_on(session, 0)?;
    session.control.send(&Frame::Ack { seq: 0 })?;
    session.ended = true;
    session.control.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn notify_from_client(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, _listener, mut callback) = ctx.establish()?;
    callback.conn.send(&notify(1, 3, &[0, 1, b'x']))?;
    callback.conn.expect_error(ErrorCode::UnexpectedFrame)?;
    session.logout()
}
