//! The simulator: processes, the network, the virtual clock and the event
//! queue, and the loop that runs them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use faxnotify_core::client::{Client, ClientConfig, NetworkSettings};
use faxnotify_core::server::{MemoryUserStore, Server, ServerConfig};
use faxnotify_core::wire::{Caps, Decoder, Notification, Role};
use faxnotify_core::{ConnId, SessionId};

use super::ledger::{Ledger, SessionKey, Tally};
use super::net::{EndId, Host, NodeId, SERVER_ADDR, SimConn, SquatterProc};
use super::rng::SimRng;
use super::scenario::{Machine, Scenario};

/// Tunables of a run (the scenario says what happens; this says how the
/// server is configured and how long the run settles).
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// The server's lease [C-5] (short, so that outages outlive it).
    pub lease: Duration,
    /// Notifications in flight per path [B-4] (small, so windows fill).
    pub window: u32,
    /// Notifications held per session [B-6] (small, so queues fill).
    pub queue_limit: usize,
    /// How long the healed system runs before the liveness check, and again
    /// after it.
    pub settle: Duration,
    /// Keep every log line (for comparing runs); otherwise only the tail.
    pub keep_log: bool,
}

impl SimConfig {
    /// The defaults for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            lease: Duration::from_secs(12),
            window: 8,
            queue_limit: 48,
            settle: Duration::from_secs(80),
            keep_log: false,
        }
    }
}

/// What a successful run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The fate of every notification.
    pub tally: Tally,
    /// Virtual time simulated.
    pub virtual_time: Duration,
    /// Events processed (deliveries, timers, faults, ...).
    pub events: u64,
    /// Faults injected.
    pub faults: u64,
    /// Client processes started (restarts included).
    pub client_starts: u64,
    /// Sessions opened.
    pub sessions: u64,
    /// The log: every fault and every event of every process, timestamped
    /// (all of it with [`SimConfig::keep_log`], else its last lines).
    pub log: Vec<String>,
    /// A hash of every byte every process wrote, in order.
    pub traffic_digest: u64,
    /// How often each failure path and rule was exercised (ERRORs by code,
    /// why sessions closed, why callbacks were rejected, ...).
    pub observed: BTreeMap<String, u64>,
    /// The run was over TLS ([`Scenario::tls`]).
    pub tls: bool,
}

/// A broken invariant.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The seed of the run.
    pub seed: u64,
    /// Virtual time of the failure.
    pub at: Duration,
    /// What broke.
    pub message: String,
    /// The last lines of the log before it.
    pub log_tail: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} at {:.3}s: {}",
            self.seed,
            self.at.as_secs_f64(),
            self.message
        )?;
        writeln!(f, "last events:")?;
        for line in &self.log_tail {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// Lines of log kept when the whole log is not.
const LOG_TAIL: usize = 80;

/// Something scheduled.
#[derive(Debug)]
pub(super) enum Ev {
    /// A dial reaches its destination.
    Arrive(usize),
    /// The front segment of `conns[c].pipes[d]` is due.
    Deliver(usize, usize),
    /// Tell an end its connection is gone (FIN or RST).
    Closed(EndId),
    /// Tell a dialler its dial failed.
    DialFailed(EndId),
    /// A client's Listen is carried out.
    Bind {
        client: usize,
        incarnation: u32,
        addr: std::net::SocketAddr,
    },
    /// The server process starts.
    StartServer,
}

pub(super) struct Scheduled {
    at: Duration,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The server process.
pub(super) struct ServerNode {
    pub(super) core: Option<Server>,
    pub(super) incarnation: u32,
    /// Connections open from the core's point of view.
    pub(super) open: BTreeSet<ConnId>,
    pub(super) users: MemoryUserStore,
    pub(super) config: ServerConfig,
    /// Sessions per client, in the order they opened (for "the newest session").
    pub(super) sessions_of: BTreeMap<usize, Vec<SessionId>>,
}

/// A client process.
pub(super) struct ClientNode {
    pub(super) host: usize,
    pub(super) user: String,
    pub(super) core: Option<Client>,
    /// Which run of the process this is (0: never started).
    pub(super) incarnation: u32,
    pub(super) open: BTreeSet<ConnId>,
    pub(super) config: ClientConfig,
    /// The port its listener last had.
    pub(super) last_port: Option<u16>,
}

/// The deterministic simulator. See the [module documentation](super).
///
/// [`Sim::run`] is the whole of its interface: a configuration and a
/// scenario in, a [`Report`] or the first [`Violation`] out.
pub struct Sim {
    pub(super) cfg: SimConfig,
    pub(super) rng: SimRng,
    pub(super) base: Instant,
    pub(super) now: Duration,
    events: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
    pub(super) server: ServerNode,
    pub(super) clients: Vec<ClientNode>,
    pub(super) squatters: Vec<SquatterProc>,
    pub(super) squatter_decoders: HashMap<EndId, Decoder>,
    pub(super) hosts: Vec<Host>,
    /// Events that must cross a partitioned link wait here until it heals.
    pub(super) held: Vec<Vec<Ev>>,
    pub(super) conns: Vec<SimConn>,
    pub(super) ends: HashMap<EndId, (usize, usize)>,
    pub(super) ledger: Ledger,
    /// Every connection of the cores runs TLS: the wiretap sees records, not frames.
    pub(super) tls: bool,
    /// Clock skew per machine: index 0 the server, 1 + h host h.
    pub(super) skew: Vec<Duration>,
    pub(super) next_payload: u64,
    log: Vec<String>,
    log_dropped: usize,
    pub(super) violation: Option<String>,
    pub(super) event_count: u64,
    pub(super) fault_count: u64,
    pub(super) client_starts: u64,
    pub(super) session_count: u64,
    pub(super) digest: u64,
    /// The call being made feeds this connection (to attribute notifications).
    pub(super) feeding: Option<usize>,
    /// Watches the server call being made with received bytes.
    pub(super) feed_watch: Option<super::route::FeedWatch>,
    pub(super) observed: BTreeMap<String, u64>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.cfg.seed)
            .field("now", &self.now)
            .field("clients", &self.clients.len())
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Builds the processes of `scenario` (none started yet).
    pub fn new(cfg: SimConfig, scenario: &Scenario) -> Sim {
        let mut rng = SimRng::new(cfg.seed);
        let mut users = MemoryUserStore::new();
        let mut clients = Vec::new();
        let mut hosts = Vec::new();
        for (h, host) in scenario.hosts.iter().enumerate() {
            hosts.push(Host::new(
                Duration::from_micros(rng.range(500, 30_000)),
                host.mapped_v6,
            ));
            for spec in &host.clients {
                let index = clients.len();
                let user = format!("user{index}");
                let password = format!("password {index}");
                users
                    .add_password(&user, &password, &[index as u8; 16], 4096, Role::User)
                    .expect("valid test credentials");
                let mut config = ClientConfig::new(
                    SERVER_ADDR,
                    user.clone(),
                    password,
                    NetworkSettings::new(spec.policy),
                );
                config.caps = if spec.backchannel {
                    Caps::BACKCHANNEL
                } else {
                    Caps::NONE
                };
                if scenario.tls {
                    config.tls = Some(super::tls::client_tls(spec.pinned));
                    config.tls_clock = super::tls::wall_clock();
                }
                clients.push(ClientNode {
                    host: h,
                    user,
                    core: None,
                    incarnation: 0,
                    open: BTreeSet::new(),
                    config,
                    last_port: None,
                });
            }
        }
        let mut config = ServerConfig::new([0x5e; 32]);
        config.server_name = "sim".to_owned();
        config.lease = cfg.lease;
        config.window = cfg.window;
        config.queue_limit = cfg.queue_limit;
        if scenario.tls {
            config.tls = Some(super::tls::server_identity());
            config.tls_clock = super::tls::wall_clock();
        }
        let host_count = hosts.len();
        Sim {
            rng,
            base: Instant::now(),
            now: Duration::ZERO,
            events: BinaryHeap::new(),
            next_seq: 0,
            server: ServerNode {
                core: None,
                incarnation: 0,
                open: BTreeSet::new(),
                users,
                config,
                sessions_of: BTreeMap::new(),
            },
            clients,
            squatters: Vec::new(),
            squatter_decoders: HashMap::new(),
            hosts,
            held: (0..host_count).map(|_| Vec::new()).collect(),
            conns: Vec::new(),
            ends: HashMap::new(),
            ledger: Ledger::new(!scenario.tls),
            tls: scenario.tls,
            skew: vec![Duration::ZERO; host_count + 1],
            next_payload: 0,
            log: Vec::new(),
            log_dropped: 0,
            violation: None,
            event_count: 0,
            fault_count: 0,
            client_starts: 0,
            session_count: 0,
            digest: 0xcbf2_9ce4_8422_2325,
            feeding: None,
            feed_watch: None,
            observed: BTreeMap::new(),
            cfg,
        }
    }

    /// Runs `scenario` with `cfg`: the schedule, then the settling phase and
    /// the final checks.
    ///
    /// A panic inside a core (or the simulator) is reported as a violation
    /// too, with the log leading up to it.
    pub fn run(cfg: SimConfig, scenario: &Scenario) -> Result<Report, Violation> {
        let mut sim = Sim::new(cfg, scenario);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sim.start_server();
            for i in 0..sim.clients.len() {
                sim.start_client(i);
            }
            for step in &scenario.steps {
                let until = sim.now + Duration::from_millis(u64::from(step.after_ms));
                sim.run_until(until);
                if sim.violation.is_some() {
                    break;
                }
                sim.apply(&step.action);
            }
            if sim.violation.is_none() {
                sim.settle();
            }
        }));
        if let Err(panic) = outcome {
            let text = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            sim.violation = None;
            sim.fail(format!("panic: {text}"));
        }
        sim.into_result()
    }

    fn into_result(mut self) -> Result<Report, Violation> {
        if let Some(message) = self.violation.take() {
            let tail = self.log.len().saturating_sub(LOG_TAIL);
            return Err(Violation {
                seed: self.cfg.seed,
                at: self.now,
                message,
                log_tail: self.log.split_off(tail),
            });
        }
        match self.ledger.finish() {
            Ok(tally) => Ok(Report {
                seed: self.cfg.seed,
                tally,
                virtual_time: self.now,
                events: self.event_count,
                faults: self.fault_count,
                client_starts: self.client_starts,
                sessions: self.session_count,
                log: self.log,
                traffic_digest: self.digest,
                observed: self.observed,
                tls: self.tls,
            }),
            Err(message) => {
                let tail = self.log.len().saturating_sub(LOG_TAIL);
                Err(Violation {
                    seed: self.cfg.seed,
                    at: self.now,
                    message,
                    log_tail: self.log.split_off(tail),
                })
            }
        }
    }

    // ----- time -----------------------------------------------------------

    pub(super) fn machine_index(m: Machine) -> usize {
        match m {
            Machine::Server => 0,
            Machine::Host(h) => 1 + h,
        }
    }

    /// What the clock of `node`'s machine reads now.
    pub(super) fn clock(&self, node: NodeId) -> Instant {
        let skew = match node {
            NodeId::Server => self.skew[0],
            NodeId::Client(i) => self.skew[1 + self.clients[i].host],
            NodeId::Squatter(k) => self.skew[1 + self.squatters[k].host],
        };
        self.base + self.now + skew
    }

    /// A machine-clock deadline of `node` as simulation time.
    fn to_sim_time(&self, node: NodeId, at: Instant) -> Duration {
        let zero = self.clock(node) - self.now;
        at.saturating_duration_since(zero)
    }

    pub(super) fn schedule(&mut self, at: Duration, ev: Ev) {
        self.next_seq += 1;
        self.events.push(Reverse(Scheduled {
            at: at.max(self.now),
            seq: self.next_seq,
            ev,
        }));
    }

    /// Schedules an event that must cross host `h`'s link: it waits for a
    /// partition to heal.
    pub(super) fn schedule_across(&mut self, h: usize, delay: Duration, ev: Ev) {
        if self.hosts[h].link.partitioned {
            self.held[h].push(ev);
        } else {
            self.schedule(self.now + delay, ev);
        }
    }

    fn next_timer(&self) -> Option<(Duration, NodeId)> {
        let mut best: Option<(Duration, NodeId)> = None;
        let mut consider = |at: Duration, node: NodeId| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, node));
            }
        };
        if let Some(at) = self.server.core.as_ref().and_then(Server::poll_timeout) {
            consider(self.to_sim_time(NodeId::Server, at), NodeId::Server);
        }
        for (i, c) in self.clients.iter().enumerate() {
            if let Some(at) = c.core.as_ref().and_then(Client::poll_timeout) {
                consider(self.to_sim_time(NodeId::Client(i), at), NodeId::Client(i));
            }
        }
        best
    }

    /// Runs every event and timer due up to `until`, then sets the clock to it.
    pub(super) fn run_until(&mut self, until: Duration) {
        while self.violation.is_none() {
            let event_at = self.events.peek().map(|Reverse(s)| s.at);
            let timer = self.next_timer();
            let take_event = match (event_at, timer) {
                (Some(e), Some((t, _))) => e <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let at = if take_event {
                event_at.unwrap_or(until)
            } else {
                timer.map_or(until, |(t, _)| t)
            };
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            self.event_count += 1;
            if take_event {
                if let Some(Reverse(s)) = self.events.pop() {
                    self.handle_event(s.ev);
                }
            } else if let Some((_, node)) = timer {
                self.fire_timer(node);
            }
        }
        self.now = self.now.max(until);
    }

    fn fire_timer(&mut self, node: NodeId) {
        let now = self.clock(node);
        match node {
            NodeId::Server => {
                let Some(core) = self.server.core.as_mut() else {
                    return;
                };
                core.handle_timeout(now);
                let next = core.poll_timeout();
                self.drain_server();
                if next.is_some_and(|at| at <= now) {
                    self.fail("server: handle_timeout(now) left a deadline at or before now");
                }
            }
            NodeId::Client(i) => {
                let Some(core) = self.clients[i].core.as_mut() else {
                    return;
                };
                core.handle_timeout(now);
                let next = core.poll_timeout();
                self.drain_client(i);
                if next.is_some_and(|at| at <= now) {
                    self.fail(format!(
                        "client {i}: handle_timeout(now) left a deadline at or before now"
                    ));
                }
            }
            NodeId::Squatter(_) => {}
        }
    }

    fn handle_event(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive(c) => self.arrive(c),
            Ev::Deliver(c, d) => self.deliver(c, d),
            Ev::Closed(end) => self.notify_closed(end, false),
            Ev::DialFailed(end) => self.notify_closed(end, true),
            Ev::Bind {
                client,
                incarnation,
                addr,
            } => self.bind(client, incarnation, addr),
            Ev::StartServer => self.start_server(),
        }
    }

    // ----- logging and failing --------------------------------------------

    pub(super) fn log(&mut self, who: impl fmt::Display, what: impl fmt::Display) {
        let line = format!("{:>10.3}s {who}: {what}", self.now.as_secs_f64());
        if !self.cfg.keep_log && self.log.len() >= 4 * LOG_TAIL {
            self.log.drain(..2 * LOG_TAIL);
            self.log_dropped += 2 * LOG_TAIL;
        }
        self.log.push(line);
    }

    pub(super) fn fail(&mut self, message: impl Into<String>) {
        if self.violation.is_none() {
            let message = message.into();
            self.log("VIOLATION", &message);
            self.violation = Some(message);
        }
    }

    pub(super) fn check(&mut self, result: Result<(), String>) {
        if let Err(message) = result {
            self.fail(message);
        }
    }

    // ----- processes ------------------------------------------------------

    pub(super) fn start_server(&mut self) {
        if self.server.core.is_some() {
            return;
        }
        self.server.incarnation += 1;
        self.server.open.clear();
        self.server.sessions_of.clear();
        let seed = self.rng.seed32();
        match Server::new(
            self.server.config.clone(),
            Box::new(self.server.users.clone()),
            seed,
        ) {
            Ok(core) => self.server.core = Some(core),
            Err(err) => return self.fail(format!("server config refused: {err}")),
        }
        let inc = self.server.incarnation;
        self.log("server", format_args!("process #{inc} started"));
    }

    /// Starts client `i` (again): a new process with a fresh seed. A running
    /// client that has finished (stopped or logged out) is replaced.
    pub(super) fn start_client(&mut self, i: usize) {
        if let Some(core) = &self.clients[i].core {
            if !core.is_finished() {
                return;
            }
            self.exit_client(i, true);
        }
        let seed = self.rng.seed32();
        let now = self.clock(NodeId::Client(i));
        let c = &mut self.clients[i];
        c.incarnation += 1;
        c.open.clear();
        match Client::new(c.config.clone(), seed, now) {
            Ok(core) => c.core = Some(core),
            Err(err) => return self.fail(format!("client {i} config refused: {err}")),
        }
        self.client_starts += 1;
        let inc = self.clients[i].incarnation;
        self.log(
            format_args!("client{i}"),
            format_args!("process #{inc} started"),
        );
        self.drain_client(i);
    }

    pub(super) fn payload(&mut self) -> (u64, Notification) {
        self.next_payload += 1;
        let id = self.next_payload;
        (id, Notification::server_message(format!("n{id}")))
    }

    /// The payload id a notification carries (`None`: not one of ours).
    pub(super) fn payload_id(n: &Notification) -> Option<u64> {
        match n {
            Notification::ServerMessage(m) => m.text.strip_prefix('n')?.parse().ok(),
            _ => None,
        }
    }

    /// The session key of a server-issued session id.
    pub(super) fn key(&self, id: SessionId) -> SessionKey {
        SessionKey {
            server: self.server.incarnation,
            id,
        }
    }
}
