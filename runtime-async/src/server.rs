//! The FNP/1 server, on any [`Runtime`].

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_channel::Sender;
use faxnotify_core::io::BindError;
use faxnotify_core::server::{
    self as core, Event, Input, NotifyReport, NotifySummary, Output, ServerConfig, SessionInfo,
    Target, UserStore,
};
use faxnotify_core::tls::ServerIdentity;
use faxnotify_core::wire::{EncodedNotification, Notification};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_runtime::ClusterRequest;
use faxnotify_runtime::{
    EncodedBatch, LoopNotifier, PostError, PostInbox, PostReport, ServerHandler, ServerRequest,
    WakeGate, encode_on_this_thread,
};
use futures_lite::Stream;
use tracing::Instrument as _;

use crate::conns::{Conns, Limits};
use crate::doorbell::Doorbell;
use crate::driver::{self, Machine};
use crate::errors::{Closed, EndSessionError, NotifyError, ServerStartError, SetTlsIdentityError};
use crate::mailbox;
use crate::net;
use crate::options::Options;
use crate::runtime::Runtime;

/// Application requests waiting for the driver.
const COMMAND_QUEUE: usize = 64;

/// A running FNP/1 server: a cheap, cloneable handle to the driver that
/// owns the listener, the connections and the core [`core::Server`],
/// running on the runtime `R` (an adapter crate names it:
/// `faxnotify_smol::Server`, `faxnotify_tokio::Server`; see their examples).
///
/// Every method sends a request to the driver and waits for its answer, so
/// they can be called from any task or executor. When the last handle is
/// dropped the server shuts down as by [`Server::shutdown`].
pub struct Server<R> {
    commands: Sender<Command>,
    /// Posted notifications, and the doorbell that wakes the driver for them.
    inbox: Arc<PostInbox>,
    doorbell: Arc<Doorbell>,
    local: SocketAddr,
    /// The driver's wake-ups (test hook).
    #[cfg(feature = "test-hooks")]
    turns: driver::Turns,
    runtime: PhantomData<fn() -> R>,
}

// Not derived: those would ask `R: Clone + Debug` of the runtime marker.
impl<R> Clone for Server<R> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            inbox: Arc::clone(&self.inbox),
            doorbell: Arc::clone(&self.doorbell),
            local: self.local,
            #[cfg(feature = "test-hooks")]
            turns: self.turns.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// The server's events ([`core::Event`]), in order. A [`Stream`]; it ends
/// once the server has shut down.
///
/// Read it promptly: while `event_capacity` events are waiting, the server
/// stops reading from the network. Dropping it discards events from then on
/// without slowing the server.
pub struct ServerEvents {
    rx: mailbox::Receiver<Event>,
}

impl std::fmt::Debug for ServerEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEvents").finish_non_exhaustive()
    }
}

impl ServerEvents {
    /// The next event, or `None` once the server has shut down and every
    /// event was taken.
    pub async fn next(&self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Waits for an event, then moves it and those waiting behind it, up
    /// to `limit` in all, onto the end of `into`; returns how many. Taking
    /// events in batches costs one lock of the queue per batch instead of
    /// one per event (tokio's `mpsc::Receiver::recv_many`). Returns 0 once
    /// the server has shut down and every event was taken, or if `limit`
    /// is 0.
    pub async fn next_many(&self, into: &mut Vec<Event>, limit: usize) -> usize {
        self.rx.recv_many(into, limit).await
    }

    /// An event that is already waiting, without waiting.
    pub fn try_next(&self) -> Option<Event> {
        self.rx.try_recv()
    }
}

impl Stream for ServerEvents {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

/// Counters of a running server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct ServerStats {
    /// Live sessions (attached or detached).
    pub sessions: usize,
    /// Open connections known to the core (control, callback, dials).
    pub connections: usize,
}

type Reply<T> = Sender<T>;

/// The driver's reply channels, for the requests of `faxnotify_runtime`.
#[derive(Debug)]
pub(crate) struct AsyncReplies;

impl faxnotify_runtime::Replies for AsyncReplies {
    type Reply<T> = Reply<T>;

    fn send<T>(reply: Reply<T>, value: T) {
        // A one-slot channel per call; a caller that gave up is nobody to tell.
        let _ = reply.try_send(value);
    }
}

pub(crate) enum Command {
    /// What every runtime's server answers the same way.
    Request(ServerRequest<AsyncReplies>),
    Stats {
        reply: Reply<ServerStats>,
    },
    SetTlsIdentity {
        identity: ServerIdentity,
        reply: Reply<Result<(), SetTlsIdentityError>>,
    },
    /// Never answered: the reply channel closes when the driver has finished.
    Shutdown {
        done: Reply<()>,
    },
    /// Likewise.
    #[cfg(feature = "test-hooks")]
    Kill {
        done: Reply<()>,
    },
    /// Cluster mode's requests (`cluster.rs`).
    Cluster(ClusterRequest<AsyncReplies>),
}

impl<R: Runtime> Server<R> {
    /// Binds `addr` and starts serving with the default [`Options`] (the
    /// runtime's default runner, a seed from the OS).
    ///
    /// For an IPv6 address the listener is dual-stack: `[::]:4580` also
    /// accepts IPv4 clients, which the core sees (and dials back) as IPv4.
    /// Port 0 picks a free port; see [`Server::local_addr`].
    pub async fn bind(
        addr: SocketAddr,
        config: ServerConfig,
        users: impl UserStore + Send + 'static,
    ) -> Result<(Self, ServerEvents), ServerStartError> {
        Self::bind_with(addr, config, users, Options::default()).await
    }

    /// [`Server::bind`] with explicit runtime [`Options`].
    pub async fn bind_with(
        addr: SocketAddr,
        config: ServerConfig,
        users: impl UserStore + Send + 'static,
        options: Options<R>,
    ) -> Result<(Self, ServerEvents), ServerStartError> {
        Self::start(addr, config, Box::new(users), options, None).await
    }

    /// [`Server::bind_with`], and an application handler the driver calls
    /// on its own task with each event, in order, instead of sending it to
    /// the [`ServerEvents`]: the events it hands back (`Some(event)`) go
    /// to the stream, the others are the handler's alone — none is lost or
    /// seen twice.
    ///
    /// The handler may notify right there ([`LoopNotifier::post_batch`]):
    /// the notifications are queued in the driver at once, as posts taken
    /// from the inbox are, with their outcomes in the same [`PostReport`]
    /// ([`Server::take_post_report`]). An application that answers each
    /// `Delivered` with the next notification (a closed loop at window 1)
    /// saves the two cross-task hand-offs per notification of
    /// `events.next().await` then `post()`: the driver's wake-up of the
    /// application, and the doorbell that wakes the driver.
    ///
    /// The handler runs inside the driver: keep it short and never block
    /// or wait in it (see [`ServerHandler`]).
    ///
    /// ```no_run
    /// use faxnotify_core::server::{Event, MemoryUserStore, ServerConfig, Target};
    /// use faxnotify_core::wire::Notification;
    /// use faxnotify_smol::{LoopNotifier, NotificationEncoder, Options, Server};
    /// # async_io::block_on(async {
    /// let mut encoder = NotificationEncoder::new();
    /// let next = move |event: Event, notifier: &mut LoopNotifier<'_>| match event {
    ///     // Each acknowledgement brings the session its next message.
    ///     Event::Delivered { session, last_seq, .. } => {
    ///         let text = Notification::server_message(format!("after {last_seq}"));
    ///         if let Ok(encoded) = encoder.encode(&text) {
    ///             notifier.post(Target::Session(session), encoded);
    ///         }
    ///         None
    ///     }
    ///     other => Some(other), // to the event stream
    /// };
    /// let (server, events) = Server::bind_with_handler(
    ///     "127.0.0.1:0".parse()?,
    ///     ServerConfig::new([7; 32]),
    ///     MemoryUserStore::new(),
    ///     Options::default(),
    ///     next,
    /// )
    /// .await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn bind_with_handler(
        addr: SocketAddr,
        config: ServerConfig,
        users: impl UserStore + Send + 'static,
        options: Options<R>,
        handler: impl ServerHandler,
    ) -> Result<(Self, ServerEvents), ServerStartError> {
        Self::start(
            addr,
            config,
            Box::new(users),
            options,
            Some(Box::new(handler)),
        )
        .await
    }

    async fn start(
        addr: SocketAddr,
        config: ServerConfig,
        users: Box<dyn UserStore + Send>,
        options: Options<R>,
        handler: Option<Box<dyn ServerHandler>>,
    ) -> Result<(Self, ServerEvents), ServerStartError> {
        options.validate()?;
        let seed = options.resolve_seed().map_err(ServerStartError::Seed)?;
        let core = core::Server::new(config, users, seed)?;
        let bind_error = |e: std::io::Error| ServerStartError::Bind {
            addr,
            error: BindError::from_io(&e),
        };
        let listener = net::bind_listener(addr).map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;

        let (events_tx, events_rx) = mailbox::mailbox(options.event_capacity);
        let (commands_tx, commands_rx) = async_channel::bounded(COMMAND_QUEUE);
        let (net_tx, net_rx) = net::channel(options.input_queue);
        let limits = Limits::from(&options);
        let gate = Arc::new(WakeGate::new());
        let inbox = Arc::new(PostInbox::new(options.post_capacity, Arc::clone(&gate)));
        let doorbell = Arc::new(Doorbell::new(gate));
        let (driver_inbox, driver_bell) = (Arc::clone(&inbox), Arc::clone(&doorbell));
        let turns = driver::Turns::default();
        let driver_turns = turns.clone();
        let span = tracing::debug_span!("fnp_server", %local);
        let launched = options.runner.launch("faxnotify-server", move |spawner| {
            async move {
                let mut io = Conns::<R>::new(spawner, net_tx, limits);
                if let Err(error) = io.listen(listener) {
                    tracing::error!(%error, "listener unusable");
                }
                tracing::debug!("server started");
                let machine = ServerMachine {
                    core,
                    inbox: driver_inbox,
                    handler,
                    posts: Vec::new(),
                    shutdown_waiters: Vec::new(),
                    killed: false,
                };
                driver::run(
                    machine,
                    io,
                    net_rx,
                    commands_rx,
                    events_tx,
                    Some(driver_bell),
                    driver_turns,
                )
                .await;
                tracing::debug!("server stopped");
            }
            .instrument(span)
        });
        launched.map_err(ServerStartError::Spawn)?;
        Ok((
            Server {
                commands: commands_tx,
                inbox,
                doorbell,
                local,
                #[cfg(feature = "test-hooks")]
                turns,
                runtime: PhantomData,
            },
            ServerEvents { rx: events_rx },
        ))
    }

    /// The address the server listens on (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Closed> {
        let (reply, answer) = async_channel::bounded(1);
        self.commands.send(make(reply)).await.map_err(|_| Closed)?;
        answer.recv().await.map_err(|_| Closed)
    }

    /// Queues `notification` for every session of `target` and sends it
    /// where a delivery path is up. The report tells, per session, the seq
    /// it got or why it was refused (queue full [B-6], no such session).
    pub async fn notify(
        &self,
        target: Target,
        notification: Notification,
    ) -> Result<NotifyReport, NotifyError> {
        // Encoded here, on the caller's thread, into its arena: the driver
        // only queues it.
        let notification =
            encode_on_this_thread(&notification).map_err(|e| NotifyError::Core(e.into()))?;
        self.ask(|reply| {
            Command::Request(ServerRequest::Notify {
                target,
                notification,
                reply,
            })
        })
        .await
        .map_err(|Closed| NotifyError::Closed)
    }

    /// Queues several notifications with one round trip to the driver:
    /// [`Server::notify`] for each, in order, with one report (or encoding
    /// error) each.
    ///
    /// Each `notify` is a round trip to the driver task, which writes what
    /// the call produced before it takes the next one. An application with
    /// several notifications at hand (a burst of fax activity, a backlog)
    /// saves the round trips and lets the driver write them together: one
    /// write per connection instead of one per notification. Within the
    /// delivery window ([B-4]) they go out at once; the rest wait in the
    /// sessions' queues.
    pub async fn notify_batch(
        &self,
        batch: Vec<(Target, Notification)>,
    ) -> Result<Vec<Result<NotifyReport, core::NotifyError>>, Closed> {
        let mut encoded = EncodedBatch::encode(batch);
        let batch = encoded.take_batch();
        let reports = self
            .ask(|reply| Command::Request(ServerRequest::NotifyBatch { batch, reply }))
            .await?;
        Ok(encoded.answer(reports))
    }

    /// Queues a notification encoded on the caller's thread (see
    /// [`NotificationEncoder`](crate::NotificationEncoder)) for every
    /// session of `target`, with a round trip to the driver. The summary
    /// counts the sessions that accepted it and lists those that refused
    /// it and why (queue full [B-6], no such session).
    pub async fn notify_encoded(
        &self,
        target: Target,
        notification: EncodedNotification,
    ) -> Result<NotifySummary, Closed> {
        self.ask(|reply| {
            Command::Request(ServerRequest::NotifyEncoded {
                target,
                notification,
                reply,
            })
        })
        .await
    }

    /// Posts a notification for every session of `target` and returns at
    /// once: fire and forget, no `await`, callable from any thread. The
    /// driver takes every post on its next turn, in order, and queues it
    /// as [`Server::notify_encoded`] would; what became of the posts adds
    /// up in [`Server::take_post_report`], and each session's outcome comes
    /// later as [`Event::Delivered`] / [`Event::Undelivered`].
    ///
    /// The cheapest way to notify: no reply to wait for, and one wake-up of
    /// the driver for all posts made while it was busy. Posts wait in an
    /// inbox of [`Options::post_capacity`] notifications; when it is full
    /// the post is refused with [`PostError::Full`] and nothing is queued.
    ///
    /// ```no_run
    /// # use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
    /// # use faxnotify_core::wire::Notification;
    /// use faxnotify_smol::NotificationEncoder;
    /// # async_io::block_on(async {
    /// # let (server, _events) = faxnotify_smol::Server::bind(
    /// #     "127.0.0.1:0".parse()?, ServerConfig::new([7; 32]), MemoryUserStore::new()).await?;
    /// let mut encoder = NotificationEncoder::new();
    /// server.post(Target::All, encoder.encode(&Notification::server_message("hello"))?)?;
    /// // ... later, or now and then:
    /// for (session, why) in &server.take_post_report().refusals {
    ///     eprintln!("session {session} refused a notification: {why}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn post(&self, target: Target, notification: EncodedNotification) -> Result<(), PostError> {
        self.post_batch([(target, notification)])
    }

    /// Posts several notifications, in order, or none of them if they do
    /// not all fit in the inbox; see [`Server::post`].
    pub fn post_batch<I>(&self, batch: I) -> Result<(), PostError>
    where
        I: IntoIterator<Item = (Target, EncodedNotification)>,
        I::IntoIter: ExactSizeIterator,
    {
        if self.inbox.post(batch)? {
            self.doorbell.ring();
        }
        Ok(())
    }

    /// What became of the posted notifications the driver has taken since
    /// the last call (counts, and the first refusals with their reasons);
    /// resets the report.
    pub fn take_post_report(&self) -> PostReport {
        self.inbox.take_report()
    }

    /// A snapshot of every live session.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, Closed> {
        self.ask(|reply| Command::Request(ServerRequest::Sessions { reply }))
            .await
    }

    /// A snapshot of one session.
    pub async fn session(&self, id: SessionId) -> Result<Option<SessionInfo>, Closed> {
        self.ask(|reply| Command::Request(ServerRequest::Session { id, reply }))
            .await
    }

    /// Ends a session: BYE "ended by server", its unacknowledged
    /// notifications reported as [`Event::Undelivered`].
    pub async fn end_session(&self, id: SessionId) -> Result<(), EndSessionError> {
        self.ask(|reply| Command::Request(ServerRequest::EndSession { id, reply }))
            .await
            .map_err(|Closed| EndSessionError::Closed)?
            .map_err(EndSessionError::Unknown)
    }

    /// Counters of the server.
    pub async fn stats(&self) -> Result<ServerStats, Closed> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Replaces the server's TLS certificate and key (a certificate
    /// reload) without a restart: TLS handshakes that start once this
    /// returns present `identity`, on control and callback connections;
    /// connections already established keep theirs [T-2].
    ///
    /// Read the new files off the executor (blocking file I/O stalls every
    /// task on its thread). A server started without TLS refuses.
    pub async fn set_tls_identity(
        &self,
        identity: ServerIdentity,
    ) -> Result<(), SetTlsIdentityError> {
        self.ask(|reply| Command::SetTlsIdentity { identity, reply })
            .await
            .map_err(|Closed| SetTlsIdentityError::Closed)?
    }

    /// Shuts down: stops listening, ends every session with BYE shutdown
    /// (undelivered notifications are reported as events), closes every
    /// connection once what was written to it is flushed (at most
    /// `close_timeout`), ends the event stream, and returns when all that is
    /// done. Returns at once if the server has already stopped.
    pub async fn shutdown(&self) {
        let (done, finished) = async_channel::bounded(1);
        if self.commands.send(Command::Shutdown { done }).await.is_ok() {
            let _ = finished.recv().await;
        }
    }

    /// Test hook of the adapter suite: how many times the driver's loop has
    /// woken up so far.
    #[cfg(feature = "adapter-tests")]
    pub(crate) fn driver_turns(&self) -> u64 {
        self.turns.get()
    }

    /// Test hook: stops at once as a crash would (no BYE, no ERROR, nothing
    /// flushed; the listener closed) and returns when the driver has ended.
    #[cfg(feature = "test-hooks")]
    pub async fn kill(&self) {
        let (done, finished) = async_channel::bounded(1);
        if self.commands.send(Command::Kill { done }).await.is_ok() {
            let _ = finished.recv().await;
        }
    }
}

struct ServerMachine {
    core: core::Server,
    inbox: Arc<PostInbox>,
    /// The application's handler on the driver task, if it has one.
    handler: Option<Box<dyn ServerHandler>>,
    /// The posts being delivered; swapped with the inbox's vector, so both
    /// keep their capacity.
    posts: Vec<(Target, EncodedNotification)>,
    /// Closed (dropped) when the driver finishes.
    shutdown_waiters: Vec<Reply<()>>,
    /// Stop at once, as a crash would (test hook).
    killed: bool,
}

impl ServerMachine {
    fn feed(&mut self, now: Instant, input: Input<'_>) {
        if let Err(error) = self.core.handle_input(now, input) {
            // The adapter broke the core's contract: a bug in this crate.
            tracing::error!(%error, "input refused by the core");
            debug_assert!(false, "input refused by the core: {error}");
        }
    }

    /// Queues everything posted so far.
    fn take_posts(&mut self, now: Instant) {
        self.inbox.take(&mut self.posts);
        self.inbox
            .deliver(&mut self.core, now, self.posts.drain(..));
    }

    fn begin_shutdown<R: Runtime>(&mut self, now: Instant, io: &mut Conns<R>) {
        io.stop_listening();
        self.core.shutdown(now);
    }
}

impl Drop for ServerMachine {
    fn drop(&mut self) {
        // Before the shutdown waiters are released (fields drop after
        // this): once `shutdown` has returned, a post fails as closed.
        self.inbox.close();
    }
}

impl<R: Runtime> Machine<R> for ServerMachine {
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
                Output::Connect { conn, addr } => io.dial(conn, addr),
                Output::Transmit { conn, data } => {
                    if let Some(buf) = io.transmit(conn, data) {
                        self.core.recycle(buf);
                    }
                }
                Output::Close { conn, kind } => io.close(conn, kind),
                Output::Event(event) => {
                    // The handler's posts only queue more outputs, which
                    // this loop takes next.
                    let passed = match &mut self.handler {
                        Some(handler) => LoopNotifier::dispatch(
                            handler.as_mut(),
                            &mut self.core,
                            &self.inbox,
                            now,
                            event,
                        ),
                        None => Some(event),
                    };
                    if let Some(event) = passed {
                        events.push(event);
                    }
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
        // A post made before a request on the same task is queued before
        // the request is answered.
        self.take_posts(now);
        match command {
            Command::Request(request) => request.answer(&mut self.core, now),
            Command::Stats { reply } => {
                let _ = reply.try_send(ServerStats {
                    sessions: self.core.session_count(),
                    connections: self.core.connection_count(),
                });
            }
            Command::SetTlsIdentity { identity, reply } => {
                let result = match self.core.config().tls {
                    Some(_) => {
                        self.core.set_tls_identity(identity);
                        Ok(())
                    }
                    None => Err(SetTlsIdentityError::PlainServer),
                };
                let _ = reply.try_send(result);
            }
            Command::Shutdown { done } => {
                self.shutdown_waiters.push(done);
                self.begin_shutdown(now, io);
            }
            #[cfg(feature = "test-hooks")]
            Command::Kill { done } => {
                tracing::debug!("test hook: killing the server");
                self.shutdown_waiters.push(done);
                io.stop_listening();
                self.killed = true;
            }
            Command::Cluster(request) => request.answer(&mut self.core, now),
        }
    }

    fn posted(&mut self, now: Instant) {
        self.take_posts(now);
    }

    fn abandoned(&mut self, now: Instant, io: &mut Conns<R>) {
        tracing::debug!("every server handle dropped: shutting down");
        self.begin_shutdown(now, io);
    }

    fn is_done(&self) -> bool {
        self.killed || self.core.is_shut_down()
    }

    fn is_abrupt(&self) -> bool {
        self.killed
    }
}
