//! The run loop shared by the server and the client drivers, as the cores
//! document it: after every input drain the outputs, then sleep until
//! the next network message, application command, or `poll_timeout`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_channel::Receiver;
use faxnotify_core::ConnId;
use faxnotify_core::io::{ConnectError, Input};
use futures_lite::{Stream as _, future};

use crate::conns::Conns;
use crate::doorbell::Doorbell;
use crate::mailbox;
use crate::net::{self, NetMsg, NetRx};
use crate::runtime::{self, AsyncTcp as _, AsyncTimer as _, Runtime};

/// Network messages handled per wake-up before the loop looks at commands
/// and timers again (amortises the select; keeps commands responsive).
const BATCH: usize = 64;

/// What a driver needs from its core: the adapter half of the sans-IO API.
pub(crate) trait Machine<R: Runtime> {
    /// Application requests.
    type Command;
    /// Events for the application.
    type Event;

    /// `handle_accept`.
    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId;
    /// `handle_input`, in the vocabulary both cores share.
    fn input(&mut self, now: Instant, input: Input<'_>);
    /// `handle_timeout`.
    fn timeout(&mut self, now: Instant);
    /// `poll_timeout`.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Drains `poll_output` and carries every output out.
    fn drain(&mut self, now: Instant, io: &mut Conns<R>, events: &mailbox::Sender<Self::Event>);
    /// An application request.
    fn command(
        &mut self,
        now: Instant,
        command: Self::Command,
        io: &mut Conns<R>,
        events: &mailbox::Sender<Self::Event>,
    );
    /// The application posted notifications (the doorbell rang): take them.
    fn posted(&mut self, _now: Instant) {}
    /// Every application handle is gone.
    fn abandoned(&mut self, now: Instant, io: &mut Conns<R>);
    /// Whether the driver can stop (checked after a drain).
    fn is_done(&self) -> bool;
    /// Whether to stop as a crash would: drop every socket without
    /// flushing (otherwise connections are closed gracefully).
    fn is_abrupt(&self) -> bool {
        false
    }
}

/// How many times a driver's loop has woken up, shared with its handle (a
/// test hook): a driver that wakes again and again with nothing to do
/// spins, which would otherwise show only as CPU time.
#[derive(Clone, Debug, Default)]
pub(crate) struct Turns(Arc<AtomicU64>);

impl Turns {
    fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The wake-ups so far.
    #[cfg_attr(not(feature = "adapter-tests"), allow(dead_code))]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

enum Wake<C, S> {
    Command(Option<C>),
    Net,
    Accepted(io::Result<(S, SocketAddr)>),
    Timer,
    Space,
    Posted,
}

/// Runs `machine` until it is done, then closes every connection (bounded
/// by the close timeout) and ends the event stream.
pub(crate) async fn run<R: Runtime, M: Machine<R>>(
    mut machine: M,
    mut io: Conns<R>,
    net: NetRx<R::Tcp>,
    commands: Receiver<M::Command>,
    events: mailbox::Sender<M::Event>,
    doorbell: Option<Arc<Doorbell>>,
    turns: Turns,
) {
    let mut timer: Option<R::Timer> = None;
    let mut armed: Option<Instant> = None;
    let mut commands_open = true;
    let mut now = Instant::now();
    let mut commands = std::pin::pin!(commands);
    finish_turn(&mut machine, now, &mut io, &events);
    while !machine.is_done() {
        // Re-arm only when the core's deadline moved earlier (or nothing is
        // armed). A deadline that moved later — the keepalive deadline does
        // with every frame sent — is left to the armed timer, which then
        // fires early: `handle_timeout` before the deadline is harmless, and
        // re-arming async-io's timer on every send costs syscalls and wakes.
        if let Some(at) = machine.poll_timeout()
            && armed.is_none_or(|armed_at| at < armed_at)
        {
            match &mut timer {
                Some(timer) => timer.reset(at),
                None => timer = Some(R::timer(at)),
            }
            armed = Some(at);
        }
        // While the application lags, listen for space before looking again,
        // so that space made in between is not missed.
        let mut space = None;
        let mut paused = events.is_full();
        if paused {
            space = Some(events.space());
            paused = events.is_full();
        }
        let wake = {
            // Polled as a stream, which keeps its listener between turns
            // (a `recv` future per turn would allocate one per wait).
            let command = async {
                if commands_open {
                    Wake::Command(future::poll_fn(|cx| commands.as_mut().poll_next(cx)).await)
                } else {
                    future::pending().await
                }
            };
            let input = async {
                if paused {
                    future::pending().await
                } else {
                    net.ready().await;
                    Wake::Net
                }
            };
            let accept = async {
                if paused {
                    future::pending().await
                } else {
                    Wake::Accepted(io.accept().await)
                }
            };
            // Only an armed timer is waited on. One that has fired stays
            // ready on some runtimes (tokio's `Sleep` does): polled again
            // while the core has no deadline, it would wake the loop at
            // once, every turn — a spin, which a paused driver whose
            // handshakes all timed out reaches (nothing is read, so soon
            // nothing is due).
            let tick = async {
                match (&mut timer, armed) {
                    (Some(timer), Some(_)) => runtime::fired(timer).await,
                    _ => future::pending().await,
                }
                Wake::Timer
            };
            let space = async {
                match space {
                    Some(listener) if paused => {
                        listener.await;
                        Wake::Space
                    }
                    _ => future::pending().await,
                }
            };
            let posted = async {
                match &doorbell {
                    Some(bell) => {
                        bell.rung().await;
                        Wake::Posted
                    }
                    None => future::pending().await,
                }
            };
            let network = future::race(input, accept);
            let local = future::or(future::or(tick, space), posted);
            future::race(future::race(command, network), local).await
        };
        now = Instant::now();
        net.awake();
        turns.count();
        match wake {
            Wake::Command(Some(command)) => {
                machine.command(now, command, &mut io, &events);
                settle(&mut machine, now, &mut io, &events);
            }
            Wake::Command(None) => {
                commands_open = false;
                machine.abandoned(now, &mut io);
                settle(&mut machine, now, &mut io, &events);
            }
            Wake::Net => {
                // What is left after this batch is seen before the next
                // wait (`ready`).
                for _ in 0..BATCH {
                    if events.is_full() {
                        break;
                    }
                    let Some(msg) = net.try_recv() else { break };
                    on_net(&mut machine, now, &mut io, &events, &net, msg);
                }
            }
            Wake::Accepted(Ok((stream, peer))) => {
                if let Err(error) = stream.set_nodelay() {
                    tracing::debug!(%peer, %error, "accepted connection unusable; dropped");
                } else {
                    let conn = machine.accept(now, peer);
                    io.adopt(conn, stream, peer);
                    settle(&mut machine, now, &mut io, &events);
                }
            }
            Wake::Accepted(Err(error)) => {
                if net::is_transient_accept_error(&error) {
                    tracing::debug!(%error, "accept failed; trying again");
                } else {
                    io.accept_failed(&error);
                }
            }
            Wake::Timer => {
                armed = None; // a fired one-shot timer must be re-armed
                machine.timeout(now);
                settle(&mut machine, now, &mut io, &events);
            }
            Wake::Space => {}
            Wake::Posted => machine.posted(now),
        }
        // One write per connection for everything this turn produced.
        finish_turn(&mut machine, now, &mut io, &events);
    }
    // Commands that arrive from here on are never executed. They are held
    // until the connections are closed and then dropped, which answers
    // each one (its reply channel closes): a racing `shutdown()` returns
    // once the port is free, and any other request fails as stopped instead
    // of waiting for an answer that would never come.
    let mut late = Vec::new();
    if machine.is_abrupt() {
        tracing::debug!("driver stopped abruptly; dropping connections");
        io.abort();
    } else {
        tracing::debug!("driver finished; closing connections");
        let collect = async {
            while let Ok(command) = commands.recv().await {
                late.push(command);
            }
            future::pending::<()>().await
        };
        future::or(io.finish(), collect).await;
    }
    commands.close();
    while let Ok(command) = commands.try_recv() {
        late.push(command);
    }
    drop(late);
    events.close();
}

fn on_net<R: Runtime, M: Machine<R>>(
    machine: &mut M,
    now: Instant,
    io: &mut Conns<R>,
    events: &mailbox::Sender<M::Event>,
    net: &NetRx<R::Tcp>,
    msg: NetMsg<R::Tcp>,
) {
    match msg {
        NetMsg::Dialled { conn, result } => match result {
            Ok(stream) => {
                if io.dialled(conn, stream) {
                    machine.input(now, Input::Connected { conn });
                }
            }
            Err(err) => {
                if io.dial_failed(conn) {
                    let error = ConnectError::from_io(&err);
                    machine.input(now, Input::ConnectFailed { conn, error });
                }
            }
        },
        NetMsg::Received { conn, data } => {
            if io.is_open(conn) {
                machine.input(now, Input::Received { conn, data: &data });
            }
            net.recycle(data);
        }
        NetMsg::Closed { conn } => {
            if io.forget(conn) {
                machine.input(now, Input::Closed { conn });
            }
        }
    }
    settle(machine, now, io, events);
}

/// Ends a turn: settles, then hands each connection what the turn
/// queued for it in one write; writes that find a connection dead are
/// reported (which may produce more outputs), so it settles again. Last,
/// the turn's events go to the application together (one wake-up).
fn finish_turn<R: Runtime, M: Machine<R>>(
    machine: &mut M,
    now: Instant,
    io: &mut Conns<R>,
    events: &mailbox::Sender<M::Event>,
) {
    loop {
        settle(machine, now, io, events);
        if !io.has_unflushed() {
            break;
        }
        io.flush();
    }
    events.flush();
}

/// Drains the outputs, and reports connections that died while being
/// written to as closed (which may produce more outputs). What the outputs
/// transmit waits for the end of the turn ([`finish_turn`]).
fn settle<R: Runtime, M: Machine<R>>(
    machine: &mut M,
    now: Instant,
    io: &mut Conns<R>,
    events: &mailbox::Sender<M::Event>,
) {
    loop {
        machine.drain(now, io, events);
        let dead = io.take_dead();
        if dead.is_empty() {
            return;
        }
        for conn in dead {
            machine.input(now, Input::Closed { conn });
        }
    }
}
