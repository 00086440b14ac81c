//! A server of the cluster: a faxnotify-tokio server whose core runs in
//! cluster mode [D-17], glued to the [`Bus`]. It follows the simulator's
//! reference glue (`sim/src/cluster/node.rs`) rule for rule:
//!
//! - **claims** (`claims.rs`): a new session's record is created (owner =
//!   this server, start = the log's last seq + 1, read before LOGIN_OK); a
//!   resume of a session held elsewhere loads the record, checks its user,
//!   its expiry and that the owner's lease has run out (or is ours), and
//!   takes it over by compare-and-set — of racing servers exactly one wins,
//!   the others answer "unavailable" and their clients try again;
//! - **delivery** (`readers.rs`, `reader.rs`): one reader per user with
//!   sessions held here reads the user's log once for all of them, and
//!   hands each session every entry from its acknowledged position on, with
//!   the seq the log gives it there, a message's entries in one call
//!   (`notify_session_run_at`), pausing a session while its queue is full;
//! - **ownership** (`leases.rs`): leases are renewed, acknowledgements
//!   persisted in the same write (batched per renewal); a session whose
//!   lease could not be renewed is released before the lease runs out, and
//!   so is one detached for a moment, so its client can resume anywhere;
//!   released sessions are given back in the store;
//! - **reports** (`reports.rs`): delivered / undelivered reports go to the
//!   server that accepted each notification; this server's own reports are
//!   read and handed to the application;
//! - **bus availability**: a probe every renewal period; after
//!   [`NodeTimings::bus_loss_bound`] without the bus the core refuses
//!   logins and notifications ([`ClusterNode::publish`] too).

mod batcher;
mod claims;
mod footprint;
mod glue;
mod index_sweep;
mod leases;
mod log_clock;
mod reader;
mod readers;
mod reports;
mod retention;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use faxnotify_core::server::{Event, ServerConfig, UserStore};
use faxnotify_core::wire::EncodedNotification;
use faxnotify_tokio::{Options, Server, ServerStartError};
use tokio::sync::mpsc;

use crate::connect::Bus;
use crate::error::BusError;
use crate::ids::{LogPos, LogSeq};
use crate::report::Report;
use batcher::{Batcher, Limits, Sink};
pub(crate) use claims::{millis, unix_ms};
pub use footprint::Footprint;

/// The clocks of a node's ownership. The defaults keep a session's
/// unavailability after a crash near `owner_lease` and never let a node
/// serve a session past its lease: it releases `release_margin` before.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct NodeTimings {
    /// How long an owner's lease lasts without renewal (how long the
    /// sessions of a crashed server wait before another may take them).
    pub owner_lease: Duration,
    /// How often leases are renewed and acknowledgements persisted: one
    /// record write per held session each time, the cluster's largest
    /// steady load on the bus (see docs/performance.md).
    pub renew_every: Duration,
    /// A session whose lease would run out within this is released; it
    /// covers clock skew between servers and the release itself.
    pub release_margin: Duration,
    /// How long a detached session stays held before it is released, so
    /// that its client can resume it on any server.
    pub detached_release: Duration,
    /// How long without the bus before logins and notifications are refused.
    pub bus_loss_bound: Duration,
    /// How often the cluster's sweeper sweeps the sessions bucket for
    /// records without an index entry ([`Bus::backfill_index`]; also when
    /// it takes the lease, if the last sweep is that old): how long a
    /// session opened by a server of the previous version during a rolling
    /// upgrade can stay unindexed. Each sweep is one listing of the
    /// bucket's keys (two per session), plus a read and a write per such
    /// record, by one server of the cluster.
    pub index_sweep_every: Duration,
    /// How long the sweeper's lease lasts unrenewed ([`Bus::sweep_turn`]):
    /// every node takes a turn every quarter of it (a read of the sweep
    /// record; the sweeper's also a write), and a dead sweeper is replaced
    /// within it and a quarter. Longer than a sweep takes, or two servers
    /// may sweep at once (harmless, but twice the listing).
    pub index_sweeper_lease: Duration,
}

impl NodeTimings {
    /// Timings for an owner lease of `lease` (at least 5 s): renewed every
    /// fifth of it, released three tenths before it runs out. A longer
    /// lease writes to the bus less often and makes a crashed server's
    /// clients wait longer before their sessions move.
    pub fn with_owner_lease(lease: Duration) -> Result<Self, TimingsError> {
        if lease < MIN_OWNER_LEASE {
            return Err(TimingsError::OwnerLeaseTooShort(lease));
        }
        Ok(Self {
            owner_lease: lease,
            renew_every: lease / 5,
            release_margin: lease * 3 / 10,
            ..Self::default()
        })
    }

    /// How often the bus is probed: often enough to notice its loss
    /// within [`bus_loss_bound`](Self::bus_loss_bound).
    pub(crate) fn probe_every(&self) -> Duration {
        self.renew_every.min(self.bus_loss_bound / 2)
    }
}

/// The shortest owner lease [`NodeTimings::with_owner_lease`] takes: its
/// renewals and release margin must leave room for a write that takes a
/// while.
pub const MIN_OWNER_LEASE: Duration = Duration::from_secs(5);

/// Why timings cannot be used.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimingsError {
    /// An owner lease below [`MIN_OWNER_LEASE`].
    #[error(
        "an owner lease of {}s is too short: at least 5s (renewed every fifth of it)",
        .0.as_secs_f64()
    )]
    OwnerLeaseTooShort(Duration),
}

impl Default for NodeTimings {
    fn default() -> Self {
        Self {
            owner_lease: Duration::from_secs(10),
            renew_every: Duration::from_secs(2),
            release_margin: Duration::from_secs(3),
            detached_release: Duration::from_secs(2),
            bus_loss_bound: Duration::from_secs(2),
            index_sweep_every: Duration::from_secs(5 * 60),
            index_sweeper_lease: Duration::from_secs(60),
        }
    }
}

/// What a node tells its application, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeEvent {
    /// An event of the server core (every one, claims included, for logs
    /// and metrics; the node has already acted on it).
    Server(Event),
    /// A report for a notification this server accepted.
    Report(Report),
    /// The bus became unreachable (`false`) or reachable again (`true`).
    BusAvailable(bool),
}

/// A running cluster node. Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    server: Server,
    bus: Bus,
    available: Arc<AtomicBool>,
    batcher: Arc<Batcher<LogSink>>,
    /// The glue's loop (for [`ClusterNode::footprint`]).
    glue: mpsc::UnboundedSender<glue::Msg>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("server", &self.server)
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

/// The batcher's way to the log: one publish id per message, and one retry
/// with it when the outcome is unknown (JetStream stores it once). Known
/// not to be stored only when the bus refused both attempts; after an
/// attempt that got no answer it may have been (its ack lost on the way
/// back), and the error says so.
struct LogSink {
    bus: Bus,
}

impl Sink for LogSink {
    async fn store(
        &self,
        user: &str,
        batch: &[&EncodedNotification],
    ) -> Result<LogSeq, PublishError> {
        let id = self.bus.publish_id();
        match self.bus.publish_batch(&id, user, batch).await {
            Ok(seq) => Ok(seq),
            Err(err @ (BusError::User(_) | BusError::Config(_))) => Err(err.into()),
            Err(first) => {
                tracing::debug!(error = %first, "publish failed; retrying with the same id");
                match self.bus.publish_batch(&id, user, batch).await {
                    Ok(seq) => Ok(seq),
                    Err(err @ BusError::Refused { .. })
                        if matches!(first, BusError::Refused { .. }) =>
                    {
                        Err(err.into())
                    }
                    Err(err) => Err(PublishError::Unknown(err)),
                }
            }
        }
    }
}

/// The node's events; they end once the server has shut down and its
/// sessions were given back.
#[derive(Debug)]
pub struct NodeEvents {
    rx: mpsc::UnboundedReceiver<NodeEvent>,
}

impl NodeEvents {
    /// The next event, or `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<NodeEvent> {
        self.rx.recv().await
    }

    /// Events waiting to be read: the node does not wait for its
    /// application, so an application that reads slower than events come
    /// holds them here.
    pub fn waiting(&self) -> usize {
        self.rx.len()
    }
}

/// Why a notification was not accepted by the cluster.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The node has no bus right now.
    #[error("not durable: the cluster bus is unreachable; nothing was accepted")]
    BusUnavailable,
    /// The bus refused the publish, or it was never sent: not accepted.
    #[error("not durable: {0}; nothing was accepted")]
    Bus(#[from] BusError),
    /// The publish went out and no answer said whether it was stored (the
    /// ack lost on its way back, the connection gone meanwhile): not
    /// accepted, yet it may have been stored, and is then delivered to
    /// every session of the user. Sending it again may deliver it twice.
    #[error(
        "not known to be durable: {0}; the cluster may have stored it all the same, and then \
         every session of the user gets it: see whether it arrived before sending it again"
    )]
    Unknown(BusError),
    /// Too many of this user's notifications are already waiting for the
    /// bus (it is slower than they come): not accepted, try again later.
    #[error(
        "not accepted: {notifications} notifications ({bytes} bytes) of this user are already \
         waiting for the cluster bus; try again later"
    )]
    Backlog {
        /// Notifications waiting.
        notifications: usize,
        /// Their payload bytes.
        bytes: usize,
    },
    /// The node stopped before the bus answered: not known to be accepted
    /// (it may have been stored).
    #[error("not known to be durable: the node stopped before the cluster bus answered")]
    Stopped,
}

impl PublishError {
    /// Whether the notification may have been stored all the same (and is
    /// then delivered): its outcome is unknown, rather than a refusal.
    pub fn may_be_stored(&self) -> bool {
        matches!(self, PublishError::Unknown(_) | PublishError::Stopped)
    }
}

impl ClusterNode {
    /// Starts a server on `addr` whose core is in cluster mode (`config`
    /// gets the default [`ClusterConfig`](faxnotify_core::server::ClusterConfig)
    /// unless it has one), glued to `bus`. Call it inside a tokio runtime:
    /// the glue's tasks are spawned on it.
    pub async fn start(
        addr: SocketAddr,
        mut config: ServerConfig,
        users: impl UserStore + Send + 'static,
        bus: Bus,
        timings: NodeTimings,
        options: Options,
    ) -> Result<(ClusterNode, NodeEvents), ServerStartError> {
        if config.cluster.is_none() {
            config.cluster = Some(Default::default());
        }
        // A detached session outlives its lease by the grace: the record
        // says so to the server that resumes it [C-10].
        let expiry = config.lease + config.detached_grace;
        let (server, events) = Server::bind_with(addr, config, users, options).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let available = Arc::new(AtomicBool::new(true));
        let sink = LogSink { bus: bus.clone() };
        let runtime = tokio::runtime::Handle::current();
        let batcher = Batcher::new(sink, Limits::default(), runtime);
        let glue = glue::spawn(
            server.clone(),
            events,
            bus.clone(),
            timings,
            expiry,
            Arc::clone(&available),
            tx,
        );
        let node = ClusterNode {
            server,
            bus,
            available,
            batcher,
            glue,
        };
        Ok((node, NodeEvents { rx }))
    }

    /// The server (sessions, statistics, shutdown).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Whether the node has the bus (as its last probe said).
    pub fn bus_available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    /// Accepts `notification` for every session of `user`, on any server:
    /// returns its position in the log once JetStream stored it on a
    /// quorum. Refused while the node has no bus.
    ///
    /// While a message of `user` is being stored, the user's next
    /// notifications wait and go out together as one message when it
    /// returns (at most 256 notifications or 256 KiB per message; a user's
    /// queue holds at most 16 384 notifications or 16 MiB, beyond which
    /// [`PublishError::Backlog`] refuses): each caller gets its own
    /// position, and the order of the log is the order of the calls. A
    /// message whose outcome is unknown is retried once with the same
    /// publish id, which JetStream stores once.
    pub async fn publish(
        &self,
        user: &str,
        notification: &EncodedNotification,
    ) -> Result<LogPos, PublishError> {
        if !self.bus_available() {
            return Err(PublishError::BusUnavailable);
        }
        self.batcher.submit(user, notification).await
    }

    /// The sizes of the node's tables and queues now (for metrics, and for
    /// tests that check the node keeps nothing it is done with); `None`
    /// once the node has stopped.
    pub async fn footprint(&self) -> Option<Footprint> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.glue.send(glue::Msg::Footprint(reply)).ok()?;
        let mut footprint = answer.await.ok()?;
        footprint.publishes_queued = self.batcher.queued();
        Some(footprint)
    }

    /// The live sessions `user` has in the whole cluster that the log
    /// entry `at` belongs to, for `notify --wait` ([`Bus::sessions_of`]:
    /// one listing of the user's index and one read per session of the
    /// user).
    pub async fn sessions_of(&self, user: &str, at: LogSeq) -> Result<Vec<u64>, BusError> {
        self.bus.sessions_of(user, at).await
    }

    /// Shuts the server down: its sessions are released (not ended: their
    /// clients resume on another server) and given back in the store; the
    /// events end once that is done.
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_lease_sets_the_renewals_and_the_margin() {
        let t = NodeTimings::with_owner_lease(Duration::from_secs(60)).unwrap();
        assert_eq!(t.owner_lease, Duration::from_secs(60));
        assert_eq!(t.renew_every, Duration::from_secs(12));
        assert_eq!(t.release_margin, Duration::from_secs(18));
        // The bus is still probed often enough to notice its loss in time.
        assert_eq!(t.probe_every(), Duration::from_secs(1));
        assert_eq!(
            NodeTimings::with_owner_lease(Duration::from_secs(10)).unwrap(),
            NodeTimings::default()
        );
        let err = NodeTimings::with_owner_lease(Duration::from_secs(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "an owner lease of 3s is too short: at least 5s (renewed every fifth of it)"
        );
    }
}
