//! The harness's [`Runtime`] for `faxnotify-mio`.

use std::net::SocketAddr;
use std::time::Duration;

use faxnotify_core::client;
use faxnotify_core::server::{self, NotifyReport, SessionInfo, Target};
use faxnotify_core::wire::Notification;
use faxnotify_mio::{Client, ClientStartError as MioStartError, PostReport, Server, ServerHandler};

use super::{
    ClientSetup, ClientStartError, ClientUnderTest, Runtime, ServerSetup, ServerUnderTest,
};

/// `faxnotify-mio`: one event-loop thread per server and per client.
#[derive(Clone, Copy, Debug, Default)]
pub struct MioRuntime;

impl Runtime for MioRuntime {
    fn name(&self) -> &'static str {
        "mio"
    }

    fn start_server_with(
        &self,
        setup: ServerSetup,
        handler: Option<Box<dyn ServerHandler>>,
    ) -> Result<Box<dyn ServerUnderTest>, String> {
        let mut builder = Server::builder(setup.config, setup.users)
            .listen(setup.listen)
            .seed(setup.seed);
        if let Some(handler) = handler {
            builder = builder.handler(handler);
        }
        let server = builder.start().map_err(|e| e.to_string())?;
        Ok(Box::new(MioServer { server }))
    }

    fn start_client(
        &self,
        setup: ClientSetup,
    ) -> Result<Box<dyn ClientUnderTest>, ClientStartError> {
        let mut builder = Client::builder(setup.config).seed(setup.seed);
        if setup.listener_closed_at_start {
            builder = builder.suspend_listener_at_start();
        }
        match builder.start() {
            Ok(client) => Ok(Box::new(MioClient { client })),
            Err(MioStartError::Listen(reason)) => Err(ClientStartError::Listen(reason)),
            Err(other) => Err(ClientStartError::Other(other.to_string())),
        }
    }
}

struct MioServer {
    server: Server,
}

impl ServerUnderTest for MioServer {
    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn notify(&self, target: Target, notification: &Notification) -> NotifyReport {
        self.server
            .notify(target, notification)
            .expect("the mio server takes notifications")
    }

    fn sessions(&self) -> Vec<SessionInfo> {
        self.server.sessions().expect("the mio server is running")
    }

    fn next_event(&self, timeout: Duration) -> Option<server::Event> {
        self.server.events().recv_timeout(timeout).ok()
    }

    fn take_post_report(&self) -> PostReport {
        self.server.take_post_report()
    }

    fn shutdown(self: Box<Self>) {
        self.server
            .shutdown()
            .expect("the mio server shuts down cleanly");
    }

    fn kill(self: Box<Self>) {
        drop(self.server);
    }
}

struct MioClient {
    client: Client,
}

impl ClientUnderTest for MioClient {
    fn callback_addr(&self) -> SocketAddr {
        self.client.callback_addr()
    }

    fn next_event(&self, timeout: Duration) -> Option<client::Event> {
        self.client.events().recv_timeout(timeout).ok()
    }

    fn suspend_listener(&self) {
        self.client
            .handle()
            .suspend_listener()
            .expect("the mio client is running");
    }

    fn resume_listener(&self) {
        self.client
            .handle()
            .resume_listener()
            .expect("the mio client re-opens its listener");
    }

    fn logout(&self) {
        self.client.logout().expect("the mio client logs out");
    }

    fn kill(self: Box<Self>) {
        drop(self.client);
    }
}
