//! Sockets: listeners, dialled and accepted streams, and the messages
//! connection tasks send to the driver.

use async_channel::Sender;
use faxnotify_core::ConnId;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};

use crate::runtime::{AsyncTcp, Runtime};

/// The listen backlog: enough for a burst of callbacks or logins.
const BACKLOG: i32 = 1024;

/// What connection tasks report to the driver.
pub(crate) enum NetMsg<S> {
    /// A dial finished.
    Dialled { conn: ConnId, result: io::Result<S> },
    /// Bytes arrived.
    Received { conn: ConnId, data: Vec<u8> },
    /// The peer closed the connection, or it broke.
    Closed { conn: ConnId },
}

/// Binds a non-blocking TCP listener on `addr` (the runtime adopts it on
/// the instance's task, see [`Runtime::listener`]).
///
/// - No `SO_REUSEPORT`: two live listeners can never share an endpoint, so
///   a `fixed` port held by another instance fails with `AddrInUse`.
/// - `SO_REUSEADDR` on Unix only, where it lets a restart bind a port that
///   still has connections in TIME_WAIT but does *not* let a second listener
///   bind a port that is listening. (On Windows it would allow exactly that,
///   so it is not set there.)
/// - IPv6 listeners are dual-stack (`IPV6_V6ONLY` off): `[::]` also accepts
///   IPv4 connections, which the core sees as IPv4 peers [C-1].
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
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
pub(crate) fn bind_listener_with(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
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
    Ok(TcpListener::from(socket))
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
pub(crate) async fn dial<R: Runtime>(conn: ConnId, addr: SocketAddr, tx: Sender<NetMsg<R::Tcp>>) {
    let result = match R::connect(addr).await {
        Ok(stream) => stream.set_nodelay().map(|()| stream),
        Err(error) => Err(error),
    };
    if let Err(error) = &result {
        tracing::debug!(%conn, %addr, %error, "dial failed");
    }
    let _ = tx.send(NetMsg::Dialled { conn, result }).await;
}

/// The local address of this host's route to `server`: the address a
/// connection to it comes from, which the server dials back [C-1]. A UDP
/// socket "connected" to the server asks the routing table and sends nothing.
pub(crate) fn route_local_ip(server: SocketAddr) -> io::Result<std::net::IpAddr> {
    let server = SocketAddr::new(server.ip().to_canonical(), server.port());
    let any: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = std::net::UdpSocket::bind(any)?;
    socket.connect(server)?;
    Ok(socket.local_addr()?.ip())
}

/// Fills in [`ClientConfig::local_ip`] for [`ListenAddress::Route`] when the
/// application did not: the callback listener binds that address rather
/// than every interface. Without a route (no network yet) it stays unset and
/// the core falls back to every interface, which a later route can use.
pub(crate) fn fill_local_ip(config: &mut faxnotify_core::client::ClientConfig) {
    use faxnotify_core::client::{ListenAddress, ListenPolicy};
    if config.local_ip.is_some()
        || config.settings.listen_address != ListenAddress::Route
        || config.settings.listen == ListenPolicy::None
    {
        return;
    }
    match route_local_ip(config.server) {
        Ok(ip) => config.local_ip = Some(ip),
        Err(err) => tracing::warn!(
            server = %config.server,
            %err,
            "no route to the server yet: the callback listener binds every interface"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn a_live_port_cannot_be_bound_twice_even_with_reuseaddr() {
        let first = bind_listener("127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()))
            .expect("bind an ephemeral port");
        let addr = first.local_addr().expect("local addr");
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
        let port = listener.local_addr().expect("local addr").port();
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
