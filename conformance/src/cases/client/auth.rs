//! The login against a client: its proof, the server signature it must
//! check (forged, downgraded, tampered), lease and iteration bounds, salts,
//! nonces, versions and capabilities.

use faxnotify_core::auth::{DEFAULT_ITERATION_CAP, MIN_ITERATIONS};
use faxnotify_core::wire::{Caps, ErrorCode, Frame, FrameType, LoginChallenge, ServerHello};

use super::common::show;
use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::client_ctx::{ClientCtx, ServeOpts};
use crate::peer::conn::FrameConn;
use crate::peer::raw;

const S: Section = Section::Authentication;

pub(crate) const CASES: &[Case] = &[
    Case::client(
        "client/auth/login",
        S,
        &["A-1", "A-4", "C-3"],
        "the client's LOGIN_PROOF verifies, its nonce is random, and ADVERTISE follows LOGIN_OK",
        login,
    ),
    Case::client(
        "client/auth/forged-signature",
        S,
        &["A-2"],
        "a LOGIN_OK whose server_signature is zeros gets AUTH_FAILED",
        forged_signature,
    ),
    Case::client(
        "client/auth/downgraded-server-hello",
        S,
        &["A-2"],
        "a SERVER_HELLO stripped of BACKCHANNEL in transit (signature over the original) gets AUTH_FAILED",
        downgraded_server_hello,
    ),
    Case::client(
        "client/auth/tampered-login-ok",
        S,
        &["A-2", "D-3"],
        "a LOGIN_OK whose lease_ms was changed after signing gets AUTH_FAILED, not MALFORMED",
        tampered_login_ok,
    ),
    Case::client(
        "client/auth/short-lease",
        S,
        &["D-3"],
        "a correctly signed LOGIN_OK with lease_ms 2 999 gets MALFORMED",
        short_lease,
    ),
    Case::client(
        "client/auth/iterations-too-few",
        S,
        &["A-4"],
        "a challenge with 4 095 iterations gets AUTH_FAILED instead of a proof",
        iterations_too_few,
    ),
    Case::client(
        "client/auth/iterations-too-many",
        S,
        &["A-4"],
        "a challenge with 1 000 001 iterations (above the default cap) gets AUTH_FAILED instead of a proof",
        iterations_too_many,
    ),
    Case::client(
        "client/auth/salt-too-short",
        S,
        &["A-4"],
        "a challenge with a 15-byte salt is MALFORMED",
        salt_too_short,
    ),
    Case::client(
        "client/auth/salt-too-long",
        S,
        &["A-4"],
        "a challenge with a 65-byte salt is MALFORMED",
        salt_too_long,
    ),
    Case::client(
        "client/auth/nonces-fresh",
        S,
        &["A-4"],
        "LOGIN and every CB_CHALLENGE carry distinct random nonces",
        nonces_fresh,
    ),
    Case::client(
        "client/auth/unsupported-version",
        S,
        &["D-10", "C-8"],
        "a server offering only versions 2..=3 gets UNSUPPORTED_VERSION, and no retry",
        unsupported_version,
    ),
    Case::client(
        "client/auth/version-range",
        S,
        &["C-8"],
        "a server offering versions 0..=7 gets LOGIN version 1",
        version_range,
    ),
    Case::client(
        "client/auth/unknown-caps",
        S,
        &["S3-caps"],
        "unknown capability bits in SERVER_HELLO are ignored",
        unknown_caps,
    ),
];

fn login(ctx: &mut ClientCtx<'_>) -> Verdict {
    let mut running = ctx.start()?;
    let mut session = ctx.login(&mut running, &ServeOpts::default())?;
    ensure(
        session.login.client_nonce != [0; 32],
        "a random client_nonce in LOGIN [A-4]",
        || show(&Frame::Login(session.login.clone())),
    )?;
    session.expect_advertise()?;
    Ok(())
}

pub(crate) fn refused_login_ok(
    ctx: &mut ClientCtx<'_>,
    opts: &ServeOpts,
    code: ErrorCode,
    why: &str,
) -> Verdict {
    let mut running = ctx.start()?;
    let mut session = ctx.login(&mut running, opts)?;
    session
        .control
        .expect_error(code)
        .map_err(|f| f.during(why))?;
    Ok(())
}

fn forged_signature(ctx: &mut ClientCtx<'_>) -> Verdict {
    let opts = ServeOpts {
        zero_signature: true,
        ..ServeOpts::default()
    };
    refused_login_ok(
        ctx,
        &opts,
        ErrorCode::AuthFailed,
        "for a LOGIN_OK signed with zeros [A-2]",
    )
}

fn downgraded_server_hello(ctx: &mut ClientCtx<'_>) -> Verdict {
    let original = ServeOpts::default().hello;
    let opts = ServeOpts {
        hello: ServerHello {
            caps: Caps::NONE,
            ..original.clone()
        },
        signed_hello: Some(original),
        ..ServeOpts::default()
    };
    refused_login_ok(
        ctx,
        &opts,
        ErrorCode::AuthFailed,
        "when the SERVER_HELLO received differs from the one the server signed [A-2]",
    )
}

fn tampered_login_ok(ctx: &mut ClientCtx<'_>) -> Verdict {
    let opts = ServeOpts {
        lease_ms: 1_000,
        signed_lease_ms: Some(30_000),
        ..ServeOpts::default()
    };
    refused_login_ok(
        ctx,
        &opts,
        ErrorCode::AuthFailed,
        "for LOGIN_OK lease_ms=1000 signed as 30000 (signature checked before the lease) [A-2] [D-3]",
    )
}

fn short_lease(ctx: &mut ClientCtx<'_>) -> Verdict {
    let opts = ServeOpts {
        lease_ms: 2_999,
        ..ServeOpts::default()
    };
    refused_login_ok(
        ctx,
        &opts,
        ErrorCode::Malformed,
        "for a signed LOGIN_OK with lease_ms=2999 [D-3]",
    )
}

/// Greets the client and returns the connection waiting for a challenge.
fn at_challenge(ctx: &mut ClientCtx<'_>) -> Result<(crate::client_ctx::Running, FrameConn), Fail> {
    let mut running = ctx.start()?;
    let mut conn = ctx.accept_control(&mut running)?;
    ctx.greet(&mut conn, &ServeOpts::default().hello)?;
    Ok((running, conn))
}

fn refused_iterations(ctx: &mut ClientCtx<'_>, iterations: u32) -> Verdict {
    let (_running, mut conn) = at_challenge(ctx)?;
    let challenge = LoginChallenge {
        iterations,
        ..ctx.challenge()
    };
    conn.send(&Frame::LoginChallenge(challenge))?;
    conn.expect_error(ErrorCode::AuthFailed).map_err(|f| {
        f.during(&format!(
            "for iterations={iterations}, outside {MIN_ITERATIONS}..={DEFAULT_ITERATION_CAP} [A-4]"
        ))
    })?;
    Ok(())
}

fn iterations_too_few(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_iterations(ctx, MIN_ITERATIONS - 1)
}

fn iterations_too_many(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_iterations(ctx, DEFAULT_ITERATION_CAP + 1)
}

fn refused_salt(ctx: &mut ClientCtx<'_>, len: usize) -> Verdict {
    let (_running, mut conn) = at_challenge(ctx)?;
    let mut body = ctx.nonce().to_vec();
    body.extend((len as u16).to_be_bytes());
    body.extend(vec![0x5a; len]);
    body.extend(MIN_ITERATIONS.to_be_bytes());
    conn.send_raw(
        &raw::frame_bytes(FrameType::LoginChallenge.to_wire(), &body),
        &format!("LOGIN_CHALLENGE with a {len}-byte salt"),
    )?;
    conn.expect_error(ErrorCode::Malformed)?;
    Ok(())
}

fn salt_too_short(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_salt(ctx, 15)
}

fn salt_too_long(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_salt(ctx, 65)
}

fn nonces_fresh(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, session, first) = ctx.establish(&ServeOpts::default())?;
    let port = first.conn.peer_addr().port();
    let mut second = ctx.dial(&session, port)?;
    let second_nonce = ctx.expect_cb_challenge(&mut second)?;
    let nonces = [session.login.client_nonce, first.client_nonce, second_nonce];
    let distinct = nonces[0] != nonces[1] && nonces[1] != nonces[2] && nonces[0] != nonces[2];
    ensure(
        distinct && !nonces.contains(&[0; 32]),
        "distinct, random nonces in LOGIN and in each CB_CHALLENGE [A-4]",
        || {
            nonces
                .iter()
                .map(hex::encode)
                .collect::<Vec<_>>()
                .join(", ")
        },
    )
}

fn unsupported_version(ctx: &mut ClientCtx<'_>) -> Verdict {
    let mut running = ctx.start()?;
    let mut conn = ctx.accept_control(&mut running)?;
    conn.send(&Frame::ServerHello(ServerHello {
        version_min: 2,
        version_max: 3,
        ..ServeOpts::default().hello
    }))?;
    conn.expect_error(ErrorCode::UnsupportedVersion)?;
    let wait = ctx.t.quiet * 2;
    if let Some(again) = running.server.try_accept_within(wait)? {
        return Err(Fail::failed(
            "no new connection: a client without a common version does not retry [D-10]",
            format!("a new connection from {}", again.peer_addr()),
        ));
    }
    Ok(())
}

fn version_range(ctx: &mut ClientCtx<'_>) -> Verdict {
    let mut running = ctx.start()?;
    let mut conn = ctx.accept_control(&mut running)?;
    let hello = ServerHello {
        version_min: 0,
        version_max: 7,
        ..ServeOpts::default().hello
    };
    let login = ctx.greet(&mut conn, &hello)?;
    ensure(login.version == 1, "LOGIN version=1, FNP/1 [C-8]", || {
        show(&Frame::Login(login.clone()))
    })
}

fn unknown_caps(ctx: &mut ClientCtx<'_>) -> Verdict {
    let opts = ServeOpts {
        hello: ServerHello {
            caps: Caps::from_bits(u32::MAX),
            ..ServeOpts::default().hello
        },
        ..ServeOpts::default()
    };
    let mut running = ctx.start()?;
    let mut session = ctx
        .login(&mut running, &opts)
        .map_err(|f| f.during("with SERVER_HELLO caps=0xffffffff"))?;
    session.expect_advertise()?;
    Ok(())
}
