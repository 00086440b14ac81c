//! Who is where on the in-memory network: the server's address and the
//! clients', the sides and kinds of connection, what may sit on a
//! connection's path, and the failures the network makes on purpose.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use faxnotify_core::io::BindError;

/// The server's address on the network (where clients dial).
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4580);

/// A client on the network, by the order it was added.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ClientId(pub usize);

/// One end of the network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    /// The server.
    Server,
    /// A client.
    Client(ClientId),
}

impl Side {
    /// The first client (`Side::Client(ClientId(0))`), the only one of a pair.
    pub const CLIENT: Side = Side::Client(ClientId(0));
}

/// Which kind of connection: who dialled whom.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Path {
    /// A client dialled the server.
    Control,
    /// The server dialled a client's listener.
    Callback,
}

/// Bytes a [`Middlebox`] lets through, each way.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Relayed {
    /// Toward the client.
    pub to_client: Vec<u8>,
    /// Toward the server.
    pub to_server: Vec<u8>,
}

/// Something on a connection's path that sees and rewrites its bytes (a
/// TLS-terminating relay, a corrupting link, ...).
pub trait Middlebox {
    /// The connection was just established; what it sends first.
    fn open(&mut self) -> Relayed {
        Relayed::default()
    }
    /// The client wrote `data`.
    fn client_sent(&mut self, data: &[u8]) -> Relayed;
    /// The server wrote `data`.
    fn server_sent(&mut self, data: &[u8]) -> Relayed;
}

/// Failures the network makes on purpose.
#[derive(Clone, Default, Debug)]
pub struct Faults {
    /// Clients' dials to the server are refused.
    pub refuse_control: bool,
    /// The server's dials to clients are refused.
    pub refuse_callback: bool,
    /// Clients' listeners fail to bind with this error.
    pub bind_error: Option<BindError>,
}

/// The default address of the `i`-th client: 192.0.2.10 onwards (TEST-NET-1)
/// for the first 200, then an IPv6 address in a /64 of its own (the unit
/// the server counts per-address limits by) within 2001:db8::/32.
pub fn client_ip(i: usize) -> IpAddr {
    match u8::try_from(i) {
        Ok(small) if small < 200 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + small)),
        _ => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            (i >> 16) as u16,
            i as u16,
            0,
            0,
            0,
            1,
        )),
    }
}
