//! The runtime scenario harness: a runtime-neutral, blocking facade over the
//! FNP/1 runtimes (`faxnotify-mio`, `faxnotify-smol`, `faxnotify-tokio`), and the
//! scenarios of issue 5 written against it.
//!
//! A runtime implements [`Runtime`] (start a server or a client from a
//! runtime-neutral [`ServerSetup`] / [`ClientSetup`]) and the two
//! "under test" traits. Scenarios in [`scenarios`] are plain functions
//! taking `&dyn Runtime` — or two of them, for a server of one runtime with
//! clients of another — and panic with the events seen so far when an
//! expectation fails.
//!
//! Everything runs on real sockets on loopback (and `::1` where the machine
//! has IPv6). Ports are never hard-coded: they are picked free at run time
//! ([`net`]), and scenarios that need a specific port retry when another
//! process takes it first.
//!
//! To add a runtime: implement the traits in a module like [`mio`], [`smol`] or [`tokio`], then
//! call each scenario from a test file (`tests/tests/runtime_<name>.rs`).

pub mod mio;
pub mod net;
pub mod probe;
pub mod scenarios;
mod setup;
pub mod smol;
pub mod tls;
pub mod tokio;

use std::net::SocketAddr;
use std::time::Duration;

use faxnotify_core::client::{self, StopReason};
use faxnotify_core::server::{self, NotifyReport, SessionInfo, Target};
use faxnotify_core::wire::Notification;
use faxnotify_mio::{PostReport, ServerHandler};

pub use probe::{ClientProbe, ServerProbe};
pub use setup::{ClientSetup, ServerSetup, password_of, test_users, with_tls};

/// How long a scenario waits for one expected thing. Generous: CI is a
/// loaded 2-core machine, and waits end as soon as the thing happens.
pub const WAIT: Duration = Duration::from_secs(30);

/// A runtime that can run FNP/1 servers and clients for the scenarios.
pub trait Runtime: Send + Sync + 'static {
    /// A short name for messages: `"mio"`, `"smol"`, `"tokio"`.
    fn name(&self) -> &'static str;
    /// Starts a server listening on `setup.listen`.
    fn start_server(&self, setup: ServerSetup) -> Result<Box<dyn ServerUnderTest>, String> {
        self.start_server_with(setup, None)
    }
    /// Starts a server listening on `setup.listen`, with `handler` (if
    /// any) as its application handler on the loop's thread (the runtime's
    /// [`ServerHandler`] option).
    fn start_server_with(
        &self,
        setup: ServerSetup,
        handler: Option<Box<dyn ServerHandler>>,
    ) -> Result<Box<dyn ServerUnderTest>, String>;
    /// Starts a client. Its callback listener must be bound when this
    /// returns: a listen-policy failure is [`ClientStartError::Listen`]
    /// with the core's reason, unchanged.
    fn start_client(
        &self,
        setup: ClientSetup,
    ) -> Result<Box<dyn ClientUnderTest>, ClientStartError>;
}

/// Why a client did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStartError {
    /// The listen policy could not be carried out (the core's reason).
    Listen(StopReason),
    /// Anything else, described.
    Other(String),
}

/// A running server. Dropping it must stop it at once, like [`ServerUnderTest::kill`].
pub trait ServerUnderTest: Send {
    /// The bound control address (the OS-chosen port for port 0).
    fn addr(&self) -> SocketAddr;
    /// `Server::notify`; panics if the server is gone or refuses to encode.
    fn notify(&self, target: Target, notification: &Notification) -> NotifyReport;
    /// A snapshot of the live sessions.
    fn sessions(&self) -> Vec<SessionInfo>;
    /// The next event, waiting at most `timeout`; `None` on timeout or
    /// once the server has ended.
    fn next_event(&self, timeout: Duration) -> Option<server::Event>;
    /// `Server::take_post_report`: what became of the posts since the last call.
    fn take_post_report(&self) -> PostReport;
    /// Graceful shutdown (BYE shutdown to every session), waiting for the
    /// loop to end and the port to be free.
    fn shutdown(self: Box<Self>);
    /// Stops at once, closing every socket without a word (a crash).
    fn kill(self: Box<Self>);
}

/// A running client. Dropping it must stop it at once, like [`ClientUnderTest::kill`].
pub trait ClientUnderTest: Send {
    /// The bound callback listener.
    fn callback_addr(&self) -> SocketAddr;
    /// The next event, waiting at most `timeout`; `None` on timeout or
    /// once the client has ended.
    fn next_event(&self, timeout: Duration) -> Option<client::Event>;
    /// Fault: stop accepting callbacks (close the listener) and drop every
    /// open callback connection. The client's session goes on.
    fn suspend_listener(&self);
    /// Undo [`ClientUnderTest::suspend_listener`]: listen again on the same port.
    fn resume_listener(&self);
    /// Starts a logout; [`client::Event::LoggedOut`] follows.
    fn logout(&self);
    /// Stops at once without LOGOUT (a crash).
    fn kill(self: Box<Self>);
}
