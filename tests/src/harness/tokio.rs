//! The harness's [`Runtime`] for `faxnotify-tokio`: every server and client
//! is spawned on one tokio runtime of the process through its `Handle`
//! (the way an application embeds faxnotify-tokio), and the test's thread
//! waits on the async API through a blocking facade.
//!
//! Two flavours, each one runtime for the whole test binary, as an
//! application has one: [`TokioRuntime::MULTI_THREAD`] (two workers, so a
//! connection's reader, writer and the driver really run on different
//! threads) and [`TokioRuntime::CURRENT_THREAD`] (one thread runs every
//! server and client of the test binary).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use faxnotify_core::client;
use faxnotify_core::server::{self, NotifyReport, SessionInfo, Target};
use faxnotify_core::wire::Notification;
use faxnotify_tokio::{
    Client, Options, PostReport, Server, ServerEvents, ServerHandler, TaskRunner,
};
use tokio::runtime::{Builder, Handle};

use super::{
    ClientSetup, ClientStartError, ClientUnderTest, Runtime, ServerSetup, ServerUnderTest,
};

/// Which kind of tokio runtime the instances run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    MultiThread,
    CurrentThread,
}

/// `faxnotify-tokio` on a tokio runtime shared by the test binary.
#[derive(Clone, Copy, Debug)]
pub struct TokioRuntime {
    flavour: Flavour,
}

impl TokioRuntime {
    /// A multi-thread runtime with two workers (`#[tokio::main]`'s kind).
    pub const MULTI_THREAD: Self = Self {
        flavour: Flavour::MultiThread,
    };
    /// A current-thread runtime driven by one thread of its own.
    pub const CURRENT_THREAD: Self = Self {
        flavour: Flavour::CurrentThread,
    };

    /// The runtime of this flavour, built on first use.
    fn handle(&self) -> Handle {
        // Statics: the runtimes live as long as the test binary.
        static MULTI: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        static CURRENT: OnceLock<Handle> = OnceLock::new();
        match self.flavour {
            Flavour::MultiThread => MULTI.get_or_init(multi_thread).handle().clone(),
            Flavour::CurrentThread => CURRENT.get_or_init(current_thread).clone(),
        }
    }

    /// Waits for `f` on the test's thread. Inside the runtime's context, so
    /// `f` may use tokio's timers.
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.handle().block_on(f)
    }

    /// `f`, or `None` after `timeout`.
    fn within<T>(&self, timeout: Duration, f: impl Future<Output = Option<T>>) -> Option<T> {
        self.block_on(async { tokio::time::timeout(timeout, f).await.ok().flatten() })
    }

    fn options(&self, seed: [u8; 32]) -> Options {
        let mut options = Options::default();
        options.seed = Some(seed);
        options.runner = TaskRunner::Handle(self.handle());
        options
    }
}

/// Its workers run the tasks without anyone blocking on the runtime.
fn multi_thread() -> tokio::runtime::Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("harness-tokio")
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn current_thread() -> Handle {
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let handle = runtime.handle().clone();
    // A current-thread runtime runs its tasks, timers and sockets only
    // while a thread is in `Runtime::block_on`: this one, for good.
    std::thread::Builder::new()
        .name("harness-tokio-current".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .expect("the runtime's thread");
    handle
}

impl Runtime for TokioRuntime {
    fn name(&self) -> &'static str {
        match self.flavour {
            Flavour::MultiThread => "tokio",
            Flavour::CurrentThread => "tokio (current thread)",
        }
    }

    fn start_server_with(
        &self,
        setup: ServerSetup,
        handler: Option<Box<dyn ServerHandler>>,
    ) -> Result<Box<dyn ServerUnderTest>, String> {
        let (listen, config, users) = (setup.listen, setup.config, setup.users);
        let options = self.options(setup.seed);
        let (server, events) = self
            .block_on(async move {
                match handler {
                    Some(h) => Server::bind_with_handler(listen, config, users, options, h).await,
                    None => Server::bind_with(listen, config, users, options).await,
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Box::new(TokioServer {
            rt: *self,
            server: Some(server),
            events,
        }))
    }

    fn start_client(
        &self,
        setup: ClientSetup,
    ) -> Result<Box<dyn ClientUnderTest>, ClientStartError> {
        let mut options = self.options(setup.seed);
        options.suspend_listener_at_start = setup.listener_closed_at_start;
        match self.block_on(Client::start_with(setup.config, options)) {
            Ok(client) => Ok(Box::new(TokioClient { rt: *self, client })),
            Err(faxnotify_tokio::ClientStartError::Listen(reason)) => {
                Err(ClientStartError::Listen(reason))
            }
            Err(other) => Err(ClientStartError::Other(other.to_string())),
        }
    }
}

struct TokioServer {
    rt: TokioRuntime,
    /// `None` once shut down or killed.
    server: Option<Server>,
    events: ServerEvents,
}

impl TokioServer {
    fn server(&self) -> &Server {
        self.server.as_ref().expect("the tokio server is running")
    }
}

impl ServerUnderTest for TokioServer {
    fn addr(&self) -> SocketAddr {
        self.server().local_addr()
    }

    fn notify(&self, target: Target, notification: &Notification) -> NotifyReport {
        self.rt
            .block_on(self.server().notify(target, notification.clone()))
            .expect("the tokio server takes notifications")
    }

    fn sessions(&self) -> Vec<SessionInfo> {
        self.rt
            .block_on(self.server().sessions())
            .expect("the tokio server is running")
    }

    fn next_event(&self, timeout: Duration) -> Option<server::Event> {
        self.rt.within(timeout, self.events.next())
    }

    fn take_post_report(&self) -> PostReport {
        self.server().take_post_report()
    }

    fn shutdown(mut self: Box<Self>) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
    }

    fn kill(self: Box<Self>) {
        drop(self);
    }
}

impl Drop for TokioServer {
    /// Dropping the harness's server is a crash (dropping a
    /// `faxnotify_tokio::Server` handle would shut it down gracefully).
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.kill());
        }
    }
}

struct TokioClient {
    rt: TokioRuntime,
    client: Client,
}

impl ClientUnderTest for TokioClient {
    fn callback_addr(&self) -> SocketAddr {
        self.client.listen_addr()
    }

    fn next_event(&self, timeout: Duration) -> Option<client::Event> {
        self.rt.within(timeout, self.client.next_event())
    }

    fn suspend_listener(&self) {
        self.rt
            .block_on(self.client.suspend_listener())
            .expect("the tokio client is running");
    }

    fn resume_listener(&self) {
        self.rt
            .block_on(self.client.resume_listener())
            .expect("the tokio client re-opens its listener");
    }

    fn logout(&self) {
        self.rt
            .block_on(self.client.logout())
            .expect("the tokio client logs out");
    }

    /// Dropping a `faxnotify_tokio::Client` stops it at once, without LOGOUT.
    fn kill(self: Box<Self>) {
        drop(self);
    }
}
