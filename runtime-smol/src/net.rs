//! Sockets: listeners, dialled and accepted streams, and the messages
//! connection tasks send to the driver.

use async_channel::Sender;
use async_io::Async;
use faxnotify_core::ConnId;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

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

/// Binds a TCP listener on `addr` (the options are
/// [`faxnotify_runtime::bind_listener`]'s).
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
    // With the test hooks, a listener on a port the OS picks is made
    // `SO_REUSEPORT`, so that suspending it can hold its port
    // (`faxnotify_runtime::PortHold`): its accepted connections inherit the
    // option, and every socket on a port must have it for another to bind
    // beside them. Only same-user sockets that set it could share such a
    // port, and fixed ports and ranges never get it, so their one-instance
    // rule is tested as it ships.
    let reuse_port = cfg!(feature = "test-hooks") && addr.port() == 0;
    Async::new(faxnotify_runtime::bind_listener(addr, reuse_port)?)
}

/// The address a listener is bound to.
pub(crate) fn local_addr(listener: &Async<TcpListener>) -> io::Result<SocketAddr> {
    listener.get_ref().local_addr()
}

/// Frames are small and latency matters: no Nagle delay.
pub(crate) fn configure(stream: &Async<TcpStream>) -> io::Result<()> {
    stream.get_ref().set_nodelay(true)
}

pub(crate) use faxnotify_runtime::is_transient_accept_error;

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
