//! The commands' runtime interface on `faxnotify-smol`.
//!
//! faxnotify-smol runs each server and client on an executor of its own
//! (a dedicated thread), and its API is async; these blocking wrappers wait
//! on its futures with `block_on`, which is all they need since those
//! futures only wait on channels.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
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
        })),
        Err(rt::ServerError::Bind {
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
}

impl ServerRunner for SmolServer {
    fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn control(&self) -> ServerControl {
        Arc::new(SmolServerOps(self.server.clone()))
    }

    fn next_event(&self, timeout: Duration) -> Polled<server::Event> {
        let polled = within(timeout, self.events.next());
        if matches!(polled, Polled::Ended) {
            self.ended.set(true);
        }
        polled
    }

    fn join(self: Box<Self>) -> Result<(), String> {
        // Once the event stream has ended the server is done. Asking it to
        // shut down again right then can hang: the request may be queued
        // after the driver's last look at its commands but before it drops
        // their channel, and nobody ever answers it.
        if !self.ended.get() {
            block_on(self.server.shutdown());
        }
        Ok(())
    }
}

struct SmolServerOps(rt::Server);

impl ServerOps for SmolServerOps {
    fn notify(&self, target: Target, notification: &Notification) -> Result<NotifyReport, String> {
        block_on(self.0.notify(target, notification.clone())).map_err(|e| e.to_string())
    }

    fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
        block_on(self.0.sessions()).map_err(|e| e.to_string())
    }

    fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        match block_on(self.0.end_session(session)) {
            Ok(()) => Ok(()),
            Err(rt::EndSessionError::Unknown(_)) => Err(EndSessionError::Unknown),
            Err(_) => Err(EndSessionError::Stopped),
        }
    }

    fn begin_shutdown(&self) {
        // `shutdown` waits until every session has ended; the caller (a
        // signal handler) must not.
        let server = self.0.clone();
        let spawned = std::thread::Builder::new()
            .name("faxnotify-shutdown".into())
            .spawn(move || block_on(server.shutdown()));
        if let Err(e) = spawned {
            tracing::warn!("cannot start the shutdown: {e}");
        }
    }
}

pub(super) fn start_client(
    config: ClientConfig,
) -> Result<Box<dyn ClientRunner>, ClientStartError> {
    match block_on(rt::Client::start(config)) {
        Ok(client) => Ok(Box::new(SmolClient {
            client: Arc::new(client),
        })),
        Err(rt::StartError::Stopped(reason)) => Err(ClientStartError::Listen(reason)),
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
