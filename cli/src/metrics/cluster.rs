//! Cluster mode's own metrics (`faxnotify server --cluster --metrics`):
//! whether the server has the bus and what it holds and has queued for it,
//! read from the node at each scrape (so they cannot drift), and what went
//! to and came from the shared log: notifications the admin socket
//! published, publishes refused by reason, and the delivery reports of
//! this server's notifications.

use std::sync::Arc;

use faxnotify_cluster::{LogPos, Outcome, PublishError, Report};
use faxnotify_core::wire::EncodedNotification;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Recorder;
use crate::runtime::cluster::{ClusterControl, ClusterHealth, ClusterOps};

/// One label: its name and value.
type Label = [(&'static str, &'static str); 1];

/// Every reason a publish is refused, as labelled.
const PUBLISH_REFUSALS: [&str; 6] = [
    "bus_unavailable",
    "bus_error",
    "unknown",
    "backlog",
    "stopped",
    "other",
];
/// Every report outcome, as labelled.
const OUTCOMES: [&str; 2] = ["delivered", "undelivered"];

/// The cluster's series, registered beside the server's.
#[derive(Debug)]
pub(super) struct ClusterMetrics {
    bus_available: Gauge,
    held_sessions: Gauge,
    readers: Gauge,
    reports_queued: Gauge,
    publishes_queued: Gauge,
    published: Counter,
    publish_refused: Family<Label, Counter>,
    reports: Family<Label, Counter>,
}

impl ClusterMetrics {
    /// Registers the cluster's series in `registry`, every label at zero.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            bus_available: Gauge::default(),
            held_sessions: Gauge::default(),
            readers: Gauge::default(),
            reports_queued: Gauge::default(),
            publishes_queued: Gauge::default(),
            published: Counter::default(),
            publish_refused: Family::default(),
            reports: Family::default(),
        };
        registry.register(
            "cluster_bus_available",
            "1 while this server has the cluster bus (NATS JetStream), 0 while it has lost it \
             and refuses logins and notifications it cannot make durable",
            m.bus_available.clone(),
        );
        registry.register(
            "cluster_held_sessions",
            "Sessions this server holds (serves) for the cluster",
            m.held_sessions.clone(),
        );
        registry.register(
            "cluster_log_readers",
            "Readers of the shared log (one per user with a session held here)",
            m.readers.clone(),
        );
        registry.register(
            "cluster_reports_queued",
            "Delivery reports waiting to be stored on the bus",
            m.reports_queued.clone(),
        );
        registry.register(
            "cluster_publishes_queued",
            "Notifications waiting for their log message to be stored",
            m.publishes_queued.clone(),
        );
        registry.register(
            "cluster_notifications_published",
            "Notifications this server's admin socket published to the shared log, stored \
             durably (one per user)",
            m.published.clone(),
        );
        registry.register(
            "cluster_publish_refused",
            "Notifications not accepted by the shared log, by reason (unknown and stopped: \
             perhaps stored all the same, their acknowledgement lost)",
            m.publish_refused.clone(),
        );
        registry.register(
            "cluster_reports",
            "Delivery reports of this server's notifications, read from the bus, by outcome",
            m.reports.clone(),
        );
        for reason in PUBLISH_REFUSALS {
            let _ = m.publish_refused.get_or_create(&[("reason", reason)]);
        }
        for outcome in OUTCOMES {
            let _ = m.reports.get_or_create(&[("outcome", outcome)]);
        }
        m
    }

    /// Sets the gauges from the node's state now (a stopped node reads as
    /// without the bus and holding nothing).
    pub(super) fn refresh(&self, cluster: &dyn ClusterOps) {
        let health = cluster.health();
        let footprint = health.map(|h| h.footprint).unwrap_or_default();
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.bus_available
            .set(i64::from(health.is_some_and(|h| h.bus_available)));
        self.held_sessions.set(gauge(footprint.held_sessions));
        self.readers.set(gauge(footprint.readers));
        self.reports_queued.set(gauge(footprint.reports_queued));
        self.publishes_queued.set(gauge(footprint.publishes_queued));
    }

    /// Counts one publish's outcome.
    pub(super) fn published(&self, result: &Result<LogPos, PublishError>) {
        match result {
            Ok(_) => {
                self.published.inc();
            }
            Err(err) => {
                let reason = match err {
                    PublishError::BusUnavailable => "bus_unavailable",
                    PublishError::Bus(_) => "bus_error",
                    // Not accepted, yet perhaps stored (its ack was lost).
                    PublishError::Unknown(_) => "unknown",
                    PublishError::Backlog { .. } => "backlog",
                    PublishError::Stopped => "stopped",
                    _ => "other",
                };
                self.publish_refused
                    .get_or_create(&[("reason", reason)])
                    .inc();
            }
        }
    }

    /// Counts one report read from the bus.
    pub(super) fn reported(&self, report: &Report) {
        let outcome = match report.outcome {
            Outcome::Delivered => "delivered",
            _ => "undelivered",
        };
        self.reports.get_or_create(&[("outcome", outcome)]).inc();
    }
}

/// [`ClusterOps`] that record what `publish` did.
struct MeteredCluster {
    inner: ClusterControl,
    recorder: Recorder,
}

/// `cluster` with every publish recorded into `recorder`.
pub fn metered_cluster(inner: ClusterControl, recorder: Recorder) -> ClusterControl {
    Arc::new(MeteredCluster { inner, recorder })
}

impl ClusterOps for MeteredCluster {
    fn publish(
        &self,
        user: &str,
        notification: &EncodedNotification,
    ) -> Result<LogPos, PublishError> {
        let result = self.inner.publish(user, notification);
        self.recorder.published(&result);
        result
    }

    fn sessions_of(&self, user: &str, at: u64) -> Result<Vec<u64>, String> {
        self.inner.sessions_of(user, at)
    }

    fn health(&self) -> Option<ClusterHealth> {
        self.inner.health()
    }
}
