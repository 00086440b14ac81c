//! The client runner: a [`faxnotify_core::client::Client`] on its own
//! event-loop thread.

use std::net::SocketAddr;
use std::sync::mpsc::{SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use faxnotify_core::client::{
    self as core, BindError, ClientConfig, ClientState, Event, Input, ListenPolicy,
    NetworkSettings, Output, SettingsChange, StopReason,
};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_runtime::ClientRequest;

use crate::errors::{ChangeSettingsError, ClientStartError, Closed, LogoutError, RunError};
use crate::events::{self, Events};
use crate::machine::{Machine, refused_input};
use crate::mailbox::{self, Mailbox, SyncReplies};
use crate::options::LoopOptions;
use crate::reactor::{Controller, Reactor};
use crate::stats::LoopStats;

/// Configures and starts a [`Client`].
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct ClientBuilder {
    config: ClientConfig,
    seed: Option<[u8; 32]>,
    options: LoopOptions,
    #[cfg(feature = "test-hooks")]
    suspended_at_start: bool,
}

impl ClientBuilder {
    /// The seed of every nonce and jitter the core draws. Without it, 32
    /// bytes come from the OS; pass a constant only in tests.
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The event loop's buffering and closing options.
    pub fn options(mut self, options: LoopOptions) -> Self {
        self.options = options;
        self
    }

    /// Test hook: bind the callback listener (so the port is chosen and
    /// advertised) but close it again before logging in, as if a firewall
    /// blocked it. [`ClientHandle::resume_listener`] opens it.
    #[cfg(feature = "test-hooks")]
    pub fn suspend_listener_at_start(mut self) -> Self {
        self.suspended_at_start = true;
        self
    }

    /// Binds the callback listener by the listen policy (none for
    /// [`ListenPolicy::None`]), then starts the loop thread, which logs in.
    ///
    /// The listener is bound before this returns, on the calling thread:
    /// a fixed port in use or an exhausted range fails here with the
    /// core's [`StopReason`] in [`ClientStartError::Listen`], before any
    /// network traffic.
    pub fn start(mut self) -> Result<Client, ClientStartError> {
        self.options.validate()?;
        faxnotify_runtime::fill_local_ip(&mut self.config);
        let seed = match self.seed {
            Some(seed) => seed,
            None => mailbox::os_seed()?,
        };
        let now = Instant::now();
        // The `none` policy binds nothing: the client advertises port 0.
        let no_listener = (self.config.settings.listen == ListenPolicy::None)
            .then(|| faxnotify_runtime::no_listener_addr(&self.config));
        let core = core::Client::new(self.config, seed, now)?;
        let (poll, waker) = Reactor::<ClientMachine>::make_poll()?;
        let (sink, events) = events::channel(self.options.event_capacity, waker.clone());
        let machine = ClientMachine {
            core,
            listening: None,
            stop: None,
        };
        let mut reactor = Reactor::new(poll, waker, machine, sink, self.options);
        // Runs the core's Listen requests (and the binds a range needs)
        // until it is listening, or has given up.
        reactor.settle(now);
        if let Some(reason) = reactor.machine.stop.take() {
            return Err(ClientStartError::Listen(reason));
        }
        let Some(callback_addr) = reactor.machine.listening.or(no_listener) else {
            return Err(ClientStartError::Listen(StopReason::ListenFailed {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                error: BindError::Other("the core did not report its listener".into()),
            }));
        };
        #[cfg(feature = "test-hooks")]
        if self.suspended_at_start {
            reactor.suspend_listener(now);
        }
        let (mailbox, rx) = mailbox::mailbox(reactor.waker().clone());
        let mut ctl = ClientCtl {
            rx,
            abort: false,
            finished_at: None,
            grace: reactor.options().shutdown_grace,
        };
        let thread = std::thread::Builder::new()
            .name("faxnotify-client".into())
            .spawn(move || {
                let _span = tracing::debug_span!("faxnotify_client").entered();
                tracing::debug!("client loop started");
                let result = reactor.run(&mut ctl);
                tracing::debug!(?result, "client loop ended");
                result
            })?;
        Ok(Client {
            handle: ClientHandle { mailbox },
            events,
            thread: Some(thread),
            callback_addr,
        })
    }
}

/// A fax client running on its own mio event-loop thread.
///
/// The loop binds the callback listener by the configured listen policy,
/// logs in, accepts the server's callbacks, reconnects and resumes as the
/// core decides, and hands every notification to the application exactly
/// once and in order through [`Client::events`].
///
/// The client runs until it logs out ([`Client::logout`]) or stops for
/// good (an [`Event::Stopped`]); [`Client::join`] waits for that. Dropping
/// a `Client` stops its loop at once and closes every socket without
/// LOGOUT: the server keeps the session until its lease runs out.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use faxnotify_core::client::{ClientConfig, Event, ListenPolicy, NetworkSettings};
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig};
/// use faxnotify_core::wire::Role;
/// use faxnotify_mio::{Client, Server};
///
/// let mut users = MemoryUserStore::new();
/// users.add_password("bob", "hunter2", &[0x42; 16], 4096, Role::User)?;
/// let server = Server::builder(ServerConfig::new([1; 32]), users)
///     .listen("127.0.0.1:0".parse()?)
///     .start()?;
///
/// let config = ClientConfig::new(
///     server.local_addr(),
///     "bob",
///     "hunter2",
///     NetworkSettings::new(ListenPolicy::Dynamic),
/// );
/// let client = Client::start(config)?;
/// // The callback listener is bound before `start` returns.
/// println!("callbacks on {}", client.callback_addr());
///
/// let logged_in = client.events().iter().find_map(|event| match event {
///     Event::LoggedIn { session, resumed, .. } => Some((session, resumed)),
///     _ => None,
/// });
/// assert!(matches!(logged_in, Some((_, false))));
///
/// client.logout()?;
/// for event in client.events().iter() {
///     if let Event::LoggedOut { confirmed } = event {
///         assert!(confirmed);
///     }
/// }
/// client.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    handle: ClientHandle,
    events: Events<Event>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    callback_addr: SocketAddr,
}

impl Client {
    /// Starts a client with the default options and a seed from the OS.
    pub fn start(config: ClientConfig) -> Result<Client, ClientStartError> {
        Client::builder(config).start()
    }

    /// A builder for a client with `config`.
    pub fn builder(config: ClientConfig) -> ClientBuilder {
        ClientBuilder {
            config,
            seed: None,
            options: LoopOptions::default(),
            #[cfg(feature = "test-hooks")]
            suspended_at_start: false,
        }
    }

    /// The bound callback listener (for `dynamic`, with the port the OS
    /// chose). With [`ListenPolicy::None`] there is no listener: the
    /// unspecified address of the server's family with port 0, as advertised.
    pub fn callback_addr(&self) -> SocketAddr {
        self.callback_addr
    }

    /// The same as [`Client::callback_addr`], by the name faxnotify-smol's
    /// and faxnotify-tokio's `Client::listen_addr` (and the core's) use.
    pub fn listen_addr(&self) -> SocketAddr {
        self.callback_addr
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }

    /// The client's events, in order. After [`Event::LoggedOut`] or
    /// [`Event::Stopped`] the loop ends and, once the remaining events are
    /// read, [`Events::recv`] returns `None`.
    pub fn events(&self) -> &Events<Event> {
        &self.events
    }

    /// See [`ClientHandle::logout`].
    pub fn logout(&self) -> Result<(), LogoutError> {
        self.handle.logout()
    }

    /// See [`ClientHandle::state`].
    pub fn state(&self) -> Result<ClientState, Closed> {
        self.handle.state()
    }

    /// See [`ClientHandle::session`].
    pub fn session(&self) -> Result<Option<SessionId>, Closed> {
        self.handle.session()
    }

    /// See [`ClientHandle::change_settings`].
    pub fn change_settings(
        &self,
        settings: NetworkSettings,
    ) -> Result<SettingsChange, ChangeSettingsError> {
        self.handle.change_settings(settings)
    }

    /// See [`ClientHandle::stats`].
    pub fn stats(&self) -> Result<LoopStats, Closed> {
        self.handle.stats()
    }

    /// Waits until the loop has ended (after a logout or a stop). It does
    /// not end on its own otherwise: call [`Client::logout`] first, or drop
    /// the client to stop it at once.
    pub fn join(mut self) -> Result<(), RunError> {
        match self.thread.take() {
            Some(thread) => mailbox::join(thread),
            None => Ok(()),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.handle.mailbox.send(ClientCmd::Abort);
            let _ = mailbox::join(thread);
        }
    }
}

/// A cheap, cloneable handle to a running [`Client`], usable from any
/// thread. Every call is a round trip to the loop thread; once the loop has
/// ended they fail with [`Closed`].
#[derive(Clone, Debug)]
pub struct ClientHandle {
    mailbox: Mailbox<ClientCmd>,
}

impl ClientHandle {
    /// Logs out: LOGOUT, then [`Event::LoggedOut`] on the server's BYE (or
    /// after the core's logout timeout), then the loop ends.
    pub fn logout(&self) -> Result<(), LogoutError> {
        Ok(self
            .mailbox
            .call(|reply| ClientCmd::Request(ClientRequest::Logout { reply }))??)
    }

    /// Where the client is, for user interfaces.
    pub fn state(&self) -> Result<ClientState, Closed> {
        let (state, _session) = self
            .mailbox
            .call(|reply| ClientCmd::Request(ClientRequest::State { reply }))?;
        Ok(state)
    }

    /// The session the client holds, if any.
    pub fn session(&self) -> Result<Option<SessionId>, Closed> {
        let (_state, session) = self
            .mailbox
            .call(|reply| ClientCmd::Request(ClientRequest::State { reply }))?;
        Ok(session)
    }

    /// Asks the core to change the network settings: refused while logged
    /// in, otherwise remembered for the next start (spec section 1).
    pub fn change_settings(
        &self,
        settings: NetworkSettings,
    ) -> Result<SettingsChange, ChangeSettingsError> {
        Ok(self.mailbox.call(|reply| {
            ClientCmd::Request(ClientRequest::ChangeSettings { settings, reply })
        })??)
    }

    /// The event loop's counters.
    pub fn stats(&self) -> Result<LoopStats, Closed> {
        self.mailbox.call(|reply| ClientCmd::Stats { reply })
    }

    /// Test hook: closes the callback listener and drops every callback
    /// connection, as if the listening side had died. The core is told
    /// the connections closed; it keeps its session.
    #[cfg(feature = "test-hooks")]
    pub fn suspend_listener(&self) -> Result<(), Closed> {
        self.mailbox.call(|reply| ClientCmd::Suspend { reply })
    }

    /// Test hook: re-opens the suspended callback listener on the same port.
    #[cfg(feature = "test-hooks")]
    pub fn resume_listener(&self) -> Result<(), crate::errors::ResumeError> {
        Ok(self.mailbox.call(|reply| ClientCmd::Resume { reply })??)
    }
}

enum ClientCmd {
    /// What every runtime's client answers the same way.
    Request(ClientRequest<SyncReplies>),
    Stats {
        reply: SyncSender<LoopStats>,
    },
    #[cfg(feature = "test-hooks")]
    Suspend {
        reply: SyncSender<()>,
    },
    #[cfg(feature = "test-hooks")]
    Resume {
        reply: SyncSender<std::io::Result<()>>,
    },
    Abort,
}

/// The client core as the loop sees it, noting the start-up outcome.
struct ClientMachine {
    core: core::Client,
    listening: Option<SocketAddr>,
    stop: Option<StopReason>,
}

impl Machine for ClientMachine {
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
        let output = self.core.poll_output()?;
        // The start-up outcome, for `Client::start`'s answer.
        match &output {
            Output::Event(Event::Listening { local, .. }) => self.listening = Some(*local),
            Output::Event(Event::Stopped { reason }) if self.listening.is_none() => {
                self.stop = Some(reason.clone());
            }
            _ => {}
        }
        Some(output)
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        self.core.recycle(buf);
    }
}

/// The application's side of the client loop.
struct ClientCtl {
    rx: mailbox::Inbound<ClientCmd>,
    abort: bool,
    /// When the core finished (logged out or stopped).
    finished_at: Option<Instant>,
    /// How long to wait for the last bytes after that.
    grace: std::time::Duration,
}

impl Controller<ClientMachine> for ClientCtl {
    fn commands(&mut self, reactor: &mut Reactor<ClientMachine>, now: Instant) {
        self.rx.rearm();
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.abort = true;
                    return;
                }
            };
            match cmd {
                ClientCmd::Request(request) => {
                    request.answer(&mut reactor.machine.core, now);
                    reactor.settle(now);
                }
                ClientCmd::Stats { reply } => {
                    let _ = reply.send(reactor.stats());
                }
                #[cfg(feature = "test-hooks")]
                ClientCmd::Suspend { reply } => {
                    reactor.suspend_listener(now);
                    let _ = reply.send(());
                }
                #[cfg(feature = "test-hooks")]
                ClientCmd::Resume { reply } => {
                    let _ = reply.send(reactor.resume_listener());
                }
                ClientCmd::Abort => {
                    self.abort = true;
                    return;
                }
            }
        }
    }

    fn done(&mut self, reactor: &Reactor<ClientMachine>, now: Instant) -> bool {
        if self.abort {
            return true;
        }
        if !reactor.machine.core.is_finished() {
            return false;
        }
        let finished_at = *self.finished_at.get_or_insert(now);
        reactor.connection_count() == 0 || now >= finished_at + self.grace
    }

    fn deadline(&self) -> Option<Instant> {
        self.finished_at.map(|at| at + self.grace)
    }
}
