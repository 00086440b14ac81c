//! faxnotify-async's [`Runtime`] on tokio: tasks spawned through a
//! [`Handle`] of the caller's runtime, sockets from `tokio::net`, timers
//! from `tokio::time`. No thread of its own.

use std::future::Future;
use std::io::{self, Read as _};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use faxnotify_async::{AsyncListener, AsyncTcp, AsyncTimer, Runtime, Spawn};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::time::Sleep;

/// Which tokio runtime a server's or client's tasks run on (its driver and
/// one task per connection).
///
/// The runtime must have I/O and time enabled (`enable_all()`, as
/// `#[tokio::main]` does). The futures the public API returns only wait on
/// channels, so they can be awaited from anywhere, even off tokio.
///
/// ```
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig};
/// use faxnotify_tokio::{Options, Server, TaskRunner};
///
/// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
/// let mut options = Options::default();
/// options.runner = TaskRunner::Handle(runtime.handle().clone());
/// // Started and used from a thread that is not the runtime's.
/// futures_lite::future::block_on(async {
///     let users = MemoryUserStore::new();
///     let config = ServerConfig::new([1; 32]);
///     let (server, _events) =
///         Server::bind_with("127.0.0.1:0".parse()?, config, users, options).await?;
///     assert_eq!(server.stats().await?.sessions, 0);
///     server.shutdown().await;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum TaskRunner {
    /// The runtime that starts the instance (`Handle::current()` when
    /// `bind` or `start` is called); starting outside a tokio runtime
    /// fails with a `Spawn` error. The default.
    #[default]
    Current,
    /// This runtime, wherever the instance is started from.
    Handle(Handle),
}

impl Runtime for TaskRunner {
    type Tcp = Tcp;
    type Listener = Listener;
    type Timer = TokioTimer;
    type Spawner = Spawner;

    fn launch<F>(&self, _name: &str, make: impl FnOnce(Spawner) -> F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = match self {
            TaskRunner::Current => Handle::try_current().map_err(io::Error::other)?,
            TaskRunner::Handle(handle) => handle.clone(),
        };
        // Dropping a tokio JoinHandle detaches the task: the driver runs
        // until it is done.
        drop(handle.spawn(make(Spawner(handle.clone()))));
        Ok(())
    }

    fn listener(listener: std::net::TcpListener) -> io::Result<Listener> {
        TcpListener::from_std(listener).map(Listener)
    }

    async fn connect(addr: SocketAddr) -> io::Result<Tcp> {
        TcpStream::connect(addr).await.map(Tcp)
    }

    fn timer(at: Instant) -> TokioTimer {
        TokioTimer(Box::pin(tokio::time::sleep_until(at.into())))
    }
}

/// Where an instance's connection tasks go: its runtime.
#[derive(Clone, Debug)]
pub struct Spawner(Handle);

impl Spawn for Spawner {
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        drop(self.0.spawn(task));
    }
}

/// A tokio timer (boxed: `Sleep` must not move once polled).
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<Sleep>>);

impl AsyncTimer for TokioTimer {
    fn reset(&mut self, at: Instant) {
        self.0.as_mut().reset(at.into());
    }

    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// A tokio listener.
#[derive(Debug)]
pub struct Listener(TcpListener);

impl AsyncListener for Listener {
    type Tcp = Tcp;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Tcp, SocketAddr)>> {
        self.0
            .poll_accept(cx)
            .map_ok(|(stream, peer)| (Tcp(stream), peer))
    }

    fn socket(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&self.0)
    }
}

/// A tokio TCP stream.
#[derive(Debug)]
pub struct Tcp(TcpStream);

impl AsyncTcp for Tcp {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // A short read empties the socket: clear tokio's readiness then, as
        // tokio's own `poll_read` does, so that the reader's next
        // `poll_readable` waits for new data instead of returning at once into
        // a read that only says WouldBlock (a system call per read). Tokio
        // clears readiness only when the closure says WouldBlock, so the
        // bytes read travel beside it. The peer's FIN stays ready: tokio
        // never clears read-closed readiness.
        let mut got = 0;
        let result = self.0.try_io(Interest::READABLE, || {
            let n = (&*socket2::SockRef::from(&self.0)).read(buf)?;
            got = n;
            if n > 0 && n < buf.len() {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        });
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            other => other,
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The waker goes to the socket's reader slot: nothing allocated or
        // kept per wait (`readable()`'s future is 168 bytes).
        self.0.poll_read_ready(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_write_ready(cx)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        // tokio shuts down through `&mut` (AsyncWrite); the socket is shared
        // by the driver and the connection's task, so the call goes to the OS directly.
        socket2::SockRef::from(&self.0).shutdown(Shutdown::Write)
    }

    fn set_nodelay(&self) -> io::Result<()> {
        self.0.set_nodelay(true)
    }
}
