//! The server's metrics, and how events and `notify` results feed them.
//!
//! Counters are atomics and the latency map sits behind a mutex held for a
//! few map operations, so [`Recorder::observe`] is safe on the thread that
//! drains the runtime's events (it must never block). The session gauges
//! are not kept up to date event by event: they are read from the server's
//! own session list when Prometheus scrapes, so they cannot drift.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use faxnotify_cluster::{LogPos, PublishError, Report};
use faxnotify_core::server::{DeliveryPath, Event, NotifyReport, Refusal, Refused, SessionInfo};
use faxnotify_core::wire::CallbackState;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::cluster::ClusterMetrics;
use super::latency::Latencies;
use crate::runtime::ServerOps;
use crate::runtime::cluster::ClusterOps;

/// One label: its name and value.
type Label = [(&'static str, &'static str); 1];
/// The session gauge's labels: delivery path and callback state.
type SessionLabels = [(&'static str, &'static str); 2];

/// The session gauge's delivery paths.
const PATHS: [&str; 3] = ["none", "callback", "backchannel"];
/// The session gauge's callback states: none sent yet, or the one sent.
fn states() -> impl Iterator<Item = &'static str> {
    std::iter::once("none").chain(CallbackState::ALL.iter().map(|s| s.name()))
}

/// Every reason a connection is refused, as labelled.
const REFUSALS: [&str; 5] = [
    "too_many_failed_logins",
    "too_many_unauthenticated",
    "busy",
    "shutting_down",
    "displaced",
];
/// Every reason a notification is refused, as labelled.
const REFUSED: [&str; 3] = ["no_such_session", "queue_full", "payload_too_large"];

#[derive(Debug)]
struct Metrics {
    registry: Registry,
    sessions: Family<SessionLabels, Gauge>,
    queued: Gauge,
    accepted: Counter,
    delivered: Counter,
    undelivered: Counter,
    refused: Family<Label, Counter>,
    latency: Histogram,
    logins: Family<Label, Counter>,
    connections_refused: Family<Label, Counter>,
    latencies: Mutex<Latencies>,
    /// Cluster mode's series (`--cluster` only).
    cluster: Option<ClusterMetrics>,
}

/// Records the server's activity as Prometheus metrics (cheap to clone:
/// every clone records into the same registry).
#[derive(Clone, Debug)]
pub struct Recorder(Arc<Metrics>);

impl Default for Recorder {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Recorder {
    /// A recorder for a server in cluster mode: the server's series and
    /// the cluster's (`faxnotify_cluster_…`).
    pub fn for_cluster() -> Self {
        Self::new(true)
    }

    fn new(clustered: bool) -> Self {
        let mut registry = Registry::with_prefix("faxnotify");
        let sessions = Family::<SessionLabels, Gauge>::default();
        registry.register(
            "sessions",
            "Live sessions by delivery path (callback, backchannel, none) and the \
             last callback state sent to the client (reachable, unreachable, backchannel, none)",
            sessions.clone(),
        );
        let queued = Gauge::default();
        registry.register(
            "queued_notifications",
            "Notifications held by all sessions and not yet acknowledged",
            queued.clone(),
        );
        let accepted = Counter::default();
        registry.register(
            "notifications_accepted",
            "Notifications queued for a session (one per recipient session)",
            accepted.clone(),
        );
        let delivered = Counter::default();
        registry.register(
            "notifications_delivered",
            "Notifications a client acknowledged",
            delivered.clone(),
        );
        let undelivered = Counter::default();
        registry.register(
            "notifications_undelivered",
            "Notifications that died with their session, unacknowledged",
            undelivered.clone(),
        );
        let refused = Family::<Label, Counter>::default();
        registry.register(
            "notifications_refused",
            "Notifications a session did not queue, by reason",
            refused.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register_with_unit(
            "delivery_latency",
            "Time from queueing a notification to the client's acknowledgement",
            Unit::Seconds,
            latency.clone(),
        );
        let logins = Family::<Label, Counter>::default();
        registry.register(
            "logins",
            "Logins by result (ok: a session opened or resumed; failed)",
            logins.clone(),
        );
        let connections_refused = Family::<Label, Counter>::default();
        registry.register(
            "connections_refused",
            "Control connections refused before login, by reason",
            connections_refused.clone(),
        );
        // Every known series exists from the start, at zero: Prometheus's
        // rate() and absent() then work before the first event of a kind.
        for path in PATHS {
            for state in states() {
                let _ = sessions.get_or_create(&[("path", path), ("callback_state", state)]);
            }
        }
        for result in ["ok", "failed"] {
            let _ = logins.get_or_create(&[("result", result)]);
        }
        for reason in REFUSALS {
            let _ = connections_refused.get_or_create(&[("reason", reason)]);
        }
        for reason in REFUSED {
            let _ = refused.get_or_create(&[("reason", reason)]);
        }
        let cluster = clustered.then(|| ClusterMetrics::register(&mut registry));
        Recorder(Arc::new(Metrics {
            registry,
            sessions,
            queued,
            accepted,
            delivered,
            undelivered,
            refused,
            latency,
            logins,
            connections_refused,
            latencies: Mutex::default(),
            cluster,
        }))
    }

    fn latencies(&self) -> MutexGuard<'_, Latencies> {
        self.0
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes note of one server event. Never blocks.
    pub fn observe(&self, event: &Event) {
        let m = &self.0;
        match event {
            Event::SessionOpened { .. } | Event::SessionResumed { .. } => {
                m.logins.get_or_create(&[("result", "ok")]).inc();
            }
            Event::LoginFailed { .. } => {
                m.logins.get_or_create(&[("result", "failed")]).inc();
            }
            Event::ConnectionRefused { reason, .. } => {
                m.connections_refused
                    .get_or_create(&[("reason", refusal(*reason))])
                    .inc();
            }
            Event::Delivered {
                session,
                first_seq,
                last_seq,
            } => {
                m.delivered
                    .inc_by(last_seq.saturating_sub(*first_seq).saturating_add(1));
                let times = self
                    .latencies()
                    .acknowledged(*session, *last_seq, Instant::now());
                for time in times {
                    m.latency.observe(time.as_secs_f64());
                }
            }
            Event::Undelivered {
                session,
                notifications,
                ..
            } => {
                m.undelivered.inc_by(notifications.len() as u64);
                self.latencies().ended(*session);
            }
            Event::SessionClosed { session, .. } => self.latencies().ended(*session),
            _ => {}
        }
    }

    /// Takes note of what `notify` did with a notification it was asked to
    /// queue at `asked`.
    pub fn notified(&self, report: &NotifyReport, asked: Instant) {
        let m = &self.0;
        m.accepted.inc_by(report.accepted.len() as u64);
        for (_, why) in &report.refused {
            m.refused.get_or_create(&[("reason", refused(why))]).inc();
        }
        let mut early: Vec<Duration> = Vec::new();
        {
            let mut latencies = self.latencies();
            for accepted in &report.accepted {
                early.extend(latencies.queued(accepted.session, accepted.seq, asked));
            }
        }
        for time in early {
            m.latency.observe(time.as_secs_f64());
        }
    }

    /// Takes note of what the shared log did with a notification the admin
    /// socket published (cluster mode).
    pub fn published(&self, result: &Result<LogPos, PublishError>) {
        if let Some(cluster) = &self.0.cluster {
            cluster.published(result);
        }
    }

    /// Takes note of a delivery report read from the bus (cluster mode).
    pub fn reported(&self, report: &Report) {
        if let Some(cluster) = &self.0.cluster {
            cluster.reported(report);
        }
    }

    /// The metrics in the Prometheus text format (version 0.0.4), with the
    /// session gauges read from `server` now, and in cluster mode the
    /// node's gauges from `cluster`.
    pub fn scrape(&self, server: &dyn ServerOps, cluster: Option<&dyn ClusterOps>) -> String {
        let m = &self.0;
        if let (Some(metrics), Some(cluster)) = (&m.cluster, cluster) {
            metrics.refresh(cluster);
        }
        // A stopped server has no sessions to list: the gauges then read
        // as none.
        let sessions = server.sessions().unwrap_or_default();
        let mut counts: HashMap<SessionLabels, i64> = HashMap::new();
        let mut queued = 0i64;
        for session in &sessions {
            *counts.entry(session_labels(session)).or_default() += 1;
            queued = queued.saturating_add(i64::try_from(session.queue_depth).unwrap_or(i64::MAX));
        }
        // Scrapes run one at a time (one metrics thread), so setting every
        // series in turn cannot interleave with another scrape.
        for path in PATHS {
            for state in states() {
                let labels = [("path", path), ("callback_state", state)];
                m.sessions
                    .get_or_create(&labels)
                    .set(counts.remove(&labels).unwrap_or(0));
            }
        }
        for (labels, count) in counts {
            m.sessions.get_or_create(&labels).set(count);
        }
        m.queued.set(queued);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &m.registry);
        text
    }
}

fn session_labels(session: &SessionInfo) -> SessionLabels {
    let path = match session.path {
        DeliveryPath::None => "none",
        DeliveryPath::Callback(_) => "callback",
        DeliveryPath::Backchannel(_) => "backchannel",
        _ => "other",
    };
    let state = session.callback_state.map_or("none", CallbackState::name);
    [("path", path), ("callback_state", state)]
}

fn refusal(reason: Refusal) -> &'static str {
    match reason {
        Refusal::TooManyFailedLogins => "too_many_failed_logins",
        Refusal::TooManyUnauthenticated => "too_many_unauthenticated",
        Refusal::Busy => "busy",
        Refusal::ShuttingDown => "shutting_down",
        Refusal::Displaced => "displaced",
        _ => "other",
    }
}

fn refused(why: &Refused) -> &'static str {
    match why {
        Refused::NoSuchSession => "no_such_session",
        Refused::QueueFull { .. } => "queue_full",
        Refused::PayloadTooLarge { .. } => "payload_too_large",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use faxnotify_core::server::{Accepted, Target};
    use faxnotify_core::wire::Notification;
    use faxnotify_core::{ConnId, SessionId};

    use super::*;
    use crate::runtime::EndSessionError;

    /// A server with no sessions.
    struct Empty;

    impl ServerOps for Empty {
        fn notify(&self, _: Target, _: &Notification) -> Result<NotifyReport, String> {
            Err("not here".into())
        }
        fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
            Ok(Vec::new())
        }
        fn end_session(&self, _: SessionId) -> Result<(), EndSessionError> {
            Err(EndSessionError::Stopped)
        }
        fn begin_shutdown(&self) {}
        fn set_tls_identity(&self, _: faxnotify_core::tls::ServerIdentity) -> Result<(), String> {
            Err("not here".into())
        }
    }

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn refusals_count_by_reason_and_an_early_acknowledgement_is_timed() {
        let recorder = Recorder::default();
        let session = SessionId::new(9).unwrap();
        for _ in 0..2 {
            recorder.observe(&Event::ConnectionRefused {
                conn: ConnId::from_raw(1),
                peer: "10.0.0.7:4000".parse().unwrap(),
                reason: Refusal::Busy,
            });
        }
        // The acknowledgement is drained before `notify` returns.
        let asked = Instant::now();
        recorder.observe(&Event::Delivered {
            session,
            first_seq: 1,
            last_seq: 1,
        });
        let mut report = NotifyReport::default();
        report.accepted.push(Accepted { session, seq: 1 });
        report
            .refused
            .push((session, Refused::QueueFull { limit: 1 }));
        recorder.notified(&report, asked);

        let text = recorder.scrape(&Empty, None);
        let get =
            |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
        assert_eq!(
            get("faxnotify_connections_refused_total{reason=\"busy\"}"),
            "2"
        );
        assert_eq!(
            get("faxnotify_connections_refused_total{reason=\"displaced\"}"),
            "0"
        );
        assert_eq!(
            get("faxnotify_notifications_refused_total{reason=\"queue_full\"}"),
            "1"
        );
        assert_eq!(get("faxnotify_notifications_accepted_total"), "1");
        assert_eq!(get("faxnotify_notifications_delivered_total"), "1");
        assert_eq!(get("faxnotify_delivery_latency_seconds_count"), "1");
        assert_eq!(
            get("faxnotify_sessions{path=\"callback\",callback_state=\"reachable\"}"),
            "0"
        );
        assert_eq!(sample(&text, "faxnotify_cluster_bus_available"), None);
    }

    /// A cluster node that has lost its bus and holds three sessions.
    struct Cut;

    impl ClusterOps for Cut {
        fn publish(
            &self,
            _: &str,
            _: &faxnotify_core::wire::EncodedNotification,
        ) -> Result<LogPos, PublishError> {
            Err(PublishError::BusUnavailable)
        }
        fn sessions_of(&self, _: &str, _: u64) -> Result<Vec<u64>, String> {
            Ok(Vec::new())
        }
        fn health(&self) -> Option<crate::runtime::cluster::ClusterHealth> {
            let mut footprint = faxnotify_cluster::Footprint::default();
            footprint.held_sessions = 3;
            footprint.reports_queued = 2;
            Some(crate::runtime::cluster::ClusterHealth {
                bus_available: false,
                footprint,
            })
        }
    }

    #[test]
    fn a_cluster_servers_bus_and_publishes_are_exported() {
        let recorder = Recorder::for_cluster();
        recorder.published(&Ok(LogPos::start_of(faxnotify_cluster::LogSeq(4))));
        recorder.published(&Err(PublishError::BusUnavailable));
        recorder.published(&Err(PublishError::BusUnavailable));
        let text = recorder.scrape(&Empty, Some(&Cut));
        let get =
            |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
        assert_eq!(get("faxnotify_cluster_bus_available"), "0");
        assert_eq!(get("faxnotify_cluster_held_sessions"), "3");
        assert_eq!(get("faxnotify_cluster_reports_queued"), "2");
        assert_eq!(get("faxnotify_cluster_notifications_published_total"), "1");
        assert_eq!(
            get("faxnotify_cluster_publish_refused_total{reason=\"bus_unavailable\"}"),
            "2"
        );
        // Every reason exists from the start, at zero.
        for reason in ["backlog", "unknown"] {
            assert_eq!(
                get(&format!(
                    "faxnotify_cluster_publish_refused_total{{reason=\"{reason}\"}}"
                )),
                "0"
            );
        }
        assert_eq!(
            get("faxnotify_cluster_reports_total{outcome=\"delivered\"}"),
            "0"
        );
    }
}
