//! The commands' runtime interface on `faxnotify-smol`.
//!
//! faxnotify-smol runs each server and client on an executor of its own
//! (a dedicated thread), and its API is async; these blocking wrappers wait
//! on its futures with `block_on`, which is all they need since those
//! futures only wait on channels.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use async_io::Timer;
use faxnotify_core::SessionId;
use faxnotify_core::client::{self, BindError, ClientConfig};
use faxnotify_core::server::{self, NotifyReport, ServerConfig, SessionInfo, Target, UserStore};
use faxnotify_core::wire::Notification;
use faxnotify_smol as rt;
use futures_lite::future::{self, block_on};

use super::{
    ClientControl, ClientOps, ClientRunner, ClientStartError, EndSessionError, Polled,
    ServerControl, ServerOps, ServerRunner, ServerStartError,
};

/// Waits for `next` at most `timeout`.
fn within<E>(timeout: Duration, next: impl Future<Output = Option<E>>) -> Polled<E> {
    block_on(future::or(
        async {
            match next.await {
                Some(event) => Polled::Event(event),
                None => Polled::Ended,
            }
        },
        async {
            Timer::after(timeout).await;
            Polled::Idle
        },
    ))
}

pub(super) fn start_server(
    listen: SocketAddr,
    config: ServerConfig,
    users: impl UserStore + Send + 'static,
) -> Result<Box<dyn ServerRunner>, ServerStartError> {
    match block_on(rt::Server::bind(listen, config, users)) {
        Ok((server, events)) => Ok(Box::new(SmolServer {
            server,
            events,
            ended: Cell::new(false),
            shutdown: Arc::new(Mutex::new(None)),
        })),
        Err(rt::ServerStartError::Bind {
            addr,
            error: BindError::AddrInUse,
        }) => Err(ServerStartError::AddrInUse(addr)),
        Err(e) => Err(ServerStartError::Other(e.to_string())),
    }
}

struct SmolServer {
    server: rt::Server,
    events: rt::ServerEvents,
    /// The event stream has ended: the server has shut down.
    ended: Cell<bool>,
    /// The thread running the one shutdown request, once one was made.
    shutdown: Shutdown,
}

/// The thread running the server's shutdown, once one was asked for. One
/// thread per server is enough: `shutdown()` waits until every session has
/// ended, so later callers (a second Ctrl-C, `join`) wait for that thread
/// instead of starting another.
type Shutdown = Arc<Mutex<Option<JoinHandle<()>>>>;

fn begin_shutdown(server: &rt::Server, shutdown: &Shutdown) {
    let mut slot = shutdown.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_some() {
        return;
    }
    let server = server.clone();
    match std::thread::Builder::new()
        .name("faxnotify-shutdown".into())
        .spawn(move || block_on(server.shutdown()))
    {
        Ok(thread) => *slot = Some(thread),
        Err(e) => tracing::warn!("cannot start the shutdown: {e}"),
    }
}

impl ServerRunner for SmolServer {
    fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn control(&self) -> ServerControl {
        Arc::new(SmolServerOps {
            server: self.server.clone(),
            shutdown: Arc::clone(&self.shutdown),
        })
    }

    fn next_event(&self, timeout: Duration) -> Polled<server::Event> {
        let polled = within(timeout, self.events.next());
        if matches!(polled, Polled::Ended) {
            self.ended.set(true);
        }
        polled
    }

    fn join(self: Box<Self>) -> Result<(), String> {
        // Once the event stream has ended the server is done; there is
        // nothing left to shut down.
        if !self.ended.get() {
            begin_shutdown(&self.server, &self.shutdown);
        }
        let thread = self
            .shutdown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            thread
                .join()
                .map_err(|_| "the shutdown thread panicked".to_owned())?;
        }
        Ok(())
    }
}

struct SmolServerOps {
    server: rt::Server,
    shutdown: Shutdown,
}

impl ServerOps for SmolServerOps {
    fn notify(&self, target: Target, notification: &Notification) -> Result<NotifyReport, String> {
        block_on(self.server.notify(target, notification.clone())).map_err(|e| e.to_string())
    }

    fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
        block_on(self.server.sessions()).map_err(|e| e.to_string())
    }

    fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        match block_on(self.server.end_session(session)) {
            Ok(()) => Ok(()),
            Err(rt::EndSessionError::Unknown(_)) => Err(EndSessionError::Unknown),
            Err(_) => Err(EndSessionError::Stopped),
        }
    }

    fn begin_shutdown(&self) {
        // On a thread: `shutdown` waits until every session has ended, and
        // the caller (a signal handler) must not.
        begin_shutdown(&self.server, &self.shutdown);
    }

    fn set_tls_identity(
        &self,
        identity: faxnotify_core::tls::ServerIdentity,
    ) -> Result<(), String> {
        block_on(self.server.set_tls_identity(identity)).map_err(|e| e.to_string())
    }
}

pub(super) fn start_client(
    config: ClientConfig,
) -> Result<Box<dyn ClientRunner>, ClientStartError> {
    match block_on(rt::Client::start(config)) {
        Ok(client) => Ok(Box::new(SmolClient {
            client: Arc::new(client),
        })),
        Err(rt::ClientStartError::Listen(reason)) => Err(ClientStartError::Listen(reason)),
        Err(e) => Err(ClientStartError::Other(e.to_string())),
    }
}

struct SmolClient {
    client: Arc<rt::Client>,
}

impl ClientRunner for SmolClient {
    fn control(&self) -> ClientControl {
        Arc::new(SmolClientOps(Arc::clone(&self.client)))
    }

    fn next_event(&self, timeout: Duration) -> Polled<client::Event> {
        within(timeout, self.client.next_event())
    }
}

struct SmolClientOps(Arc<rt::Client>);

impl ClientOps for SmolClientOps {
    fn logout(&self) -> Result<(), String> {
        block_on(self.0.logout()).map_err(|e| e.to_string())
    }
}
