//! The control connection against a server: ADVERTISE and its checks, the
//! dial address, versions, keepalive and lease, takeover, resume, logout and
//! the handshake timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use faxnotify_core::wire::{
    Advertise, ByeReason, CallbackState, Caps, ErrorCode, Frame, FrameType, Login, PolicyKind,
};

use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::peer::conn::{FrameConn, Got, first_event, secs};
use crate::peer::raw;
use crate::server_ctx::ServerCtx;

const S: Section = Section::Control;

pub(crate) const CASES: &[Case] = &[
    Case::server(
        "server/control/dials-peer-address",
        S,
        &["C-1"],
        "ADVERTISE_OK names the control connection's peer address, and the server dials exactly that",
        dials_peer_address,
    ),
    Case::server(
        "server/control/privileged-port",
        S,
        &["C-2"],
        "ADVERTISE of port 80 (below 1024) is BAD_PORT",
        privileged_port,
    ),
    Case::server(
        "server/control/port-zero-without-backchannel",
        S,
        &["C-2"],
        "ADVERTISE of port 0 without BACKCHANNEL negotiated is BAD_PORT",
        port_zero_without_backchannel,
    ),
    Case::server(
        "server/control/port-zero-backchannel",
        S,
        &["C-2", "D-7"],
        "ADVERTISE of port 0 with BACKCHANNEL gets ADVERTISE_OK port 0, then CALLBACK_STATUS backchannel",
        port_zero_backchannel,
    ),
    Case::server(
        "server/control/range-port-outside",
        S,
        &["C-2"],
        "ADVERTISE with the range policy and a port outside the range is BAD_PORT",
        range_port_outside,
    ),
    Case::server(
        "server/control/range-below-1024",
        S,
        &["C-2"],
        "ADVERTISE with a range starting below 1024 is BAD_PORT",
        range_below_1024,
    ),
    Case::server(
        "server/control/range-fields-other-policy",
        S,
        &["D-6"],
        "ADVERTISE with policy dynamic or fixed and non-zero range fields is BAD_PORT",
        range_fields_other_policy,
    ),
    Case::server(
        "server/control/undefined-policy",
        S,
        &["C-2", "F-4"],
        "ADVERTISE with policy 3 is MALFORMED",
        undefined_policy,
    ),
    Case::server(
        "server/control/frame-before-advertise",
        S,
        &["C-3"],
        "a PING between LOGIN_OK and ADVERTISE is UNEXPECTED_FRAME",
        frame_before_advertise,
    ),
    Case::server(
        "server/control/second-advertise",
        S,
        &["C-3"],
        "a second ADVERTISE is UNEXPECTED_FRAME",
        second_advertise,
    ),
    Case::server(
        "server/control/advertise-before-login",
        S,
        &["C-3", "F-3"],
        "ADVERTISE before LOGIN is UNEXPECTED_FRAME",
        advertise_before_login,
    ),
    Case::server(
        "server/control/unsupported-version",
        S,
        &["C-8"],
        "SERVER_HELLO's range holds version 1, and LOGIN versions outside it get UNSUPPORTED_VERSION",
        unsupported_version,
    ),
    Case::server(
        "server/control/ping-pong",
        S,
        &["C-5", "B-7"],
        "every PING gets a PONG with its nonce; a PONG with an unknown nonce is ignored",
        ping_pong,
    ),
    Case::server(
        "server/control/takeover",
        S,
        &["C-4", "C-10"],
        "a second session completing a handshake on the same endpoint replaces the first (BYE replaced)",
        takeover,
    ),
    Case::server(
        "server/control/resume",
        S,
        &["C-6"],
        "a resume reattaches the session: same id, BYE replaced on the old connection, a new session key",
        resume,
    ),
    Case::server(
        "server/control/resume-unknown",
        S,
        &["C-6"],
        "a resume of a session id that never existed gets UNKNOWN_SESSION",
        resume_unknown,
    ),
    Case::server(
        "server/control/resume-foreign",
        S,
        &["C-6"],
        "a resume of another user's live session gets UNKNOWN_SESSION and leaves it alone",
        resume_foreign,
    ),
    Case::server(
        "server/control/logout",
        S,
        &["C-10"],
        "LOGOUT gets BYE logout and close on both connections; the session is gone and its id is not reused",
        logout,
    ),
    Case::server(
        "server/control/lease-expiry",
        S,
        &["C-5", "C-10", "D-4"],
        "a session whose control connection stays silent for lease_ms gets BYE lease expired",
        lease_expiry,
    )
    .slow(),
    Case::server(
        "server/control/slow-loris",
        S,
        &["C-9"],
        "a LOGIN trickling one byte every 500 ms gets ERROR TIMEOUT within the handshake timeout",
        slow_loris,
    )
    .slow(),
    Case::server(
        "server/control/no-advertise-timeout",
        S,
        &["C-9", "F-6"],
        "a login that never sends ADVERTISE gets ERROR TIMEOUT within the handshake timeout, ending the session",
        no_advertise_timeout,
    )
    .slow(),
];

fn dials_peer_address(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    let local = session.control.local_addr();
    let any: IpAddr = if local.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    // Listening on every address lets the suite see where the server dials.
    let mut listener = ctx.listener_on(any, 0)?;
    let want = SocketAddr::new(local.ip().to_canonical(), listener.port());
    let named = session.advertise_port(listener.port())?;
    ensure(
        named == want,
        format!("ADVERTISE_OK callback={want}, the control connection's peer address [C-1]"),
        || format!("ADVERTISE_OK callback={named}"),
    )?;
    let conn = ctx.accept_callback(&mut listener, &format!("to {want} [C-1]"))?;
    let dialled = SocketAddr::new(
        conn.local_addr().ip().to_canonical(),
        conn.local_addr().port(),
    );
    ensure(
        dialled == want,
        format!("a callback dialled to {want} [C-1]"),
        || format!("a connection to {dialled}"),
    )?;
    let nonce = ctx.nonce();
    let _callback = session.cb_handshake(conn, nonce, 0)?;
    session.logout()
}

fn advertise_refused(
    ctx: &mut ServerCtx<'_>,
    caps: Caps,
    advertise: Advertise,
    code: ErrorCode,
) -> Verdict {
    let mut plan = ctx.plan()?;
    plan.caps = caps;
    let mut session = ctx.login_with(&plan)?;
    session.control.send(&Frame::Advertise(advertise))?;
    session.ended = true;
    session.control.expect_error(code)?;
    Ok(())
}

fn privileged_port(ctx: &mut ServerCtx<'_>) -> Verdict {
    let advertise = Advertise {
        port: 80,
        policy: PolicyKind::Fixed,
        range_lo: 0,
        range_hi: 0,
    };
    advertise_refused(ctx, Caps::BACKCHANNEL, advertise, ErrorCode::BadPort)
}

fn port_zero_without_backchannel(ctx: &mut ServerCtx<'_>) -> Verdict {
    let advertise = Advertise {
        port: 0,
        policy: PolicyKind::Dynamic,
        range_lo: 0,
        range_hi: 0,
    };
    advertise_refused(ctx, Caps::NONE, advertise, ErrorCode::BadPort)
}

fn port_zero_backchannel(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    if !session.backchannel() {
        return Err(Fail::skipped(
            "the server does not offer BACKCHANNEL (SERVER_HELLO caps)",
        ));
    }
    let want = SocketAddr::new(session.control.local_addr().ip().to_canonical(), 0);
    let named = session.advertise_port(0)?;
    ensure(
        named == want,
        format!("ADVERTISE_OK callback={want} (the client's IP, port 0) [D-7]"),
        || format!("ADVERTISE_OK callback={named}"),
    )?;
    session.expect_status(
        CallbackState::Backchannel,
        "right after ADVERTISE_OK for port 0 [D-7]",
    )?;
    session.logout()
}

fn range_port_outside(ctx: &mut ServerCtx<'_>) -> Verdict {
    let advertise = Advertise {
        port: 20_011,
        policy: PolicyKind::Range,
        range_lo: 20_000,
        range_hi: 20_010,
    };
    advertise_refused(ctx, Caps::BACKCHANNEL, advertise, ErrorCode::BadPort)
}

fn range_below_1024(ctx: &mut ServerCtx<'_>) -> Verdict {
    let advertise = Advertise {
        port: 1_500,
        policy: PolicyKind::Range,
        range_lo: 1_000,
        range_hi: 2_000,
    };
    advertise_refused(ctx, Caps::BACKCHANNEL, advertise, ErrorCode::BadPort)
}

fn range_fields_other_policy(ctx: &mut ServerCtx<'_>) -> Verdict {
    for policy in [PolicyKind::Dynamic, PolicyKind::Fixed] {
        let advertise = Advertise {
            port: 20_005,
            policy,
            range_lo: 20_000,
            range_hi: 20_010,
        };
        advertise_refused(ctx, Caps::BACKCHANNEL, advertise, ErrorCode::BadPort)
            .map_err(|f| f.during(&format!("policy {policy} with range 20000-20010")))?;
    }
    Ok(())
}

fn undefined_policy(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    let advertise = Frame::Advertise(Advertise {
        port: 20_005,
        policy: PolicyKind::Dynamic,
        range_lo: 0,
        range_hi: 0,
    });
    session.control.send_raw(
        &raw::with_byte(&advertise, 2, 3),
        "ADVERTISE port=20005 policy=3",
    )?;
    session.ended = true;
    session.control.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn frame_before_advertise(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    session.control.send(&Frame::Ping { nonce: 1 })?;
    session.ended = true;
    session.control.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn second_advertise(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut session = ctx.login()?;
    let listener = ctx.listener(&session)?;
    session.advertise_port(listener.port())?;
    session.control.send(&Frame::Advertise(Advertise {
        port: listener.port(),
        policy: PolicyKind::Dynamic,
        range_lo: 0,
        range_hi: 0,
    }))?;
    session.ended = true;
    session.control.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn advertise_before_login(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut conn, _) = ctx.connect_hello()?;
    conn.send(&Frame::Advertise(Advertise {
        port: 20_005,
        policy: PolicyKind::Dynamic,
        range_lo: 0,
        range_hi: 0,
    }))?;
    conn.expect_error(ErrorCode::UnexpectedFrame)?;
    Ok(())
}

fn unsupported_version(ctx: &mut ServerCtx<'_>) -> Verdict {
    let plan = ctx.plan()?;
    let (_, hello) = ctx.connect_hello()?;
    ensure(
        hello.version_min <= 1 && 1 <= hello.version_max,
        "SERVER_HELLO with version 1 in [version_min, version_max] [C-8]",
        || Frame::ServerHello(hello.clone()).to_string(),
    )?;
    let mut outside = Vec::new();
    if hello.version_max < u16::MAX {
        outside.push(hello.version_max + 1);
    }
    if hello.version_min > 0 {
        outside.push(hello.version_min - 1);
    }
    for version in outside {
        let (mut conn, _) = ctx.connect_hello()?;
        conn.send(&Frame::Login(Login {
            version,
            user: plan.user.clone().into(),
            client_nonce: ctx.nonce(),
            caps: plan.caps,
            resume_session: 0,
        }))?;
        conn.expect_error(ErrorCode::UnsupportedVersion)
            .map_err(|f| f.during(&format!("for LOGIN version={version}")))?;
    }
    Ok(())
}

fn ping_pong(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, _callback) = ctx.establish()?;
    session.control.send(&Frame::Pong { nonce: 0x5eed })?;
    for _ in 0..2 {
        let nonce = ctx.random_u64();
        session.control.ping_pong(
            nonce,
            &format!("PONG nonce={nonce:#x} for PING nonce={nonce:#x} [C-5]"),
        )?;
    }
    session.logout()
}

/// Waits for the end of a connection of an ended session: an optional BYE
/// with `reason`, then the close.
fn expect_bye_close(conn: &mut FrameConn, reason: ByeReason, why: &str) -> Verdict {
    match conn.next_relevant(conn.wait()) {
        Got::Frame(Frame::Bye { reason: r }) if r == reason => conn.expect_closed(&format!(
            "the {} connection to close after BYE {reason} {why}",
            conn.label().to_owned()
        )),
        Got::Closed(_) => Ok(()),
        other => Err(Fail::failed(
            format!(
                "BYE {reason} and close on the {} connection {why}",
                conn.label().to_owned()
            ),
            other.to_string(),
        )),
    }
}

fn takeover(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut first, mut listener, mut first_cb) = ctx.establish()?;
    let mut second = ctx.login()?;
    second.advertise_port(listener.port())?;
    let conn = ctx.accept_callback(
        &mut listener,
        "for the second session, advertising the same port",
    )?;
    let nonce = ctx.nonce();
    let _second_cb = second.cb_handshake(conn, nonce, 0)?;
    second.expect_status(
        CallbackState::Reachable,
        "after the second session's handshake",
    )?;
    first.ended = true;
    first.control.expect(
        "BYE replaced on the first session's control connection, whose endpoint was taken [C-4]",
        |f| {
            matches!(
                f,
                Frame::Bye {
                    reason: ByeReason::Replaced
                }
            )
            .then_some(())
        },
    )?;
    first
        .control
        .expect_closed("the first session's control connection to close after BYE [C-10]")?;
    expect_bye_close(
        &mut first_cb.conn,
        ByeReason::Replaced,
        "of the replaced session [C-10]",
    )?;
    second.logout()
}

fn resume(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut old, _listener, mut old_cb) = ctx.establish()?;
    let mut plan = ctx.plan()?;
    plan.resume_session = old.id();
    let resumed = ctx.login_with(&plan)?;
    ensure(
        resumed.id() == old.id(),
        format!(
            "LOGIN_OK session_id={:#018x}, the resumed session [C-6]",
            old.id()
        ),
        || Frame::LoginOk(resumed.ok.clone()).to_string(),
    )?;
    old.ended = true;
    let bye = old.control.expect(
        "BYE replaced on the old control connection of the resumed session [C-6]",
        |f| {
            matches!(
                f,
                Frame::Bye {
                    reason: ByeReason::Replaced
                }
            )
            .then_some(())
        },
    );
    ctx.soft(bye)?;
    old.control
        .expect_closed("the old control connection to close after BYE [C-6]")?;
    match old_cb.conn.next_relevant(old_cb.conn.wait()) {
        Got::Closed(_) => {}
        Got::Frame(Frame::Bye { .. }) => old_cb
            .conn
            .expect_closed("the old callback connection to close after BYE [C-6]")?,
        other => {
            return Err(Fail::failed(
                "the old callback connection to close [C-6]",
                other.to_string(),
            ));
        }
    }
    // The new handshake's CB_HELLO must prove the *new* session key.
    let (resumed, _listener, _callback) = ctx
        .establish_on(resumed, 0)
        .map_err(|f| f.during("a callback with the resumed login's new session key [C-6]"))?;
    resumed.logout()
}

fn resume_unknown(ctx: &mut ServerCtx<'_>) -> Verdict {
    let id = ctx.random_u64();
    ctx.expect_session_gone(id, "never existed")
}

fn resume_foreign(ctx: &mut ServerCtx<'_>) -> Verdict {
    let mut other = ctx.second_plan()?;
    let (mut session, _listener, _callback) = ctx.establish()?;
    other.resume_session = session.id();
    let (mut conn, hello) = ctx.connect_hello()?;
    match ctx.login_on_raw(&mut conn, &hello, &other)? {
        Got::Frame(Frame::Error(e)) if e.code == ErrorCode::UnknownSession => {}
        other_got => {
            let _ = conn.send(&Frame::Logout);
            return Err(Fail::failed(
                format!(
                    "ERROR UNKNOWN_SESSION for user {:?} resuming another user's session [C-6]",
                    other.user
                ),
                other_got.to_string(),
            ));
        }
    }
    let nonce = ctx.random_u64();
    session
        .control
        .ping_pong(nonce, "the first user's session to go on undisturbed")?;
    session.logout()
}

fn logout(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (session, _listener, mut callback) = ctx.establish()?;
    let id = session.id();
    session.logout()?;
    let bye = callback
        .conn
        .expect("BYE logout on the callback connection too [C-10]", |f| {
            matches!(
                f,
                Frame::Bye {
                    reason: ByeReason::Logout
                }
            )
            .then_some(())
        });
    ctx.soft(bye)?;
    callback
        .conn
        .expect_closed("the callback connection to close after BYE [C-10]")?;
    ctx.expect_session_gone(id, "was logged out [C-10]")?;
    let next = ctx.login()?;
    ensure(
        next.id() != id,
        "a new session id, never a reused one [C-10]",
        || format!("session_id={id:#018x} again"),
    )?;
    drop(next);
    Ok(())
}

/// The server's lease, or a skip when it is longer than the suite waits.
fn lease_of(ctx: &ServerCtx<'_>, lease_ms: u32) -> Result<Duration, Fail> {
    let lease = Duration::from_millis(u64::from(lease_ms));
    if lease > ctx.t.max_timer_wait {
        return Err(Fail::skipped(format!(
            "the server's lease is {}, longer than the suite waits for a timer ({}); start it with a shorter lease",
            secs(lease),
            secs(ctx.t.max_timer_wait)
        )));
    }
    Ok(lease)
}

fn lease_expiry(ctx: &mut ServerCtx<'_>) -> Verdict {
    let (mut session, _listener, mut callback) = ctx.establish()?;
    let lease = lease_of(ctx, session.ok.lease_ms)?;
    let id = session.id();
    let quiet_since = Instant::now();
    let deadline = lease + ctx.t.margin;
    // The suite answers the server's PINGs on the callback (auto-pong), which
    // must not renew the lease [D-4].
    callback.conn.tolerate(FrameType::Bye);
    let expected = format!(
        "BYE lease expired on the control connection within {} [C-5]",
        secs(deadline)
    );
    let is_expiry = |got: &Got| {
        matches!(
            got,
            Got::Frame(Frame::Bye {
                reason: ByeReason::LeaseExpired
            })
        )
    };
    match first_event(&mut [&mut session.control, &mut callback.conn], deadline) {
        Some((0, got)) if is_expiry(&got) => {}
        // The server ends both connections at once; the callback's close can
        // be read before the control connection's BYE.
        Some((1, Got::Closed(_))) => {
            let left = deadline.saturating_sub(quiet_since.elapsed());
            let got = session.control.next_relevant(left);
            if !is_expiry(&got) {
                return Err(Fail::failed(
                    expected,
                    format!("{got} on the control connection (the callback closed)"),
                ));
            }
        }
        Some((i, got)) => {
            let on = if i == 0 { "control" } else { "callback" };
            return Err(Fail::failed(
                expected,
                format!("{got} on the {on} connection"),
            ));
        }
        None => {
            return Err(Fail::failed(
                expected,
                format!("nothing within {}", secs(deadline)),
            ));
        }
    }
    session.ended = true;
    let waited = quiet_since.elapsed();
    ensure(
        waited + Duration::from_millis(200) >= lease.mul_f64(0.9),
        format!(
            "the session to live for lease_ms={} of silence [C-5]",
            session.ok.lease_ms
        ),
        || format!("BYE lease expired after {}", secs(waited)),
    )?;
    session
        .control
        .expect_closed("the control connection to close after BYE [C-10]")?;
    ctx.expect_session_gone(id, "expired [C-5]")
}

fn slow_loris(ctx: &mut ServerCtx<'_>) -> Verdict {
    let plan = ctx.plan()?;
    let login = Frame::Login(Login {
        version: plan.version,
        user: plan.user.into(),
        client_nonce: ctx.nonce(),
        caps: plan.caps,
        resume_session: 0,
    })
    .to_vec()
    .map_err(|e| Fail::failed("an encodable LOGIN", e.to_string()))?;
    let started = Instant::now();
    let (mut conn, _) = ctx.connect_hello()?;
    let limit = ctx.t.handshake + ctx.t.margin;
    let expected = format!("ERROR TIMEOUT within {} of connecting [C-9]", secs(limit));
    conn.note("trickling the LOGIN one byte every 500 ms (never its last byte)");
    let mut bytes = login[..login.len() - 1].iter();
    loop {
        if let Some(byte) = bytes.next() {
            // A failed write means the server closed; the read below says how.
            let _ = conn.send_raw_quiet(&[*byte], "one byte of a LOGIN");
        }
        match conn.next_relevant(Duration::from_millis(500)) {
            Got::Nothing(_) if started.elapsed() < limit => continue,
            Got::Nothing(_) => {
                return Err(Fail::failed(
                    expected,
                    format!(
                        "nothing after {}; the connection is still open",
                        secs(started.elapsed())
                    ),
                ));
            }
            Got::Frame(Frame::Error(e)) if e.code == ErrorCode::Timeout => break,
            other => return Err(Fail::failed(expected, other.to_string())),
        }
    }
    conn.expect_closed("the connection to close after ERROR TIMEOUT [F-6]")
}

fn no_advertise_timeout(ctx: &mut ServerCtx<'_>) -> Verdict {
    let started = Instant::now();
    let mut session = ctx.login()?;
    let id = session.id();
    session.ended = true;
    let lease = Duration::from_millis(u64::from(session.ok.lease_ms));
    if lease <= ctx.t.handshake {
        // Nothing may be sent before ADVERTISE [C-3], so the lease ends the
        // silent session first; the handshake timeout cannot be observed.
        return Err(Fail::skipped(format!(
            "the server's lease ({}) is not longer than its handshake timeout ({}, --handshake-timeout)",
            secs(lease),
            secs(ctx.t.handshake)
        )));
    }
    let limit = (ctx.t.handshake + ctx.t.margin).saturating_sub(started.elapsed());
    session
        .control
        .expect_error_within(limit, ErrorCode::Timeout)
        .map_err(|f| f.during("with no ADVERTISE after LOGIN_OK [C-9]"))?;
    ctx.expect_session_gone(
        id,
        "ended with ERROR TIMEOUT on its control connection [F-6]",
    )
}
