//! Sockets: listeners, dialled and accepted streams, and the messages
//! connection tasks send to the driver.

use async_channel::Sender;
use async_io::Async;
use faxnotify_core::ConnId;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

/// The listen backlog: enough for a burst of callbacks or logins.
const BACKLOG: i32 = 1024;

/// What connection tasks report to the driver.
#[derive(Debug)]
pub(crate) enum NetMsg {
    /// A dial finished.
    Dialled {
        conn: ConnId,
        result: io::Result<Async<TcpStream>>,
    },
    /// Bytes arrived.
    Received { conn: ConnId, data: Vec<u8> },
    /// The peer closed the connection, or it broke.
    Closed { conn: ConnId },
}

/// Binds a TCP listener on `addr`.
///
/// - No `SO_REUSEPORT`: two live listeners can never share an endpoint, so
///   a `fixed` port held by another instance fails with `AddrInUse`.
/// - `SO_REUSEADDR` on Unix only, where it lets a restart bind a port that
///   still has connections in TIME_WAIT but does *not* let a second listener
///   bind a port that is listening. (On Windows it would allow exactly that,
///   so it is not set there.)
/// - IPv6 listeners are dual-stack (`IPV6_V6ONLY` off): `[::]` also accepts
///   IPv4 connections, which the core sees as IPv4 peers [C-1].
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
    // With the test hooks, a listener on a port the OS picks is made
    // `SO_REUSEPORT`, so that suspending it can hold its port
    // (`crate::port_hold`): its accepted connections inherit the option, and
    // every socket on a port must have it for another to bind beside them.
    // Only same-user sockets that set it could share such a port, and fixed
    // ports and ranges never get it, so their one-instance rule is tested as
    // it ships.
    bind_listener_with(addr, cfg!(feature = "test-hooks") && addr.port() == 0)
}

/// [`bind_listener`], optionally with `SO_REUSEPORT` (see there).
pub(crate) fn bind_listener_with(
    addr: SocketAddr,
    reuse_port: bool,
) -> io::Result<Async<TcpListener>> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Async::new(TcpListener::from(socket))
}

/// The address a listener is bound to.
pub(crate) fn local_addr(listener: &Async<TcpListener>) -> io::Result<SocketAddr> {
    listener.get_ref().local_addr()
}

/// Frames are small and latency matters: no Nagle delay.
pub(crate) fn configure(stream: &Async<TcpStream>) -> io::Result<()> {
    stream.get_ref().set_nodelay(true)
}

/// An accept error that says nothing about the next accept (the peer gave
/// up, a signal): try again at once. Others (out of descriptors or memory)
/// would repeat at once, so accepting pauses a little.
pub(crate) fn is_transient_accept_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Dials `addr` and reports the outcome. The core enforces the dial's
/// timeout: it closes the connection, and the driver then drops this task.
pub(crate) async fn dial(conn: ConnId, addr: SocketAddr, tx: Sender<NetMsg>) {
    let result = match Async::<TcpStream>::connect(addr).await {
        Ok(stream) => configure(&stream).map(|()| stream),
        Err(error) => Err(error),
    };
    if let Err(error) = &result {
        tracing::debug!(%conn, %addr, %error, "dial failed");
    }
    let _ = tx.send(NetMsg::Dialled { conn, result }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_port_cannot_be_bound_twice_even_with_reuseaddr() {
        let first = bind_listener("127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()))
            .expect("bind an ephemeral port");
        let addr = local_addr(&first).expect("local addr");
        let second = bind_listener(addr).expect_err("second bind must fail");
        assert_eq!(second.kind(), io::ErrorKind::AddrInUse);
        drop(first);
        // Once closed, the port is free again at once.
        bind_listener(addr).expect("rebind after close");
    }

    #[test]
    fn an_ipv6_wildcard_listener_is_dual_stack() {
        let Ok(listener) = bind_listener("[::]:0".parse().unwrap_or_else(|_| unreachable!()))
        else {
            eprintln!("skipped: this machine has no IPv6");
            return;
        };
        let port = local_addr(&listener).expect("local addr").port();
        // The IPv4 wildcard on the same port is taken by the dual-stack listener.
        let v4: SocketAddr = SocketAddr::from(([0, 0, 0, 0], port));
        assert_eq!(
            bind_listener(v4).expect_err("port held").kind(),
            io::ErrorKind::AddrInUse
        );
        // And an IPv4 client reaches it.
        TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).expect("IPv4 connect");
    }
}
