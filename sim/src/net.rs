//! The simulated network: links between each client host and the server
//! machine, ports bound on hosts, and TCP connections as two ordered byte
//! pipes that deliver in segments of random size.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use faxnotify_core::ConnId;

use super::scenario::{Firewall, Squatter};

/// The server machine's address and its control port.
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4580);

/// The IP address of client host `h`.
pub fn host_ip(h: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1 + h as u8))
}

/// Where dynamic (port 0) listeners are placed: the lowest free port from here,
/// so ports of exited processes are reused as a real OS does.
pub const DYNAMIC_PORT_BASE: u16 = 40_000;

/// A process of the simulation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum NodeId {
    /// The server process.
    Server,
    /// Client process `n`.
    Client(usize),
    /// A foreign process squatting a port on a client host.
    Squatter(usize),
}

/// One end of a connection: a process incarnation and its handle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct EndId {
    /// The process.
    pub node: NodeId,
    /// Which run of the process (restarts count up).
    pub incarnation: u32,
    /// The process's handle for the connection.
    pub conn: ConnId,
}

/// The kind of a simulated connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConnKind {
    /// A client dialled the server.
    Control,
    /// The server dialled a client host.
    Callback,
}

/// What travels in a pipe.
#[derive(Debug)]
pub enum Segment {
    /// Bytes.
    Data(Vec<u8>),
    /// The sender closed its end (after everything before it).
    Fin,
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub struct Pipe {
    /// Segments in order, with their arrival times (non-decreasing).
    pub queue: VecDeque<(Duration, Segment)>,
    /// The arrival time of the last segment queued: later segments never
    /// overtake it.
    pub last_at: Duration,
    /// A delivery event is scheduled for the front segment.
    pub scheduled: bool,
    /// The front segment waits for a partition to heal.
    pub stalled: bool,
    /// Decodes what arrives, for the simulator's own bookkeeping (acknowledgements).
    pub rx: faxnotify_core::wire::Decoder,
    /// `rx` gave up (the sender is not speaking FNP/1).
    pub rx_failed: bool,
}

impl Pipe {
    /// Bytes waiting in the pipe.
    pub fn bytes(&self) -> usize {
        self.queue
            .iter()
            .map(|(_, s)| match s {
                Segment::Data(d) => d.len(),
                Segment::Fin => 0,
            })
            .sum()
    }
}

/// One end's state.
#[derive(Clone, Copy, Debug)]
pub struct End {
    /// Its id, once the process has a handle for it (the acceptor gets one
    /// when the connection arrives).
    pub id: Option<EndId>,
    /// The process has the connection open: it neither closed it nor was
    /// told it closed.
    pub open: bool,
}

/// Where a connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConnState {
    /// The SYN is on its way (or held by a partition or a dropping firewall).
    Dialling,
    /// Both ends have it.
    Open,
    /// The dial failed or was abandoned.
    Failed,
    /// Reset: nothing more travels.
    Reset,
}

/// A simulated TCP connection. End 0 dialled, end 1 accepted.
#[derive(Debug)]
pub struct SimConn {
    /// Control or callback.
    pub kind: ConnKind,
    /// The client host the connection runs to or from.
    pub host: usize,
    /// The client process involved (for a callback: the listener's owner, if a client).
    pub client: Option<usize>,
    /// Where the dialler asked to go.
    pub target: SocketAddr,
    /// The two ends.
    pub ends: [End; 2],
    /// `pipes[d]` carries bytes from end `d` to end `1 - d`.
    pub pipes: [Pipe; 2],
    /// Life cycle.
    pub state: ConnState,
    /// The server process the connection belongs to.
    pub server_incarnation: u32,
    /// The session it serves, from the LOGIN_OK or CB_HELLO the server sent on it.
    pub session: Option<faxnotify_core::SessionId>,
    /// A callback the client accepted as the server's (its
    /// `CallbackEstablished`): the client closes it gracefully, and any
    /// other callback at once.
    pub established: bool,
}

/// Who holds a port on a host.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PortOwner {
    /// A client's callback listener (client, incarnation).
    Client(usize, u32),
    /// A foreign process.
    Squatter(usize),
}

/// A foreign process holding a port.
#[derive(Debug)]
pub struct SquatterProc {
    /// Its host.
    pub host: usize,
    /// Its port.
    pub port: u16,
    /// What it does.
    pub mode: Squatter,
    /// Whether it still runs.
    pub alive: bool,
    /// Handles it gave to accepted connections.
    pub next_conn: u64,
}

/// The link between a client host and the server machine.
#[derive(Debug)]
pub struct Link {
    /// Normal one-way latency.
    pub latency: Duration,
    /// Added latency while `now < extra_until`.
    pub extra: Duration,
    /// End of the slowdown.
    pub extra_until: Duration,
    /// Nothing passes.
    pub partitioned: bool,
    /// How the host treats the server's dials.
    pub firewall: Firewall,
}

/// A client host.
#[derive(Debug)]
pub struct Host {
    /// Its link to the server.
    pub link: Link,
    /// Bound ports.
    pub ports: BTreeMap<u16, PortOwner>,
    /// Ephemeral ports for outgoing connections.
    pub next_ephemeral: u16,
    /// The server sees the host's address IPv4-mapped.
    pub mapped_v6: bool,
}

impl Host {
    /// A host with the given latency.
    pub fn new(latency: Duration, mapped_v6: bool) -> Self {
        Self {
            link: Link {
                latency,
                extra: Duration::ZERO,
                extra_until: Duration::ZERO,
                partitioned: false,
                firewall: Firewall::Open,
            },
            ports: BTreeMap::new(),
            next_ephemeral: 50_000,
            mapped_v6,
        }
    }

    /// The one-way latency at `now`.
    pub fn latency(&self, now: Duration) -> Duration {
        if now < self.link.extra_until {
            self.link.latency + self.link.extra
        } else {
            self.link.latency
        }
    }

    /// An ephemeral port for an outgoing connection.
    pub fn ephemeral(&mut self) -> u16 {
        let port = self.next_ephemeral;
        self.next_ephemeral = if port == 60_999 { 50_000 } else { port + 1 };
        port
    }

    /// Binds `port` (0: the lowest free dynamic port) for `owner`; `None` if taken.
    pub fn bind(&mut self, port: u16, owner: PortOwner) -> Option<u16> {
        let port = if port == 0 {
            (DYNAMIC_PORT_BASE..u16::MAX).find(|p| !self.ports.contains_key(p))?
        } else if self.ports.contains_key(&port) {
            return None;
        } else {
            port
        };
        self.ports.insert(port, owner);
        Some(port)
    }

    /// Frees every port `owner` holds.
    pub fn unbind_all(&mut self, owner: PortOwner) {
        self.ports.retain(|_, o| *o != owner);
    }
}
