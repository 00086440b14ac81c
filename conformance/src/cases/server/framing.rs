//! Framing against a server: length limits before and after login, empty,
//! unknown and misplaced frames, bad bodies, segmentation, and ERROR.

use std::time::Duration;

use faxnotify_core::wire::{
    Caps, ErrorCode, Frame, FrameType, Login, MAX_FRAME_LEN, MAX_PRELOGIN_FRAME_LEN, MAX_STR_LEN,
    PROTOCOL_VERSION, ServerHello,
};

use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::peer::conn::Got;
use crate::peer::raw;
use crate::server_ctx::{ServerCtx, expect_challenge};

const S: Section = Section::Framing;

pub(crate) const CASES: &[Case] = &[
    Case::server(
        "server/framing/oversized-prelogin",
        S,
        &["F-1"],
        "a length prefix of 4 146 before LOGIN_OK gets FRAME_TOO_LARGE as soon as its 4 bytes arrive",
        oversized_prelogin,
    ),
    Case::server(
        "server/framing/oversized-max-u32",
        S,
        &["F-1"],
        "a length prefix of 0xffffffff gets FRAME_TOO_LARGE without waiting for a body",
        oversized_max_u32,
    ),
    Case::server(
        "server/framing/largest-login",
        S,
        &["F-1"],
        "a LOGIN of exactly 4 145 bytes (4 096-byte user name) is within the pre-login limit",
        largest_login,
    ),
    Case::server(
        "server/framing/oversized-after-login",
        S,
        &["F-1", "F-6"],
        "a length prefix of 65 536 after LOGIN_OK gets FRAME_TOO_LARGE and ends the session",
        oversized_after_login,
    ),
    Case::server(
        "server/framing/largest-frame-after-login",
        S,
        &["F-1", "F-4"],
        "a 65 535-byte frame after LOGIN_OK is read whole (MALFORMED for its extra bytes, not FRAME_TOO_LARGE)",
        largest_frame_after_login,
    ),
    Case::server(
        "server/framing/zero-length",
        S,
        &["F-2"],
        "a length prefix of 0 is MALFORMED",
        zero_length,
    ),
    Case::server(
        "server/framing/unknown-type",
        S,
        &["F-3"],
        "an undefined frame type is UNKNOWN_FRAME",
        unknown_type,
    ),
    Case::server(
        "server/framing/unknown-type-after-login",
        S,
        &["F-3", "F-6"],
        "an undefined frame type after LOGIN_OK is UNKNOWN_FRAME and ends the session",
        unknown_type_after_login,
    ),
    Case::server(
        "server/framing/wrong-direction",
        S,
        &["F-3"],
        "a server-to-client frame (SERVER_HELLO) sent to the server is UNEXPECTED_FRAME",
        wrong_direction,
    ),
    Case::server(
        "server/framing/wrong-state",
        S,
        &["F-3"],
        "LOGIN_PROOF before LOGIN is UNEXPECTED_FRAME",
        wrong_state,
    ),
    Case::server(
        "server/framing/wrong-connection",
        S,
        &["F-3"],
        "a callback frame (CB_CHALLENGE) on the control connection is UNEXPECTED_FRAME",
        wrong_connection,
    ),
    Case::server(
        "server/framing/trailing-bytes",
        S,
        &["F-4"],
        "a LOGIN with a byte after its last field is MALFORMED",
        trailing_bytes,
    ),
    Case::server(
        "server/framing/truncated-body",
        S,
        &["F-4"],
        "a LOGIN one byte short of its fields is MALFORMED",
        truncated_body,
    ),
    Case::server(
        "server/framing/invalid-utf8",
        S,
        &["F-4"],
        "a LOGIN whose user name is not UTF-8 is MALFORMED",
        invalid_utf8,
    ),
    Case::server(
        "server/framing/string-too-long",
        S,
        &["F-4"],
        "a LOGIN whose user name declares 4 097 bytes is MALFORMED (strings are at most 4 096 bytes); an ERROR whose message does may just close",
        string_too_long,
    ),
    Case::server(
        "server/framing/byte-at-a-time",
        S,
        &["F-5"],
        "a whole login, ADVERTISE and PING sent one byte per write work",
        byte_at_a_time,
    ),
    Case::server(
        "server/framing/coalesced",
        S,
        &["F-5"],
        "ADVERTISE and PING in one write are both answered",
        coalesced,
    ),
    Case::server(
        "server/framing/truncated-stream",
        S,
        &["F-5"],
        "a connection that ends inside a frame is closed, and the server keeps serving",
        truncated_stream,
    ),
    Case::server(
        "server/framing/client-error-ends-session",
        S,
        &["F-6", "C-10"],
        "an ERROR from the client after LOGIN_OK closes the connection and ends the session",
        client_error_ends_session,
    ),
    Case::server(
        "server/framing/unknown-error-code",
        S,
        &["D-11", "F-6"],
        "an ERROR with an undefined code closes the connection",
        unknown_error_code,
    ),
];

fn oversized_prelogin(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send_raw(
        &raw::length_prefix(MAX_PRELOGIN_FRAME_LEN + 1),
        "length prefix 4146, no body",
    )?;
    conn.expect_error(ErrorCode::FrameTooLarge)
        .map_err(|f| f.during("after only the 4 length bytes (no body) [F-1]"))?;
    Ok(())
}

fn oversized_max_u32(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send_raw(
        &raw::length_prefix(u32::MAX),
        "length prefix 0xffffffff, no body",
    )?;
    conn.expect_error(ErrorCode::FrameTooLarge)?;
    Ok(())
}

fn largest_login(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    let login = Frame::Login(Login {
        version: PROTOCOL_VERSION,
        user: "u".repeat(MAX_STR_LEN).into(),
        client_nonce: ctx.nonce(),
        caps: Caps::BACKCHANNEL,
        resume_session: 0,
    });
    ensure(
        login.encoded_len() == 4 + MAX_PRELOGIN_FRAME_LEN as usize,
        "a LOGIN frame of length 4145",
        || {
            format!(
                "the suite built {} bytes (a bug in the suite)",
                login.encoded_len()
            )
        },
    )?;
    conn.send(&login)?;
    expect_challenge(&mut conn)
        .map_err(|f| f.during("for a LOGIN of length 4145, the largest legitimate one [F-1]"))?;
    Ok(())
}

fn oversized_after_login(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, _callback) = ctx.establish()?;
    let id = session.id();
    session.control.send_raw(
        &raw::length_prefix(MAX_FRAME_LEN + 1),
        "length prefix 65536, no body",
    )?;
    session.control.expect_error(ErrorCode::FrameTooLarge)?;
    session.ended = true;
    ctx.expect_session_gone(id, "ended with the ERROR on its control connection [F-6]")
}

fn largest_frame_after_login(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, _callback) = ctx.establish()?;
    let body = vec![0u8; MAX_FRAME_LEN as usize - 1];
    let frame = raw::frame_bytes(FrameType::Ping.to_wire(), &body);
    session.control.send_raw(
        &frame,
        "PING with 65 526 bytes after its nonce (length 65535)",
    )?;
    session.control.expect_error(ErrorCode::Malformed)?;
    session.ended = true;
    Ok(())
}

fn zero_length(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send_raw(&raw::length_prefix(0), "length prefix 0")?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn unknown_type(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send_raw(&raw::frame_bytes(0x55, &[]), "frame of undefined type 0x55")?;
    conn.expect_error(ErrorCode::UnknownFrame)?;
    Ok(())
}

fn unknown_type_after_login(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, _callback) = ctx.establish()?;
    let id = session.id();
    session.control.send_raw(
        &raw::frame_bytes(0x7e, &[0; 8]),
        "frame of undefined type 0x7e",
    )?;
    session.control.expect_error(ErrorCode::UnknownFrame)?;
    session.ended = true;
    ctx.expect_session_gone(id, "ended with the ERROR on its control connection [F-6]")
}

fn wrong_direction(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send(&Frame::ServerHello(ServerHello {
        version_min: 1,
        version_max: 1,
        caps: Caps::NONE,
        server_name: "not a server".into(),
    }))?;
    conn.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn wrong_state(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send(&Frame::LoginProof { proof: [7; 32] })?;
    conn.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn wrong_connection(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, _callback) = ctx.establish()?;
    let client_nonce = ctx.nonce();
    session.control.send(&Frame::CbChallenge { client_nonce })?;
    session.control.expect_error(ErrorCode::UnexpectedFrame)?;
    session.ended = true;
    Ok(())
}

fn a_login(ctx: &mut ServerCtx<'_>) -> Result<Frame<'static>, Fail> {
    let plan = ctx.plan()?;
    Ok(Frame::Login(Login {
        version: PROTOCOL_VERSION,
        user: plan.user.into(),
        client_nonce: ctx.nonce(),
        caps: Caps::BACKCHANNEL,
        resume_session: 0,
    }))
}

fn trailing_bytes(ctx: &mut ServerCtx<'_>) -> Verdict {
    let login = a_login(ctx)?;
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send_raw(
        &raw::with_trailing(&login, &[0]),
        "LOGIN with 1 byte after resume_session",
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn truncated_body(ctx: &mut ServerCtx<'_>) -> Verdict {
    let login = a_login(ctx)?;
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send_raw(
        &raw::truncated(&login, 1),
        "LOGIN missing the last byte of resume_session",
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn invalid_utf8(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    let mut body = PROTOCOL_VERSION.to_be_bytes().to_vec();
    body.extend(raw::str_field(&[0x61, 0xff, 0xfe, 0x62]));
    body.extend(ctx.nonce());
    body.extend(Caps::BACKCHANNEL.bits().to_be_bytes());
    body.extend(0u64.to_be_bytes());
    conn.send_raw(
        &raw::frame_bytes(FrameType::Login.to_wire(), &body),
        "LOGIN with user bytes 61 ff fe 62 (not UTF-8)",
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn string_too_long(ctx: &mut ServerCtx<'_>) -> Verdict {
    // In a LOGIN the answer is defined: MALFORMED. The frame is exactly the
    // pre-login limit (4 145 bytes) long, so only the string is wrong: a
    // receiver that reads the 4 097 bytes finds the fields after it short,
    // which is MALFORMED too [F-4].
    let (mut conn, _) = ctx.connect_hello()?;
    let mut body = PROTOCOL_VERSION.to_be_bytes().to_vec();
    body.extend((MAX_STR_LEN as u16 + 1).to_be_bytes());
    body.resize(MAX_PRELOGIN_FRAME_LEN as usize - 1, b'x');
    conn.send_raw(
        &raw::frame_bytes(FrameType::Login.to_wire(), &body),
        "LOGIN whose user declares 4097 bytes (length 4145)",
    )?;
    conn.expect_error(ErrorCode::Malformed)
        .map_err(|f| f.during("for a LOGIN whose user name declares 4 097 bytes [F-4]"))?;

    let (mut conn, _) = ctx.connect_hello()?;
    let mut body = ErrorCode::Malformed.to_wire().to_be_bytes().to_vec();
    body.extend(raw::str_field(&vec![b'x'; MAX_STR_LEN + 1]));
    conn.send_raw(
        &raw::frame_bytes(FrameType::Error.to_wire(), &body),
        "ERROR with a 4097-byte message",
    )?;
    // An ERROR, valid or not, ends the connection [F-6]; a receiver that
    // parses it answers MALFORMED first, which is allowed but not required.
    match conn.next_relevant(conn.wait()) {
        Got::Closed(_) => Ok(()),
        Got::Frame(Frame::Error(e)) if e.code == ErrorCode::Malformed => {
            conn.expect_closed("the connection to close after ERROR MALFORMED [F-6]")
        }
        other => Err(Fail::failed(
            "for an ERROR whose message declares 4 097 bytes: the connection to close (optionally after ERROR MALFORMED)",
            other.to_string(),
        )),
    }
}

fn byte_at_a_time(ctx: &mut ServerCtx<'_>) -> Verdict {
    let plan = ctx.plan()?;
    let (mut conn, hello) = ctx.connect_hello()?;
    conn.set_split(Some((1, Duration::from_millis(1))));
    let mut session = ctx.login_on(conn, hello, &plan)?;
    let mut listener = ctx.listener(&session)?;
    session.advertise_port(listener.port())?;
    let nonce = ctx.random_u64();
    session.control.ping_pong(
        nonce,
        &format!("PONG nonce={nonce:#x} for a PING sent byte by byte"),
    )?;
    let mut callback =
        ctx.accept_callback(&mut listener, "after an ADVERTISE sent byte by byte")?;
    callback.set_split(Some((1, Duration::from_millis(1))));
    let _callback = session.cb_handshake(callback, ctx.nonce(), 0)?;
    session.expect_status(
        faxnotify_core::wire::CallbackState::Reachable,
        "after a callback handshake sent byte by byte",
    )?;
    session.logout()
}

fn coalesced(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    let listener = ctx.listener(&session)?;
    let nonce = ctx.random_u64();
    session.control.send_all(&[
        Frame::Advertise(faxnotify_core::wire::Advertise {
            port: listener.port(),
            policy: faxnotify_core::wire::PolicyKind::Dynamic,
            range_lo: 0,
            range_hi: 0,
        }),
        Frame::Ping { nonce },
    ])?;
    session
        .control
        .expect("ADVERTISE_OK for the first of two coalesced frames", |f| {
            matches!(f, Frame::AdvertiseOk { .. }).then_some(())
        })?;
    session.control.intolerate(FrameType::Pong);
    session.control.expect(
        &format!("PONG nonce={nonce:#x} for the second of two coalesced frames"),
        |f| matches!(f, Frame::Pong { nonce: n } if *n == nonce).then_some(()),
    )?;
    session.control.tolerate(FrameType::Pong);
    session.logout()
}

fn truncated_stream(ctx: &mut ServerCtx<'_>) -> Verdict {
    let login = a_login(ctx)?;
    let (mut conn, _) = ctx.connect_hello()?;
    let bytes = login
        .to_vec()
        .map_err(|e| Fail::failed("an encodable LOGIN", e.to_string()))?;
    conn.send_raw(&bytes[..bytes.len() / 2], "the first half of a LOGIN")?;
    conn.shutdown_write();
    match conn.next_relevant(conn.wait()) {
        Got::Closed(_) => {}
        Got::Frame(Frame::Error(_)) => {
            conn.expect_closed("the connection to close after the ERROR [F-6]")?
        }
        other => {
            return Err(Fail::failed(
                "the connection to close once the stream ended inside a frame",
                other.to_string(),
            ));
        }
    }
    ctx.connect_hello()
        .map_err(|f| f.during("a new connection after one that ended inside a frame"))?;
    Ok(())
}

fn client_error_ends_session(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, _callback) = ctx.establish()?;
    let id = session.id();
    session.control.send(&Frame::error(
        ErrorCode::Malformed,
        "conformance: the client gives up",
    ))?;
    session.ended = true;
    session.control.expect_closed(
        "the server to close the control connection after the client's ERROR [F-6]",
    )?;
    ctx.expect_session_gone(id, "ended with the client's ERROR [F-6]")
}

fn unknown_error_code(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, _callback) = ctx.establish()?;
    let mut body = 999u16.to_be_bytes().to_vec();
    body.extend(raw::str_field(b"code 999"));
    session.control.send_raw(
        &raw::frame_bytes(FrameType::Error.to_wire(), &body),
        "ERROR with undefined code 999",
    )?;
    session.ended = true;
    match session.control.next_relevant(session.control.wait()) {
        Got::Closed(_) => Ok(()),
        Got::Frame(Frame::Error(e)) if e.code == ErrorCode::Malformed => session
            .control
            .expect_closed("the connection to close after ERROR MALFORMED [F-6]"),
        other => Err(Fail::failed(
            "the connection to close (optionally after ERROR MALFORMED [D-11])",
            other.to_string(),
        )),
    }
}
