//! `faxnotify server --cluster`: the server as one node of a cluster
//! ([`faxnotify_cluster::ClusterNode`]), on the process's tokio runtime,
//! behind the same blocking interface as every other server, plus what
//! only cluster mode has ([`ClusterOps`]): notifications published to the
//! shared log, reports read from the bus.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use faxnotify_cluster::{
    Bus, BusConfig, ClusterNode, ClusterSecret, NodeEvent, NodeEvents, NodeTimings, ServerId,
};
use faxnotify_core::SessionId;
use faxnotify_core::client::BindError;
use faxnotify_core::server::{self, NotifyReport, ServerConfig, SessionInfo, Target, UserStore};
use faxnotify_core::wire::{EncodedNotification, Notification};

use super::on_async::Blocking as _;
use super::tokio::Tokio;
use super::{EndSessionError, Polled, ServerControl, ServerOps, ServerRunner, ServerStartError};

/// Where the reports for this server's notifications go (the admin
/// socket's cluster tracker); called on the thread that drains events.
pub type ReportSink = Arc<dyn Fn(faxnotify_cluster::Report) + Send + Sync>;

/// What only a server in cluster mode can do, for the admin socket.
pub trait ClusterOps: Send + Sync {
    /// Publishes `notification` for every session of `user` (prepared) and
    /// returns its position in the log once the cluster stored it durably.
    fn publish(
        &self,
        user: &str,
        notification: &Notification,
    ) -> Result<faxnotify_cluster::LogPos, NotPublished>;
    /// The sessions of `user` in the whole cluster that log seq `at` reaches.
    fn sessions_of(&self, user: &str, at: u64) -> Result<Vec<u64>, String>;
}

/// Why a notification is not known to be durable, for the admin socket.
#[derive(Clone, Debug)]
pub struct NotPublished {
    /// What happened, for a person.
    pub message: String,
    /// The cluster may have stored it all the same (its ack was lost): it
    /// is then delivered, and sending it again may deliver it twice.
    pub may_be_stored: bool,
}

/// A cloneable handle to cluster mode's operations.
pub type ClusterControl = Arc<dyn ClusterOps>;

impl std::fmt::Debug for dyn ClusterOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterOps")
    }
}

/// Cluster mode's settings, checked before anything starts.
#[derive(Debug)]
pub struct ClusterSettings {
    /// The bus's settings.
    pub bus: BusConfig,
    /// The cluster secret.
    pub secret: ClusterSecret,
    /// The node's lease timings.
    pub timings: NodeTimings,
}

/// Connects to the bus and starts the node.
pub fn start(
    listen: SocketAddr,
    config: ServerConfig,
    users: impl UserStore + Send + 'static,
    cluster: ClusterSettings,
    reports: ReportSink,
) -> Result<(Box<dyn ServerRunner>, ClusterControl), ServerStartError> {
    let on = Tokio::get().map_err(ServerStartError::Other)?;
    let origin = ServerId::random()
        .map_err(|e| ServerStartError::Other(format!("cannot draw a server id: {e}")))?;
    // Joining waits for the bus's streams and buckets, which a NATS cluster
    // that is starting or electing leaders takes seconds to serve: say what
    // the server is waiting for meanwhile.
    tracing::info!("joining the cluster bus (its JetStream streams and buckets)…");
    let bus = on
        .block_on(Bus::connect(cluster.bus, origin, cluster.secret))
        .map_err(|e| ServerStartError::Other(format!("cannot join the cluster: {e}")))?;
    tracing::info!("joined the cluster bus as server {origin}");
    let mut options = faxnotify_tokio::Options::default();
    options.runner = on.runner();
    let started = on.block_on(ClusterNode::start(
        listen,
        config,
        users,
        bus,
        cluster.timings,
        options,
    ));
    let (node, events) = match started {
        Ok(started) => started,
        Err(faxnotify_tokio::ServerStartError::Bind {
            addr,
            error: BindError::AddrInUse,
        }) => return Err(ServerStartError::AddrInUse(addr)),
        Err(e) => return Err(ServerStartError::Other(e.to_string())),
    };
    let control: ClusterControl = Arc::new(NodeOps {
        on: on.clone(),
        node: node.clone(),
    });
    Ok((
        Box::new(NodeRunner {
            on,
            node,
            events: Mutex::new(events),
            reports,
            shutdown: Arc::new(Mutex::new(None)),
        }),
        control,
    ))
}

type Shutdown = Arc<Mutex<Option<JoinHandle<()>>>>;

struct NodeRunner {
    on: Tokio,
    node: ClusterNode,
    events: Mutex<NodeEvents>,
    reports: ReportSink,
    shutdown: Shutdown,
}

fn begin_shutdown(on: &Tokio, node: &ClusterNode, shutdown: &Shutdown) {
    let mut slot = shutdown.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_some() {
        return;
    }
    let (on, node) = (on.clone(), node.clone());
    match std::thread::Builder::new()
        .name("faxnotify-shutdown".into())
        .spawn(move || on.block_on(node.shutdown()))
    {
        Ok(thread) => *slot = Some(thread),
        Err(e) => tracing::warn!("cannot start the shutdown: {e}"),
    }
}

impl ServerRunner for NodeRunner {
    fn local_addr(&self) -> SocketAddr {
        self.node.local_addr()
    }

    fn control(&self) -> ServerControl {
        Arc::new(NodeServerOps {
            on: self.on.clone(),
            node: self.node.clone(),
            shutdown: Arc::clone(&self.shutdown),
        })
    }

    fn next_event(&self, timeout: Duration) -> Polled<server::Event> {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match self.on.within(timeout, events.next()) {
                Polled::Event(NodeEvent::Server(event)) => return Polled::Event(event),
                Polled::Event(NodeEvent::Report(report)) => (self.reports)(report),
                Polled::Event(_) => {}
                Polled::Idle => return Polled::Idle,
                Polled::Ended => return Polled::Ended,
            }
        }
    }

    fn join(self: Box<Self>) -> Result<(), String> {
        begin_shutdown(&self.on, &self.node, &self.shutdown);
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
        // The node's events end once its sessions were given back.
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        while let Polled::Event(_) = self.on.within(Duration::from_secs(10), events.next()) {}
        Ok(())
    }
}

struct NodeServerOps {
    on: Tokio,
    node: ClusterNode,
    shutdown: Shutdown,
}

impl ServerOps for NodeServerOps {
    fn notify(
        &self,
        _target: Target,
        _notification: &Notification,
    ) -> Result<NotifyReport, String> {
        Err("in cluster mode notifications go through the cluster's log".to_owned())
    }

    fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
        self.on
            .block_on(self.node.server().sessions())
            .map_err(|e| e.to_string())
    }

    fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        match self.on.block_on(self.node.server().end_session(session)) {
            Ok(()) => Ok(()),
            Err(faxnotify_tokio::EndSessionError::Unknown(_)) => Err(EndSessionError::Unknown),
            Err(_) => Err(EndSessionError::Stopped),
        }
    }

    fn begin_shutdown(&self) {
        begin_shutdown(&self.on, &self.node, &self.shutdown);
    }

    fn set_tls_identity(
        &self,
        identity: faxnotify_core::tls::ServerIdentity,
    ) -> Result<(), String> {
        self.on
            .block_on(self.node.server().set_tls_identity(identity))
            .map_err(|e| e.to_string())
    }
}

struct NodeOps {
    on: Tokio,
    node: ClusterNode,
}

impl ClusterOps for NodeOps {
    fn publish(
        &self,
        user: &str,
        notification: &Notification,
    ) -> Result<faxnotify_cluster::LogPos, NotPublished> {
        let encoded = EncodedNotification::encode(notification).map_err(|e| NotPublished {
            message: e.to_string(),
            may_be_stored: false,
        })?;
        self.on
            .block_on(self.node.publish(user, &encoded))
            .map_err(|e| NotPublished {
                message: e.to_string(),
                may_be_stored: e.may_be_stored(),
            })
    }

    fn sessions_of(&self, user: &str, at: u64) -> Result<Vec<u64>, String> {
        self.on
            .block_on(self.node.sessions_of(user, faxnotify_cluster::LogSeq(at)))
            .map_err(|e| e.to_string())
    }
}
