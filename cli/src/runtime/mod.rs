//! The runtimes the commands run on, behind one small blocking interface.
//!
//! `--runtime mio|smol|tokio` picks `faxnotify-mio` (one event-loop
//! thread per server or client), `faxnotify-smol` (async, on a dedicated
//! executor thread per server or client) or `faxnotify-tokio` (async, on
//! one current-thread tokio runtime the process starts; `tokio.rs` says
//! why). All drive the same sans-IO cores; the commands see only the traits
//! below, so every command behaves the same on each. smol and tokio share
//! their wrappers (`on_async.rs`): both are faxnotify-async.

pub mod cluster;
mod mio;
mod on_async;
mod smol;
mod tokio;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use faxnotify_core::SessionId;
use faxnotify_core::client::{self, ClientConfig, StopReason};
use faxnotify_core::server::{self, NotifyReport, ServerConfig, SessionInfo, Target, UserStore};
use faxnotify_core::wire::Notification;

/// Which runtime runs the server or client (`--runtime`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, clap::ValueEnum)]
pub enum RuntimeKind {
    /// faxnotify-mio: a mio event loop on its own thread.
    Mio,
    /// faxnotify-smol: async on async-io, tasks on a dedicated executor thread.
    #[default]
    Smol,
    /// faxnotify-tokio: async on tokio, tasks on one current-thread runtime.
    Tokio,
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeKind::Mio => "mio",
            RuntimeKind::Smol => "smol",
            RuntimeKind::Tokio => "tokio",
        })
    }
}

/// The result of waiting for an event.
#[derive(Debug)]
pub enum Polled<E> {
    /// The next event.
    Event(E),
    /// Nothing within the timeout.
    Idle,
    /// The server or client has ended and every event was taken.
    Ended,
}

/// Why a server did not start.
#[derive(Debug)]
pub enum ServerStartError {
    /// The listen address is taken.
    AddrInUse(SocketAddr),
    /// Anything else, as a sentence.
    Other(String),
}

/// Why a client did not start.
#[derive(Debug)]
pub enum ClientStartError {
    /// The listen policy could not be carried out (the core's reason, whose
    /// `Display` tells the user what to do).
    Listen(StopReason),
    /// Anything else, as a sentence.
    Other(String),
}

impl fmt::Display for ServerStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerStartError::AddrInUse(addr) => {
                write!(f, "cannot listen on {addr}: address in use")
            }
            ServerStartError::Other(message) => f.write_str(message),
        }
    }
}

impl fmt::Display for ClientStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientStartError::Listen(reason) => write!(f, "{reason}"),
            ClientStartError::Other(message) => f.write_str(message),
        }
    }
}

/// Why ending a session failed.
#[derive(Debug)]
pub enum EndSessionError {
    /// No live session has that id.
    Unknown,
    /// The server has stopped.
    Stopped,
}

/// A running server.
pub trait ServerRunner: Send {
    /// The bound control address (with the OS's port for port 0).
    fn local_addr(&self) -> SocketAddr;
    /// A handle for other threads (the admin socket, Ctrl-C).
    fn control(&self) -> ServerControl;
    /// The next event, waiting at most `timeout`.
    fn next_event(&self, timeout: Duration) -> Polled<server::Event>;
    /// Waits for the server to finish after a shutdown.
    fn join(self: Box<Self>) -> Result<(), String>;
}

/// What other threads may ask of a running server.
pub trait ServerOps: Send + Sync {
    /// Queues a notification; see `Server::notify`.
    fn notify(&self, target: Target, notification: &Notification) -> Result<NotifyReport, String>;
    /// A snapshot of the live sessions.
    fn sessions(&self) -> Result<Vec<SessionInfo>, String>;
    /// Ends a session with BYE "ended by server".
    fn end_session(&self, session: SessionId) -> Result<(), EndSessionError>;
    /// Starts a graceful shutdown (BYE shutdown to every session); the
    /// event stream ends when it is done.
    fn begin_shutdown(&self);
    /// Replaces the TLS identity (a certificate reload): new handshakes use
    /// it, established connections keep theirs. Blocks until the runtime
    /// has it; call it off the thread that drains the events.
    fn set_tls_identity(&self, identity: faxnotify_core::tls::ServerIdentity)
    -> Result<(), String>;
}

/// A cloneable handle to a running server.
pub type ServerControl = Arc<dyn ServerOps>;

/// A running client.
pub trait ClientRunner: Send {
    /// A handle for other threads (Ctrl-C).
    fn control(&self) -> ClientControl;
    /// The next event, waiting at most `timeout`.
    fn next_event(&self, timeout: Duration) -> Polled<client::Event>;
}

/// What other threads may ask of a running client.
pub trait ClientOps: Send + Sync {
    /// Starts a logout; `LoggedOut` follows and the events end.
    fn logout(&self) -> Result<(), String>;
}

/// A cloneable handle to a running client.
pub type ClientControl = Arc<dyn ClientOps>;

/// Starts a server on `listen` with `config` and `users`.
pub fn start_server(
    kind: RuntimeKind,
    listen: SocketAddr,
    config: ServerConfig,
    users: impl UserStore + Send + 'static,
) -> Result<Box<dyn ServerRunner>, ServerStartError> {
    match kind {
        RuntimeKind::Mio => mio::start_server(listen, config, users),
        RuntimeKind::Smol => on_async::start_server(smol::Smol, listen, config, users),
        RuntimeKind::Tokio => {
            let on = tokio::Tokio::get().map_err(ServerStartError::Other)?;
            on_async::start_server(on, listen, config, users)
        }
    }
}

/// Starts a client; its callback listener is bound when this returns.
pub fn start_client(
    kind: RuntimeKind,
    config: ClientConfig,
) -> Result<Box<dyn ClientRunner>, ClientStartError> {
    match kind {
        RuntimeKind::Mio => mio::start_client(config),
        RuntimeKind::Smol => on_async::start_client(smol::Smol, config),
        RuntimeKind::Tokio => {
            let on = tokio::Tokio::get().map_err(ClientStartError::Other)?;
            on_async::start_client(on, config)
        }
    }
}
