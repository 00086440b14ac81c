//! Sockets: listeners, dialled and accepted streams, and the messages
//! connection tasks send to the driver.
//!
//! The messages go through a bounded channel beside a [`Doorbell`]: a
//! sender rings only when no wake of the driver is pending, and the driver
//! waits on the bell, not on the channel (whose receive would register an
//! event listener, an allocation, on every wait). The bytes read travel in
//! buffers that the driver gives back once the core has taken them.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use async_channel::{Receiver, Sender, TrySendError};
use faxnotify_core::ConnId;
use faxnotify_runtime::WakeGate;

use crate::doorbell::Doorbell;
use crate::runtime::{AsyncTcp, Runtime};

/// Read buffers kept for reuse, and the largest capacity kept: enough for
/// the reads of a busy driver's turn, small enough to hold little.
const KEPT_BUFFERS: usize = 16;
const KEPT_CAPACITY: usize = 4096;

/// What connection tasks report to the driver.
pub(crate) enum NetMsg<S> {
    /// A dial finished.
    Dialled { conn: ConnId, result: io::Result<S> },
    /// Bytes arrived.
    Received { conn: ConnId, data: Vec<u8> },
    /// The peer closed the connection, or it broke.
    Closed { conn: ConnId },
}

/// A message waiting for room in the driver's queue; resolves to whether
/// it was sent (false: the driver is gone). Boxed: it exists only while
/// the driver lags, and a connection task would otherwise carry its space
/// while idle.
pub(crate) type Sending = Pin<Box<dyn Future<Output = bool> + Send>>;

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

/// What both ends share: the bell and the read buffers going round.
struct Shared {
    bell: Doorbell,
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn buffers(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        // Single pushes and pops: a poisoned lock is still consistent.
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The connection tasks' end.
pub(crate) struct NetTx<S> {
    tx: Sender<NetMsg<S>>,
    shared: Arc<Shared>,
}

impl<S> Clone for NetTx<S> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The driver's end.
pub(crate) struct NetRx<S> {
    rx: Receiver<NetMsg<S>>,
    shared: Arc<Shared>,
}

/// A channel of at most `capacity` messages from connection tasks to a driver.
pub(crate) fn channel<S>(capacity: usize) -> (NetTx<S>, NetRx<S>) {
    let (tx, rx) = async_channel::bounded(capacity);
    let shared = Arc::new(Shared {
        bell: Doorbell::new(Arc::new(WakeGate::new())),
        buffers: Mutex::new(Vec::new()),
    });
    let rx = NetRx {
        rx,
        shared: Arc::clone(&shared),
    };
    (NetTx { tx, shared }, rx)
}

impl<S: Send + 'static> NetTx<S> {
    /// Sends `msg`, waiting while the channel is full; false if the
    /// driver is gone.
    pub(crate) async fn send(&self, msg: NetMsg<S>) -> bool {
        match self.start_send(msg) {
            Ok(sent) => sent,
            Err(sending) => sending.await,
        }
    }

    /// Sends `msg` if there is room (`Ok(false)`: the driver is gone);
    /// else the wait for room, to be polled to the end.
    pub(crate) fn start_send(&self, msg: NetMsg<S>) -> Result<bool, Sending> {
        match self.tx.try_send(msg) {
            Ok(()) => {
                self.shared.bell.ring_if_idle();
                Ok(true)
            }
            // Only while the driver lags: this wait allocates.
            Err(TrySendError::Full(msg)) => {
                let net = self.clone();
                Err(Box::pin(async move {
                    let sent = net.tx.send(msg).await.is_ok();
                    if sent {
                        net.shared.bell.ring_if_idle();
                    }
                    sent
                }))
            }
            Err(TrySendError::Closed(_)) => Ok(false),
        }
    }
}

impl<S> NetTx<S> {
    /// `bytes` in a buffer of their own (a reused one when there is one).
    pub(crate) fn buffer(&self, bytes: &[u8]) -> Vec<u8> {
        let mut buf = self.shared.buffers().pop().unwrap_or_default();
        buf.extend_from_slice(bytes);
        buf
    }
}

impl<S> NetRx<S> {
    /// Resolves when a message is waiting. Only while it waits does a
    /// sender ring (see [`NetRx::awake`]).
    pub(crate) async fn ready(&self) {
        std::future::poll_fn(|cx| {
            if !self.rx.is_empty() {
                return std::task::Poll::Ready(());
            }
            // Going to sleep: from here on the next sender rings, and a
            // message sent before the waker was stored is seen below.
            self.shared.bell.rearm();
            self.shared.bell.set_waker(cx.waker());
            if self.rx.is_empty() {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
    }

    /// Call when the driver wakes, for whatever reason: senders need not
    /// ring while it runs (it looks at the channel before it sleeps again),
    /// so a message sent meanwhile costs no wake-up of a running task.
    pub(crate) fn awake(&self) {
        self.shared.bell.hold();
    }

    /// A message that is waiting.
    pub(crate) fn try_recv(&self) -> Option<NetMsg<S>> {
        self.rx.try_recv().ok()
    }

    /// Gives a read buffer back for reuse, once the core has taken its bytes.
    pub(crate) fn recycle(&self, mut buf: Vec<u8>) {
        if buf.capacity() > KEPT_CAPACITY {
            return;
        }
        buf.clear();
        let mut buffers = self.shared.buffers();
        if buffers.len() < KEPT_BUFFERS {
            buffers.push(buf);
        }
    }
}

/// Dials `addr` and reports the outcome. The core enforces the dial's
/// timeout: it closes the connection, and the driver then drops this task.
pub(crate) async fn dial<R: Runtime>(conn: ConnId, addr: SocketAddr, tx: NetTx<R::Tcp>) {
    let result = match R::connect(addr).await {
        Ok(stream) => stream.set_nodelay().map(|()| stream),
        Err(error) => Err(error),
    };
    if let Err(error) = &result {
        tracing::debug!(%conn, %addr, %error, "dial failed");
    }
    tx.send(NetMsg::Dialled { conn, result }).await;
}
