//! A TCP listener with an accept deadline, for the suite's callback listener
//! (server under test) and the suite's server socket (client under test).

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::conn::{FrameConn, secs};
use super::log::CaseLog;
use super::tls::{SuiteTlsClient, SuiteTlsServer};
use crate::case::Fail;

/// How often a pending accept is polled.
const POLL: Duration = Duration::from_millis(5);

/// A port that is bound but not listening: a dial to it is refused (the
/// kernel answers a SYN with RST), and because the suite keeps it bound no
/// other program can take it before [`Listener::on_dead_port`] listens on
/// it. (Releasing a port and binding the number again later races with
/// every other process on the machine.)
#[derive(Debug)]
pub struct DeadPort {
    socket: Socket,
    addr: SocketAddr,
}

impl DeadPort {
    /// Binds a free port on `ip` without listening.
    pub fn bind(ip: IpAddr) -> std::io::Result<Self> {
        let addr = SocketAddr::new(ip, 0);
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&addr.into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("not an IP socket address"))?;
        Ok(Self { socket, addr })
    }

    /// The port number.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// The TLS handshake the suite runs on each accepted connection: as TLS
/// client on the callbacks a server under test dials, as TLS server on the
/// control connections of a client under test (the fax client is always
/// the TLS client [T-2]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AcceptTls {
    /// The suite is TLS client.
    Client(SuiteTlsClient),
    /// The suite is TLS server.
    Server(SuiteTlsServer),
}

/// A listening socket whose accepts time out.
#[derive(Debug)]
pub struct Listener {
    tls: Option<AcceptTls>,
    listener: TcpListener,
    addr: SocketAddr,
    label: &'static str,
    accepted: usize,
    log: CaseLog,
    wait: Duration,
}

impl Listener {
    /// Binds `ip` on `port` (0: any free port). Accepted connections are
    /// named `label#1`, `label#2`, ...
    pub fn bind(
        ip: IpAddr,
        port: u16,
        label: &'static str,
        log: &CaseLog,
        wait: Duration,
    ) -> Result<Self, Fail> {
        let listener = TcpListener::bind((ip, port)).map_err(|e| {
            Fail::failed(
                format!("the suite to listen on {ip} port {port}"),
                e.to_string(),
            )
        })?;
        Self::from_std(listener, label, log, wait)
    }

    /// Starts listening on the port a [`DeadPort`] held, so that no other
    /// program can have taken it between the refused dial and this listener.
    pub fn on_dead_port(
        dead: DeadPort,
        label: &'static str,
        log: &CaseLog,
        wait: Duration,
    ) -> Result<Self, Fail> {
        let DeadPort { socket, addr } = dead;
        socket
            .listen(128)
            .map_err(|e| Fail::failed(format!("the suite to listen on {addr}"), e.to_string()))?;
        Self::from_std(socket.into(), label, log, wait)
    }

    fn from_std(
        listener: TcpListener,
        label: &'static str,
        log: &CaseLog,
        wait: Duration,
    ) -> Result<Self, Fail> {
        listener
            .set_nonblocking(true)
            .map_err(|e| Fail::failed("a non-blocking listener", e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Fail::failed("the listener's address", e.to_string()))?;
        log.line(format_args!("{label}: suite listens on {addr}"));
        Ok(Self {
            tls: None,
            listener,
            addr,
            label,
            accepted: 0,
            log: log.clone(),
            wait,
        })
    }

    /// Runs this TLS handshake on every connection accepted from now on
    /// (`None`: plain TCP).
    pub fn set_tls(&mut self, tls: Option<AcceptTls>) {
        self.tls = tls;
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// Accepts one connection within `wait` and runs the TLS handshake
    /// [`set_tls`](Self::set_tls) chose; `Ok(None)` if none came.
    pub fn try_accept_within(&mut self, wait: Duration) -> Result<Option<FrameConn>, Fail> {
        let Some(mut conn) = self.try_accept_plain_within(wait)? else {
            return Ok(None);
        };
        let (done, role) = match &self.tls {
            None => return Ok(Some(conn)),
            Some(AcceptTls::Client(tls)) => (conn.start_tls_client(tls), "client"),
            Some(AcceptTls::Server(tls)) => (conn.start_tls_server(tls), "server"),
        };
        done.map_err(|reason| {
            Fail::failed(
                format!(
                    "a TLS 1.3 handshake on {}, the suite as TLS {role} [T-1] [T-2]",
                    conn.label()
                ),
                format!("a failed handshake: {reason}"),
            )
        })?;
        Ok(Some(conn))
    }

    /// Accepts one connection within `wait` without TLS, whatever
    /// [`set_tls`](Self::set_tls) chose (for cases about what happens
    /// before or instead of the handshake).
    pub fn try_accept_plain_within(&mut self, wait: Duration) -> Result<Option<FrameConn>, Fail> {
        let deadline = Instant::now() + wait;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream
                        .set_nonblocking(false)
                        .map_err(|e| Fail::failed("a blocking accepted socket", e.to_string()))?;
                    self.accepted += 1;
                    let label = format!("{}#{}", self.label, self.accepted);
                    let conn = FrameConn::new(stream, &label, &self.log, self.wait)
                        .map_err(|e| Fail::failed("a usable accepted connection", e.to_string()))?;
                    return Ok(Some(conn));
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Fail::failed(
                        "an incoming connection",
                        format!("accept failed: {e}"),
                    ));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Accepts one connection within `wait`, failing with `expected` if none came.
    pub fn accept_within(&mut self, wait: Duration, expected: &str) -> Result<FrameConn, Fail> {
        self.try_accept_within(wait)?
            .ok_or_else(|| Fail::failed(expected, format!("no connection within {}", secs(wait))))
    }
}
