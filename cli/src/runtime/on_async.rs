//! The commands' runtime interface on `faxnotify-async`, for any of its
//! runtimes (smol, tokio): the async API behind blocking wrappers. What
//! differs per runtime — where the tasks run, how a thread waits, which
//! timer bounds a wait — is a [`Blocking`] (`smol.rs`, `tokio.rs`).

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use faxnotify_async::{self as rt, Options, Runtime};
use faxnotify_core::SessionId;
use faxnotify_core::client::{self, BindError, ClientConfig};
use faxnotify_core::server::{self, NotifyReport, ServerConfig, SessionInfo, Target, UserStore};
use faxnotify_core::wire::Notification;
use futures_lite::future;

use super::{
    ClientControl, ClientOps, ClientRunner, ClientStartError, EndSessionError, Polled,
    ServerControl, ServerOps, ServerRunner, ServerStartError,
};

/// How the commands use one of faxnotify-async's runtimes.
pub(super) trait Blocking: Clone + Send + Sync + 'static {
    /// The runtime.
    type Runtime: Runtime;
    /// Where a server's or client's tasks run.
    fn runner(&self) -> Self::Runtime;
    /// Waits for `f` on the calling thread (never a task of the runtime).
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T;
    /// A future that resolves after `duration`; awaited inside
    /// [`Blocking::block_on`].
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;

    /// Waits for `next` at most `timeout`.
    fn within<E>(&self, timeout: Duration, next: impl Future<Output = Option<E>>) -> Polled<E> {
        self.block_on(future::or(
            async {
                match next.await {
                    Some(event) => Polled::Event(event),
                    None => Polled::Ended,
                }
            },
            async {
                self.sleep(timeout).await;
                Polled::Idle
            },
        ))
    }
}

fn options<B: Blocking>(on: &B) -> Options<B::Runtime> {
    let mut options = Options::default();
    options.runner = on.runner();
    options
}

pub(super) fn start_server<B: Blocking>(
    on: B,
    listen: SocketAddr,
    config: ServerConfig,
    users: impl UserStore + Send + 'static,
) -> Result<Box<dyn ServerRunner>, ServerStartError> {
    match on.block_on(rt::Server::bind_with(listen, config, users, options(&on))) {
        Ok((server, events)) => Ok(Box::new(AsyncServer {
            on,
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

struct AsyncServer<B: Blocking> {
    on: B,
    server: rt::Server<B::Runtime>,
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

fn begin_shutdown<B: Blocking>(on: &B, server: &rt::Server<B::Runtime>, shutdown: &Shutdown) {
    let mut slot = shutdown.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_some() {
        return;
    }
    let (on, server) = (on.clone(), server.clone());
    match std::thread::Builder::new()
        .name("faxnotify-shutdown".into())
        .spawn(move || on.block_on(server.shutdown()))
    {
        Ok(thread) => *slot = Some(thread),
        Err(e) => tracing::warn!("cannot start the shutdown: {e}"),
    }
}

impl<B: Blocking> ServerRunner for AsyncServer<B> {
    fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn control(&self) -> ServerControl {
        Arc::new(AsyncServerOps {
            on: self.on.clone(),
            server: self.server.clone(),
            shutdown: Arc::clone(&self.shutdown),
        })
    }

    fn next_event(&self, timeout: Duration) -> Polled<server::Event> {
        let polled = self.on.within(timeout, self.events.next());
        if matches!(polled, Polled::Ended) {
            self.ended.set(true);
        }
        polled
    }

    fn join(self: Box<Self>) -> Result<(), String> {
        // Once the event stream has ended the server is done; there is
        // nothing left to shut down.
        if !self.ended.get() {
            begin_shutdown(&self.on, &self.server, &self.shutdown);
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

struct AsyncServerOps<B: Blocking> {
    on: B,
    server: rt::Server<B::Runtime>,
    shutdown: Shutdown,
}

impl<B: Blocking> ServerOps for AsyncServerOps<B> {
    fn notify(&self, target: Target, notification: &Notification) -> Result<NotifyReport, String> {
        self.on
            .block_on(self.server.notify(target, notification.clone()))
            .map_err(|e| e.to_string())
    }

    fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
        self.on
            .block_on(self.server.sessions())
            .map_err(|e| e.to_string())
    }

    fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        match self.on.block_on(self.server.end_session(session)) {
            Ok(()) => Ok(()),
            Err(rt::EndSessionError::Unknown(_)) => Err(EndSessionError::Unknown),
            Err(_) => Err(EndSessionError::Stopped),
        }
    }

    fn begin_shutdown(&self) {
        // On a thread: `shutdown` waits until every session has ended, and
        // the caller (a signal handler) must not.
        begin_shutdown(&self.on, &self.server, &self.shutdown);
    }

    fn set_tls_identity(
        &self,
        identity: faxnotify_core::tls::ServerIdentity,
    ) -> Result<(), String> {
        self.on
            .block_on(self.server.set_tls_identity(identity))
            .map_err(|e| e.to_string())
    }
}

pub(super) fn start_client<B: Blocking>(
    on: B,
    config: ClientConfig,
) -> Result<Box<dyn ClientRunner>, ClientStartError> {
    match on.block_on(rt::Client::start_with(config, options(&on))) {
        Ok(client) => Ok(Box::new(AsyncClient {
            on,
            client: Arc::new(client),
        })),
        Err(rt::ClientStartError::Listen(reason)) => Err(ClientStartError::Listen(reason)),
        Err(e) => Err(ClientStartError::Other(e.to_string())),
    }
}

struct AsyncClient<B: Blocking> {
    on: B,
    client: Arc<rt::Client<B::Runtime>>,
}

impl<B: Blocking> ClientRunner for AsyncClient<B> {
    fn control(&self) -> ClientControl {
        Arc::new(AsyncClientOps {
            on: self.on.clone(),
            client: Arc::clone(&self.client),
        })
    }

    fn next_event(&self, timeout: Duration) -> Polled<client::Event> {
        self.on.within(timeout, self.client.next_event())
    }
}

struct AsyncClientOps<B: Blocking> {
    on: B,
    client: Arc<rt::Client<B::Runtime>>,
}

impl<B: Blocking> ClientOps for AsyncClientOps<B> {
    fn logout(&self) -> Result<(), String> {
        self.on
            .block_on(self.client.logout())
            .map_err(|e| e.to_string())
    }
}
