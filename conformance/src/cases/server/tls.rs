//! FNP/1 over TLS against a server (protocol.md section 12): the bound
//! login and callback, and what a TLS port does with plain FNP/1, a TLS 1.2
//! ClientHello, silence, and proofs bound to another connection. Run with
//! `--tls`; skipped without it.

use faxnotify_core::auth::{ChannelBinding, cb_ready_proof_bound, client_proof};
use faxnotify_core::wire::{CbReady, ErrorCode, Frame, Login};

use super::callback::{after_failed_handshake, dialled};
use crate::case::{Case, Fail, Section, Verdict};
use crate::peer::conn::{FrameConn, secs};
use crate::peer::session::Session;
use crate::server_ctx::{ServerCtx, expect_challenge};

const S: Section = Section::Tls;

pub(crate) const CASES: &[Case] = &[
    Case::server(
        "server/tls/bound-session",
        S,
        &["T-1", "T-2", "T-4", "T-5", "T-6", "T-7"],
        "over TLS 1.3 (no client certificate), a login and a callback bound to their connections' tls-exporter succeed, the callback with the same certificate",
        bound_session,
    ),
    Case::server(
        "server/tls/plain-fnp-to-tls-port",
        S,
        &["T-1", "T-3", "T-9"],
        "plain FNP/1 bytes sent to the TLS port get no plaintext answer, at most a TLS alert, then the close",
        plain_fnp_to_tls_port,
    ),
    Case::server(
        "server/tls/tls12-only-client-hello",
        S,
        &["T-1", "T-9"],
        "a ClientHello offering only TLS 1.2 is refused: no ServerHello, at most an alert, then the close",
        tls12_only,
    ),
    Case::server(
        "server/tls/login-bound-to-other-channel",
        S,
        &["T-6", "A-1"],
        "a LOGIN_PROOF bound to another TLS connection (a relay), or to none, gets AUTH_FAILED",
        login_other_channel,
    ),
    Case::server(
        "server/tls/callback-bound-to-other-channel",
        S,
        &["T-7", "B-1"],
        "a CB_READY whose proof is bound to another TLS connection (a relay) gets AUTH_FAILED",
        callback_other_channel,
    ),
    Case::server(
        "server/tls/silent-before-handshake",
        S,
        &["T-8"],
        "a connection that never starts its TLS handshake is closed by the handshake timeout [C-9]",
        silent_before_handshake,
    )
    .slow(),
];

/// A channel binding no connection of this case has: a relay's own
/// connection to the server.
fn other_binding(ctx: &mut ServerCtx<'_>) -> ChannelBinding {
    ChannelBinding::from_bytes(ctx.nonce())
}

fn bound_session(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    // `establish` runs TLS on the control connection and the callback, binds
    // the proof, checks the bound server signature and CB_HELLO proof.
    let (session, _listener, _callback) = ctx.establish()?;
    session.logout()
}

/// What a TLS port sent back to bytes that are not a TLS handshake: nothing
/// or a TLS alert, then the close [T-9]; never an FNP/1 frame [T-3].
fn judge_refusal(conn: &mut FrameConn, wait: std::time::Duration, what: &str) -> Verdict {
    let (bytes, closed) = conn.read_raw(wait, false);
    let shown = hex_prefix(&bytes);
    if !bytes.is_empty() && bytes[0] != TLS_ALERT {
        let as_frame = faxnotify_core::wire::Decoder::default()
            .decode(&mut bytes.as_slice())
            .ok()
            .flatten()
            .map(|f| format!(", an FNP/1 {} frame in plaintext", f.frame_type()));
        let handshake = (bytes[0] == TLS_HANDSHAKE).then_some(", a TLS handshake record");
        return Err(Fail::failed(
            format!("no answer to {what} but a TLS alert, then the close [T-9]"),
            format!(
                "{} bytes ({shown}){}",
                bytes.len(),
                as_frame.as_deref().or(handshake).unwrap_or("")
            ),
        ));
    }
    if !closed {
        return Err(Fail::failed(
            format!("the server to close the connection after {what} [T-9]"),
            format!(
                "{} within {}: the connection stayed open",
                if bytes.is_empty() {
                    "nothing".to_owned()
                } else {
                    format!("a TLS alert ({shown})")
                },
                secs(wait)
            ),
        ));
    }
    conn.note(format_args!(
        "closed after {} (TLS alert)",
        if bytes.is_empty() { "nothing" } else { &shown }
    ));
    Ok(())
}

/// TLS record content types (RFC 8446 section 5.1).
const TLS_ALERT: u8 = 0x15;
const TLS_HANDSHAKE: u8 = 0x16;

fn hex_prefix(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 16 { "..." } else { "" };
    format!("{}{more}", shown.join(""))
}

fn plain_fnp_to_tls_port(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let plan = ctx.plan()?;
    let mut conn = ctx.connect_plain()?;
    conn.send(&Frame::Login(Login {
        version: plan.version,
        user: plan.user.clone().into(),
        client_nonce: ctx.nonce(),
        caps: plan.caps,
        resume_session: 0,
    }))?;
    judge_refusal(&mut conn, ctx.t.expect, "a plain FNP/1 LOGIN")
}

/// A well-formed TLS 1.2 ClientHello (RFC 5246): no supported_versions
/// extension, TLS 1.2 ECDHE-AES-GCM suites only.
fn tls12_client_hello(random: [u8; 32]) -> Vec<u8> {
    let extensions: &[u8] = &[
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, // supported_groups: x25519
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
        0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04, // signature_algorithms
    ];
    let mut body = vec![0x03, 0x03]; // client_version TLS 1.2
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2f, 0xc0, 0x2b]); // ECDHE-{RSA,ECDSA}-AES128-GCM
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(extensions);
    let mut handshake = vec![0x01]; // client_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![TLS_HANDSHAKE, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

fn tls12_only(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let mut conn = ctx.connect_plain()?;
    let hello = tls12_client_hello(ctx.nonce());
    conn.send_raw(&hello, "a TLS 1.2-only ClientHello")?;
    judge_refusal(
        &mut conn,
        ctx.t.expect,
        "a ClientHello offering only TLS 1.2 (only TLS 1.3 is allowed [T-1])",
    )
}

fn login_other_channel(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let plan = ctx.plan()?;
    let relayed = other_binding(ctx);
    for (binding, why) in [
        (
            Some(relayed),
            "for a proof bound to another TLS connection's tls-exporter (a relay) [T-6]",
        ),
        (
            None,
            "for a proof over the AuthMessage without the channel binding, sent over TLS [T-6]",
        ),
    ] {
        let (mut conn, hello) = ctx.connect_hello()?;
        let login = Login {
            version: plan.version,
            user: plan.user.clone().into(),
            client_nonce: ctx.nonce(),
            caps: plan.caps,
            resume_session: 0,
        };
        conn.send(&Frame::Login(login.clone()))?;
        let challenge = expect_challenge(&mut conn)?;
        let (auth, secrets) = ctx.secrets(&hello, &login, &challenge, &plan.password)?;
        let auth = match &binding {
            Some(other) => auth.bind(other),
            None => auth,
        };
        conn.send(&Frame::LoginProof {
            proof: client_proof(&secrets, &auth),
        })?;
        conn.expect_error(ErrorCode::AuthFailed)
            .map_err(|f| f.during(why))?;
    }
    Ok(())
}

fn callback_other_channel(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let relayed = other_binding(ctx);
    let (mut session, mut listener, mut conn) = dialled(ctx)?;
    let client_nonce = ctx.nonce();
    Session::cb_challenge(&mut conn, client_nonce)?;
    let hello = session.expect_cb_hello(&mut conn, &client_nonce)?;
    let proof = cb_ready_proof_bound(
        &session.key,
        &client_nonce,
        &hello.server_nonce,
        session.id(),
        0,
        Some(&relayed),
    );
    conn.send(&Frame::CbReady(CbReady { last_seq: 0, proof }))?;
    conn.expect_error(ErrorCode::AuthFailed).map_err(|f| {
        f.during("for CB_READY bound to another TLS connection's tls-exporter (a relay) [T-7]")
    })?;
    after_failed_handshake(ctx, &mut session, &mut listener)?;
    session.logout()
}

fn silent_before_handshake(ctx: &mut ServerCtx<'_>) -> Verdict {
    ctx.need_tls()?;
    let mut conn = ctx.connect_plain()?;
    let wait = ctx.t.handshake + ctx.t.margin;
    let (bytes, closed) = conn.read_raw(wait, false);
    if closed && (bytes.is_empty() || bytes[0] == TLS_ALERT) {
        return Ok(());
    }
    Err(Fail::failed(
        format!(
            "the close within the handshake timeout ({} + {} margin) of a connection that never sent a ClientHello [T-8] [C-9]",
            secs(ctx.t.handshake),
            secs(ctx.t.margin)
        ),
        if closed {
            format!(
                "{} bytes ({}) before the close",
                bytes.len(),
                hex_prefix(&bytes)
            )
        } else {
            format!("the connection still open after {}", secs(wait))
        },
    ))
}
