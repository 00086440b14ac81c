//! The FNP/1 client, on any [`Runtime`].

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Instant;

use async_channel::Sender;
use faxnotify_core::client::{
    self as core, BindError, ClientConfig, ClientState, Event, Input, ListenPolicy,
    NetworkSettings, Output, SettingsChange, StopReason,
};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_runtime::ClientRequest;
use tracing::Instrument as _;

use crate::conns::{Conns, Limits};
use crate::driver::{self, Machine};
use crate::errors::{ChangeSettingsError, ClientStartError, Closed, LogoutError};
use crate::mailbox;
use crate::net;
use crate::options::Options;
use crate::runtime::Runtime;
use crate::server::AsyncReplies;

/// Application requests waiting for the driver.
const COMMAND_QUEUE: usize = 16;

/// A running FNP/1 client: its callback listener, its control connection
/// to the server, and the callbacks the server makes, driven by a
/// background task (see [`Options::runner`](crate::Options::runner)).
///
/// [`Client::start`] returns once the callback listener is bound; the client
/// then logs in, reconnects and resumes on its own, and reports everything
/// through [`Client::next_event`]: [`Event::LoggedIn`], every
/// [`Event::Notification`] exactly once and in order, [`Event::CallbackStatus`],
/// [`Event::SessionEnded`], [`Event::ConnectionLost`], ... The stream ends
/// (`None`) after [`Event::LoggedOut`] or [`Event::Stopped`].
///
/// Dropping the client stops it at once without logging out (as if the
/// process died): the server keeps the session detached until its lease
/// runs out. Call [`Client::logout`] first to end the session.
///
/// An adapter crate names it for its runtime (`faxnotify_smol::Client`,
/// `faxnotify_tokio::Client`; see their examples).
pub struct Client<R> {
    commands: Sender<Command>,
    events: mailbox::Receiver<Event>,
    listen_addr: SocketAddr,
    runtime: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("listen_addr", &self.listen_addr)
            .finish_non_exhaustive()
    }
}

type Reply<T> = Sender<T>;

enum Command {
    /// What every runtime's client answers the same way.
    Request(ClientRequest<AsyncReplies>),
    #[cfg(feature = "test-hooks")]
    SuspendListener { reply: Reply<()> },
    #[cfg(feature = "test-hooks")]
    ResumeListener { reply: Reply<std::io::Result<()>> },
}

/// How [`Client::start`] learns that the listener is bound.
type Started = Result<SocketAddr, StopReason>;

impl<R: Runtime> Client<R> {
    /// Starts a client with the default [`Options`] (the runtime's default
    /// runner, a seed from the OS): binds the callback listener by the configured
    /// policy, then logs in in the background.
    ///
    /// Fails with the core's reason, unchanged, when the callback port
    /// cannot be bound: [`StopReason::FixedPortInUse`] when a `fixed` port is
    /// taken (another instance holds it), [`StopReason::RangeExhausted`] when
    /// every port of a `range` is.
    pub async fn start(config: ClientConfig) -> Result<Self, ClientStartError> {
        Self::start_with(config, Options::default()).await
    }

    /// [`Client::start`] with explicit runtime [`Options`].
    pub async fn start_with(
        mut config: ClientConfig,
        options: Options<R>,
    ) -> Result<Self, ClientStartError> {
        options.validate()?;
        faxnotify_runtime::fill_local_ip(&mut config);
        let seed = options.resolve_seed().map_err(ClientStartError::Seed)?;
        let servers = config.servers.clone();
        let user = config.user.clone();
        // The `none` policy binds nothing: the client advertises port 0 and
        // there is no listener to wait for.
        let no_listener = (config.settings.listen == ListenPolicy::None)
            .then(|| faxnotify_runtime::no_listener_addr(&config));
        let core = core::Client::new(config, seed, Instant::now())?;

        let (events_tx, events_rx) = mailbox::mailbox(options.event_capacity);
        let (commands_tx, commands_rx) = async_channel::bounded(COMMAND_QUEUE);
        let (net_tx, net_rx) = net::channel(options.input_queue);
        let (started_tx, started_rx) = async_channel::bounded::<Started>(1);
        let limits = Limits::from(&options);
        #[cfg(feature = "test-hooks")]
        let suspend_listener_at_start = options.suspend_listener_at_start;
        let span = tracing::debug_span!("fnp_client", ?servers, %user);
        let launched = options.runner.launch("faxnotify-client", move |spawner| {
            async move {
                let io = Conns::<R>::new(spawner, net_tx, limits);
                let machine = ClientMachine {
                    core,
                    started: no_listener.is_none().then_some(started_tx),
                    abandoned: false,
                    #[cfg(feature = "test-hooks")]
                    suspended: None,
                    #[cfg(feature = "test-hooks")]
                    suspend_at_start: suspend_listener_at_start,
                };
                driver::run(
                    machine,
                    io,
                    net_rx,
                    commands_rx,
                    events_tx,
                    None,
                    driver::Turns::default(),
                )
                .await;
                tracing::debug!("client stopped");
            }
            .instrument(span)
        });
        launched.map_err(ClientStartError::Spawn)?;

        let listen_addr = match no_listener {
            Some(listen_addr) => Ok(Ok(listen_addr)),
            None => started_rx.recv().await,
        };
        match listen_addr {
            Ok(Ok(listen_addr)) => Ok(Client {
                commands: commands_tx,
                events: events_rx,
                listen_addr,
                runtime: PhantomData,
            }),
            Ok(Err(reason)) => Err(ClientStartError::Listen(reason)),
            // The driver ended without a word: only possible if it panicked.
            Err(_) => Err(ClientStartError::Spawn(std::io::Error::other(
                "the client's driver ended before it was listening",
            ))),
        }
    }

    /// The bound callback listener (with the port the OS chose for
    /// `dynamic`). With [`ListenPolicy::None`] there is no listener: the
    /// unspecified address of the server's family with port 0, as advertised.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// The next event, or `None` once the client has finished (after
    /// [`Event::LoggedOut`] or [`Event::Stopped`]) and every event was taken.
    ///
    /// Read events promptly: while `event_capacity` events are waiting, the
    /// client stops reading from the network (the server then holds further
    /// notifications back, up to its window and queue limits).
    pub async fn next_event(&self) -> Option<Event> {
        self.events.recv().await
    }

    /// Waits for an event, then moves it and those waiting behind it, up
    /// to `limit` in all, onto the end of `into`; returns how many. Taking
    /// events in batches costs one lock of the queue per batch instead of
    /// one per event (tokio's `mpsc::Receiver::recv_many`): at window 64
    /// a client's notifications arrive dozens at a time. Returns 0 once the
    /// client has finished and every event was taken, or if `limit` is 0.
    pub async fn next_events(&self, into: &mut Vec<Event>, limit: usize) -> usize {
        self.events.recv_many(into, limit).await
    }

    /// An event that is already waiting, without waiting.
    pub fn try_next_event(&self) -> Option<Event> {
        self.events.try_recv()
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Closed> {
        let (reply, answer) = async_channel::bounded(1);
        self.commands.send(make(reply)).await.map_err(|_| Closed)?;
        answer.recv().await.map_err(|_| Closed)
    }

    /// Starts a logout: LOGOUT is sent and the client finishes on the
    /// server's BYE (or after the core's `logout_timeout`). Keep reading
    /// [`Client::next_event`] until it returns `None`: notifications that
    /// arrive meanwhile are still delivered, then [`Event::LoggedOut`].
    pub async fn logout(&self) -> Result<(), LogoutError> {
        self.ask(|reply| Command::Request(ClientRequest::Logout { reply }))
            .await
            .map_err(|Closed| LogoutError::Closed)?
            .map_err(LogoutError::Core)
    }

    /// Where the client is, for user interfaces.
    pub async fn state(&self) -> Result<ClientState, Closed> {
        Ok(self
            .ask(|reply| Command::Request(ClientRequest::State { reply }))
            .await?
            .0)
    }

    /// The session the client holds, if any.
    pub async fn session(&self) -> Result<Option<SessionId>, Closed> {
        Ok(self
            .ask(|reply| Command::Request(ClientRequest::State { reply }))
            .await?
            .1)
    }

    /// Asks to change the network settings; see the core's
    /// `Client::change_settings` (refused while logged in; otherwise they
    /// take effect at the next start).
    pub async fn change_settings(
        &self,
        settings: NetworkSettings,
    ) -> Result<SettingsChange, ChangeSettingsError> {
        self.ask(|reply| Command::Request(ClientRequest::ChangeSettings { settings, reply }))
            .await
            .map_err(|Closed| ChangeSettingsError::Closed)?
            .map_err(ChangeSettingsError::Core)
    }

    /// Test hook: kills the callback listener as a crash would. The port is
    /// closed (connections to it are refused) and every open callback
    /// connection is dropped; the core is told they closed, but not that the
    /// listener is gone.
    #[cfg(feature = "test-hooks")]
    pub async fn suspend_listener(&self) -> Result<(), Closed> {
        self.ask(|reply| Command::SuspendListener { reply }).await
    }

    /// Test hook: re-opens the listener [`Client::suspend_listener`] closed,
    /// on the same address.
    #[cfg(feature = "test-hooks")]
    pub async fn resume_listener(&self) -> std::io::Result<()> {
        self.ask(|reply| Command::ResumeListener { reply })
            .await
            .map_err(|Closed| std::io::Error::other("the client has stopped running"))?
    }
}

struct ClientMachine {
    core: core::Client,
    /// Answered once, when the listener is bound or the client stopped.
    started: Option<Sender<Started>>,
    /// Every handle was dropped: stop at once.
    abandoned: bool,
    /// The suspended listener's port, held until it is resumed.
    #[cfg(feature = "test-hooks")]
    suspended: Option<faxnotify_runtime::PortHold>,
    /// Suspend the listener as soon as it is bound (test hook).
    #[cfg(feature = "test-hooks")]
    suspend_at_start: bool,
}

impl ClientMachine {
    fn feed(&mut self, now: Instant, input: Input<'_>) {
        if let Err(error) = self.core.handle_input(now, input) {
            // The adapter broke the core's contract: a bug in this crate.
            tracing::error!(%error, "input refused by the core");
            debug_assert!(false, "input refused by the core: {error}");
        }
    }

    fn listen<R: Runtime>(&mut self, now: Instant, addr: SocketAddr, io: &mut Conns<R>) {
        match net::bind_listener(addr).and_then(|listener| io.listen(listener)) {
            Ok(local) => {
                #[cfg(feature = "test-hooks")]
                if std::mem::take(&mut self.suspend_at_start) {
                    tracing::debug!(%local, "test hook: callback listener closed at start");
                    self.suspend_listener(io);
                }
                self.feed(now, Input::Bound { local });
            }
            Err(error) => {
                tracing::debug!(%addr, %error, "cannot bind the callback listener");
                let error = BindError::from_io(&error);
                self.feed(now, Input::BindFailed { addr, error });
            }
        }
    }

    /// Test hook: closes the callback listener, holding its port (see
    /// `faxnotify_runtime::PortHold`); false when there was none to suspend.
    #[cfg(feature = "test-hooks")]
    fn suspend_listener<R: Runtime>(&mut self, io: &mut Conns<R>) -> bool {
        match io.suspend_listening() {
            Ok(Some(hold)) => {
                tracing::debug!(addr = %hold.addr(), "test hook: callback listener suspended");
                self.suspended = Some(hold);
                true
            }
            Ok(None) => false,
            Err(error) => {
                // Not suspending is visible to the test (connections still
                // succeed); giving the port away would be a flake.
                tracing::error!(%error, "test hook: cannot hold the listener's port; not suspended");
                false
            }
        }
    }

    fn report_start(&mut self, result: Started) {
        if let Some(started) = self.started.take() {
            let _ = started.try_send(result);
        }
    }
}

impl<R: Runtime> Machine<R> for ClientMachine {
    type Command = Command;
    type Event = Event;

    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        self.core.handle_accept(now, peer)
    }

    fn input(&mut self, now: Instant, input: Input<'_>) {
        self.feed(now, input);
    }

    fn timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    fn drain(&mut self, now: Instant, io: &mut Conns<R>, events: &mailbox::Sender<Event>) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Listen { addr } => self.listen(now, addr, io),
                Output::StopListening => io.stop_listening(),
                Output::Connect { conn, addr } => io.dial(conn, addr),
                Output::Transmit { conn, data } => {
                    if let Some(buf) = io.transmit(conn, data) {
                        self.core.recycle(buf);
                    }
                }
                Output::Close { conn, kind } => io.close(conn, kind),
                Output::Event(event) => {
                    match &event {
                        Event::Listening { local, .. } => self.report_start(Ok(*local)),
                        Event::Stopped { reason } => self.report_start(Err(reason.clone())),
                        _ => {}
                    }
                    events.push(event);
                }
                other => tracing::warn!(?other, "output this runtime does not know; ignored"),
            }
        }
    }

    fn command(
        &mut self,
        now: Instant,
        command: Command,
        io: &mut Conns<R>,
        _events: &mailbox::Sender<Event>,
    ) {
        match command {
            Command::Request(request) => request.answer(&mut self.core, now),
            #[cfg(feature = "test-hooks")]
            Command::SuspendListener { reply } => {
                if self.suspend_listener(io) {
                    for conn in io.drop_accepted() {
                        self.feed(now, Input::Closed { conn });
                    }
                }
                let _ = reply.try_send(());
            }
            #[cfg(feature = "test-hooks")]
            Command::ResumeListener { reply } => {
                let result = match self.suspended.take() {
                    Some(hold) => {
                        tracing::debug!(addr = %hold.addr(), "test hook: resuming the callback listener");
                        hold.reopen()
                            .and_then(|listener| io.listen(listener))
                            .map(|_| ())
                    }
                    None => Ok(()),
                };
                let _ = reply.try_send(result);
            }
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = io;
    }

    fn abandoned(&mut self, _now: Instant, _io: &mut Conns<R>) {
        tracing::debug!("client handle dropped: stopping without logout");
        self.abandoned = true;
    }

    fn is_done(&self) -> bool {
        self.abandoned || self.core.is_finished()
    }

    fn is_abrupt(&self) -> bool {
        self.abandoned
    }
}
