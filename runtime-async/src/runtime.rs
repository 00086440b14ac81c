//! What the driver needs from an async runtime, and nothing more: where
//! tasks go, a timer, a listener to accept on, and TCP streams to dial,
//! read and write. An adapter crate implements these traits on its
//! runtime (faxnotify-smol on async-io, faxnotify-tokio on tokio); the
//! driver, the connections and the handles are written once against them.
//!
//! The shape follows quinn's `quinn/src/runtime.rs` (a `Runtime` with an
//! `AsyncTimer`), with associated types instead of trait objects: the
//! driver is generic over the runtime, so a read or a timer costs no box.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Instant;

/// An async runtime the FNP/1 driver can run on.
///
/// A value of this type is *where* an instance's tasks run (a dedicated
/// thread, an executor, a runtime handle); it is the `runner` field of
/// [`Options`](crate::Options).
pub trait Runtime: Clone + fmt::Debug + Default + Send + Sync + 'static {
    /// A connected TCP stream.
    type Tcp: AsyncTcp;
    /// A listening TCP socket.
    type Listener: AsyncListener<Tcp = Self::Tcp>;
    /// A one-shot timer.
    type Timer: AsyncTimer;
    /// Spawns an instance's connection tasks.
    type Spawner: Spawn;

    /// Starts the driver that `make` builds (given where its connection
    /// tasks go) as a task of its own, and returns at once. `name` names
    /// a thread, if the runtime starts one.
    fn launch<F>(&self, name: &str, make: impl FnOnce(Self::Spawner) -> F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static;

    /// Hands a bound, listening, non-blocking std listener to the runtime.
    /// Called on a task of the instance (inside the runtime).
    fn listener(listener: std::net::TcpListener) -> io::Result<Self::Listener>;

    /// Dials `addr`. Called on a task of the instance.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send;

    /// A timer that fires at `at`. Called on a task of the instance.
    fn timer(at: Instant) -> Self::Timer;
}

/// Spawns detached tasks; the driver cancels them itself when it must.
pub trait Spawn: Clone + Send + Sync + 'static {
    /// Runs `task` in the background.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static);
}

/// A one-shot timer that can be moved (quinn's `AsyncTimer`).
pub trait AsyncTimer: Send + Unpin + 'static {
    /// Fires at `at` instead (again, if it had fired).
    fn reset(&mut self, at: Instant);
    /// Ready once the deadline has passed. After it was ready, the driver
    /// polls it again only once it has been [reset](AsyncTimer::reset), so a
    /// fired timer may stay ready (tokio's `Sleep`) or not (async-io's `Timer`).
    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// A listener the driver accepts on in its own loop.
pub trait AsyncListener: Send + Sync + 'static {
    /// The streams it accepts.
    type Tcp;
    /// The next connection. The waker must stay registered between calls
    /// (the driver polls from a future it rebuilds on every wake-up).
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Tcp, SocketAddr)>>;
    /// The socket, for its options (the test hooks hold its port).
    fn socket(&self) -> socket2::SockRef<'_>;
}

/// A TCP stream shared by the driver and a connection task: `try_*` never wait
/// (they fail with `WouldBlock`); the connection's task waits through
/// `poll_readable`/`poll_writable` (tokio's `poll_read_ready`/`poll_write_ready`,
/// async-io's `Async::poll_readable`/`poll_writable`).
///
/// Readiness is polled, not awaited, so that a connection's task keeps no
/// future per wait (the shape of quinn's `AsyncUdpSocket::poll_recv`): each
/// direction keeps the waker of its latest `Pending` call registered until
/// the socket is ready (one task reads and writes a stream, so one waker
/// per direction is enough).
pub trait AsyncTcp: Send + Sync + 'static {
    /// Reads what is there now.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what the socket takes now.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Ready when a read may succeed (or the peer closed); else `Pending`,
    /// with `cx`'s waker registered. After a read said `WouldBlock` (or
    /// read less than asked), the next call must wait for new readiness,
    /// not answer ready at once (the reader would spin).
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ready when a write may succeed; else `Pending`, with `cx`'s waker
    /// registered. After a write said `WouldBlock`, waits for new readiness.
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Shuts the write side down (FIN after what was written).
    fn shutdown_write(&self) -> io::Result<()>;
    /// Turns Nagle's algorithm off (frames are small and latency matters).
    fn set_nodelay(&self) -> io::Result<()>;
}

/// Resolves when `timer` fires.
pub(crate) fn fired<T: AsyncTimer>(timer: &mut T) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |cx| timer.poll_fire(cx))
}

/// Sleeps until `at`.
pub(crate) async fn sleep_until<R: Runtime>(at: Instant) {
    fired(&mut R::timer(at)).await;
}
