//! Steps shared by the client-under-test cases.

use std::time::Duration;

use faxnotify_core::wire::{CallbackState, Frame};

use crate::case::Fail;
use crate::client_ctx::{ClientCtx, ClientSession, Running, ServeOpts, ServedCallback};
use crate::peer::conn::FrameConn;
use crate::peer::process::Delivered;

/// Starts the client and serves its login up to ADVERTISE_OK; returns the advertised port.
pub(crate) fn advertised(
    ctx: &mut ClientCtx<'_>,
    opts: &ServeOpts,
) -> Result<(Running, ClientSession, u16), Fail> {
    let mut running = ctx.start()?;
    let mut session = ctx.login(&mut running, opts)?;
    let advertise = session.expect_advertise()?;
    session.advertise_ok(advertise.port)?;
    Ok((running, session, advertise.port))
}

/// Like [`advertised`], then dials the callback port and reads CB_CHALLENGE.
pub(crate) fn challenged(
    ctx: &mut ClientCtx<'_>,
) -> Result<(Running, ClientSession, FrameConn, [u8; 32]), Fail> {
    let (running, session, port) = advertised(ctx, &ServeOpts::default())?;
    if port == 0 {
        return Err(Fail::skipped(
            "the client advertised port 0 (no callback listener)",
        ));
    }
    let mut conn = ctx.dial(&session, port)?;
    let client_nonce = ctx.expect_cb_challenge(&mut conn)?;
    Ok((running, session, conn, client_nonce))
}

/// A client with a working callback and a short lease.
pub(crate) fn established_with_lease(
    ctx: &mut ClientCtx<'_>,
    lease_ms: u32,
) -> Result<(Running, ClientSession, ServedCallback), Fail> {
    let opts = ServeOpts {
        lease_ms,
        ..ServeOpts::default()
    };
    ctx.establish(&opts)
}

/// Announces the backchannel; skips unless the client negotiated it.
pub(crate) fn to_backchannel(session: &mut ClientSession) -> Result<(), Fail> {
    if !session.backchannel() {
        return Err(Fail::skipped(
            "the client does not offer BACKCHANNEL (LOGIN caps)",
        ));
    }
    session.status(CallbackState::Backchannel)
}

/// Waits for the client's application to have received exactly `seqs`, in
/// that order and once each [B-3], under the stdout contract. Waits a little
/// longer than needed so that a duplicate printed late is seen.
pub(crate) fn expect_delivered(
    ctx: &ClientCtx<'_>,
    running: &mut Running,
    seqs: &[u64],
    why: &str,
) -> Result<Vec<Delivered>, Fail> {
    running
        .process
        .wait_delivered(seqs.len(), ctx.delivery_wait())?;
    std::thread::sleep(ctx.t.quiet.min(Duration::from_millis(500)));
    let delivered = running.process.delivered()?;
    let got: Vec<u64> = delivered.iter().map(|d| d.seq).collect();
    if got != seqs {
        return Err(Fail::failed(
            format!("the application to get seqs {seqs:?}, each once and in order {why}"),
            format!("seqs {got:?} on the client's stdout"),
        ));
    }
    Ok(delivered)
}

/// Describes a frame for messages.
pub(crate) fn show(frame: &Frame<'_>) -> String {
    frame.to_string()
}
