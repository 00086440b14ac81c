//! FNP/1 over TLS against a client (protocol.md section 12): the bound
//! login and callback, certificates it must refuse (wrong name, unknown
//! authority, expired, not the pinned one), a relay with a certificate it
//! trusts (channel binding must expose it, on control and on callback), and
//! a stranger on the callback port that does not speak TLS. Run with
//! `--tls`; skipped without it.

use faxnotify_core::auth::{ChannelBinding, cb_hello_proof_bound};
use faxnotify_core::wire::{CbHello, ErrorCode, Frame};

use super::auth::refused_login_ok;
use super::callback::refused_hello;
use super::common::advertised;
use crate::case::{Case, Fail, Section, Verdict};
use crate::client_ctx::{ClientCtx, ClientTrust, Listen, ServeOpts};
use crate::peer::conn::secs;
use crate::peer::pki::{Presented, WRONG_NAME};

const S: Section = Section::Tls;

pub(crate) const CASES: &[Case] = &[
    Case::client(
        "client/tls/bound-session",
        S,
        &["T-1", "T-2", "T-4", "T-6", "T-7"],
        "over TLS 1.3 the client verifies the suite's certificate on control and callback, and binds its login and callback proofs to each connection",
        bound_session,
    ),
    Case::client(
        "client/tls/pinned-certificate",
        S,
        &["T-4"],
        "a client pinned to the suite's certificate's SHA-256 fingerprint logs in",
        pinned_certificate,
    ),
    Case::client(
        "client/tls/wrong-name",
        S,
        &["T-4", "T-3", "T-9"],
        "a certificate from the trusted CA for another name is refused by the handshake; no FNP/1 follows",
        wrong_name,
    ),
    Case::client(
        "client/tls/unknown-ca",
        S,
        &["T-4", "T-3", "T-9"],
        "a certificate from an authority the client does not trust is refused by the handshake",
        unknown_ca,
    ),
    Case::client(
        "client/tls/expired",
        S,
        &["T-4", "T-3", "T-9"],
        "an expired certificate from the trusted CA is refused by the handshake",
        expired,
    ),
    Case::client(
        "client/tls/pin-mismatch",
        S,
        &["T-4", "T-3", "T-9"],
        "a pinned client refuses a certificate with another fingerprint",
        pin_mismatch,
    ),
    Case::client(
        "client/tls/relayed-login",
        S,
        &["T-6", "A-2"],
        "a relay with a trusted certificate whose LOGIN_OK is signed over its own TLS connection's binding gets AUTH_FAILED",
        relayed_login,
    ),
    Case::client(
        "client/tls/relayed-callback",
        S,
        &["T-7", "B-1"],
        "a callback whose CB_HELLO proof is bound to another TLS connection (a relay) gets AUTH_FAILED; nothing is delivered",
        relayed_callback,
    ),
    Case::client(
        "client/tls/plain-stranger-on-callback",
        S,
        &["T-1", "T-2", "T-3", "T-9"],
        "on its callback port the client starts TLS; a stranger answering in plain FNP/1 is closed on, and a real callback still works",
        plain_stranger,
    ),
    Case::client(
        "client/tls/silent-callback-handshake",
        S,
        &["T-8", "B-7"],
        "a callback whose dialler never answers the client's ClientHello is closed within the callback handshake timeout",
        silent_callback_handshake,
    ),
];

fn bound_session(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    // `establish` serves TLS on control and callback, checks the proof over
    // the bound AuthMessage and the bound CB_READY proof.
    let (_running, _session, _callback) = ctx.establish(&ServeOpts::default())?;
    Ok(())
}

fn pinned_certificate(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    ctx.need_settings()?;
    let mut running = ctx.start_tls_with(Listen::Dynamic, ClientTrust::Pin, Presented::Good)?;
    let mut session = ctx.login(&mut running, &ServeOpts::default())?;
    session.expect_advertise()?;
    Ok(())
}

/// Presents a certificate the client must not trust: its handshake must
/// fail, it must close the connection, send no FNP/1, and not come back
/// with the same certificate [T-9].
fn refused_certificate(
    ctx: &mut ClientCtx<'_>,
    trust: ClientTrust,
    presented: Presented,
    what: &str,
) -> Verdict {
    let pki = ctx.need_tls()?;
    ctx.need_settings()?;
    let mut running = ctx.start_tls_with(Listen::Dynamic, trust, presented)?;
    let wait = ctx.t.client_start;
    let Some(mut conn) = running.try_accept_plain_within(wait)? else {
        return Err(Fail::failed(
            "the client to connect to the suite's server",
            running.process.describe_missing("connection", wait),
        ));
    };
    if conn.start_tls_server(pki.server(presented)).is_ok() {
        return Err(Fail::failed(
            format!("the client to refuse {what} in the TLS handshake [T-4]"),
            "a completed handshake: the client accepted the certificate",
        ));
    }
    let (bytes, closed) = conn.read_raw(ctx.t.expect, false);
    if !closed {
        return Err(Fail::failed(
            format!("the client to close the connection after refusing {what} [T-9]"),
            format!(
                "{} within {}: the connection stayed open",
                if bytes.is_empty() {
                    "nothing".to_owned()
                } else {
                    format!("{} more bytes", bytes.len())
                },
                secs(ctx.t.expect)
            ),
        ));
    }
    if running
        .server
        .try_accept_plain_within(ctx.t.quiet)?
        .is_some()
    {
        return Err(Fail::failed(
            format!(
                "no new connection after the client refused {what} (no retry until its settings change) [T-9]"
            ),
            format!("a new connection within {}", secs(ctx.t.quiet)),
        ));
    }
    Ok(())
}

fn wrong_name(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_certificate(
        ctx,
        ClientTrust::Ca,
        Presented::WrongName,
        &format!("a certificate for {WRONG_NAME} (not the server's name)"),
    )
}

fn unknown_ca(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_certificate(
        ctx,
        ClientTrust::Ca,
        Presented::UnknownCa,
        "a certificate from an unknown authority",
    )
}

fn expired(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_certificate(
        ctx,
        ClientTrust::Ca,
        Presented::Expired,
        "a certificate that expired in 2001",
    )
}

fn pin_mismatch(ctx: &mut ClientCtx<'_>) -> Verdict {
    refused_certificate(
        ctx,
        ClientTrust::Pin,
        Presented::Impostor,
        "a certificate that is not the pinned one",
    )
}

fn relayed_login(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let opts = ServeOpts {
        signed_binding: Some(ChannelBinding::from_bytes(ctx.nonce())),
        ..ServeOpts::default()
    };
    refused_login_ok(
        ctx,
        &opts,
        ErrorCode::AuthFailed,
        "for a LOGIN_OK signed over another TLS connection's channel binding (a relay) [T-6]",
    )
}

fn relayed_callback(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    refused_hello(
        ctx,
        |ctx, session, client_nonce| {
            let server_nonce = ctx.nonce();
            let relayed = ChannelBinding::from_bytes(ctx.nonce());
            // The session key is right (the relay passes the real server's
            // CB_HELLO on); only the binding is another connection's.
            let session_id = session.ok.session_id;
            CbHello {
                session_id,
                server_nonce,
                proof: cb_hello_proof_bound(
                    &session.key,
                    client_nonce,
                    &server_nonce,
                    session_id,
                    Some(&relayed),
                ),
            }
        },
        "for a CB_HELLO bound to another TLS connection's tls-exporter (a relay) [T-7]",
    )
}

/// TLS record content type of handshake messages (RFC 8446 section 5.1).
const TLS_HANDSHAKE: u8 = 0x16;

fn plain_stranger(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let (_running, session, port) = advertised(ctx, &ServeOpts::default())?;
    if port == 0 {
        return Err(Fail::skipped(
            "the client advertised port 0 (no callback listener)",
        ));
    }
    let mut stranger = ctx.dial_plain(&session, port)?;
    let (first, closed) = stranger.read_raw(ctx.t.expect, true);
    if first.first() != Some(&TLS_HANDSHAKE) {
        return Err(Fail::failed(
            "a TLS ClientHello as the client's first bytes on the callback (the fax client is the TLS client [T-2])",
            if first.is_empty() {
                format!(
                    "nothing within {}{}",
                    secs(ctx.t.expect),
                    if closed { ", then the close" } else { "" }
                )
            } else {
                format!("{} bytes starting {:02x}", first.len(), first[0])
            },
        ));
    }
    // The stranger answers in plain FNP/1, as a server without TLS would.
    let challenge = Frame::CbChallenge {
        client_nonce: ctx.nonce(),
    };
    stranger.send(&challenge)?;
    let (_, closed) = stranger.read_raw(ctx.t.expect, false);
    if !closed {
        return Err(Fail::failed(
            "the client to close a callback whose peer answered its ClientHello in plain FNP/1 [T-3] [T-9]",
            format!("the connection still open after {}", secs(ctx.t.expect)),
        ));
    }
    // The client still serves its session: a real callback succeeds.
    let conn = ctx.dial(&session, port)?;
    ctx.cb_handshake(&session, conn)
        .map_err(|f| f.during("for a real callback after the stranger [T-3]"))?;
    Ok(())
}

fn silent_callback_handshake(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let (_running, session, port) = advertised(ctx, &ServeOpts::default())?;
    if port == 0 {
        return Err(Fail::skipped(
            "the client advertised port 0 (no callback listener)",
        ));
    }
    let mut silent = ctx.dial_plain(&session, port)?;
    // [B-7] runs from the accept, TLS handshake included [T-8].
    let limit = ctx.t.callback_handshake + ctx.t.margin;
    let (_, closed) = silent.read_raw(limit, false);
    if closed {
        return Ok(());
    }
    Err(Fail::failed(
        format!(
            "the client to close a callback whose TLS handshake never completes within {} [T-8] [B-7]",
            secs(limit)
        ),
        format!("the connection still open after {}", secs(limit)),
    ))
}
