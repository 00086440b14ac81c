//! The control connection against a client: ADVERTISE and the listen
//! policies, start-up failures, keepalive, a dead server, and resume.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use faxnotify_core::wire::{Advertise, Caps, ErrorCode, Frame, FrameType, PolicyKind};

use super::common::{established_with_lease, show};
use crate::case::{Case, Fail, Section, Verdict, ensure};
use crate::client_ctx::{
    ClientCtx, ClientSession, Listen, Running, ServeOpts, expect_ack, message_payload, notify,
};
use crate::peer::conn::{Got, first_event, secs};

const S: Section = Section::Control;

pub(crate) const CASES: &[Case] = &[
    Case::client(
        "client/control/advertise",
        S,
        &["C-2", "C-3", "D-6"],
        "ADVERTISE comes once, right after LOGIN_OK, consistent with its policy, naming a port that listens",
        advertise,
    ),
    Case::client(
        "client/control/listen-range",
        S,
        &["S1-policy", "C-2"],
        "with range:LO-HI and LO taken, the client listens on LO+1 and advertises policy range LO-HI",
        listen_range,
    ),
    Case::client(
        "client/control/listen-fixed",
        S,
        &["S1-policy"],
        "with fixed:P the client listens on P and advertises policy fixed",
        listen_fixed,
    ),
    Case::client(
        "client/control/fixed-port-taken",
        S,
        &["S1-policy"],
        "with fixed:P and P taken, start-up fails (non-zero exit) and no other port is advertised",
        fixed_port_taken,
    ),
    Case::client(
        "client/control/range-exhausted",
        S,
        &["S1-policy", "D-6"],
        "with every port of its range taken, start-up fails and port 0 is never advertised",
        range_exhausted,
    ),
    Case::client(
        "client/control/answers-ping",
        S,
        &["C-5"],
        "a PING on the control connection gets a PONG with its nonce",
        answers_ping,
    ),
    Case::client(
        "client/control/pings",
        S,
        &["C-5", "D-4"],
        "with lease_ms 3 000 the client PINGs the control connection every second, callback traffic or not",
        pings,
    ),
    Case::client(
        "client/control/dead-server",
        S,
        &["C-5"],
        "a server silent for lease_ms (3 000) is dead: the client closes the control connection",
        dead_server,
    ),
    Case::client(
        "client/control/resume",
        S,
        &["C-6", "B-2"],
        "after losing its control connection the client resumes (or logs in anew) and reports its last seq",
        resume,
    ),
    Case::client(
        "client/control/resume-new-session-id",
        S,
        &["B-2"],
        "when LOGIN_OK names another session than the one resumed, CB_READY last_seq is 0",
        resume_new_session_id,
    ),
    Case::client(
        "client/control/resume-unknown-session",
        S,
        &["C-6"],
        "after UNKNOWN_SESSION for its resume the client logs in anew with resume_session 0",
        resume_unknown_session,
    ),
];

/// Checks an ADVERTISE against [C-2] and [D-6], and against `listen` when the suite chose the policy.
fn check_advertise(advertise: &Advertise, login_caps: Caps, listen: Option<Listen>) -> Verdict {
    let shown = show(&Frame::Advertise(*advertise));
    let a = advertise;
    let consistent = match a.policy {
        PolicyKind::Range => 1024 <= a.range_lo && a.range_lo <= a.port && a.port <= a.range_hi,
        _ => a.range_lo == 0 && a.range_hi == 0 && (a.port >= 1024 || a.port == 0),
    };
    ensure(
        consistent,
        "an ADVERTISE the server accepts: port >= 1024 within its range, range fields 0 unless policy range [C-2] [D-6]",
        || shown.clone(),
    )?;
    ensure(
        a.port != 0 || login_caps.contains(Caps::BACKCHANNEL),
        "port 0 only with BACKCHANNEL offered [C-2]",
        || shown.clone(),
    )?;
    match listen {
        Some(Listen::Dynamic) => ensure(
            a.policy == PolicyKind::Dynamic && a.port != 0,
            "ADVERTISE policy=dynamic with the port the OS assigned",
            || shown.clone(),
        ),
        Some(Listen::Range(lo, hi)) => ensure(
            a.policy == PolicyKind::Range && a.range_lo == lo && a.range_hi == hi,
            format!("ADVERTISE policy=range range={lo}-{hi}"),
            || shown.clone(),
        ),
        Some(Listen::Fixed(p)) => ensure(
            a.policy == PolicyKind::Fixed && a.port == p,
            format!("ADVERTISE port={p} policy=fixed"),
            || shown.clone(),
        ),
        None => Ok(()),
    }
}

fn advertise(ctx: &mut ClientCtx<'_>) -> Verdict {
    let listen = ctx.target.has_settings_file().then_some(Listen::Dynamic);
    let mut running = ctx.start()?;
    let mut session = ctx.login(&mut running, &ServeOpts::default())?;
    let advertise = session.expect_advertise()?;
    check_advertise(&advertise, session.login.caps, listen)?;
    session.advertise_ok(advertise.port)?;
    session
        .control
        .expect_quiet(ctx.t.quiet, "no second ADVERTISE [C-3]")?;
    if advertise.port != 0 {
        let mut conn = ctx.dial(&session, advertise.port)?;
        ctx.expect_cb_challenge(&mut conn)
            .map_err(|f| f.during("on the advertised port"))?;
    }
    Ok(())
}

/// `count` consecutive ports free on every address, bound by the suite, or a
/// skip. The case keeps the ones that must stay taken and drops the ones the
/// client is to bind; binding a port again after releasing it would race with
/// every other program on the machine. The ports lie below the kernel's
/// ephemeral range, so outgoing connections cannot take a released one
/// before the client binds it.
fn free_ports(ctx: &mut ClientCtx<'_>, count: u16) -> Result<(u16, Vec<TcpListener>), Fail> {
    let (lo, hi) = below_ephemeral();
    for _ in 0..50 {
        let base = lo + (ctx.random_u64() % u64::from(hi - lo - count)) as u16;
        let held: Vec<TcpListener> = (0..count)
            .map_while(|i| TcpListener::bind((Ipv4Addr::UNSPECIFIED, base + i)).ok())
            .collect();
        if held.len() == usize::from(count) {
            return Ok((base, held));
        }
    }
    Err(Fail::skipped(format!(
        "found no {count} consecutive free ports"
    )))
}

/// Ports from 10 000 up to the start of the kernel's ephemeral range (Linux:
/// /proc/sys/net/ipv4/ip_local_port_range, 32768 by default).
fn below_ephemeral() -> (u16, u16) {
    let first_ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&first| first > 12_000)
        .unwrap_or(32_768);
    (10_000, first_ephemeral)
}

fn listen_with(ctx: &mut ClientCtx<'_>, listen: Listen, expected_port: u16) -> Verdict {
    let mut running = ctx.start_with(listen)?;
    let mut session = ctx.login(&mut running, &ServeOpts::default())?;
    let advertise = session.expect_advertise()?;
    check_advertise(&advertise, session.login.caps, Some(listen))?;
    ensure(
        advertise.port == expected_port,
        format!("ADVERTISE port={expected_port} for {}", listen.text()),
        || show(&Frame::Advertise(advertise)),
    )?;
    session.advertise_ok(advertise.port)?;
    let mut conn = ctx.dial(&session, advertise.port)?;
    ctx.expect_cb_challenge(&mut conn)
        .map_err(|f| f.during("on the advertised port"))?;
    Ok(())
}

fn listen_range(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_settings()?;
    let (lo, mut held) = free_ports(ctx, 3)?;
    // `lo` stays taken; the client is to bind lo + 1, the first free one.
    held.truncate(1);
    listen_with(ctx, Listen::Range(lo, lo + 2), lo + 1)
}

fn listen_fixed(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_settings()?;
    let (port, held) = free_ports(ctx, 1)?;
    drop(held);
    listen_with(ctx, Listen::Fixed(port), port)
}

/// The client must fail at start: exit non-zero, never ADVERTISE.
fn expect_startup_failure(ctx: &mut ClientCtx<'_>, listen: Listen) -> Verdict {
    let mut running = ctx.start_with(listen)?;
    let deadline = Instant::now() + ctx.t.client_start;
    let expected = format!(
        "start-up to fail with {} (a non-zero exit) [S1-policy]",
        listen.text()
    );
    while Instant::now() < deadline {
        if let Some(status) = running.process.exited() {
            return ensure(!status.success(), expected, || {
                format!("exit status {status}")
            });
        }
        if let Some(mut conn) = running
            .server
            .try_accept_within(Duration::from_millis(100))?
        {
            // A client that binds only after login: let it get that far.
            let opts = ServeOpts::default();
            let login = ctx.greet(&mut conn, &opts.hello)?;
            let mut session = ctx.finish_login(conn, login, &opts)?;
            match session.control.next_relevant(ctx.t.expect) {
                Got::Frame(Frame::Advertise(a)) => {
                    return Err(Fail::failed(expected, show(&Frame::Advertise(a))));
                }
                Got::Frame(Frame::Logout | Frame::Error(_)) | Got::Closed(_) | Got::Nothing(_) => {}
                other => return Err(Fail::failed(expected, other.to_string())),
            }
        }
    }
    Err(Fail::failed(
        expected,
        running.process.describe_missing("exit", ctx.t.client_start),
    ))
}

fn fixed_port_taken(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_settings()?;
    let (port, _taken) = free_ports(ctx, 1)?;
    expect_startup_failure(ctx, Listen::Fixed(port))
}

fn range_exhausted(ctx: &mut ClientCtx<'_>) -> Verdict {
    ctx.need_settings()?;
    let (lo, _taken) = free_ports(ctx, 2)?;
    expect_startup_failure(ctx, Listen::Range(lo, lo + 1))
}

fn answers_ping(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut session, _callback) = ctx.establish(&ServeOpts::default())?;
    for nonce in [0x1122_3344_5566_7788, 1] {
        session.control.ping_pong(
            nonce,
            &format!("PONG nonce={nonce:#x} for PING nonce={nonce:#x} [C-5]"),
        )?;
    }
    Ok(())
}

fn pings(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut session, mut callback) = established_with_lease(ctx, 3_000)?;
    session.control.auto_pong = false;
    let bound = Duration::from_millis(1_000) + ctx.t.margin;
    let mut last = Instant::now();
    let mut pings = 0;
    let mut seq = 0;
    let mut acked = 0;
    let mut next_notify = Instant::now();
    while pings < 3 {
        if Instant::now() >= next_notify {
            // Traffic on the callback must not stand in for PINGs on control [D-4].
            seq += 1;
            callback
                .conn
                .send(&notify(seq, 3, &message_payload("keep the callback busy")))?;
            next_notify = Instant::now() + Duration::from_millis(250);
        }
        if last.elapsed() > bound {
            return Err(Fail::failed(
                format!(
                    "a PING on the control connection within {} (lease_ms/3 = 1 s) [C-5] [D-4]",
                    secs(bound)
                ),
                format!(
                    "nothing for {} (PINGs so far: {pings}, NOTIFYs on the callback: {seq})",
                    secs(last.elapsed())
                ),
            ));
        }
        match first_event(
            &mut [&mut session.control, &mut callback.conn],
            Duration::from_millis(50),
        ) {
            None => {}
            Some((1, Got::Frame(Frame::Ack { seq: s }))) => acked = acked.max(s),
            Some((0, Got::Frame(Frame::Ping { nonce }))) => {
                session.control.send(&Frame::Pong { nonce })?;
                pings += 1;
                last = Instant::now();
            }
            Some((i, got)) => {
                let on = if i == 0 { "control" } else { "callback" };
                return Err(Fail::failed(
                    "PINGs on control and ACKs on the callback",
                    format!("{got} on the {on} connection"),
                ));
            }
        }
    }
    if acked < seq {
        expect_ack(&mut callback.conn, seq, "for the last NOTIFY")?;
    }
    Ok(())
}

fn dead_server(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (_running, mut session, _callback) = established_with_lease(ctx, 3_000)?;
    session.control.auto_pong = false;
    session.control.tolerate(FrameType::Ping);
    let limit = Duration::from_millis(3_000) + ctx.t.margin;
    session.control.expect_closed_within(
        limit,
        &format!(
            "the client to close the control connection of a server silent for lease_ms, within {} [C-5]",
            secs(limit)
        ),
    )
}

/// Brings the client to a session with seqs 1 and 2 delivered and acknowledged,
/// then drops its connections as a server restart would.
fn delivered_then_dropped(ctx: &mut ClientCtx<'_>) -> Result<(Running, u64), Fail> {
    let (running, mut session, mut callback) = ctx.establish(&ServeOpts::default())?;
    for seq in [1, 2] {
        callback
            .conn
            .send(&notify(seq, 3, &message_payload("before the drop")))?;
    }
    expect_ack(&mut callback.conn, 2, "for NOTIFY seq 1 and 2")?;
    let id = session.ok.session_id;
    callback.conn.close();
    session.control.close();
    Ok((running, id))
}

/// Waits for the client to reconnect and send LOGIN; a skip if it does not.
fn reconnected(
    ctx: &mut ClientCtx<'_>,
    running: &mut Running,
) -> Result<
    (
        crate::peer::conn::FrameConn,
        faxnotify_core::wire::Login<'static>,
    ),
    Fail,
> {
    let wait = ctx.t.client_start;
    let Some(mut conn) = running.try_accept_within(wait)? else {
        return Err(Fail::skipped(format!(
            "the client did not reconnect within {} after losing its control connection (reconnecting is optional)",
            secs(wait)
        )));
    };
    let login = ctx.greet(&mut conn, &ServeOpts::default().hello)?;
    Ok((conn, login))
}

/// Finishes a login with `session_id` in LOGIN_OK, then ADVERTISE, dial and
/// handshake; returns CB_READY.last_seq.
fn last_seq_after_login(
    ctx: &mut ClientCtx<'_>,
    conn: crate::peer::conn::FrameConn,
    login: faxnotify_core::wire::Login<'static>,
    session_id: u64,
) -> Result<u64, Fail> {
    let opts = ServeOpts::default();
    let mut session: ClientSession = ctx.finish_login_as(conn, login, &opts, session_id)?;
    let advertise = session.expect_advertise()?;
    session.advertise_ok(advertise.port)?;
    let conn = ctx.dial(&session, advertise.port)?;
    Ok(ctx.cb_handshake(&session, conn)?.last_seq)
}

fn resume(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, id) = delivered_then_dropped(ctx)?;
    let (conn, login) = reconnected(ctx, &mut running)?;
    let shown = show(&Frame::Login(login.clone()));
    let resumed = login.resume_session == id;
    ensure(
        resumed || login.resume_session == 0,
        format!("LOGIN resume_session={id:#018x} (its session) or 0 (a new login) [C-6]"),
        || shown.clone(),
    )?;
    let session_id = if resumed { id } else { ctx.random_u64() };
    let last_seq = last_seq_after_login(ctx, conn, login, session_id)?;
    let want = if resumed { 2 } else { 0 };
    ensure(
        last_seq == want,
        format!(
            "CB_READY last_seq={want} ({}) [B-2]",
            if resumed {
                "the last seq it delivered in the resumed session"
            } else {
                "a new session"
            }
        ),
        || format!("last_seq={last_seq}"),
    )
}

fn resume_new_session_id(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, id) = delivered_then_dropped(ctx)?;
    let (conn, login) = reconnected(ctx, &mut running)?;
    if login.resume_session != id {
        return Err(Fail::skipped(
            "the client logged in anew instead of resuming",
        ));
    }
    let other = id ^ 0x5a5a_5a5a_0000_0001;
    let last_seq = last_seq_after_login(ctx, conn, login, other)?;
    ensure(
        last_seq == 0,
        "CB_READY last_seq=0: LOGIN_OK named another session than the one resumed [B-2]",
        || format!("last_seq={last_seq}"),
    )
}

fn resume_unknown_session(ctx: &mut ClientCtx<'_>) -> Verdict {
    let (mut running, id) = delivered_then_dropped(ctx)?;
    let (mut conn, login) = reconnected(ctx, &mut running)?;
    if login.resume_session != id {
        return Err(Fail::skipped(
            "the client logged in anew instead of resuming",
        ));
    }
    conn.send(&Frame::LoginChallenge(ctx.challenge()))?;
    conn.expect("LOGIN_PROOF", |f| {
        matches!(f, Frame::LoginProof { .. }).then_some(())
    })?;
    conn.send(&Frame::error(
        ErrorCode::UnknownSession,
        "conformance: no such session",
    ))?;
    conn.expect_closed("the client to close after ERROR UNKNOWN_SESSION [F-6]")?;
    let wait = ctx.t.client_start;
    let Some(mut again) = running.try_accept_within(wait)? else {
        return Err(Fail::failed(
            "a new login after UNKNOWN_SESSION [C-6]",
            running.process.describe_missing("connection", wait),
        ));
    };
    let login = ctx.greet(&mut again, &ServeOpts::default().hello)?;
    ensure(
        login.resume_session == 0,
        "LOGIN resume_session=0 after UNKNOWN_SESSION [C-6]",
        || show(&Frame::Login(login.clone())),
    )
}
