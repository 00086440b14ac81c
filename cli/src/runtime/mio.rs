//! The commands' runtime interface on `faxnotify-mio`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use faxnotify_core::SessionId;
use faxnotify_core::client::{self, BindError, ClientConfig};
use faxnotify_core::server::{self, NotifyReport, ServerConfig, SessionInfo, Target, UserStore};
use faxnotify_core::wire::Notification;
use faxnotify_mio as rt;

use super::{
    ClientControl, ClientOps, ClientRunner, ClientStartError, EndSessionError, Polled,
    ServerControl, ServerOps, ServerRunner, ServerStartError,
};

fn polled<E>(result: Result<E, RecvTimeoutError>) -> Polled<E> {
    match result {
        Ok(event) => Polled::Event(event),
        Err(RecvTimeoutError::Timeout) => Polled::Idle,
        Err(RecvTimeoutError::Disconnected) => Polled::Ended,
    }
}

pub(super) fn start_server(
    listen: SocketAddr,
    config: ServerConfig,
    users: impl UserStore + Send + 'static,
) -> Result<Box<dyn ServerRunner>, ServerStartError> {
    match rt::Server::builder(config, users).listen(listen).start() {
        Ok(server) => Ok(Box::new(MioServer { server })),
        Err(rt::ServerStartError::Bind {
            addr,
            error: BindError::AddrInUse,
        }) => Err(ServerStartError::AddrInUse(addr)),
        Err(e) => Err(ServerStartError::Other(e.to_string())),
    }
}

struct MioServer {
    server: rt::Server,
}

impl ServerRunner for MioServer {
    fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn control(&self) -> ServerControl {
        Arc::new(MioServerOps(self.server.handle()))
    }

    fn next_event(&self, timeout: Duration) -> Polled<server::Event> {
        polled(self.server.events().recv_timeout(timeout))
    }

    fn join(self: Box<Self>) -> Result<(), String> {
        self.server.shutdown().map_err(|e| e.to_string())
    }
}

struct MioServerOps(rt::ServerHandle);

impl ServerOps for MioServerOps {
    fn notify(&self, target: Target, notification: &Notification) -> Result<NotifyReport, String> {
        self.0
            .notify(target, notification)
            .map_err(|e| e.to_string())
    }

    fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
        self.0.sessions().map_err(|e| e.to_string())
    }

    fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        match self.0.end_session(session) {
            Ok(()) => Ok(()),
            Err(rt::EndSessionError::Unknown(_)) => Err(EndSessionError::Unknown),
            Err(_) => Err(EndSessionError::Stopped),
        }
    }

    fn begin_shutdown(&self) {
        let _ = self.0.shutdown();
    }

    fn set_tls_identity(
        &self,
        identity: faxnotify_core::tls::ServerIdentity,
    ) -> Result<(), String> {
        self.0.set_tls_identity(identity).map_err(|e| e.to_string())
    }
}

pub(super) fn start_client(
    config: ClientConfig,
) -> Result<Box<dyn ClientRunner>, ClientStartError> {
    match rt::Client::start(config) {
        Ok(client) => Ok(Box::new(MioClient { client })),
        Err(rt::ClientStartError::Listen(reason)) => Err(ClientStartError::Listen(reason)),
        Err(e) => Err(ClientStartError::Other(e.to_string())),
    }
}

struct MioClient {
    client: rt::Client,
}

impl ClientRunner for MioClient {
    fn control(&self) -> ClientControl {
        Arc::new(MioClientOps(self.client.handle()))
    }

    fn next_event(&self, timeout: Duration) -> Polled<client::Event> {
        polled(self.client.events().recv_timeout(timeout))
    }
}

struct MioClientOps(rt::ClientHandle);

impl ClientOps for MioClientOps {
    fn logout(&self) -> Result<(), String> {
        self.0.logout().map_err(|e| e.to_string())
    }
}
