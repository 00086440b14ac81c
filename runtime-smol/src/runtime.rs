//! faxnotify-async's [`Runtime`] on async-io: tasks on an
//! [`async_executor::Executor`] (one of its own on a dedicated thread, or
//! the caller's), sockets and timers from async-io's reactor.

use std::fmt;
use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_executor::Executor;
use async_io::{Async, Timer};
use faxnotify_async::{AsyncListener, AsyncTcp, AsyncTimer, Runtime, Spawn};
use futures_lite::{FutureExt as _, future, ready};
use socket2::{Domain, Protocol, Socket, Type};

/// Where a server's or client's background tasks run (its driver and one
/// task per connection).
///
/// The futures returned by the public API (`notify`, `next_event`, ...) only
/// wait on channels, so they can be awaited from any executor whichever
/// runner is chosen.
///
/// Running a server on an executor the application owns:
///
/// ```
/// use std::sync::Arc;
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig};
/// use faxnotify_smol::{Executor, Options, Server, TaskRunner};
///
/// let executor = Arc::new(Executor::new());
/// let mut options = Options::default();
/// options.runner = TaskRunner::Executor(Arc::clone(&executor));
/// // The application runs the executor (here on this thread, around its own work).
/// futures_lite::future::block_on(executor.run(async {
///     let (server, _events) = Server::bind_with(
///         "127.0.0.1:0".parse()?,
///         ServerConfig::new([1; 32]),
///         MemoryUserStore::new(),
///         options,
///     )
///     .await?;
///     assert_eq!(server.stats().await?.sessions, 0);
///     server.shutdown().await;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// }))
/// .unwrap();
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum TaskRunner {
    /// A dedicated OS thread per server or client runs an
    /// [`Executor`] of its own with every task of that instance. Nothing is
    /// spawned anywhere else, so the instance works under any executor
    /// (smol, `async_std::task::block_on`, a plain `futures_lite::future::block_on`,
    /// ...). The thread ends when the instance has stopped. The default.
    #[default]
    DedicatedThread,
    /// Spawn the tasks on this executor. The caller must keep it running
    /// (`executor.run(..)` on one or more threads) for as long as the
    /// instance lives; nothing happens while nobody runs it.
    Executor(Arc<Executor<'static>>),
}

impl fmt::Debug for TaskRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskRunner::DedicatedThread => f.write_str("DedicatedThread"),
            TaskRunner::Executor(_) => f.write_str("Executor(..)"),
        }
    }
}

impl Runtime for TaskRunner {
    type Tcp = Tcp;
    type Listener = Listener;
    type Timer = SmolTimer;
    type Spawner = Spawner;

    /// Runs the driver on a new thread named `name` running an executor of
    /// its own until the driver returns, or as a task on the caller's executor.
    fn launch<F>(&self, name: &str, make: impl FnOnce(Spawner) -> F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            TaskRunner::DedicatedThread => {
                let executor = Arc::new(Executor::new());
                let driver = make(Spawner(Arc::clone(&executor)));
                std::thread::Builder::new()
                    .name(name.to_owned())
                    .spawn(move || async_io::block_on(executor.run(driver)))?;
            }
            TaskRunner::Executor(executor) => {
                executor.spawn(make(Spawner(Arc::clone(executor)))).detach();
            }
        }
        Ok(())
    }

    fn listener(listener: TcpListener) -> io::Result<Listener> {
        Async::new(listener).map(Listener)
    }

    /// What `Async::<TcpStream>::connect` does, but waiting with
    /// `poll_writable` instead of its `writable()` future: that future
    /// registers in the socket's list of waiters, whose first entry makes
    /// a vector of four (96 bytes) that the socket keeps for the rest of
    /// its life: 96 bytes in every dialled (callback) connection, about
    /// 0.8 MiB in a server of 9 000 callbacks. `poll_writable` uses the
    /// socket's single waker slot instead.
    async fn connect(addr: SocketAddr) -> io::Result<Tcp> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let stream = Async::new_nonblocking(TcpStream::from(socket))?;
        // Writable once connected, or once the attempt failed.
        future::poll_fn(|cx| stream.poll_writable(cx)).await?;
        match stream.get_ref().take_error()? {
            None => Ok(Tcp(stream)),
            Some(error) => Err(error),
        }
    }

    fn timer(at: Instant) -> SmolTimer {
        SmolTimer(Box::new(Timer::at(at)))
    }
}

/// Where an instance's connection tasks go: its executor.
#[derive(Clone, Debug)]
pub struct Spawner(Arc<Executor<'static>>);

impl Spawn for Spawner {
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.spawn(task).detach();
    }
}

/// An async-io timer, boxed as tokio's is: a connection's task holds one
/// only while it closes, and a pointer in every idle task costs less than
/// the 56-byte timer inline (the driver makes its one timer once and
/// resets it).
#[derive(Debug)]
pub struct SmolTimer(Box<Timer>);

impl AsyncTimer for SmolTimer {
    fn reset(&mut self, at: Instant) {
        self.0.set_at(at);
    }

    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll(cx).map(drop)
    }
}

/// A listener on async-io's reactor.
#[derive(Debug)]
pub struct Listener(Async<TcpListener>);

impl AsyncListener for Listener {
    type Tcp = Tcp;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Tcp, SocketAddr)>> {
        // Wait for readiness before trying: an `accept` tried on every
        // wake-up of the driver would cost an accept4 syscall (EAGAIN) per
        // wake-up of a busy connection. `poll_readable` (not `readable()`,
        // whose future deregisters its waker when dropped) keeps the
        // driver's waker registered across wake-ups: no epoll_ctl either.
        loop {
            ready!(self.0.poll_readable(cx))?;
            match self.0.get_ref().accept() {
                Ok((stream, peer)) => return Poll::Ready(Ok((Tcp(Async::new(stream)?), peer))),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    fn socket(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&self.0)
    }
}

/// A TCP stream on async-io's reactor.
#[derive(Debug)]
pub struct Tcp(Async<TcpStream>);

impl AsyncTcp for Tcp {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.get_ref().read(buf)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_ref().write(buf)
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Ready only after an event since the last `Pending` (async-io
        // re-arms its oneshot registration on each wait): a short read is
        // followed by a real wait, not by another read.
        self.0.poll_readable(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_writable(cx)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.0.get_ref().shutdown(Shutdown::Write)
    }

    fn set_nodelay(&self) -> io::Result<()> {
        self.0.get_ref().set_nodelay(true)
    }
}
