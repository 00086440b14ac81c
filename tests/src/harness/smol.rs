//! The harness's [`Runtime`] for `faxnotify-smol`: the async API driven
//! through a blocking facade (`async_io::block_on` per call). Each server
//! and client runs on its own dedicated thread (the runtime's default).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use async_io::Timer;
use faxnotify_core::client;
use faxnotify_core::server::{self, NotifyReport, SessionInfo, Target};
use faxnotify_core::wire::Notification;
use faxnotify_smol::{Client, Options, PostReport, Server, ServerEvents, ServerHandler};
use futures_lite::future;

use super::{
    ClientSetup, ClientStartError, ClientUnderTest, Runtime, ServerSetup, ServerUnderTest,
};

/// `faxnotify-smol`: a dedicated thread per server and per client.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolRuntime;

fn block_on<T>(f: impl Future<Output = T>) -> T {
    async_io::block_on(f)
}

/// `f`, or `None` after `timeout`.
fn within<T>(timeout: Duration, f: impl Future<Output = Option<T>>) -> Option<T> {
    block_on(future::or(f, async {
        Timer::after(timeout).await;
        None
    }))
}

fn options(seed: [u8; 32]) -> Options {
    let mut options = Options::default();
    options.seed = Some(seed);
    options
}

impl Runtime for SmolRuntime {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn start_server_with(
        &self,
        setup: ServerSetup,
        handler: Option<Box<dyn ServerHandler>>,
    ) -> Result<Box<dyn ServerUnderTest>, String> {
        let (listen, config, users) = (setup.listen, setup.config, setup.users);
        let options = options(setup.seed);
        let (server, events) = block_on(async move {
            match handler {
                Some(h) => Server::bind_with_handler(listen, config, users, options, h).await,
                None => Server::bind_with(listen, config, users, options).await,
            }
        })
        .map_err(|e| e.to_string())?;
        Ok(Box::new(SmolServer {
            server: Some(server),
            events,
        }))
    }

    fn start_client(
        &self,
        setup: ClientSetup,
    ) -> Result<Box<dyn ClientUnderTest>, ClientStartError> {
        let mut options = options(setup.seed);
        options.suspend_listener_at_start = setup.listener_closed_at_start;
        match block_on(Client::start_with(setup.config, options)) {
            Ok(client) => Ok(Box::new(SmolClient { client })),
            Err(faxnotify_smol::ClientStartError::Listen(reason)) => {
                Err(ClientStartError::Listen(reason))
            }
            Err(other) => Err(ClientStartError::Other(other.to_string())),
        }
    }
}

struct SmolServer {
    /// `None` once shut down or killed.
    server: Option<Server>,
    events: ServerEvents,
}

impl SmolServer {
    fn server(&self) -> &Server {
        self.server.as_ref().expect("the smol server is running")
    }
}

impl ServerUnderTest for SmolServer {
    fn addr(&self) -> SocketAddr {
        self.server().local_addr()
    }

    fn notify(&self, target: Target, notification: &Notification) -> NotifyReport {
        block_on(self.server().notify(target, notification.clone()))
            .expect("the smol server takes notifications")
    }

    fn sessions(&self) -> Vec<SessionInfo> {
        block_on(self.server().sessions()).expect("the smol server is running")
    }

    fn next_event(&self, timeout: Duration) -> Option<server::Event> {
        within(timeout, self.events.next())
    }

    fn take_post_report(&self) -> PostReport {
        self.server().take_post_report()
    }

    fn shutdown(mut self: Box<Self>) {
        if let Some(server) = self.server.take() {
            block_on(server.shutdown());
        }
    }

    fn kill(self: Box<Self>) {
        drop(self);
    }
}

impl Drop for SmolServer {
    /// Dropping the harness's server is a crash (dropping a
    /// `faxnotify_smol::Server` handle would shut it down gracefully).
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            block_on(server.kill());
        }
    }
}

struct SmolClient {
    client: Client,
}

impl ClientUnderTest for SmolClient {
    fn callback_addr(&self) -> SocketAddr {
        self.client.listen_addr()
    }

    fn next_event(&self, timeout: Duration) -> Option<client::Event> {
        within(timeout, self.client.next_event())
    }

    fn suspend_listener(&self) {
        block_on(self.client.suspend_listener()).expect("the smol client is running");
    }

    fn resume_listener(&self) {
        block_on(self.client.resume_listener()).expect("the smol client re-opens its listener");
    }

    fn logout(&self) {
        block_on(self.client.logout()).expect("the smol client logs out");
    }

    /// Dropping a `faxnotify_smol::Client` stops it at once, without LOGOUT.
    fn kill(self: Box<Self>) {
        drop(self);
    }
}
