//! Joining the cluster's bus: the connection and the shared assets.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{ConnectOptions, Event};

use crate::bounded::Link;
use crate::config::BusConfig;
use crate::error::BusError;
use crate::ids::ServerId;
use crate::secret::ClusterSecret;
use crate::setup;
use crate::subjects::Names;

/// How often the client pings its NATS server: a server that stopped
/// answering is noticed (and another one tried) within about two of these.
const PING_INTERVAL: Duration = Duration::from_secs(2);

/// async-nats's own request timeouts are set this much past the
/// operation bound, so that the bound (and its typed error) fires first.
const INNER_SLACK: Duration = Duration::from_secs(1);

/// The pause between attempts to set up the streams while JetStream has
/// no leader.
const SETUP_RETRY: Duration = Duration::from_millis(250);

/// One faxnotify server's connection to the cluster's bus.
///
/// Cheap to clone (one shared connection). Every call is bounded by the
/// configured [`Timeouts`](crate::Timeouts); the connection itself
/// reconnects on its own to any NATS server of the cluster, so a failed
/// call can simply be retried later.
#[derive(Clone)]
pub struct Bus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) link: Link,
    pub(crate) js: jetstream::Context,
    pub(crate) log: stream::Stream,
    pub(crate) reports: stream::Stream,
    pub(crate) sessions: stream::Stream,
    pub(crate) names: Names,
    pub(crate) config: BusConfig,
    pub(crate) origin: ServerId,
    pub(crate) secret: ClusterSecret,
    /// The counter half of the next [`PublishId`](crate::PublishId).
    pub(crate) next_publish: AtomicU64,
    /// Requests that read the sessions bucket (records loaded, index
    /// listings), for [`Bus::session_reads`].
    pub(crate) session_reads: AtomicU64,
    /// Listings of the sessions bucket's keys (also in `session_reads`),
    /// for [`Bus::session_listings`].
    pub(crate) session_listings: AtomicU64,
    /// Reads of the sweep record, for [`Bus::sweep_record_reads`].
    pub(crate) sweep_reads: AtomicU64,
    /// Records without an index entry known never to count
    /// (`index_upgrade.rs`).
    pub(crate) unindexed: std::sync::Mutex<crate::index_upgrade::Unindexed>,
    /// What the sweep record said of the index when last read
    /// (`sweeper.rs`).
    pub(crate) index_view: std::sync::Mutex<crate::sweeper::View>,
}

impl Bus {
    /// Connects to the first reachable server of `config.urls` and creates
    /// the log, the reports stream and the sessions bucket, or checks that
    /// the existing ones have the settings this version relies on.
    ///
    /// `origin` names this server in the log's headers, in publish ids and
    /// in the reports subject it reads; `secret` seals session records.
    pub async fn connect(
        config: BusConfig,
        origin: ServerId,
        secret: ClusterSecret,
    ) -> Result<Bus, BusError> {
        config.validate()?;
        let bound = config.timeouts.connect;
        let options = ConnectOptions::new()
            .name(format!("faxnotify {origin}"))
            .connection_timeout(bound)
            .request_timeout(Some(config.timeouts.operation + INNER_SLACK))
            .ping_interval(PING_INTERVAL)
            // Reconnect for as long as the server runs: each call is
            // bounded on its own, and a server with no bus refuses work.
            .max_reconnects(None)
            .event_callback(|event| async move { log_event(&event) });
        let client = tokio::time::timeout(bound, options.connect(config.urls.as_slice()))
            .await
            .map_err(|_| BusError::Unreachable {
                detail: format!(
                    "no answer from {} within {} ms",
                    config.urls.join(", "),
                    bound.as_millis()
                ),
            })?
            .map_err(|err| BusError::Unreachable {
                detail: format!("cannot connect to {}: {err}", config.urls.join(", ")),
            })?;
        let link = Link::new(client.clone(), &config.urls);
        let js = jetstream::ContextBuilder::new()
            .timeout(config.timeouts.operation + INNER_SLACK)
            .ack_timeout(config.timeouts.operation + INNER_SLACK)
            .build(client);
        let names = Names::new(&config);
        let assets = set_up(&js, &link, &names, &config).await?;
        Ok(Bus {
            inner: Arc::new(Inner {
                link,
                js,
                log: assets.log,
                reports: assets.reports,
                sessions: assets.sessions,
                names,
                config,
                origin,
                secret,
                next_publish: AtomicU64::new(1),
                session_reads: AtomicU64::new(0),
                session_listings: AtomicU64::new(0),
                sweep_reads: AtomicU64::new(0),
                unindexed: crate::index_upgrade::unindexed(),
                index_view: crate::sweeper::view(),
            }),
        })
    }

    /// This server's id on the bus.
    pub fn origin(&self) -> ServerId {
        self.inner.origin
    }

    /// Whether the client has a connection to a NATS server right now (a
    /// hint; only a call's result says whether the bus works).
    pub fn is_connected(&self) -> bool {
        self.inner.link.client().connection_state() == async_nats::connection::State::Connected
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("origin", &self.inner.origin)
            .field("urls", &self.inner.config.urls)
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

/// Runs [`setup::ensure`] until it succeeds or the connect bound runs out:
/// right after a NATS node died, JetStream answers nothing until it has
/// elected a new leader (a few seconds), which is no reason to give up.
async fn set_up(
    js: &jetstream::Context,
    link: &Link,
    names: &Names,
    config: &BusConfig,
) -> Result<setup::Assets, BusError> {
    const OPERATION: &str = "setting up the cluster's streams";
    let bound = config.timeouts.connect;
    let deadline = tokio::time::Instant::now() + bound;
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, setup::ensure(js, link, names, config)).await {
            Ok(Ok(assets)) => return Ok(assets),
            Ok(Err(err @ (BusError::Misconfigured { .. } | BusError::Config(_)))) => {
                return Err(err);
            }
            Ok(Err(err)) => last = Some(err),
            Err(_) => {
                return Err(
                    last.unwrap_or_else(|| link.failed(OPERATION, &"no answer", Some(bound)))
                );
            }
        }
        if tokio::time::Instant::now() + SETUP_RETRY >= deadline {
            return Err(last.expect("set just above"));
        }
        tokio::time::sleep(SETUP_RETRY).await;
    }
}

fn log_event(event: &Event) {
    match event {
        Event::Connected => tracing::info!("connected to the cluster bus"),
        Event::Disconnected => tracing::warn!("lost the connection to the cluster bus"),
        other => tracing::debug!(event = %other, "cluster bus event"),
    }
}
