//! Delivery against a client: exactly once and in order, duplicates, gaps,
//! forward-compatible payloads, the largest NOTIFY, and where NOTIFY may
//! arrive (callbacks, the backchannel, never elsewhere).

use faxnotify_core::wire::{CallbackState, ErrorCode, Frame, MAX_PAYLOAD_LEN};

use super::common::{advertised, challenged, expect_delivered, to_backchannel};
use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::client_ctx::{ClientCtx, ServeOpts, expect_ack, message_payload, notify};
use crate::peer::process::Delivered;
use crate::peer::raw;

const S: Section = Section::Notifications;

pub(crate) const CASES: &[Case] = &[
    Case::client(
        "client/notifications/deliver-and-ack",
        S,
        &["B-3", "B-2"],
        "NOTIFY seq 1, 2, 3 are each acknowledged and handed to the application once, in order",
        deliver_and_ack,
    ),
    Case::client(
        "client/notifications/duplicates",
        S,
        &["B-3"],
        "duplicate NOTIFYs (seq 2 and 1 again) are acknowledged again but not delivered again",
        duplicates,
    ),
    Case::client(
        "client/notifications/gap",
        S,
        &["B-3"],
        "NOTIFY seq 3 after seq 1 is UNEXPECTED_FRAME, and seq 3 is not delivered",
        gap,
    ),
    Case::client(
        "client/notifications/out-of-order",
        S,
        &["B-3"],
        "a first NOTIFY with seq 2 is UNEXPECTED_FRAME, and nothing is delivered",
        out_of_order,
    ),
    Case::client(
        "client/notifications/unknown-kind",
        S,
        &["N-1"],
        "a NOTIFY of unknown kind 200 is acknowledged and delivered as its raw kind and payload",
        unknown_kind,
    ),
    Case::client(
        "client/notifications/malformed-payload",
        S,
        &["N-1"],
        "a FAX_RECEIVED whose payload does not parse is acknowledged and delivered raw, flagged malformed",
        malformed_payload,
    ),
    Case::client(
        "client/notifications/extended-payload",
        S,
        &["N-1"],
        "a SERVER_MESSAGE with extra bytes after its fields is acknowledged and delivered parsed",
        extended_payload,
    ),
    Case::client(
        "client/notifications/unknown-enum",
        S,
        &["N-1"],
        "a JOB_STATUS with state 99 is acknowledged and delivered with the number passed through",
        unknown_enum,
    ),
    Case::client(
        "client/notifications/largest-notify",
        S,
        &["F-1", "N-1"],
        "a NOTIFY of 65 535 bytes (a 65 523-byte payload) is acknowledged",
        largest_notify,
    ),
    Case::client(
        "client/notifications/ready-reports-last-seq",
        S,
        &["B-2"],
        "a new callback's CB_READY carries the last seq delivered",
        ready_reports_last_seq,
    ),
    Case::client(
        "client/notifications/older-callback",
        S,
        &["D-2"],
        "NOTIFY on an older callback still open after a newer handshake is accepted",
        older_callback,
    ),
    Case::client(
        "client/notifications/notify-before-cb-hello",
        S,
        &["D-2", "B-1"],
        "NOTIFY on a callback before CB_HELLO is UNEXPECTED_FRAME and not delivered",
        notify_before_cb_hello,
    ),
    Case::client(
        "client/notifications/control-without-status",
        S,
        &["D-2"],
        "NOTIFY on the control connection with no backchannel announced is UNEXPECTED_FRAME",
        control_without_status,
    ),
    Case::client(
        "client/notifications/control-after-reachable",
        S,
        &["D-2"],
        "NOTIFY on the control connection after CALLBACK_STATUS reachable is UNEXPECTED_FRAME",
        control_after_reachable,
    ),
    Case::client(
        "client/notifications/backchannel",
        S,
        &["D-2", "D-1", "B-2"],
        "after CALLBACK_STATUS backchannel NOTIFY on control is acknowledged there; a later callback reports it",
        backchannel,
    ),
];

fn message(seq: u64, text: &str) -> Frame<'static> {
    notify(seq, 3, &message_payload(text))
}

fn deliver_and_ack(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    let texts = ["one", "two", "three"];
    for (seq, text) in (1..).zip(texts) {
        callback.conn.send(&message(seq, text))?;
        expect_ack(&mut callback.conn, seq, &format!("for NOTIFY seq={seq}"))?;
    }
    ctx.need_contract()?;
    let delivered = expect_delivered(ctx, &mut running, &[1, 2, 3], "[B-3]")?;
    for (d, text) in delivered.iter().zip(texts) {
        ensure(
            d.kind == 3 && d.payload == message_payload(text) && !d.malformed,
            format!("kind 3 with the payload as sent ({text:?})"),
            || format!("{d:?}"),
        )?;
    }
    Ok(())
}

fn duplicates(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    callback.conn.send(&message(1, "one"))?;
    callback.conn.send(&message(2, "two"))?;
    expect_ack(&mut callback.conn, 2, "for NOTIFY seq=2")?;
    for seq in [2, 1] {
        callback.conn.send(&message(seq, "again"))?;
        let acked = callback.conn.expect(
            &format!("an ACK again for the duplicate NOTIFY seq={seq} [B-3]"),
            |f| match f {
                Frame::Ack { seq } => Some(*seq),
                _ => None,
            },
        )?;
        ensure(
            (seq..=2).contains(&acked),
            format!("ACK seq between {seq} and 2 for the duplicate seq={seq} [B-3]"),
            || format!("ACK seq={acked}"),
        )?;
    }
    ctx.need_contract()?;
    expect_delivered(
        ctx,
        &mut running,
        &[1, 2],
        "(duplicates are not delivered again) [B-3]",
    )?;
    Ok(())
}

fn gap(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    callback.conn.send(&message(1, "one"))?;
    expect_ack(&mut callback.conn, 1, "for NOTIFY seq=1")?;
    callback.conn.send(&message(3, "three"))?;
    callback
        .conn
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for NOTIFY seq=3 after seq=1 (a gap) [B-3]"))?;
    if ctx.target.stdout_contract {
        expect_delivered(ctx, &mut running, &[1], "(seq 3 came after a gap) [B-3]")?;
    }
    Ok(())
}

fn out_of_order(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    callback.conn.send(&message(2, "two"))?;
    callback
        .conn
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for NOTIFY seq=2 before seq=1 [B-3]"))?;
    if ctx.target.stdout_contract {
        expect_delivered(ctx, &mut running, &[], "(seq 2 came before seq 1) [B-3]")?;
    }
    Ok(())
}

/// Delivers one NOTIFY on a fresh callback and returns what the application got.
fn deliver_one(
    ctx: &mut ClientCtx<'_>,
    kind: u8,
    payload: &[u8],
    what: &str,
) -> Result<Delivered, Fail> {
    let (mut running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    callback.conn.send(&notify(1, kind, payload))?;
    expect_ack(
        &mut callback.conn,
        1,
        &format!("for {what}: it is not an error [N-1]"),
    )?;
    ctx.need_contract()?;
    let mut delivered = expect_delivered(ctx, &mut running, &[1], &format!("for {what} [N-1]"))?;
    Ok(delivered.remove(0))
}

fn unknown_kind(ctx: &mut ClientCtx<'_>) -> Verdict {
    let payload = ctx.nonce()[..10].to_vec();
    let d = deliver_one(ctx, 200, &payload, "a NOTIFY of unknown kind 200")?;
    ensure(
        d.kind == 200 && d.payload == payload && !d.malformed,
        format!(
            "kind 200, the raw payload {}, malformed false [N-1]",
            hex::encode(&payload)
        ),
        || format!("{d:?}"),
    )
}

fn malformed_payload(ctx: &mut ClientCtx<'_>) -> Verdict {
    let payload = vec![0, 1, 2];
    let d = deliver_one(ctx, 1, &payload, "a FAX_RECEIVED with a 3-byte payload")?;
    ensure(
        d.kind == 1 && d.payload == payload && d.malformed,
        "kind 1, the raw payload 000102, malformed true [N-1]",
        || format!("{d:?}"),
    )
}

fn extended_payload(ctx: &mut ClientCtx<'_>) -> Verdict {
    let mut payload = message_payload("extended");
    payload.extend([9, 9, 9]);
    let d = deliver_one(ctx, 3, &payload, "a SERVER_MESSAGE with 3 extra bytes")?;
    ensure(
        d.kind == 3 && !d.malformed,
        "kind 3, parsed (malformed false): extra bytes are ignored [N-1]",
        || format!("{d:?}"),
    )?;
    if let Some(fields) = &d.fields {
        ensure(
            fields.get("text").and_then(|t| t.as_str()) == Some("extended"),
            "fields.text \"extended\"",
            || format!("fields {fields}"),
        )?;
    }
    Ok(())
}

fn unknown_enum(ctx: &mut ClientCtx<'_>) -> Verdict {
    let mut payload = 42u64.to_be_bytes().to_vec();
    payload.push(99);
    for v in [1u16, 3, 1] {
        payload.extend(v.to_be_bytes());
    }
    payload.extend(raw::str_field(b"state from the future"));
    let d = deliver_one(ctx, 2, &payload, "a JOB_STATUS with state 99")?;
    ensure(
        d.kind == 2 && !d.malformed,
        "kind 2, parsed (malformed false): an unknown enum value is not an error [N-1]",
        || format!("{d:?}"),
    )?;
    if let Some(fields) = &d.fields {
        ensure(
            fields.get("state").and_then(|s| s.as_u64()) == Some(99),
            "fields.state 99, passed through as a number [N-1]",
            || format!("fields {fields}"),
        )?;
    }
    Ok(())
}

fn largest_notify(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    let frame = notify(1, 250, &vec![0xab; MAX_PAYLOAD_LEN]);
    ensure(
        frame.encoded_len() == 4 + 65_535,
        "a NOTIFY of length 65535",
        || format!("{} bytes (a bug in the suite)", frame.encoded_len()),
    )?;
    callback.conn.send(&frame)?;
    expect_ack(
        &mut callback.conn,
        1,
        "for a NOTIFY of length 65535, the largest frame [F-1]",
    )
}

fn ready_reports_last_seq(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, session, mut first) = ctx.establish(&ServeOpts::default())?;
    for seq in 1..=3 {
        first.conn.send(&message(seq, "before a new callback"))?;
    }
    expect_ack(&mut first.conn, 3, "for NOTIFY seq 1..=3")?;
    let port = first.conn.peer_addr().port();
    first.conn.close();
    let conn = ctx.dial(&session, port)?;
    let second = ctx.cb_handshake(&session, conn)?;
    ensure(
        second.last_seq == 3,
        "CB_READY last_seq=3, the highest seq handed to the application [B-2]",
        || format!("last_seq={}", second.last_seq),
    )
}

fn older_callback(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, session, mut first) = ctx.establish(&ServeOpts::default())?;
    let port = first.conn.peer_addr().port();
    let conn = ctx.dial(&session, port)?;
    let mut second = ctx.cb_handshake(&session, conn)?;
    first.conn.send(&message(1, "on the older callback"))?;
    expect_ack(
        &mut first.conn,
        1,
        "on the older callback, still open after a newer handshake [D-2]",
    )?;
    second.conn.send(&message(2, "on the newer callback"))?;
    expect_ack(&mut second.conn, 2, "on the newer callback")?;
    if ctx.target.stdout_contract {
        expect_delivered(ctx, &mut running, &[1, 2], "[D-2]")?;
    }
    Ok(())
}

fn notify_before_cb_hello(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, _session, mut conn, _) = challenged(ctx)?;
    conn.send(&message(1, "before CB_HELLO"))?;
    conn.expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for NOTIFY before the callback handshake [D-2]"))?;
    if ctx.target.stdout_contract {
        expect_delivered(ctx, &mut running, &[], "[D-2]")?;
    }
    Ok(())
}

fn control_without_status(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut session, _port) = advertised(ctx, &ServeOpts::default())?;
    session
        .control
        .send(&message(1, "on the control connection"))?;
    session
        .control
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for NOTIFY on control with no CALLBACK_STATUS backchannel [D-2]"))?;
    Ok(())
}

fn control_after_reachable(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut session, _callback) = ctx.establish(&ServeOpts::default())?;
    session
        .control
        .send(&message(1, "on the control connection"))?;
    session
        .control
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for NOTIFY on control after CALLBACK_STATUS reachable [D-2]"))?;
    Ok(())
}

fn backchannel(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, mut session, port) = advertised(ctx, &ServeOpts::default())?;
    to_backchannel(&mut session)?;
    session.control.send(&message(1, "over the backchannel"))?;
    expect_ack(
        &mut session.control,
        1,
        "on the control connection, where the NOTIFY arrived [D-2]",
    )?;
    if ctx.target.stdout_contract {
        expect_delivered(ctx, &mut running, &[1], "[D-2]")?;
    }
    if port == 0 {
        return Ok(());
    }
    let conn = ctx.dial(&session, port)?;
    let callback = ctx.cb_handshake(&session, conn)?;
    ensure(
        callback.last_seq == 1,
        "CB_READY last_seq=1: the NOTIFY delivered over the backchannel [B-2]",
        || format!("last_seq={}", callback.last_seq),
    )?;
    session.status(CallbackState::Reachable)?;
    session
        .control
        .send(&message(2, "on control after reachable"))?;
    session
        .control
        .expect_error(ErrorCode::UnexpectedFrame)
        .map_err(|f| f.during("for NOTIFY on control after CALLBACK_STATUS reachable [D-2]"))?;
    Ok(())
}
