//! faxnotify in cluster mode [D-17] on tokio: one server process of a
//! cluster run, a [`ClusterNode`] (a `faxnotify-tokio` server glued to the
//! NATS JetStream bus) on a current-thread runtime run by one thread, as
//! the standalone tokio server has, with the load application on the main
//! thread. Its clients are the tokio clients ([`super::fnp_tokio::clients`]).
//!
//! **How notifications are submitted.** The application is in the server's
//! process, so it submits each notification the way the admin socket does
//! in cluster mode (`faxnotify notify` against `server --cluster`): through
//! [`ClusterNode::publish`], which answers once JetStream stored the
//! notification on a quorum. It is not posted to the session: the node's
//! log reader hands it to the session, with the seq the log gives it, like
//! any notification published on the bus by another server or a fax engine.
//! A separate publisher process would measure the same path plus one more
//! process's CPU; in-process keeps the server's CPU and the publishes in one
//! figure, as the standalone row counts its `notify` calls.
//!
//! Each server publishes for the sessions logged in to it (their users),
//! keeping at most `outstanding` published and not yet acknowledged per
//! session: the same closed loop as the standalone rows ([`super::producer`]),
//! every publish a task of its own, so up to N × `outstanding` are in
//! flight on the bus.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use faxnotify_cluster::{Bus, BusConfig, ClusterNode, ClusterSecret, NodeEvent, NodeEvents};
use faxnotify_cluster::{NodeTimings, ServerId};
use faxnotify_core::SessionId;
use faxnotify_core::server::{Event, Target};
use faxnotify_core::wire::EncodedNotification;
use faxnotify_runtime::PostReport;
use faxnotify_tokio::{Options, TaskRunner};
use futures_lite::future;

use super::messages::{self, ChildMsg, ClusterSpec, Spec};
use super::producer::{self, Seen, ServerApi};
use super::sys;
use super::tokio_clients::TokioThreads;

/// The bus settings of a run: its own prefix (so a run starts with an
/// empty log) and a log large enough for the run.
pub fn bus_config(cluster: &ClusterSpec) -> BusConfig {
    let mut config = BusConfig::new(cluster.urls.clone());
    config.prefix = cluster.prefix.clone();
    config.log_max_bytes = cluster.log_max_bytes;
    config
}

struct ClusterServer<'a> {
    threads: &'a TokioThreads,
    node: ClusterNode,
    events: NodeEvents,
    /// The user of each session this server holds.
    users: HashMap<SessionId, Arc<str>>,
    /// Why publishes were refused (the first few), and how many.
    refused: Arc<Mutex<(u64, Vec<String>)>>,
}

impl ServerApi for ClusterServer<'_> {
    fn post_batch(&mut self, batch: &mut Vec<(Target, EncodedNotification)>) -> Result<(), String> {
        for (target, note) in batch.drain(..) {
            let Target::Session(session) = target else {
                return Err("a cluster run notifies sessions' users only".into());
            };
            let user = self
                .users
                .get(&session)
                .cloned()
                .ok_or_else(|| format!("no user known for session {session}"))?;
            let node = self.node.clone();
            let refused = Arc::clone(&self.refused);
            // Fire and forget, like the standalone posts: the closed loop
            // learns of the notification from the session's acknowledgement.
            drop(self.threads.handle().spawn(async move {
                if let Err(e) = node.publish(&user, &note).await {
                    let mut refused = refused.lock().unwrap_or_else(PoisonError::into_inner);
                    refused.0 += 1;
                    if refused.1.len() < 3 {
                        refused.1.push(e.to_string());
                    }
                }
            }));
        }
        Ok(())
    }

    fn take_post_report(&mut self) -> PostReport {
        // Refusals of the bus are not a session's refusals: see `check`.
        PostReport::default()
    }

    fn check(&mut self) -> Result<(), String> {
        let refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.0 == 0 {
            return Ok(());
        }
        Err(format!(
            "{} notifications not accepted by the cluster: {}",
            refused.0,
            refused.1.join("; ")
        ))
    }

    fn next_event(&mut self, timeout: Duration) -> Option<Seen> {
        let event = if timeout.is_zero() {
            // Whatever is already queued, without waiting.
            future::block_on(future::poll_once(self.events.next())).flatten()
        } else {
            // A failed publish produces no event: wake up to `check`.
            let timeout = timeout.min(Duration::from_millis(200));
            let events = &mut self.events;
            self.threads
                .handle()
                .block_on(async { tokio::time::timeout(timeout, events.next()).await })
                .ok()
                .flatten()
        };
        Some(match event? {
            NodeEvent::Server(Event::SessionOpened { session, user, .. }) => {
                self.users.insert(session, user);
                Seen::Nothing
            }
            // Every login of a cluster core asks the node for its record
            // first; the node has answered it.
            NodeEvent::Server(Event::ClaimSession { .. }) => Seen::Nothing,
            NodeEvent::Server(event) => super::fnp_mio::seen(event),
            NodeEvent::BusAvailable(false) => Seen::Note("the node lost the bus".into()),
            _ => Seen::Nothing,
        })
    }
}

/// The server process of a cluster run.
pub fn server(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let cluster = spec.cluster.as_ref().ok_or("no cluster in the spec")?;
    let threads = TokioThreads::start(1, "load-cluster-server")?;
    let mut options = Options::default();
    options.runner = TaskRunner::Handle(threads.handle().clone());
    options.post_capacity = producer::post_capacity(spec);
    let secret = ClusterSecret::from_bytes(&cluster.secret);
    let origin = ServerId::random().map_err(|e| format!("cannot draw a server id: {e}"))?;
    let config = producer::config(spec)?;
    let users = producer::users(cluster.users)?;
    let started = threads.handle().block_on(async {
        let bus = Bus::connect(bus_config(cluster), origin, secret)
            .await
            .map_err(|e| format!("cannot join the cluster: {e}"))?;
        ClusterNode::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            users,
            bus,
            NodeTimings::default(),
            options,
        )
        .await
        .map_err(|e| e.to_string())
    });
    let (node, events) = started?;
    messages::send(&ChildMsg::Listening {
        addr: node.local_addr(),
    });
    let mut api = ClusterServer {
        threads: &threads,
        node: node.clone(),
        events,
        users: HashMap::new(),
        refused: Arc::default(),
    };
    let result = producer::run(spec, &mut api, None);
    threads.handle().block_on(node.shutdown());
    drop(api);
    threads.stop();
    result
}
