//! Sockets: listeners, dialled and accepted streams, and the messages
//! connection tasks send to the driver.

use async_channel::Sender;
use faxnotify_core::ConnId;
use std::io;
use std::net::{SocketAddr, TcpListener};

use crate::runtime::{AsyncTcp, Runtime};

/// What connection tasks report to the driver.
pub(crate) enum NetMsg<S> {
    /// A dial finished.
    Dialled { conn: ConnId, result: io::Result<S> },
    /// Bytes arrived.
    Received { conn: ConnId, data: Vec<u8> },
    /// The peer closed the connection, or it broke.
    Closed { conn: ConnId },
}

/// Binds a non-blocking TCP listener on `addr` (the options are
/// [`faxnotify_runtime::bind_listener`]'s; the runtime adopts it on the
/// instance's task, see [`Runtime::listener`]).
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    // With the test hooks, a listener on a port the OS picks is made
    // `SO_REUSEPORT`, so that suspending it can hold its port
    // (`faxnotify_runtime::PortHold`): its accepted connections inherit the
    // option, and every socket on a port must have it for another to bind
    // beside them. Only same-user sockets that set it could share such a
    // port, and fixed ports and ranges never get it, so their one-instance
    // rule is tested as it ships.
    let reuse_port = cfg!(feature = "test-hooks") && addr.port() == 0;
    faxnotify_runtime::bind_listener(addr, reuse_port)
}

pub(crate) use faxnotify_runtime::is_transient_accept_error;

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
