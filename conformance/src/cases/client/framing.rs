//! Framing against a client: length limits on control and callback, empty,
//! unknown and misplaced frames, bad bodies, segmentation, and ERROR.

use std::time::Duration;

use faxnotify_core::wire::{
    Caps, ErrorCode, Frame, FrameType, Login, LoginOk, MAX_FRAME_LEN, MAX_PRELOGIN_FRAME_LEN,
    MAX_STR_LEN, Role, ServerHello,
};

use super::common::{advertised, challenged, show};
use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::client_ctx::{ClientCtx, Running, ServeOpts, expect_ack, message_payload, notify};
use crate::peer::conn::{FrameConn, Got};
use crate::peer::raw;

const S: Section = Section::Framing;

pub(crate) const CASES: &[Case] = &[
    Case::client(
        "client/framing/oversized-prelogin",
        S,
        &["F-1"],
        "a length prefix of 4 146 before LOGIN_OK gets FRAME_TOO_LARGE as soon as its 4 bytes arrive",
        oversized_prelogin,
    ),
    Case::client(
        "client/framing/largest-server-hello",
        S,
        &["F-1"],
        "a SERVER_HELLO with a 4 096-byte server name (length 4 107) is accepted",
        largest_server_hello,
    ),
    Case::client(
        "client/framing/oversized-after-login",
        S,
        &["F-1", "F-6"],
        "a length prefix of 65 536 on the control connection after LOGIN_OK gets FRAME_TOO_LARGE",
        oversized_after_login,
    ),
    Case::client(
        "client/framing/oversized-callback",
        S,
        &["F-1"],
        "a length prefix of 65 536 on the callback gets FRAME_TOO_LARGE",
        oversized_callback,
    ),
    Case::client(
        "client/framing/large-frame-before-cb-hello",
        S,
        &["D-12", "F-1"],
        "a 5 000-byte CB_HELLO on the callback is read whole (MALFORMED, not FRAME_TOO_LARGE)",
        large_frame_before_cb_hello,
    ),
    Case::client(
        "client/framing/zero-length",
        S,
        &["F-2"],
        "a length prefix of 0 is MALFORMED",
        zero_length,
    ),
    Case::client(
        "client/framing/unknown-type",
        S,
        &["F-3"],
        "an undefined frame type is UNKNOWN_FRAME",
        unknown_type,
    ),
    Case::client(
        "client/framing/wrong-state",
        S,
        &["F-3"],
        "LOGIN_OK before SERVER_HELLO is UNEXPECTED_FRAME",
        wrong_state,
    ),
    Case::client(
        "client/framing/wrong-direction",
        S,
        &["F-3"],
        "a client-to-server frame (LOGIN) sent to the client is UNEXPECTED_FRAME",
        wrong_direction,
    ),
    Case::client(
        "client/framing/trailing-bytes",
        S,
        &["F-4"],
        "a SERVER_HELLO with a byte after its last field is MALFORMED",
        trailing_bytes,
    ),
    Case::client(
        "client/framing/truncated-body",
        S,
        &["F-4"],
        "a SERVER_HELLO one byte short of its server name is MALFORMED",
        truncated_body,
    ),
    Case::client(
        "client/framing/invalid-utf8",
        S,
        &["F-4"],
        "a SERVER_HELLO whose server name is not UTF-8 is MALFORMED",
        invalid_utf8,
    ),
    Case::client(
        "client/framing/string-too-long",
        S,
        &["F-4"],
        "a SERVER_HELLO whose server name is 4 097 bytes is MALFORMED",
        string_too_long,
    ),
    Case::client(
        "client/framing/undefined-address-family",
        S,
        &["F-4"],
        "an ADVERTISE_OK with address family 5 is MALFORMED",
        undefined_address_family,
    ),
    Case::client(
        "client/framing/undefined-enum",
        S,
        &["F-4"],
        "a CALLBACK_STATUS with state 9 is MALFORMED",
        undefined_enum,
    ),
    Case::client(
        "client/framing/byte-at-a-time",
        S,
        &["F-5"],
        "a whole login, callback handshake and NOTIFY sent one byte per write work",
        byte_at_a_time,
    ),
    Case::client(
        "client/framing/coalesced",
        S,
        &["F-5"],
        "CB_HELLO and two NOTIFYs in one write are all processed",
        coalesced,
    ),
    Case::client(
        "client/framing/server-error-ends-session",
        S,
        &["F-6"],
        "after an ERROR from the server following LOGIN_OK the client closes, and never resumes that session",
        server_error_ends_session,
    ),
    Case::client(
        "client/framing/unknown-error-code",
        S,
        &["D-11", "F-6"],
        "an ERROR with an undefined code closes the connection",
        unknown_error_code,
    ),
];

fn connected(ctx: &mut ClientCtx<'_>) -> Result<(Running, FrameConn), Fail> {
    let mut running = ctx.start()?;
    let conn = ctx.accept_control(&mut running)?;
    Ok((running, conn))
}

fn hello() -> Frame<'static> {
    Frame::ServerHello(ServeOpts::default().hello)
}

fn oversized_prelogin(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send_raw(
        &raw::length_prefix(MAX_PRELOGIN_FRAME_LEN + 1),
        "length prefix 4146, no body",
    )?;
    conn.expect_error(ErrorCode::FrameTooLarge)
        .map_err(|f| f.during("after only the 4 length bytes (no body) [F-1]"))?;
    Ok(())
}

fn largest_server_hello(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    let hello = ServerHello {
        server_name: "n".repeat(MAX_STR_LEN).into(),
        ..ServeOpts::default().hello
    };
    ctx.greet(&mut conn, &hello)
        .map_err(|f| f.during("for a SERVER_HELLO of length 4107 [F-1]"))?;
    Ok(())
}

fn oversized_after_login(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut session, _callback) = ctx.establish(&ServeOpts::default())?;
    session.control.send_raw(
        &raw::length_prefix(MAX_FRAME_LEN + 1),
        "length prefix 65536, no body",
    )?;
    session.control.expect_error(ErrorCode::FrameTooLarge)?;
    Ok(())
}

fn oversized_callback(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, _session, mut callback) = ctx.establish(&ServeOpts::default())?;
    callback.conn.send_raw(
        &raw::length_prefix(MAX_FRAME_LEN + 1),
        "length prefix 65536, no body",
    )?;
    callback.conn.expect_error(ErrorCode::FrameTooLarge)?;
    Ok(())
}

fn large_frame_before_cb_hello(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, session, mut conn, client_nonce) = challenged(ctx)?;
    let server_nonce = ctx.nonce();
    let hello = ctx.cb_hello(&session, &conn, &client_nonce, server_nonce);
    let padding = vec![0u8; 5_000 - 1 - 72];
    conn.send_raw(
        &raw::with_trailing(&hello, &padding),
        "CB_HELLO with 4927 bytes after its proof (length 5000)",
    )?;
    conn.expect_error(ErrorCode::Malformed).map_err(|f| {
        f.during("callbacks read frames up to 65 535 bytes before the handshake [D-12]")
    })?;
    Ok(())
}

fn zero_length(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send_raw(&raw::length_prefix(0), "length prefix 0")?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn unknown_type(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send_raw(&raw::frame_bytes(0x55, &[]), "frame of undefined type 0x55")?;
    conn.expect_error(ErrorCode::UnknownFrame)?;
    Ok(())
}

fn wrong_state(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send(&Frame::LoginOk(LoginOk {
        session_id: 1,
        role: Role::User,
        lease_ms: 30_000,
        caps: Caps::NONE,
        server_signature: [0; 32],
    }))?;
    conn.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn wrong_direction(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send(&Frame::Login(Login {
        version: 1,
        user: "server".into(),
        client_nonce: [1; 32],
        caps: Caps::NONE,
        resume_session: 0,
    }))?;
    conn.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn trailing_bytes(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send_raw(
        &raw::with_trailing(&hello(), &[0]),
        "SERVER_HELLO with 1 byte after server_name",
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn truncated_body(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send_raw(
        &raw::truncated(&hello(), 1),
        "SERVER_HELLO missing the last byte of server_name",
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn hello_with_name(name: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(1u16.to_be_bytes());
    body.extend(1u16.to_be_bytes());
    body.extend(Caps::BACKCHANNEL.bits().to_be_bytes());
    body.extend(raw::str_field(name));
    raw::frame_bytes(FrameType::ServerHello.to_wire(), &body)
}

fn invalid_utf8(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send_raw(
        &hello_with_name(&[0x66, 0xff, 0xfe]),
        "SERVER_HELLO with server_name bytes 66 ff fe",
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn string_too_long(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    conn.send_raw(
        &hello_with_name(&vec![b'n'; MAX_STR_LEN + 1]),
        "SERVER_HELLO with a 4097-byte server_name",
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn undefined_address_family(ctx: &mut ClientCtx<'_>) -> Verdict {
    let mut running = ctx.start()?;
    let mut session = ctx.login(&mut running, &ServeOpts::default())?;
    let advertise = session.expect_advertise()?;
    let mut body = vec![5];
    body.extend([127, 0, 0, 1]);
    body.extend(advertise.port.to_be_bytes());
    session.control.send_raw(
        &raw::frame_bytes(FrameType::AdvertiseOk.to_wire(), &body),
        "ADVERTISE_OK with address family 5",
    )?;
    session.control.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn undefined_enum(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut session, _port) = advertised(ctx, &ServeOpts::default())?;
    let mut body = vec![9];
    body.extend(raw::str_field(b"state nine"));
    session.control.send_raw(
        &raw::frame_bytes(FrameType::CallbackStatus.to_wire(), &body),
        "CALLBACK_STATUS with state 9",
    )?;
    session.control.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn byte_at_a_time(ctx: &mut ClientCtx<'_>) -> Verdict {
    let split = Some((1, Duration::from_millis(1)));
    let opts = ServeOpts::default();
    let mut running = ctx.start()?;
    let mut conn = ctx.accept_control(&mut running)?;
    conn.set_split(split);
    let login = ctx.greet(&mut conn, &opts.hello)?;
    let mut session = ctx.finish_login(conn, login, &opts)?;
    let advertise = session.expect_advertise()?;
    session.advertise_ok(advertise.port)?;
    let mut conn = ctx.dial(&session, advertise.port)?;
    conn.set_split(split);
    let mut callback = ctx.cb_handshake(&session, conn)?;
    session.status(faxnotify_core::wire::CallbackState::Reachable)?;
    callback
        .conn
        .send(&notify(1, 3, &message_payload("one byte at a time")))?;
    expect_ack(
        &mut callback.conn,
        1,
        "for a NOTIFY sent one byte per write [F-5]",
    )
}

fn coalesced(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, session, mut conn, client_nonce) = challenged(ctx)?;
    let server_nonce = ctx.nonce();
    let hello = ctx.cb_hello(&session, &conn, &client_nonce, server_nonce);
    conn.send_all(&[
        hello,
        notify(1, 3, &message_payload("first")),
        notify(2, 3, &message_payload("second")),
    ])?;
    let last_seq = ctx.expect_cb_ready(&session, &mut conn, &client_nonce, &server_nonce)?;
    ensure(
        last_seq == 0,
        "CB_READY last_seq=0 for a new session [B-2]",
        || format!("last_seq={last_seq}"),
    )?;
    expect_ack(
        &mut conn,
        2,
        "for two NOTIFYs that arrived in one segment with CB_HELLO [F-5]",
    )
}

fn server_error_ends_session(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, mut session, _callback) = ctx.establish(&ServeOpts::default())?;
    let ended = session.ok.session_id;
    session.control.send(&Frame::error(
        ErrorCode::ShuttingDown,
        "conformance: server goes away",
    ))?;
    session.control.expect_closed(
        "the client to close the control connection after the server's ERROR [F-6]",
    )?;
    // Reconnecting is up to the client; resuming the ended session is not.
    if let Some(mut conn) = running.server.try_accept_within(ctx.t.expect)? {
        let login = ctx.greet(&mut conn, &ServeOpts::default().hello)?;
        ensure(
            login.resume_session != ended,
            format!("a new login (resume_session other than the ended {ended:#018x}) [F-6]"),
            || show(&Frame::Login(login.clone())),
        )?;
    }
    Ok(())
}

fn unknown_error_code(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut conn) = connected(ctx)?;
    let mut body = 999u16.to_be_bytes().to_vec();
    body.extend(raw::str_field(b"code 999"));
    conn.send_raw(
        &raw::frame_bytes(FrameType::Error.to_wire(), &body),
        "ERROR with undefined code 999",
    )?;
    match conn.next_relevant(conn.wait()) {
        Got::Closed(_) => Ok(()),
        Got::Frame(Frame::Error(e)) if e.code == ErrorCode::Malformed => {
            conn.expect_closed("the connection to close after ERROR MALFORMED [F-6]")
        }
        other => Err(Fail::failed(
            "the connection to close (optionally after ERROR MALFORMED [D-11])",
            other.to_string(),
        )),
    }
}
