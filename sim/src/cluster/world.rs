//! The cluster simulator's world: server nodes, client cores, the network
//! between them, the bus, the virtual clock and the event queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faxnotify_core::client::{
    Client, ClientConfig, Event as ClientEvent, ListenPolicy, NetworkSettings,
};
use faxnotify_core::io::{ConnectError, Input};
use faxnotify_core::server::{MemoryUserStore, Output as ServerOutput};
use faxnotify_core::wire::{Notification, Role};
use faxnotify_core::{ConnId, SessionId};

use super::bus::{Bus, Entry};
use super::node::Node;
use super::scenario::{Action, ClusterScenario};
use crate::net::{SERVER_ADDR, host_ip};
use crate::rng::SimRng;

/// Lines of log kept for a violation's report.
const LOG_TAIL: usize = 60;
/// How often nodes renew leases, persist acknowledgements and read the log.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Tunables of a cluster run.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// How long the healed system runs before the final checks.
    pub settle: Duration,
}

impl ClusterConfig {
    /// The defaults for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            settle: Duration::from_secs(60),
        }
    }
}

/// What a successful cluster run did.
#[derive(Clone, Debug)]
pub struct ClusterReport {
    /// The seed.
    pub seed: u64,
    /// Server nodes.
    pub nodes: usize,
    /// Client cores.
    pub clients: usize,
    /// Notifications accepted (appended to the log).
    pub accepted: u64,
    /// Notifications handed to client applications (every session of the
    /// user gets its own copy).
    pub handed: u64,
    /// Virtual time simulated.
    pub virtual_time: Duration,
    /// How often each failure path was exercised (servers killed, resumes
    /// restored elsewhere, compare-and-set races lost, ...).
    pub observed: BTreeMap<String, u64>,
}

/// A broken invariant of a cluster run.
#[derive(Clone, Debug)]
pub struct ClusterViolation {
    /// The seed.
    pub seed: u64,
    /// Virtual time of the failure.
    pub at: Duration,
    /// What broke.
    pub message: String,
    /// The last lines of the log.
    pub log_tail: Vec<String>,
}

impl fmt::Display for ClusterViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cluster seed {} at {:.3}s: {}",
            self.seed,
            self.at.as_secs_f64(),
            self.message
        )?;
        for line in &self.log_tail {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ClusterViolation {}

pub(crate) type Step<T = ()> = Result<T, String>;

#[derive(Debug)]
pub(crate) enum Ev {
    Connected(u64),
    ToServer(u64, Vec<u8>),
    ToClient(u64, Vec<u8>),
    ServerSideClosed(u64),
    ClientSideClosed(u64),
    Bus(usize, u64, super::node::BusOp),
    /// A bus answer the node hears (one that waited while it was frozen).
    BusReply(usize, u64, super::node::BusReply),
    /// Bytes (or, `None`, the close) that waited in a frozen node's socket
    /// for its server connection: pinned to it when they arrived, since the
    /// client side may forget the link before the node wakes.
    ServerInput(usize, u64, ConnId, Option<Vec<u8>>),
    Tick,
    Act(Action),
}

/// One TCP connection from a client to a node.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) client: usize,
    pub(crate) client_conn: ConnId,
    pub(crate) node: usize,
    pub(crate) incarnation: u64,
    pub(crate) server_conn: Option<ConnId>,
    pub(crate) dead: bool,
    to_server_at: Duration,
    to_client_at: Duration,
}

pub(crate) struct ClientNode {
    pub(crate) core: Client,
    pub(crate) user: String,
    pub(crate) session: Option<SessionId>,
    pub(crate) links: BTreeMap<ConnId, u64>,
    pub(crate) finished: bool,
}

/// The world.
pub(crate) struct World {
    pub(crate) seed: u64,
    pub(crate) rng: SimRng,
    base: Instant,
    pub(crate) now: Duration,
    events: BinaryHeap<Reverse<(Duration, u64)>>,
    payloads: BTreeMap<u64, Ev>,
    next_ev: u64,
    pub(crate) nodes: Vec<Node>,
    pub(crate) clients: Vec<ClientNode>,
    pub(crate) links: BTreeMap<u64, Link>,
    pub(crate) server_links: BTreeMap<(usize, u64, ConnId), u64>,
    next_link: u64,
    pub(crate) bus: Bus,
    next_entry: u64,
    /// How many of its user's notifications precede each session's seq 1.
    pub(crate) starts: BTreeMap<SessionId, (String, usize)>,
    /// What each session's client application was handed: entry ids by seq.
    pub(crate) handed: BTreeMap<SessionId, Vec<u64>>,
    pub(crate) observed: BTreeMap<String, u64>,
    pub(crate) logging_out: bool,
    /// Records created whose creator never heard so (its answer lost, or
    /// its process killed before it woke): nobody opens, renews or deletes
    /// them, and the real bucket drops them when their lease and grace run
    /// out. The only records the final check allows.
    pub(crate) orphans: BTreeSet<SessionId>,
    accepted: u64,
    log: Vec<String>,
}

fn users(clients: usize, users: usize) -> MemoryUserStore {
    let mut store = MemoryUserStore::new();
    for u in 0..users.min(clients) {
        store
            .add_password(
                &format!("user{u}"),
                &format!("password {u}"),
                &[u as u8; 16],
                4096,
                Role::User,
            )
            .expect("valid test credentials");
    }
    store
}

impl World {
    pub(crate) fn new(seed: u64, scenario: &ClusterScenario) -> Self {
        let mut rng = SimRng::new(seed ^ 0xc1a5_7e12);
        let base = Instant::now();
        let mut clients = Vec::new();
        for i in 0..scenario.clients {
            let u = i % scenario.users;
            let user = format!("user{u}");
            let mut config = ClientConfig::new(
                SERVER_ADDR,
                user.clone(),
                format!("password {u}"),
                NetworkSettings::new(ListenPolicy::None),
            );
            config.reconnect.max = Duration::from_secs(8);
            config.local_ip = Some(host_ip(i));
            let core = Client::new(config, rng.seed32(), base).expect("valid client config");
            clients.push(ClientNode {
                core,
                user,
                session: None,
                links: BTreeMap::new(),
                finished: false,
            });
        }
        let store = users(scenario.clients, scenario.users);
        let nodes = (0..scenario.nodes)
            .map(|i| Node::start(i, 1, &store, &mut rng))
            .collect();
        let mut world = Self {
            seed,
            rng,
            base,
            now: Duration::ZERO,
            events: BinaryHeap::new(),
            payloads: BTreeMap::new(),
            next_ev: 0,
            nodes,
            clients,
            links: BTreeMap::new(),
            server_links: BTreeMap::new(),
            next_link: 1,
            bus: Bus::default(),
            next_entry: 1,
            starts: BTreeMap::new(),
            handed: BTreeMap::new(),
            observed: BTreeMap::new(),
            logging_out: false,
            orphans: BTreeSet::new(),
            accepted: 0,
            log: Vec::new(),
        };
        for step in &scenario.steps {
            world.schedule(step.at, Ev::Act(step.action.clone()));
        }
        world.schedule(TICK, Ev::Tick);
        world
    }

    pub(crate) fn instant(&self) -> Instant {
        self.base + self.now
    }

    pub(crate) fn note(&mut self, line: impl fmt::Display) {
        let line = format!("{:>9.3} {line}", self.now.as_secs_f64());
        if self.log.len() >= 4 * LOG_TAIL {
            self.log.drain(..2 * LOG_TAIL);
        }
        self.log.push(line);
    }

    pub(crate) fn observe(&mut self, what: impl Into<String>) {
        *self.observed.entry(what.into()).or_default() += 1;
    }

    pub(crate) fn schedule(&mut self, at: Duration, ev: Ev) {
        let key = self.next_ev;
        self.next_ev += 1;
        self.payloads.insert(key, ev);
        self.events.push(Reverse((at, key)));
    }

    fn latency(&mut self) -> Duration {
        Duration::from_micros(self.rng.range(500, 20_000))
    }

    /// Runs the schedule, heals, settles, checks, logs everyone out.
    pub(crate) fn run(
        mut self,
        cfg: &ClusterConfig,
        scenario: &ClusterScenario,
    ) -> Result<ClusterReport, ClusterViolation> {
        match self.run_inner(cfg, scenario) {
            Ok(()) => {
                let handed = self.handed.values().map(|v| v.len() as u64).sum();
                Ok(ClusterReport {
                    seed: self.seed,
                    nodes: self.nodes.len(),
                    clients: self.clients.len(),
                    accepted: self.accepted,
                    handed,
                    virtual_time: self.now,
                    observed: self.observed,
                })
            }
            Err(message) => Err(ClusterViolation {
                seed: self.seed,
                at: self.now,
                message,
                log_tail: self
                    .log
                    .iter()
                    .rev()
                    .take(LOG_TAIL)
                    .rev()
                    .cloned()
                    .collect(),
            }),
        }
    }

    fn run_inner(&mut self, cfg: &ClusterConfig, scenario: &ClusterScenario) -> Step {
        for c in 0..self.clients.len() {
            self.drain_client(c)?;
        }
        self.run_until(scenario.length)?;
        self.note("heal");
        for n in 0..self.nodes.len() {
            self.heal_node(n)?;
        }
        self.run_until(self.now + cfg.settle)?;
        let users: Vec<String> = (0..scenario.users.min(scenario.clients))
            .map(|u| format!("user{u}"))
            .collect();
        for user in &users {
            self.publish_any(user, 1)?;
        }
        self.run_until(self.now + cfg.settle)?;
        self.check_complete()?;
        self.note("logout");
        self.logging_out = true;
        let now = self.instant();
        for c in 0..self.clients.len() {
            self.clients[c]
                .core
                .logout(now)
                .map_err(|e| format!("client {c} cannot log out: {e}"))?;
            self.drain_client(c)?;
        }
        self.run_until(self.now + Duration::from_secs(30))?;
        self.check_empty()
    }

    fn run_until(&mut self, end: Duration) -> Step {
        loop {
            let next_ev = self.events.peek().map(|Reverse((at, _))| *at);
            let next_timer = self.next_core_timer();
            let next = match (next_ev, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if next_timer.is_some_and(|t| t <= next) && next_ev.is_none_or(|e| e > next) {
                self.fire_timers()?;
                continue;
            }
            let Some(Reverse((_, key))) = self.events.pop() else {
                break;
            };
            let ev = self.payloads.remove(&key).ok_or("lost an event")?;
            self.handle(ev)?;
        }
        self.now = self.now.max(end);
        Ok(())
    }

    fn next_core_timer(&self) -> Option<Duration> {
        let clients = self.clients.iter().filter_map(|c| c.core.poll_timeout());
        let nodes = self.nodes.iter().filter_map(|n| n.poll_timeout());
        clients
            .chain(nodes)
            .min()
            .map(|t| t.saturating_duration_since(self.base))
    }

    fn fire_timers(&mut self) -> Step {
        let now = self.instant();
        for c in 0..self.clients.len() {
            if self.clients[c]
                .core
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.clients[c].core.handle_timeout(now);
                self.drain_client(c)?;
            }
        }
        for n in 0..self.nodes.len() {
            self.node_timers(n)?;
        }
        Ok(())
    }

    /// Fires the node core's due timers (none while it is frozen).
    fn node_timers(&mut self, n: usize) -> Step {
        let now = self.instant();
        if self.nodes[n].poll_timeout().is_some_and(|t| t <= now) {
            if let Some(core) = self.nodes[n].core.as_mut() {
                core.handle_timeout(now);
            }
            self.drain_node(n)?;
        }
        Ok(())
    }

    /// The frozen node `ev` is for, if it is for one: it waits, as in the
    /// node's socket buffers (a connection the kernel completes is
    /// accepted only when the process runs again).
    fn for_frozen(&self, ev: &Ev) -> Option<usize> {
        let node = match ev {
            Ev::Connected(id) | Ev::ToServer(id, _) | Ev::ServerSideClosed(id) => {
                self.links.get(id)?.node
            }
            Ev::BusReply(node, ..) => *node,
            _ => return None,
        };
        self.nodes[node].frozen.then_some(node)
    }

    /// `ev` as it waits for a frozen node: input for a connection it
    /// accepted is tied to that connection (a reset's close, above all,
    /// must reach the server even though the client forgot the link at
    /// once); what a dead link carried is dropped, as when it runs; input
    /// for a connection not accepted yet waits behind its `Connected`.
    fn pinned(&self, ev: Ev) -> Option<Ev> {
        let (id, data) = match &ev {
            Ev::ToServer(id, data) => (*id, Some(data.clone())),
            Ev::ServerSideClosed(id) => (*id, None),
            _ => return Some(ev),
        };
        let link = self.links.get(&id)?;
        let Some(sconn) = link.server_conn else {
            // Not accepted yet: its Connected waits ahead of it.
            return Some(ev);
        };
        if data.is_some() && link.dead {
            return None;
        }
        Some(Ev::ServerInput(link.node, link.incarnation, sconn, data))
    }

    fn handle(&mut self, ev: Ev) -> Step {
        if let Some(node) = self.for_frozen(&ev) {
            if let Some(ev) = self.pinned(ev) {
                self.nodes[node].waiting.push_back(ev);
            }
            return Ok(());
        }
        let now = self.instant();
        match ev {
            Ev::Connected(id) => {
                let Some(link) = self.links.get(&id) else {
                    return Ok(());
                };
                let (c, node, inc, cconn) =
                    (link.client, link.node, link.incarnation, link.client_conn);
                let up = self.nodes[node].is_up(inc);
                if !up {
                    self.clients[c].links.remove(&cconn);
                    self.links.remove(&id);
                    self.clients[c]
                        .core
                        .handle_input(
                            now,
                            Input::ConnectFailed {
                                conn: cconn,
                                error: ConnectError::Refused,
                            },
                        )
                        .map_err(|e| format!("client {c}: {e}"))?;
                    return self.drain_client(c);
                }
                let peer = SocketAddr::new(host_ip(c), 40_000 + (id % 20_000) as u16);
                let sconn = self.nodes[node]
                    .core
                    .as_mut()
                    .ok_or("node up without a core")?
                    .handle_accept(now, peer);
                if let Some(link) = self.links.get_mut(&id) {
                    link.server_conn = Some(sconn);
                }
                self.server_links.insert((node, inc, sconn), id);
                self.clients[c]
                    .core
                    .handle_input(now, Input::Connected { conn: cconn })
                    .map_err(|e| format!("client {c}: {e}"))?;
                self.drain_node(node)?;
                self.drain_client(c)
            }
            Ev::ToServer(id, data) => {
                let Some(link) = self.links.get(&id) else {
                    return Ok(());
                };
                let (node, inc) = (link.node, link.incarnation);
                let Some(sconn) = link.server_conn.filter(|_| !link.dead) else {
                    return Ok(());
                };
                if !self.nodes[node].is_up(inc) {
                    return Ok(());
                }
                if let Some(core) = self.nodes[node].core.as_mut() {
                    core.handle_input(
                        now,
                        Input::Received {
                            conn: sconn,
                            data: &data,
                        },
                    )
                    .map_err(|e| format!("node {node}: {e}"))?;
                }
                self.drain_node(node)
            }
            Ev::ToClient(id, data) => {
                let Some(link) = self.links.get(&id) else {
                    return Ok(());
                };
                let (c, cconn) = (link.client, link.client_conn);
                self.clients[c]
                    .core
                    .handle_input(
                        now,
                        Input::Received {
                            conn: cconn,
                            data: &data,
                        },
                    )
                    .map_err(|e| format!("client {c}: {e}"))?;
                self.drain_client(c)
            }
            Ev::ServerSideClosed(id) => {
                let Some(link) = self.links.get(&id) else {
                    return Ok(());
                };
                let (node, inc) = (link.node, link.incarnation);
                if let Some(sconn) = link.server_conn
                    && self.nodes[node].is_up(inc)
                    && let Some(core) = self.nodes[node].core.as_mut()
                {
                    core.handle_input(now, Input::Closed { conn: sconn })
                        .map_err(|e| format!("node {node}: {e}"))?;
                    self.drain_node(node)?;
                }
                Ok(())
            }
            Ev::ClientSideClosed(id) => {
                let Some(link) = self.links.remove(&id) else {
                    return Ok(());
                };
                let c = link.client;
                if self.clients[c].links.remove(&link.client_conn).is_some() {
                    self.clients[c]
                        .core
                        .handle_input(
                            now,
                            Input::Closed {
                                conn: link.client_conn,
                            },
                        )
                        .map_err(|e| format!("client {c}: {e}"))?;
                }
                self.drain_client(c)
            }
            Ev::Bus(node, inc, op) => self.bus_done(node, inc, op),
            Ev::BusReply(node, inc, reply) => self.bus_reply(node, inc, reply),
            Ev::ServerInput(node, inc, sconn, data) => {
                if !self.nodes[node].is_up(inc) {
                    return Ok(());
                }
                if let Some(core) = self.nodes[node].core.as_mut() {
                    let input = match &data {
                        Some(data) => Input::Received { conn: sconn, data },
                        None => Input::Closed { conn: sconn },
                    };
                    core.handle_input(now, input)
                        .map_err(|e| format!("node {node}: {e}"))?;
                }
                self.drain_node(node)
            }
            Ev::Tick => {
                for n in 0..self.nodes.len() {
                    if !self.nodes[n].frozen {
                        self.node_tick(n)?;
                    }
                }
                self.check_ownership()?;
                self.schedule(self.now + TICK, Ev::Tick);
                Ok(())
            }
            Ev::Act(action) => self.act(action),
        }
    }

    fn act(&mut self, action: Action) -> Step {
        self.note(format!("fault: {action:?}"));
        match action {
            Action::Notify { user, count } => {
                let user = format!("user{user}");
                // As a node's batcher would: several notifications per log
                // message, so sessions start, acknowledge and resume in the
                // middle of messages.
                let mut left = count;
                while left > 0 {
                    let batch = (self.rng.range(1, 6) as usize).min(left);
                    self.publish_any(&user, batch)?;
                    left -= batch;
                }
                Ok(())
            }
            Action::Freeze { node, for_ } => {
                if self.nodes[node].core.is_none() || self.nodes[node].frozen {
                    return Ok(());
                }
                self.observe("server frozen");
                if for_ > super::node::OWNER_LEASE {
                    self.observe("server frozen past its owner lease");
                }
                self.nodes[node].frozen = true;
                self.nodes[node].freezes += 1;
                let freeze = self.nodes[node].freezes;
                self.schedule(self.now + for_, Ev::Act(Action::Thaw { node, freeze }));
                Ok(())
            }
            Action::Thaw { node, freeze } => {
                if self.nodes[node].frozen && self.nodes[node].freezes == freeze {
                    self.thaw(node)?;
                }
                Ok(())
            }
            Action::LoseReplies { node, for_ } => {
                self.observe("bus replies lost");
                self.nodes[node].lossy = true;
                self.schedule(self.now + for_, Ev::Act(Action::RepliesBack { node }));
                Ok(())
            }
            Action::RepliesBack { node } => {
                self.nodes[node].lossy = false;
                Ok(())
            }
            Action::Restart { node, .. } if self.nodes[node].frozen => {
                // A frozen process cannot stop gracefully: its supervisor
                // kills it once its stop times out.
                self.observe("frozen server killed instead of restarted");
                self.act(Action::Crash {
                    node,
                    down_for: Duration::from_secs(2),
                })
            }
            Action::Crash { node, down_for } => {
                self.observe("server killed");
                self.crash(node);
                self.schedule(self.now + down_for, Ev::Act(Action::Start { node }));
                Ok(())
            }
            Action::Restart { node, down_for } => {
                self.observe("server restarted gracefully");
                self.shutdown_node(node)?;
                self.schedule(self.now + down_for, Ev::Act(Action::Start { node }));
                Ok(())
            }
            Action::Start { node } => self.start_node(node),
            Action::BusLoss { node, for_ } => {
                self.observe("server lost the bus");
                self.nodes[node].bus_cut = true;
                self.nodes[node].bus_down_since = Some(self.now);
                self.schedule(self.now + for_, Ev::Act(Action::BusBack { node }));
                Ok(())
            }
            Action::BusBack { node } => {
                self.nodes[node].bus_cut = false;
                self.nodes[node].bus_down_since = None;
                Ok(())
            }
            Action::SlowBus { node, for_ } => {
                self.observe("slow bus");
                self.nodes[node].slow_bus = true;
                self.schedule(self.now + for_, Ev::Act(Action::FastBus { node }));
                Ok(())
            }
            Action::FastBus { node } => {
                self.nodes[node].slow_bus = false;
                Ok(())
            }
            Action::Reset { client } => {
                let Some(&id) = self.clients[client].links.values().next_back() else {
                    return Ok(());
                };
                self.observe("connection reset");
                if let Some(link) = self.links.get_mut(&id) {
                    link.dead = true;
                }
                let lat = self.latency();
                self.schedule(self.now + lat, Ev::ServerSideClosed(id));
                self.schedule(self.now + lat, Ev::ClientSideClosed(id));
                Ok(())
            }
        }
    }

    /// `count` notifications are accepted as one log message through a node
    /// that reaches the bus (the admin socket), or refused when none does.
    pub(crate) fn publish_any(&mut self, user: &str, count: usize) -> Step {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                let node = &self.nodes[n];
                node.core.is_some() && !node.bus_cut && !node.frozen
            })
            .collect();
        if up.is_empty() {
            self.observe("notify refused: no server reaches the bus");
            return Ok(());
        }
        let through = *self.rng.pick(&up);
        let first = self.next_entry;
        self.next_entry += count as u64;
        let message: Vec<Entry> = (first..self.next_entry).map(|id| Entry { id }).collect();
        // The message's de-duplication id: its first notification's.
        if !self.bus.publish(user, first, message.clone()) {
            return Err(format!("message id {first} stored before its publish"));
        }
        if self.nodes[through].lossy && self.rng.chance(50) {
            // Stored, its ack lost: the node publishes again with the same
            // message id (88b88e6), which the log stores once.
            if self.bus.publish(user, first, message) {
                return Err(format!("a retry of message {first} was stored twice"));
            }
            if self.rng.chance(50) {
                // The retry's ack lost too: the submitter hears "not known
                // to be durable" (exit 8), never "nothing was accepted";
                // every session of the user gets it all the same.
                self.observe("lost reply: publish stored, durability unknown");
            } else {
                self.observe("lost reply: publish stored, accepted on its retry");
            }
        }
        self.accepted += count as u64;
        if count > 1 {
            self.observe("log message of several notifications");
        }
        self.note(format!(
            "accepted n{first}..=n{} for {user} in one message",
            self.next_entry - 1
        ));
        Ok(())
    }

    fn crash(&mut self, node: usize) {
        let inc = self.nodes[node].incarnation;
        self.forget_waiting(node);
        self.nodes[node].core = None;
        self.nodes[node].consumers.clear();
        self.drop_links_of(node, inc);
    }

    fn drop_links_of(&mut self, node: usize, inc: u64) {
        let ids: Vec<u64> = self
            .links
            .iter()
            .filter(|(_, l)| l.node == node && l.incarnation == inc)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(link) = self.links.get_mut(&id) {
                link.dead = true;
            }
            let lat = self.latency();
            self.schedule(self.now + lat, Ev::ClientSideClosed(id));
        }
    }

    /// A killed frozen process never hears what waited for it: records it
    /// created meanwhile are nobody's (they age out of the real bucket).
    fn forget_waiting(&mut self, node: usize) {
        self.nodes[node].frozen = false;
        for ev in std::mem::take(&mut self.nodes[node].waiting) {
            if let Ev::BusReply(_, _, super::node::BusReply::Opened { session, .. }) = ev {
                self.orphans.insert(session);
            }
        }
    }

    /// The node runs again after a freeze. Its runtime finds its timers
    /// late and its sockets and bus answers waiting, and handles them in
    /// the order its scheduler picks: the core's late timers and the
    /// glue's tick each come before, between or after what waited (which
    /// keeps its own order), drawn from the seed.
    fn thaw(&mut self, node: usize) -> Step {
        self.note(format!("node {node} wakes"));
        self.nodes[node].frozen = false;
        self.nodes[node].thawed_at = Some(self.now);
        let waiting: Vec<Ev> = std::mem::take(&mut self.nodes[node].waiting).into();
        let slots = waiting.len() as u64 + 1;
        let timers_at = self.rng.below(slots) as usize;
        let tick_at = self.rng.below(slots) as usize;
        if !waiting.is_empty() {
            self.observe(match timers_at {
                0 => "woke: late timers before what waited",
                t if t == waiting.len() => "woke: what waited before late timers",
                _ => "woke: late timers amid what waited",
            });
        }
        let last = waiting.len();
        for (slot, ev) in waiting.into_iter().map(Some).chain([None]).enumerate() {
            if slot == timers_at {
                self.node_timers(node)?;
            }
            if slot == tick_at {
                self.node_tick(node)?;
            }
            if let Some(ev) = ev {
                self.handle(ev)?;
            }
        }
        debug_assert!(timers_at <= last && tick_at <= last);
        // Whatever the order, once it has caught up the node serves
        // nothing it no longer owns.
        self.check_ownership()
    }

    fn shutdown_node(&mut self, node: usize) -> Step {
        let now = self.instant();
        if let Some(core) = self.nodes[node].core.as_mut() {
            core.shutdown(now);
        }
        self.drain_node(node)?;
        let inc = self.nodes[node].incarnation;
        self.nodes[node].core = None;
        self.nodes[node].consumers.clear();
        // What the core closed is on its way; what remains is reset.
        self.drop_links_of(node, inc);
        Ok(())
    }

    fn start_node(&mut self, node: usize) -> Step {
        if self.nodes[node].core.is_some() {
            return Ok(());
        }
        let store = users(self.clients.len(), self.users_count());
        let inc = self.nodes[node].incarnation + 1;
        let fresh = Node::start(node, inc, &store, &mut self.rng);
        let old = std::mem::replace(&mut self.nodes[node], fresh);
        self.nodes[node].bus_cut = old.bus_cut;
        self.nodes[node].bus_down_since = old.bus_down_since;
        self.nodes[node].slow_bus = old.slow_bus;
        // Freezes are counted across restarts: a thaw scheduled for a
        // killed process's freeze must not wake a later one early.
        self.nodes[node].freezes = old.freezes;
        self.note(format!(
            "node {node} started (owner id {})",
            self.nodes[node].owner_id
        ));
        Ok(())
    }

    fn heal_node(&mut self, node: usize) -> Step {
        if self.nodes[node].frozen {
            self.thaw(node)?;
        }
        self.nodes[node].lossy = false;
        self.nodes[node].bus_cut = false;
        self.nodes[node].bus_down_since = None;
        self.nodes[node].slow_bus = false;
        self.start_node(node)
    }

    fn users_count(&self) -> usize {
        let mut users: Vec<&str> = self.clients.iter().map(|c| c.user.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        users.len()
    }

    pub(crate) fn drain_client(&mut self, c: usize) -> Step {
        let now = self.instant();
        while let Some(out) = self.clients[c].core.poll_output() {
            match out {
                faxnotify_core::client::Output::Connect { conn, .. } => {
                    let alive: Vec<usize> = (0..self.nodes.len())
                        .filter(|&n| self.nodes[n].core.is_some())
                        .collect();
                    let lat = self.latency();
                    if alive.is_empty() {
                        self.clients[c]
                            .core
                            .handle_input(
                                now,
                                Input::ConnectFailed {
                                    conn,
                                    error: ConnectError::Refused,
                                },
                            )
                            .map_err(|e| format!("client {c}: {e}"))?;
                        continue;
                    }
                    let node = *self.rng.pick(&alive);
                    let id = self.next_link;
                    self.next_link += 1;
                    self.links.insert(
                        id,
                        Link {
                            client: c,
                            client_conn: conn,
                            node,
                            incarnation: self.nodes[node].incarnation,
                            server_conn: None,
                            dead: false,
                            to_server_at: Duration::ZERO,
                            to_client_at: Duration::ZERO,
                        },
                    );
                    self.clients[c].links.insert(conn, id);
                    self.schedule(self.now + lat, Ev::Connected(id));
                }
                faxnotify_core::client::Output::Transmit { conn, data } => {
                    let Some(&id) = self.clients[c].links.get(&conn) else {
                        continue;
                    };
                    let lat = self.latency();
                    let Some(link) = self.links.get_mut(&id) else {
                        continue;
                    };
                    if link.dead {
                        continue;
                    }
                    let at = (self.now + lat).max(link.to_server_at);
                    link.to_server_at = at;
                    self.schedule(at, Ev::ToServer(id, data));
                }
                faxnotify_core::client::Output::Close { conn, .. } => {
                    let Some(id) = self.clients[c].links.remove(&conn) else {
                        continue;
                    };
                    let lat = self.latency();
                    if let Some(link) = self.links.get_mut(&id) {
                        let at = (self.now + lat).max(link.to_server_at);
                        link.to_server_at = at;
                        self.schedule(at, Ev::ServerSideClosed(id));
                    }
                }
                faxnotify_core::client::Output::Event(event) => self.client_event(c, event)?,
                other => return Err(format!("client {c}: unexpected output {other:?}")),
            }
        }
        Ok(())
    }

    pub(crate) fn drain_node(&mut self, n: usize) -> Step {
        loop {
            let Some(core) = self.nodes[n].core.as_mut() else {
                return Ok(());
            };
            let Some(out) = core.poll_output() else {
                return Ok(());
            };
            let inc = self.nodes[n].incarnation;
            match out {
                ServerOutput::Transmit { conn, data } => {
                    let Some(&id) = self.server_links.get(&(n, inc, conn)) else {
                        continue;
                    };
                    let lat = self.latency();
                    let Some(link) = self.links.get_mut(&id) else {
                        continue;
                    };
                    if link.dead {
                        continue;
                    }
                    let at = (self.now + lat).max(link.to_client_at);
                    link.to_client_at = at;
                    self.schedule(at, Ev::ToClient(id, data));
                }
                ServerOutput::Close { conn, .. } => {
                    let Some(id) = self.server_links.remove(&(n, inc, conn)) else {
                        continue;
                    };
                    let lat = self.latency();
                    if let Some(link) = self.links.get_mut(&id) {
                        let at = (self.now + lat).max(link.to_client_at);
                        link.to_client_at = at;
                        link.dead = true;
                        self.schedule(at, Ev::ClientSideClosed(id));
                    }
                }
                ServerOutput::Event(event) => self.node_event(n, event)?,
                other => return Err(format!("node {n}: unexpected output {other:?}")),
            }
        }
    }

    fn client_event(&mut self, c: usize, event: ClientEvent) -> Step {
        self.note(format!("client {c}: {event:?}"));
        match event {
            ClientEvent::LoggedIn {
                session, resumed, ..
            } => {
                let before = self.clients[c].session;
                if let Some(before) = before
                    && (before != session || !resumed)
                {
                    return Err(format!(
                        "client {c} lost session {before}: it now has {session} (resumed: {resumed})"
                    ));
                }
                if before.is_some() {
                    self.observe("client resumed");
                }
                self.clients[c].session = Some(session);
            }
            ClientEvent::Notification { seq, notification } => {
                let Some(session) = self.clients[c].session else {
                    return Err(format!("client {c} handed seq {seq} without a session"));
                };
                let Notification::ServerMessage(m) = &notification else {
                    return Err(format!(
                        "client {c}: unexpected notification {notification:?}"
                    ));
                };
                let id: u64 = m
                    .text
                    .as_str()
                    .strip_prefix('n')
                    .and_then(|s| s.parse().ok())
                    .ok_or("a notification the simulator did not send")?;
                let (user, start) = self
                    .starts
                    .get(&session)
                    .cloned()
                    .ok_or_else(|| format!("session {session} was never created"))?;
                let handed = self.handed.entry(session).or_default();
                if seq != handed.len() as u64 + 1 {
                    return Err(format!(
                        "session {session}: seq {seq} handed after {} [B-3]",
                        handed.len()
                    ));
                }
                let expected = self.bus.entry_at(&user, start + handed.len()).map(|e| e.id);
                if expected != Some(id) {
                    return Err(format!(
                        "session {session} seq {seq}: handed n{id}, the log says {expected:?}"
                    ));
                }
                handed.push(id);
            }
            ClientEvent::NotificationsMayHaveBeenMissed { .. } => {
                return Err(format!("client {c}: notifications may have been missed"));
            }
            ClientEvent::SessionEnded { .. } | ClientEvent::Stopped { .. } if !self.logging_out => {
                return Err(format!("client {c}: {event:?}"));
            }
            ClientEvent::LoggedOut { .. } | ClientEvent::Stopped { .. } => {
                self.clients[c].finished = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Every client is logged in to its one session and was handed every
    /// notification of its user's log from the session's start, in order.
    fn check_complete(&mut self) -> Step {
        for c in 0..self.clients.len() {
            let Some(session) = self.clients[c].core.session() else {
                return Err(format!("client {c} is not logged in after the settle"));
            };
            let (user, start) = self
                .starts
                .get(&session)
                .cloned()
                .ok_or_else(|| format!("session {session} was never created"))?;
            let handed = self.handed.get(&session).map_or(0, Vec::len);
            let log = self.bus.len(&user) - start;
            if handed != log {
                return Err(format!(
                    "client {c} session {session}: handed {handed} of the {log} notifications accepted since it started"
                ));
            }
            let holders = self
                .nodes
                .iter()
                .filter(|n| {
                    n.core
                        .as_ref()
                        .is_some_and(|core| core.session(session).is_some())
                })
                .count();
            if holders != 1 {
                return Err(format!("session {session} is held by {holders} servers"));
            }
        }
        Ok(())
    }

    /// After the logouts: no session anywhere, no record left.
    fn check_empty(&mut self) -> Step {
        for (c, client) in self.clients.iter().enumerate() {
            if !client.finished {
                return Err(format!("client {c} did not finish logging out"));
            }
        }
        for (n, node) in self.nodes.iter().enumerate() {
            if let Some(core) = &node.core
                && core.session_count() > 0
            {
                return Err(format!(
                    "node {n} still holds {} sessions",
                    core.session_count()
                ));
            }
        }
        let left = self
            .bus
            .ids()
            .filter(|id| !self.orphans.contains(id))
            .count();
        if left > 0 {
            return Err(format!("{left} session records left in the store"));
        }
        Ok(())
    }

    /// No two live servers hold one session; a held session's record names
    /// its holder as owner [D-17].
    fn check_ownership(&mut self) -> Step {
        let mut seen: BTreeMap<SessionId, usize> = BTreeMap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            // A frozen process serves nothing: what it holds is judged
            // when it wakes.
            let Some(core) = node.core.as_ref().filter(|_| !node.frozen) else {
                continue;
            };
            for info in core.sessions() {
                // A woken node may hold a session whose lease ran out while
                // it slept (a restore whose answer waited, before its
                // glue's tick): held, not served — its glue releases it
                // at the next tick, before reading anything into it, and
                // `pump` checks that it never does.
                if node.lease_lapsed(info.id, self.now) {
                    continue;
                }
                if let Some(other) = seen.insert(info.id, n) {
                    return Err(format!(
                        "session {} is held by nodes {other} and {n} at once",
                        info.id
                    ));
                }
                match self.bus.get(info.id) {
                    Some((_, r)) if r.owner == node.owner_id => {}
                    Some((_, r)) => {
                        return Err(format!(
                            "node {n} serves session {} owned by {}",
                            info.id, r.owner
                        ));
                    }
                    None => {
                        return Err(format!(
                            "node {n} serves session {} with no record",
                            info.id
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn bus_latency(&mut self, node: usize) -> Duration {
        if self.nodes[node].slow_bus {
            Duration::from_millis(self.rng.range(6_000, 12_000))
        } else {
            Duration::from_micros(self.rng.range(300, 30_000))
        }
    }
}
