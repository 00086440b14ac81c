//! A client core and a server core joined by an in-memory network, in
//! virtual time: every Transmit reaches the other side as Received, dials
//! are accepted at once, and a relay can be put on the control or the
//! callback path.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faxnotify_core::ConnId;
use faxnotify_core::client::{self, Client};
use faxnotify_core::server::{self, Server};

use super::relay::Relay;

pub const SERVER_ADDR: &str = "192.0.2.1:4580";
pub const CLIENT_IP: &str = "192.0.2.10";

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    Direct(ConnId),
    /// Through relay `usize`; the relay's other end is this conn.
    Relayed(usize, ConnId),
}

enum Delivery {
    Data(Side, ConnId, Vec<u8>),
    Closed(Side, ConnId),
}

/// Which connections go through a relay.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum RelayOn {
    #[default]
    Nowhere,
    Control,
    Callback,
}

pub struct Net {
    pub client: Client,
    pub server: Server,
    pub now: Instant,
    links: HashMap<(Side, ConnId), Peer>,
    relays: Vec<Relay>,
    pub relay_on: RelayOn,
    pub make_relay: Option<Box<dyn Fn() -> Relay>>,
    pub client_events: Vec<client::Event>,
    pub server_events: Vec<server::Event>,
    /// Every byte written, in order, for the determinism check.
    pub wire: Vec<(Side, u64, Vec<u8>)>,
    listen_port: u16,
    next_port: u16,
    queue: VecDeque<Delivery>,
}

impl Net {
    pub fn new(client: Client, server: Server, now: Instant) -> Self {
        Self {
            client,
            server,
            now,
            links: HashMap::new(),
            relays: Vec::new(),
            relay_on: RelayOn::Nowhere,
            make_relay: None,
            client_events: Vec::new(),
            server_events: Vec::new(),
            wire: Vec::new(),
            listen_port: 0,
            next_port: 40_000,
            queue: VecDeque::new(),
        }
    }

    fn client_peer(&mut self) -> SocketAddr {
        self.next_port += 1;
        format!("{CLIENT_IP}:{}", self.next_port).parse().unwrap()
    }

    fn link(&mut self, relayed: bool, client_conn: ConnId, server_conn: ConnId) -> Option<usize> {
        if relayed {
            let make = self.make_relay.as_ref().expect("a relay factory");
            self.relays.push(make());
            let r = self.relays.len() - 1;
            self.links
                .insert((Side::Client, client_conn), Peer::Relayed(r, server_conn));
            self.links
                .insert((Side::Server, server_conn), Peer::Relayed(r, client_conn));
            Some(r)
        } else {
            self.links
                .insert((Side::Client, client_conn), Peer::Direct(server_conn));
            self.links
                .insert((Side::Server, server_conn), Peer::Direct(client_conn));
            None
        }
    }

    /// Sends the relay's first flight to the server.
    fn start_relay(&mut self, r: usize, server_conn: ConnId) {
        let hello = self.relays[r].start();
        if !hello.is_empty() {
            self.queue
                .push_back(Delivery::Data(Side::Server, server_conn, hello));
        }
    }

    /// Runs until nothing moves (no time passes).
    pub fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.client.poll_output() {
                moved = true;
                self.on_client_output(out);
            }
            while let Some(out) = self.server.poll_output() {
                moved = true;
                self.on_server_output(out);
            }
            while let Some(d) = self.queue.pop_front() {
                moved = true;
                self.deliver(d);
            }
            if !moved {
                return;
            }
        }
    }

    /// Settles, then lets time run to the next deadline of either core, up to `limit` later.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.settle();
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    self.settle();
                    return;
                }
            }
        }
    }

    fn on_client_output(&mut self, out: client::Output) {
        match out {
            client::Output::Listen { addr } => {
                self.listen_port = 6000;
                let local = SocketAddr::new(addr.ip(), self.listen_port);
                self.client
                    .handle_input(self.now, client::Input::Bound { local })
                    .unwrap();
            }
            client::Output::Connect { conn, .. } => {
                let peer = self.client_peer();
                let server_conn = self.server.handle_accept(self.now, peer);
                let relay = self.link(self.relay_on == RelayOn::Control, conn, server_conn);
                self.client
                    .handle_input(self.now, client::Input::Connected { conn })
                    .unwrap();
                if let Some(r) = relay {
                    self.start_relay(r, server_conn);
                }
            }
            client::Output::Transmit { conn, data } => {
                self.wire
                    .push((Side::Client, conn.into_raw(), data.clone()));
                self.forward(Side::Client, conn, data);
            }
            client::Output::Close { conn } => self.close(Side::Client, conn),
            client::Output::Event(e) => self.client_events.push(e),
            _ => {}
        }
    }

    fn on_server_output(&mut self, out: server::Output) {
        match out {
            server::Output::Connect { conn, .. } => {
                let server_ip: SocketAddr = SERVER_ADDR.parse().unwrap();
                let peer = SocketAddr::new(server_ip.ip(), 50_000);
                let client_conn = self.client.handle_accept(self.now, peer);
                let relay = self.link(self.relay_on == RelayOn::Callback, client_conn, conn);
                self.server
                    .handle_input(self.now, server::Input::Connected { conn })
                    .unwrap();
                if let Some(r) = relay {
                    self.start_relay(r, conn);
                }
            }
            server::Output::Transmit { conn, data } => {
                self.wire
                    .push((Side::Server, conn.into_raw(), data.clone()));
                self.forward(Side::Server, conn, data);
            }
            server::Output::Close { conn } => self.close(Side::Server, conn),
            server::Output::Event(e) => self.server_events.push(e),
            _ => {}
        }
    }

    fn forward(&mut self, from: Side, conn: ConnId, data: Vec<u8>) {
        match self.links.get(&(from, conn)).copied() {
            Some(Peer::Direct(other)) => {
                self.queue
                    .push_back(Delivery::Data(flip(from), other, data));
            }
            Some(Peer::Relayed(r, other)) => {
                let (to_client, to_server) = match from {
                    Side::Client => self.relays[r].client_sent(&data),
                    Side::Server => self.relays[r].server_sent(&data),
                };
                let (client_conn, server_conn) = match from {
                    Side::Client => (conn, other),
                    Side::Server => (other, conn),
                };
                if !to_client.is_empty() {
                    self.queue
                        .push_back(Delivery::Data(Side::Client, client_conn, to_client));
                }
                if !to_server.is_empty() {
                    self.queue
                        .push_back(Delivery::Data(Side::Server, server_conn, to_server));
                }
            }
            None => {}
        }
    }

    fn close(&mut self, from: Side, conn: ConnId) {
        if let Some(peer) = self.links.remove(&(from, conn)) {
            let other = match peer {
                Peer::Direct(o) | Peer::Relayed(_, o) => o,
            };
            self.links.remove(&(flip(from), other));
            self.queue.push_back(Delivery::Closed(flip(from), other));
        }
    }

    fn deliver(&mut self, d: Delivery) {
        match d {
            Delivery::Data(Side::Client, conn, data) => {
                self.client
                    .handle_input(self.now, client::Input::Received { conn, data: &data })
                    .unwrap();
            }
            Delivery::Data(Side::Server, conn, data) => {
                self.server
                    .handle_input(self.now, server::Input::Received { conn, data: &data })
                    .unwrap();
            }
            Delivery::Closed(Side::Client, conn) => {
                let _ = self
                    .client
                    .handle_input(self.now, client::Input::Closed { conn });
            }
            Delivery::Closed(Side::Server, conn) => {
                let _ = self
                    .server
                    .handle_input(self.now, server::Input::Closed { conn });
            }
        }
    }

    /// Client events as text.
    pub fn client_log(&self) -> Vec<String> {
        self.client_events
            .iter()
            .map(|e| format!("{e:?}"))
            .collect()
    }

    /// Server events as text (their Display, as an operator reads them).
    pub fn server_log(&self) -> Vec<String> {
        self.server_events.iter().map(ToString::to_string).collect()
    }
}

fn flip(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}
