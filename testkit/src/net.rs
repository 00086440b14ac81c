//! Clients and a server joined by an in-memory network, in virtual time.
//!
//! Every `Transmit` reaches the other end as `Received`, in order; a dial
//! is answered at once (accepted where something listens, refused where
//! nothing does); a `Close` reaches the other end as `Closed` after the
//! bytes sent before it. Time moves only when the test says so. A
//! [`Middlebox`] can sit on control or callback connections, and
//! [`Faults`] make dials and binds fail.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use faxnotify_core::ConnId;
use faxnotify_core::client::Client;
use faxnotify_core::io::{BindError, ConnectError, Input, Output};
use faxnotify_core::server::Server;

use crate::core::Core;
use crate::endpoint::Endpoint;
use crate::topology::{ClientId, Faults, Middlebox, Path, Relayed, SERVER_ADDR, Side, client_ip};

#[derive(Clone, Copy, Debug)]
struct Link {
    path: Path,
    peer: Side,
    peer_conn: ConnId,
    middlebox: Option<usize>,
}

#[derive(Debug)]
enum Delivery {
    Data {
        to: Side,
        conn: ConnId,
        data: Vec<u8>,
        /// The sender, to hand the buffer back to once read.
        from: Option<Side>,
    },
    Closed {
        to: Side,
        conn: ConnId,
    },
}

struct Station {
    endpoint: Endpoint<Client>,
    ip: IpAddr,
    listening: Option<u16>,
}

/// One server and any number of clients, an in-memory network between
/// them and a manual clock. [`Net::drive`] runs everything until nothing
/// moves; [`Net::step`] runs one round; [`Net::run_for`] lets time pass.
pub struct Net {
    /// The server and what it asked for.
    pub server: Endpoint<Server>,
    /// Now, for every core.
    pub now: Instant,
    /// When the network was made.
    pub start: Instant,
    /// Failures to make on purpose.
    pub faults: Faults,
    /// Whether written buffers go back to their core (`recycle`), as a
    /// real adapter does; on by default. A memory figure per session turns
    /// it off, since the pool is per core, not per session.
    pub recycle: bool,
    /// Every byte written (`Some` once [`Net::record_wire`] was called):
    /// the writer, its connection and the bytes, in order.
    pub wire: Option<Vec<(Side, ConnId, Vec<u8>)>>,
    /// Makes the middlebox of a new connection of the given kind, if any.
    #[allow(clippy::type_complexity)] // a factory closure, named once
    pub middlebox_for: Option<Box<dyn FnMut(Path) -> Option<Box<dyn Middlebox>>>>,
    clients: Vec<Station>,
    links: HashMap<(Side, ConnId), Link>,
    /// Connections their owner closed or saw closed: nothing more reaches them.
    gone: HashSet<(Side, ConnId)>,
    middleboxes: Vec<Box<dyn Middlebox>>,
    queue: VecDeque<Delivery>,
    next_port: u16,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Net")
            .field("clients", &self.clients.len())
            .field("links", &self.links.len())
            .field("queued", &self.queue.len())
            .field("elapsed", &(self.now - self.start))
            .finish_non_exhaustive()
    }
}

impl Net {
    /// A network holding `server` (at [`SERVER_ADDR`]) and no client yet.
    pub fn new(server: Server, now: Instant) -> Self {
        Self {
            server: Endpoint::new(server),
            now,
            start: now,
            faults: Faults::default(),
            recycle: true,
            wire: None,
            middlebox_for: None,
            clients: Vec::new(),
            links: HashMap::new(),
            gone: HashSet::new(),
            middleboxes: Vec::new(),
            queue: VecDeque::new(),
            next_port: 40_000,
        }
    }

    /// A server and one client (at 192.0.2.10): the usual pair.
    pub fn pair(client: Client, server: Server, now: Instant) -> Self {
        let mut net = Self::new(server, now);
        net.add_client(client);
        net
    }

    /// Adds a client at the next default address ([`client_ip`]).
    pub fn add_client(&mut self, client: Client) -> ClientId {
        let ip = client_ip(self.clients.len());
        self.add_client_at(client, ip)
    }

    /// Adds a client at `ip` (several clients may share one, as on a
    /// terminal server).
    pub fn add_client_at(&mut self, client: Client, ip: IpAddr) -> ClientId {
        self.clients.push(Station {
            endpoint: Endpoint::new(client),
            ip,
            listening: None,
        });
        ClientId(self.clients.len() - 1)
    }

    /// Keeps a copy of every byte written from now on, in [`Net::wire`].
    pub fn record_wire(&mut self) {
        self.wire.get_or_insert_with(Vec::new);
    }

    /// The first client (of a pair).
    pub fn client(&self) -> &Endpoint<Client> {
        self.client_at(ClientId(0))
    }

    /// The first client (of a pair), to call its API.
    pub fn client_mut(&mut self) -> &mut Endpoint<Client> {
        self.client_at_mut(ClientId(0))
    }

    /// A client.
    pub fn client_at(&self, id: ClientId) -> &Endpoint<Client> {
        &self.clients[id.0].endpoint
    }

    /// A client, to call its API.
    pub fn client_at_mut(&mut self, id: ClientId) -> &mut Endpoint<Client> {
        &mut self.clients[id.0].endpoint
    }

    /// How many clients there are.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Every client, in the order they were added.
    pub fn clients(&self) -> impl Iterator<Item = (ClientId, &Endpoint<Client>)> {
        self.clients
            .iter()
            .enumerate()
            .map(|(i, s)| (ClientId(i), &s.endpoint))
    }

    /// The other end of a connection, while it is open.
    pub fn peer_of(&self, side: Side, conn: ConnId) -> Option<(Side, ConnId)> {
        self.links.get(&(side, conn)).map(|l| (l.peer, l.peer_conn))
    }

    /// The open connections of `side`, oldest first: its handle, the kind,
    /// and the other end.
    pub fn connections(&self, side: Side) -> Vec<(ConnId, Path, Side, ConnId)> {
        let mut conns: Vec<_> = self
            .links
            .iter()
            .filter(|((s, _), _)| *s == side)
            .map(|((_, conn), l)| (*conn, l.path, l.peer, l.peer_conn))
            .collect();
        conns.sort_by_key(|(conn, ..)| conn.into_raw());
        conns
    }

    /// One round: every core's outputs are carried out (dials answered,
    /// bytes and closes queued), then everything queued is delivered.
    /// Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = self.route_server();
        for i in 0..self.clients.len() {
            moved |= self.route_client(ClientId(i));
        }
        while let Some(delivery) = self.queue.pop_front() {
            moved = true;
            self.deliver(delivery);
        }
        moved
    }

    /// Runs until nothing moves, without letting time pass.
    ///
    /// # Panics
    /// After a million rounds: the cores talk forever without time passing.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    /// The earliest timer of any core.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.clients
            .iter()
            .filter_map(|s| s.endpoint.next_timeout())
            .chain(self.server.next_timeout())
            .min()
    }

    /// Moves the clock to `at` (never back) and runs every timer due.
    fn fire_at(&mut self, at: Instant) {
        self.now = self.now.max(at);
        let now = self.now;
        self.server.fire_due(now);
        for station in &mut self.clients {
            station.endpoint.fire_due(now);
        }
    }

    /// Drives, then jumps to the next timer of any core and runs it, and
    /// drives again; returns when that was, or `None` if no timer is armed.
    pub fn fire_next_timer(&mut self) -> Option<Instant> {
        self.drive();
        let at = self.next_timeout()?;
        self.fire_at(at);
        self.drive();
        Some(at)
    }

    /// Lets `limit` of virtual time pass: drives, and runs every timer at
    /// its time, until the clock reaches `now + limit`.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.drive();
            match self.next_timeout() {
                Some(at) if at <= end => self.fire_at(at),
                _ => {
                    self.now = end;
                    self.drive();
                    return;
                }
            }
        }
    }

    /// Runs (as [`Net::run_for`]) until `done` holds or `limit` passed;
    /// returns whether it holds.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.drive();
            if done(self) {
                return true;
            }
            match self.next_timeout() {
                Some(at) if at <= end => self.fire_at(at),
                _ => {
                    self.now = end;
                    self.drive();
                    return done(self);
                }
            }
        }
    }

    /// Delivers `data` to `side`'s `conn` as if its peer had sent it (after
    /// what is already queued).
    pub fn inject(&mut self, side: Side, conn: ConnId, data: &[u8]) {
        self.queue.push_back(Delivery::Data {
            to: side,
            conn,
            data: data.to_vec(),
            from: None,
        });
    }

    /// Breaks a connection: both ends see it closed by the peer (after
    /// what is already queued), as after a reset or a dead route.
    pub fn cut(&mut self, side: Side, conn: ConnId) {
        if let Some(link) = self.links.remove(&(side, conn)) {
            self.links.remove(&(link.peer, link.peer_conn));
            self.queue.push_back(Delivery::Closed {
                to: link.peer,
                conn: link.peer_conn,
            });
        }
        self.queue.push_back(Delivery::Closed { to: side, conn });
    }

    fn fresh_port(&mut self) -> u16 {
        self.next_port = if self.next_port == u16::MAX {
            40_000
        } else {
            self.next_port + 1
        };
        self.next_port
    }

    fn route_server(&mut self) -> bool {
        let moved = self.server.drain() || !self.server.pending().is_empty();
        while let Some(output) = self.server.next_output() {
            match output {
                Output::Connect { conn, addr } => self.server_dials(conn, addr),
                Output::Transmit { conn, data } => self.send(Side::Server, conn, data),
                // In memory, both kinds deliver what was sent, then the end.
                Output::Close { conn, .. } => self.close(Side::Server, conn),
                Output::Event(e) => self.server.events.push(e),
                other => panic!("the server asked for {other:?}, which it never does"),
            }
        }
        moved
    }

    fn route_client(&mut self, id: ClientId) -> bool {
        let endpoint = &mut self.clients[id.0].endpoint;
        let moved = endpoint.drain() || !endpoint.pending().is_empty();
        let side = Side::Client(id);
        while let Some(output) = self.clients[id.0].endpoint.next_output() {
            match output {
                Output::Listen { addr } => self.bind(id, addr),
                Output::StopListening => self.clients[id.0].listening = None,
                Output::Connect { conn, addr } => self.client_dials(id, conn, addr),
                Output::Transmit { conn, data } => self.send(side, conn, data),
                Output::Close { conn, .. } => self.close(side, conn),
                Output::Event(e) => self.clients[id.0].endpoint.events.push(e),
                other => panic!("the testkit does not know the client's {other:?}"),
            }
        }
        moved
    }

    fn endpoint_input(&mut self, side: Side, input: Input<'_>) {
        let now = self.now;
        match side {
            Side::Server => self.server.input(now, input),
            Side::Client(id) => self.clients[id.0].endpoint.input(now, input),
        }
    }

    fn bind(&mut self, id: ClientId, addr: SocketAddr) {
        let ip = self.clients[id.0].ip;
        let taken = |port: u16, clients: &[Station]| {
            clients
                .iter()
                .any(|s| s.ip == ip && s.listening == Some(port))
        };
        let port = if addr.port() == 0 {
            (50_000..=u16::MAX).find(|&p| !taken(p, &self.clients))
        } else {
            Some(addr.port()).filter(|&p| !taken(p, &self.clients))
        };
        let result = match (self.faults.bind_error.clone(), port) {
            (Some(error), _) => Err(error),
            (None, None) => Err(BindError::AddrInUse),
            (None, Some(port)) => Ok(port),
        };
        let input = match result {
            Ok(port) => {
                self.clients[id.0].listening = Some(port);
                Input::Bound {
                    local: SocketAddr::new(addr.ip(), port),
                }
            }
            Err(error) => Input::BindFailed { addr, error },
        };
        self.endpoint_input(Side::Client(id), input);
    }

    fn client_dials(&mut self, id: ClientId, conn: ConnId, addr: SocketAddr) {
        let side = Side::Client(id);
        if addr != SERVER_ADDR || self.faults.refuse_control {
            let error = ConnectError::Refused;
            self.endpoint_input(side, Input::ConnectFailed { conn, error });
            return;
        }
        let peer = SocketAddr::new(self.clients[id.0].ip, self.fresh_port());
        let now = self.now;
        let server_conn = self.server.accept(now, peer);
        self.link(Path::Control, side, conn, server_conn);
        self.endpoint_input(side, Input::Connected { conn });
    }

    fn server_dials(&mut self, conn: ConnId, addr: SocketAddr) {
        let listener = self
            .clients
            .iter()
            .position(|s| s.ip == addr.ip() && s.listening == Some(addr.port()));
        let Some(i) = listener.filter(|_| !self.faults.refuse_callback) else {
            let error = ConnectError::Refused;
            self.endpoint_input(Side::Server, Input::ConnectFailed { conn, error });
            return;
        };
        let peer = SocketAddr::new(SERVER_ADDR.ip(), self.fresh_port());
        let now = self.now;
        let client_conn = self.clients[i].endpoint.accept(now, peer);
        let side = Side::Client(ClientId(i));
        self.link(Path::Callback, side, client_conn, conn);
        self.endpoint_input(Side::Server, Input::Connected { conn });
    }

    fn link(&mut self, path: Path, client: Side, client_conn: ConnId, server_conn: ConnId) {
        let middlebox = self.middlebox_for.as_mut().and_then(|make| make(path));
        let index = middlebox.map(|m| {
            self.middleboxes.push(m);
            self.middleboxes.len() - 1
        });
        self.links.insert(
            (client, client_conn),
            Link {
                path,
                peer: Side::Server,
                peer_conn: server_conn,
                middlebox: index,
            },
        );
        self.links.insert(
            (Side::Server, server_conn),
            Link {
                path,
                peer: client,
                peer_conn: client_conn,
                middlebox: index,
            },
        );
        if let Some(m) = index {
            let first = self.middleboxes[m].open();
            self.relayed(first, client, client_conn, server_conn);
        }
    }

    fn relayed(&mut self, r: Relayed, client: Side, client_conn: ConnId, server_conn: ConnId) {
        if !r.to_client.is_empty() {
            self.queue.push_back(Delivery::Data {
                to: client,
                conn: client_conn,
                data: r.to_client,
                from: None,
            });
        }
        if !r.to_server.is_empty() {
            self.queue.push_back(Delivery::Data {
                to: Side::Server,
                conn: server_conn,
                data: r.to_server,
                from: None,
            });
        }
    }

    fn send(&mut self, from: Side, conn: ConnId, data: Vec<u8>) {
        if let Some(wire) = &mut self.wire {
            wire.push((from, conn, data.clone()));
        }
        let Some(link) = self.links.get(&(from, conn)).copied() else {
            self.give_back(from, data); // written to a connection already broken
            return;
        };
        match link.middlebox {
            None => self.queue.push_back(Delivery::Data {
                to: link.peer,
                conn: link.peer_conn,
                data,
                from: Some(from),
            }),
            Some(m) => {
                let (relayed, client, client_conn, server_conn) = match from {
                    Side::Server => (
                        self.middleboxes[m].server_sent(&data),
                        link.peer,
                        link.peer_conn,
                        conn,
                    ),
                    Side::Client(_) => (
                        self.middleboxes[m].client_sent(&data),
                        from,
                        conn,
                        link.peer_conn,
                    ),
                };
                self.give_back(from, data);
                self.relayed(relayed, client, client_conn, server_conn);
            }
        }
    }

    fn close(&mut self, from: Side, conn: ConnId) {
        self.gone.insert((from, conn));
        if let Some(link) = self.links.remove(&(from, conn)) {
            self.links.remove(&(link.peer, link.peer_conn));
            self.queue.push_back(Delivery::Closed {
                to: link.peer,
                conn: link.peer_conn,
            });
        }
    }

    fn give_back(&mut self, side: Side, data: Vec<u8>) {
        if !self.recycle {
            return;
        }
        match side {
            Side::Server => self.server.give_back(data),
            Side::Client(id) => self.clients[id.0].endpoint.give_back(data),
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Data {
                to,
                conn,
                data,
                from,
            } => {
                if !self.gone.contains(&(to, conn)) {
                    self.endpoint_input(to, Input::Received { conn, data: &data });
                }
                if let Some(from) = from {
                    self.give_back(from, data);
                }
            }
            Delivery::Closed { to, conn } => {
                if self.gone.insert((to, conn)) {
                    self.endpoint_input(to, Input::Closed { conn });
                }
            }
        }
    }
}
