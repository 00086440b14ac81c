//! The server runner: a [`faxnotify_core::server::Server`] on its own
//! event-loop thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use faxnotify_core::server::{
    self as core, Event, Input, NotifyReport, NotifySummary, Output, ServerConfig, SessionInfo,
    Target, UserStore,
};
use faxnotify_core::tls::ServerIdentity;
use faxnotify_core::wire::{EncodedNotification, Notification};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_runtime::{
    EncodedBatch, LoopNotifier, PostError, PostInbox, PostReport, ServerHandler, ServerRequest,
    WakeGate, encode_on_this_thread,
};

use crate::errors::{
    Closed, EndSessionError, NotifyError, RunError, ServerStartError, SetTlsIdentityError,
};
use crate::events::{self, Events};
use crate::machine::{Machine, refused_input};
use crate::mailbox::{self, Mailbox, SyncReplies};
use crate::options::LoopOptions;
use crate::reactor::{Controller, Reactor};
use crate::stats::LoopStats;

/// Configures and starts a [`Server`].
///
/// ```no_run
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig};
/// use faxnotify_mio::{LoopOptions, Server};
///
/// let server = Server::builder(ServerConfig::new([7; 32]), MemoryUserStore::new())
///     .listen("[::]:4580".parse()?)       // dual-stack: IPv4 and IPv6 clients
///     .options(LoopOptions::default())
///     .start()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `start` is called"]
pub struct ServerBuilder {
    config: ServerConfig,
    users: Box<dyn UserStore + Send>,
    listen: Vec<SocketAddr>,
    seed: Option<[u8; 32]>,
    options: LoopOptions,
    handler: Option<Box<dyn ServerHandler>>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("listen", &self.listen)
            .field("options", &self.options)
            .field("handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Adds an address to listen on for control connections (at least one
    /// is needed). Port 0 lets the OS choose ([`Server::local_addrs`] tells
    /// which). An IPv6 unspecified address (`[::]`) is dual-stack where the
    /// OS allows it, so it accepts IPv4 clients too; their callbacks are
    /// dialled to their IPv4 address [C-1].
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// The seed of every random choice the core makes (session ids,
    /// nonces, jitter). Without it, 32 bytes come from the OS; pass a
    /// constant only in tests.
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The event loop's buffering and closing options.
    pub fn options(mut self, options: LoopOptions) -> Self {
        self.options = options;
        self
    }

    /// An application handler the loop calls on its own thread with each
    /// event, in order, instead of sending it to [`Server::events`]: the
    /// events it hands back (`Some(event)`) go to the channel, the others
    /// are the handler's alone — none is lost or seen twice.
    ///
    /// The handler may notify right there ([`LoopNotifier::post_batch`]):
    /// the notifications are queued on the loop thread at once, as posts
    /// taken from the inbox are, with their outcomes in the same
    /// [`PostReport`] ([`Server::take_post_report`]). An application that
    /// answers each `Delivered` with the next notification (a closed loop
    /// at window 1) saves the two thread hand-offs per notification of
    /// `events().recv()` then `post()`: the loop's wake-up of the
    /// application, and the application's wake-up of the loop.
    ///
    /// The handler runs inside the loop: keep it short and never block in
    /// it (see [`ServerHandler`]).
    ///
    /// ```no_run
    /// use faxnotify_core::server::{Event, MemoryUserStore, ServerConfig, Target};
    /// use faxnotify_core::wire::Notification;
    /// use faxnotify_mio::{LoopNotifier, NotificationEncoder, Server};
    ///
    /// let mut encoder = NotificationEncoder::new();
    /// let server = Server::builder(ServerConfig::new([7; 32]), MemoryUserStore::new())
    ///     .listen("127.0.0.1:0".parse()?)
    ///     .handler(move |event: Event, notifier: &mut LoopNotifier<'_>| match event {
    ///         // Each acknowledgement brings the session its next message.
    ///         Event::Delivered { session, last_seq, .. } => {
    ///             let next = Notification::server_message(format!("after {last_seq}"));
    ///             if let Ok(encoded) = encoder.encode(&next) {
    ///                 notifier.post(Target::Session(session), encoded);
    ///             }
    ///             None
    ///         }
    ///         other => Some(other), // to `server.events()`
    ///     })
    ///     .start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handler(mut self, handler: impl ServerHandler) -> Self {
        self.handler = Some(Box::new(handler));
        self
    }

    /// Binds the listeners and starts the loop thread.
    pub fn start(self) -> Result<Server, ServerStartError> {
        self.options.validate()?;
        if self.listen.is_empty() {
            return Err(ServerStartError::NoListenAddress);
        }
        let seed = match self.seed {
            Some(seed) => seed,
            None => mailbox::os_seed()?,
        };
        let core = core::Server::new(self.config, self.users, seed)?;
        let (poll, waker) = Reactor::<ServerMachine>::make_poll()?;
        let (sink, events) = events::channel(self.options.event_capacity, waker.clone());
        // Commands and posts share one gate: one wake-up per turn for both.
        let gate = Arc::new(WakeGate::new());
        let inbox = Arc::new(PostInbox::new(
            self.options.post_capacity,
            Arc::clone(&gate),
        ));
        let machine = ServerMachine {
            core,
            inbox: Arc::clone(&inbox),
            handler: self.handler,
        };
        let mut reactor = Reactor::new(poll, waker, machine, sink, self.options);
        for &addr in &self.listen {
            reactor
                .open_listener(addr)
                .map_err(|err| ServerStartError::Bind {
                    addr,
                    error: core::BindError::from_io(&err),
                })?;
        }
        let addrs = reactor.listener_addrs();
        let (mailbox, rx) = mailbox::mailbox_with_gate(reactor.waker().clone(), gate);
        let mut ctl = ServerCtl {
            rx,
            inbox: Arc::clone(&inbox),
            posts: Vec::new(),
            abort: false,
            shutdown_deadline: None,
        };
        let thread = std::thread::Builder::new()
            .name("faxnotify-server".into())
            .spawn(move || {
                let _span = tracing::debug_span!("faxnotify_server").entered();
                tracing::debug!("server loop started");
                let result = reactor.run(&mut ctl);
                tracing::debug!(?result, "server loop ended");
                ctl.inbox.close();
                result
            })?;
        Ok(Server {
            handle: ServerHandle { mailbox, inbox },
            events,
            thread: Some(thread),
            addrs,
        })
    }
}

/// A fax server running on its own mio event-loop thread.
///
/// The loop accepts control connections, dials callbacks, and runs the
/// FNP/1 server core; the application talks to it through this value (or
/// a cloned [`ServerHandle`] on other threads) and reads [`Event`]s from
/// [`Server::events`].
///
/// Dropping a `Server` stops its loop at once and closes every socket
/// without a BYE (clients see a lost connection); call
/// [`Server::shutdown`] to end sessions properly first.
///
/// # Example
///
/// A server and one client on loopback, one notification, and a clean end:
///
/// ```
/// use std::time::Duration;
/// use faxnotify_core::client::{self, ClientConfig, ListenPolicy, NetworkSettings};
/// use faxnotify_core::server::{self, MemoryUserStore, ServerConfig, Target};
/// use faxnotify_core::wire::{Notification, Role};
/// use faxnotify_mio::{Client, Server};
///
/// let mut users = MemoryUserStore::new();
/// users.add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)?;
/// let server = Server::builder(ServerConfig::new([7; 32]), users)
///     .listen("127.0.0.1:0".parse()?)
///     .start()?;
///
/// let config = ClientConfig::new(
///     server.local_addr(),
///     "alice",
///     "correct horse",
///     NetworkSettings::new(ListenPolicy::Dynamic),
/// );
/// let client = Client::start(config)?;
/// let wait = Duration::from_secs(10);
///
/// // Wait until the server has the session, then notify its user.
/// loop {
///     match server.events().recv_timeout(wait)? {
///         server::Event::SessionOpened { .. } => break,
///         _ => {}
///     }
/// }
/// let report = server.notify(Target::user("alice")?, &Notification::server_message("hi!"))?;
/// assert_eq!(report.accepted.len(), 1);
///
/// // The client hands it to the application exactly once.
/// let text = loop {
///     if let client::Event::Notification { notification, .. } = client.events().recv_timeout(wait)? {
///         break notification;
///     }
/// };
/// assert_eq!(text, Notification::server_message("hi!"));
/// assert!(client.session()?.is_some()); // logged in
///
/// client.logout()?;
/// client.join()?;
/// server.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    handle: ServerHandle,
    events: Events<Event>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    addrs: Vec<SocketAddr>,
}

impl Server {
    /// A builder for a server with `config` and the users in `users`.
    pub fn builder(config: ServerConfig, users: impl UserStore + Send + 'static) -> ServerBuilder {
        ServerBuilder {
            config,
            users: Box::new(users),
            listen: Vec::new(),
            seed: None,
            options: LoopOptions::default(),
            handler: None,
        }
    }

    /// The first listen address, with the port the OS chose for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every listen address, in the order given to the builder.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The server's events, in order.
    pub fn events(&self) -> &Events<Event> {
        &self.events
    }

    /// See [`ServerHandle::notify`].
    pub fn notify(
        &self,
        target: Target,
        notification: &Notification,
    ) -> Result<NotifyReport, NotifyError> {
        self.handle.notify(target, notification)
    }

    /// See [`ServerHandle::notify_encoded`].
    pub fn notify_encoded(
        &self,
        target: Target,
        notification: &EncodedNotification,
    ) -> Result<NotifySummary, Closed> {
        self.handle.notify_encoded(target, notification)
    }

    /// See [`ServerHandle::post`].
    pub fn post(&self, target: Target, notification: EncodedNotification) -> Result<(), PostError> {
        self.handle.post(target, notification)
    }

    /// See [`ServerHandle::post_batch`].
    pub fn post_batch<I>(&self, batch: I) -> Result<(), PostError>
    where
        I: IntoIterator<Item = (Target, EncodedNotification)>,
        I::IntoIter: ExactSizeIterator,
    {
        self.handle.post_batch(batch)
    }

    /// See [`ServerHandle::take_post_report`].
    pub fn take_post_report(&self) -> PostReport {
        self.handle.take_post_report()
    }

    /// See [`ServerHandle::notify_batch`].
    pub fn notify_batch(
        &self,
        batch: Vec<(Target, Notification)>,
    ) -> Result<Vec<Result<NotifyReport, core::NotifyError>>, Closed> {
        self.handle.notify_batch(batch)
    }

    /// See [`ServerHandle::sessions`].
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, Closed> {
        self.handle.sessions()
    }

    /// See [`ServerHandle::end_session`].
    pub fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        self.handle.end_session(session)
    }

    /// See [`ServerHandle::stats`].
    pub fn stats(&self) -> Result<LoopStats, Closed> {
        self.handle.stats()
    }

    /// See [`ServerHandle::set_tls_identity`].
    pub fn set_tls_identity(&self, identity: ServerIdentity) -> Result<(), SetTlsIdentityError> {
        self.handle.set_tls_identity(identity)
    }

    /// Shuts down gracefully and waits for the loop to end: the listeners
    /// close at once, every session ends with BYE shutdown (its
    /// undelivered notifications reported in [`Event::Undelivered`]), and
    /// the loop exits once every connection has written its last bytes and
    /// closed, or after [`LoopOptions::shutdown_grace`]. Events not read
    /// yet are lost with `self`: use [`Server::shutdown_and_drain`] to keep them.
    pub fn shutdown(mut self) -> Result<(), RunError> {
        let _ = self.handle.shutdown();
        self.join_thread()
    }

    /// Shuts down like [`Server::shutdown`] and returns the events the
    /// application has not read yet (the sessions' last events among them).
    pub fn shutdown_and_drain(mut self) -> (Result<(), RunError>, Vec<Event>) {
        let _ = self.handle.shutdown();
        let result = self.join_thread();
        let rest = std::iter::from_fn(|| self.events.try_recv().ok()).collect();
        (result, rest)
    }

    fn join_thread(&mut self) -> Result<(), RunError> {
        match self.thread.take() {
            Some(thread) => mailbox::join(thread),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.handle.mailbox.send(ServerCmd::Abort);
            let _ = mailbox::join(thread);
        }
    }
}

/// A cheap, cloneable handle to a running [`Server`], usable from any
/// thread. Every call is a round trip to the loop thread; once the loop has
/// ended they fail with [`Closed`].
#[derive(Clone, Debug)]
pub struct ServerHandle {
    mailbox: Mailbox<ServerCmd>,
    inbox: Arc<PostInbox>,
}

impl ServerHandle {
    /// Queues `notification` for every session of `target` and sends it
    /// where a delivery path is up. The report says, per session, which seq
    /// it got or why it was refused (queue full [B-6], no such session).
    pub fn notify(
        &self,
        target: Target,
        notification: &Notification,
    ) -> Result<NotifyReport, NotifyError> {
        // Encoded here, on the caller's thread, into its arena: the loop
        // only queues it.
        let notification =
            encode_on_this_thread(notification).map_err(|e| NotifyError::Core(e.into()))?;
        Ok(self.mailbox.call(|reply| {
            ServerCmd::Request(ServerRequest::Notify {
                target,
                notification,
                reply,
            })
        })?)
    }

    /// Queues several notifications with one round trip to the loop:
    /// [`ServerHandle::notify`] for each, in order, with one report (or
    /// encoding error) each.
    ///
    /// Each `notify` is a round trip to the loop thread, and the loop
    /// writes what a call produced before it takes the next call. An
    /// application with several notifications at hand (a burst of fax
    /// activity, a backlog after a restart) saves the round trips and
    /// lets the loop write them together: one write per connection
    /// instead of one per notification. Within the delivery window
    /// ([B-4]) they go out at once; the rest wait in the sessions' queues.
    ///
    /// ```no_run
    /// # use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
    /// # use faxnotify_core::wire::Notification;
    /// # let server = faxnotify_mio::Server::builder(ServerConfig::new([7; 32]), MemoryUserStore::new())
    /// #     .listen("127.0.0.1:0".parse()?).start()?;
    /// let batch = (1..=3)
    ///     .map(|i| (Target::All, Notification::server_message(format!("message {i}"))))
    ///     .collect();
    /// for report in server.notify_batch(batch)? {
    ///     assert!(report?.all_accepted());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notify_batch(
        &self,
        batch: Vec<(Target, Notification)>,
    ) -> Result<Vec<Result<NotifyReport, core::NotifyError>>, Closed> {
        let mut encoded = EncodedBatch::encode(batch);
        let batch = encoded.take_batch();
        let reports = self
            .mailbox
            .call(|reply| ServerCmd::Request(ServerRequest::NotifyBatch { batch, reply }))?;
        Ok(encoded.answer(reports))
    }

    /// Queues a notification encoded on this thread (see
    /// [`NotificationEncoder`](faxnotify_runtime::NotificationEncoder)) for
    /// every session of `target`, with a round trip to the loop. The
    /// summary counts the sessions that accepted it and lists those that
    /// refused it and why (queue full [B-6], no such session).
    pub fn notify_encoded(
        &self,
        target: Target,
        notification: &EncodedNotification,
    ) -> Result<NotifySummary, Closed> {
        let notification = notification.clone();
        self.mailbox.call(|reply| {
            ServerCmd::Request(ServerRequest::NotifyEncoded {
                target,
                notification,
                reply,
            })
        })
    }

    /// Posts a notification for every session of `target` and returns at
    /// once, without waiting for the loop: fire and forget. The loop takes
    /// every post on its next turn, in order, and queues it as
    /// [`ServerHandle::notify_encoded`] would; what became of the posts
    /// adds up in [`ServerHandle::take_post_report`], and each session's
    /// outcome comes later as [`Event::Delivered`] / [`Event::Undelivered`].
    ///
    /// The cheapest way to notify: no reply to wait for, and one wake-up of
    /// the loop for all posts made while it was busy. The posts wait in an
    /// inbox of [`LoopOptions::post_capacity`](crate::LoopOptions::post_capacity)
    /// notifications; when it is full the post is refused with
    /// [`PostError::Full`] and nothing is queued.
    ///
    /// ```no_run
    /// # use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
    /// # use faxnotify_core::wire::Notification;
    /// use faxnotify_mio::NotificationEncoder;
    /// # let server = faxnotify_mio::Server::builder(ServerConfig::new([7; 32]), MemoryUserStore::new())
    /// #     .listen("127.0.0.1:0".parse()?).start()?;
    /// let mut encoder = NotificationEncoder::new();
    /// server.post(Target::All, encoder.encode(&Notification::server_message("hello"))?)?;
    /// // ... later, or now and then:
    /// let report = server.take_post_report();
    /// for (session, why) in &report.refusals {
    ///     eprintln!("session {session} refused a notification: {why}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn post(&self, target: Target, notification: EncodedNotification) -> Result<(), PostError> {
        self.post_batch([(target, notification)])
    }

    /// Posts several notifications, in order, or none of them if they do
    /// not all fit in the inbox; see [`ServerHandle::post`].
    pub fn post_batch<I>(&self, batch: I) -> Result<(), PostError>
    where
        I: IntoIterator<Item = (Target, EncodedNotification)>,
        I::IntoIter: ExactSizeIterator,
    {
        if self.inbox.post(batch)? {
            self.mailbox.ring().map_err(|Closed| PostError::Closed)?;
        }
        Ok(())
    }

    /// What became of the posted notifications the loop has taken since
    /// the last call (counts, and the first refusals with their reasons);
    /// resets the report.
    pub fn take_post_report(&self) -> PostReport {
        self.inbox.take_report()
    }

    /// A snapshot of every live session.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, Closed> {
        self.mailbox
            .call(|reply| ServerCmd::Request(ServerRequest::Sessions { reply }))
    }

    /// A snapshot of one session (`None` if it is not live).
    pub fn session(&self, session: SessionId) -> Result<Option<SessionInfo>, Closed> {
        self.mailbox
            .call(|reply| ServerCmd::Request(ServerRequest::Session { id: session, reply }))
    }

    /// Ends a session with BYE "ended by server".
    pub fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        Ok(self
            .mailbox
            .call(|reply| ServerCmd::Request(ServerRequest::EndSession { id: session, reply }))??)
    }

    /// The event loop's counters.
    pub fn stats(&self) -> Result<LoopStats, Closed> {
        self.mailbox.call(|reply| ServerCmd::Stats { reply })
    }

    /// Replaces the server's TLS certificate and key (a certificate
    /// reload) without a restart: TLS handshakes that start once this
    /// returns present `identity`, on control and callback connections;
    /// connections already established keep theirs [T-2].
    ///
    /// Read the new files on a thread of your own, not on the one that
    /// takes the server's events. A server started without TLS refuses.
    pub fn set_tls_identity(&self, identity: ServerIdentity) -> Result<(), SetTlsIdentityError> {
        self.mailbox
            .call(|reply| ServerCmd::SetTlsIdentity { identity, reply })?
    }

    /// Starts a graceful shutdown (see [`Server::shutdown`]) without
    /// waiting for it.
    pub fn shutdown(&self) -> Result<(), Closed> {
        self.mailbox.send(ServerCmd::Shutdown)
    }
}

enum ServerCmd {
    /// What every runtime's server answers the same way.
    Request(ServerRequest<SyncReplies>),
    Stats {
        reply: SyncSender<LoopStats>,
    },
    SetTlsIdentity {
        identity: ServerIdentity,
        reply: SyncSender<Result<(), SetTlsIdentityError>>,
    },
    Shutdown,
    Abort,
}

/// The server core as the loop sees it.
struct ServerMachine {
    core: core::Server,
    /// The post inbox, whose report a handler's posts add to.
    inbox: Arc<PostInbox>,
    /// The application's handler on the loop thread, if it has one.
    handler: Option<Box<dyn ServerHandler>>,
}

impl Machine for ServerMachine {
    type Event = Event;

    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        self.core.handle_accept(now, peer)
    }

    fn input(&mut self, now: Instant, input: Input<'_>) {
        if let Err(err) = self.core.handle_input(now, input) {
            refused_input(&err);
        }
    }

    fn timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.core.poll_output()
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.core.recycle(buf);
    }

    fn on_event(&mut self, now: Instant, event: Event) -> Option<Event> {
        match &mut self.handler {
            Some(handler) => {
                LoopNotifier::dispatch(handler.as_mut(), &mut self.core, &self.inbox, now, event)
            }
            None => Some(event),
        }
    }
}

/// The application's side of the server loop.
struct ServerCtl {
    rx: mailbox::Inbound<ServerCmd>,
    inbox: Arc<PostInbox>,
    /// The posts being delivered; swapped with the inbox's vector, so both
    /// keep their capacity.
    posts: Vec<(Target, EncodedNotification)>,
    abort: bool,
    shutdown_deadline: Option<Instant>,
}

impl ServerCtl {
    fn shutdown(&mut self, reactor: &mut Reactor<ServerMachine>, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        tracing::debug!("graceful shutdown");
        reactor.close_listeners();
        reactor.machine.core.shutdown(now);
        self.shutdown_deadline = Some(now + reactor.options().shutdown_grace);
    }
}

impl Controller<ServerMachine> for ServerCtl {
    fn commands(&mut self, reactor: &mut Reactor<ServerMachine>, now: Instant) {
        self.rx.rearm();
        loop {
            // Posts first, and again before each command: a post made
            // before a call on the same thread is queued before the call
            // is answered.
            self.inbox.take(&mut self.posts);
            self.inbox
                .deliver(&mut reactor.machine.core, now, self.posts.drain(..));
            let cmd = match self.rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.abort = true;
                    return;
                }
            };
            match cmd {
                ServerCmd::Request(request) => {
                    request.answer(&mut reactor.machine.core, now);
                    reactor.settle(now);
                }
                ServerCmd::Stats { reply } => {
                    let _ = reply.send(reactor.stats());
                }
                ServerCmd::SetTlsIdentity { identity, reply } => {
                    let core = &mut reactor.machine.core;
                    let result = match core.config().tls {
                        Some(_) => {
                            core.set_tls_identity(identity);
                            Ok(())
                        }
                        None => Err(SetTlsIdentityError::PlainServer),
                    };
                    let _ = reply.send(result);
                }
                ServerCmd::Shutdown => {
                    self.shutdown(reactor, now);
                    reactor.settle(now);
                }
                ServerCmd::Abort => {
                    self.abort = true;
                    return;
                }
            }
        }
    }

    fn done(&mut self, reactor: &Reactor<ServerMachine>, now: Instant) -> bool {
        if self.abort {
            return true;
        }
        match self.shutdown_deadline {
            Some(deadline) => {
                (reactor.machine.core.is_shut_down() && reactor.connection_count() == 0)
                    || now >= deadline
            }
            None => false,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.shutdown_deadline
    }
}
