//! A small client of hfaxd's client-server protocol (HylaFAX's FTP-like
//! protocol on TCP 4559): log in, open data connections in active mode
//! (`PORT`/`EPRT` to a listener of ours; hfaxd gives nothing on `PASV` for
//! triggers), subscribe to the event stream and list the queues and the
//! receive queue. A data connection is taken from hfaxd's address only.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use faxnotify_textfile::IoReason;

use crate::escape::escape;

/// How long a connect, or one reply (with all its continuation lines),
/// may take. It bounds the whole reply, not each read: a peer that
/// trickles a byte now and then, or sends continuation lines without end,
/// must not hold the bridge (and the event stream it reads between
/// listings) for ever.
/// (Shorter in unit tests, which wait for it.)
const TIMEOUT: Duration = Duration::from_secs(if cfg!(test) { 2 } else { 15 });
/// How long a whole listing may take to arrive, for the same reason.
const LISTING_TIMEOUT: Duration = Duration::from_secs(if cfg!(test) { 3 } else { 60 });
/// TCP keepalive on every connection to hfaxd: probes after this long
/// idle, this often, this many unanswered before the kernel gives up. The
/// event stream can be quiet for hours, and a host that vanishes without
/// closing (power lost, a route dropped) would otherwise leave the bridge
/// waiting on it for ever; so it is noticed within about a minute
/// (30 s + 3 × 10 s), and the bridge reconnects.
const KEEPALIVE_IDLE_S: u32 = 30;
const KEEPALIVE_INTERVAL_S: u32 = 10;
const KEEPALIVE_PROBES: u32 = 3;
/// The longest reply line or listing kept (hfaxd's are far smaller).
const MAX_REPLY: usize = 64 * 1024;
const MAX_LISTING: usize = 16 * 1024 * 1024;

/// Why talking to hfaxd failed, for a person.
#[derive(Debug, thiserror::Error)]
pub enum HfaxdError {
    /// Could not connect or the connection broke.
    #[error("hfaxd at {addr}: {}", IoReason(.source))]
    Io {
        /// The address.
        addr: String,
        /// The I/O error.
        source: io::Error,
    },
    /// hfaxd refused a command.
    #[error("hfaxd refused {command:?}: {reply}")]
    Refused {
        /// The command (without secrets).
        command: String,
        /// Its reply line.
        reply: String,
    },
}

/// One control connection, logged in.
#[derive(Debug)]
pub struct Control {
    addr: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Control {
    /// Connects to `addr` and logs in as `user`.
    pub fn connect(addr: &str, user: &str) -> Result<Control, HfaxdError> {
        let io = |source| HfaxdError::Io {
            addr: addr.to_owned(),
            source,
        };
        let target = addr
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| io(io::Error::other("the name has no address")))?;
        let stream = TcpStream::connect_timeout(&target, TIMEOUT).map_err(io)?;
        keep_alive(&stream).map_err(io)?;
        stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        let mut control = Control {
            addr: addr.to_owned(),
            reader: BufReader::new(stream),
            writer,
        };
        control.expect("(greeting)", None, &[2])?;
        let reply = control.command(&format!("USER {user}"))?;
        if reply.0 == 331 {
            return Err(HfaxdError::Refused {
                command: format!("USER {user}"),
                reply: format!(
                    "{} (the bridge logs in without a password: allow its host and user in \
                     hfaxd's hosts.hfaxd)",
                    reply.1
                ),
            });
        }
        control.check(&format!("USER {user}"), &reply, &[2])?;
        Ok(control)
    }

    fn io(&self, source: io::Error) -> HfaxdError {
        HfaxdError::Io {
            addr: self.addr.clone(),
            source,
        }
    }

    /// Sends one command line and returns its final reply (code, text).
    pub fn command(&mut self, line: &str) -> Result<(u16, String), HfaxdError> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| self.io(e))?;
        self.reply()
    }

    /// Reads one reply, skipping `NNN-` continuation lines, within
    /// [`TIMEOUT`] for the whole of it. The text is kept escaped: it ends
    /// up in errors and logs, and whatever answers on hfaxd's port chose it.
    fn reply(&mut self) -> Result<(u16, String), HfaxdError> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let bytes = read_line_by(&mut self.reader, deadline).map_err(|e| self.io(e))?;
            if bytes.is_empty() {
                return Err(self.io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "hfaxd closed the connection",
                )));
            }
            if let Some(reply) = parse_reply(&bytes) {
                return Ok(reply);
            }
        }
    }

    fn check(&self, command: &str, reply: &(u16, String), ok: &[u16]) -> Result<(), HfaxdError> {
        if ok.contains(&(reply.0 / 100)) {
            Ok(())
        } else {
            Err(HfaxdError::Refused {
                command: command.to_owned(),
                reply: format!("{} {}", reply.0, reply.1),
            })
        }
    }

    fn expect(&mut self, command: &str, line: Option<&str>, ok: &[u16]) -> Result<(), HfaxdError> {
        let reply = match line {
            Some(line) => self.command(line)?,
            None => self.reply()?,
        };
        self.check(command, &reply, ok)
    }

    /// Sends `command` with a data connection in active mode and returns the
    /// data connection hfaxd opened (the transfer then runs on it).
    pub fn open_data(&mut self, command: &str) -> Result<TcpStream, HfaxdError> {
        let local = self.writer.local_addr().map_err(|e| self.io(e))?;
        let listener = TcpListener::bind(SocketAddr::new(local.ip(), 0)).map_err(|e| self.io(e))?;
        let port = listener.local_addr().map_err(|e| self.io(e))?.port();
        let port_command = match local.ip() {
            IpAddr::V4(ip) => {
                let [a, b, c, d] = ip.octets();
                format!("PORT {a},{b},{c},{d},{},{}", port >> 8, port & 0xff)
            }
            IpAddr::V6(ip) => format!("EPRT |2|{ip}|{port}|"),
        };
        self.expect(&port_command, Some(&port_command), &[2])?;
        let reply = self.command(command)?;
        self.check(command, &reply, &[1])?;
        // hfaxd connects around its 150 reply; the accept is bounded in
        // case the connection never comes.
        listener.set_nonblocking(true).map_err(|e| self.io(e))?;
        let hfaxd_addr = self.writer.peer_addr().map_err(|e| self.io(e))?;
        let hfaxd = hfaxd_addr.ip();
        let data_addr = listener.local_addr().map_err(|e| self.io(e))?;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match listener.accept() {
                // The port is open to anyone who can reach it until hfaxd
                // connects: a stranger who gets in first would feed the
                // bridge forged events, or a forged queue listing whose
                // owners send job news to the wrong users (RFC 2577). hfaxd
                // connects from the address it is reached at.
                Ok((stream, from)) if from.ip().to_canonical() != hfaxd.to_canonical() => {
                    tracing::warn!(
                        "closed a connection to the data port for {command:?} from {from}: \
                         it is not hfaxd ({hfaxd})"
                    );
                    drop(stream);
                }
                Ok((stream, from)) => {
                    // On hfaxd's host, every local user connects from its
                    // address: the connection must also be its user's.
                    if let Some(not) = not_hfaxds(hfaxd_addr, from, data_addr) {
                        tracing::warn!(
                            "closed a connection to the data port for {command:?} from {from}: \
                             it is not hfaxd ({not})"
                        );
                        continue;
                    }
                    stream.set_nonblocking(false).map_err(|e| self.io(e))?;
                    keep_alive(&stream).map_err(|e| self.io(e))?;
                    return Ok(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                // Not the socket's "resource temporarily unavailable".
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(self.io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "it did not connect to the data port for {command} within {} s",
                            TIMEOUT.as_secs()
                        ),
                    )));
                }
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    /// `JOBFMT format`, then the `sendq` and `doneq` listings, one after the other.
    pub fn list_queues(&mut self, format: &str) -> Result<Vec<u8>, HfaxdError> {
        let jobfmt = format!("JOBFMT \"{format}\"");
        self.expect(&jobfmt, Some(&jobfmt), &[2])?;
        let mut out = Vec::new();
        for queue in ["sendq", "doneq"] {
            out.extend_from_slice(&self.transfer(&format!("LIST {queue}"))?);
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    }

    /// Runs `command` with a data connection and returns what came on it:
    /// all of it, within [`LISTING_TIMEOUT`], or an error (a listing cut
    /// short would read as jobs and faxes that are gone).
    fn transfer(&mut self, command: &str) -> Result<Vec<u8>, HfaxdError> {
        let data = self.open_data(command)?;
        let listing =
            read_all_by(data, Instant::now() + LISTING_TIMEOUT, command).map_err(|e| self.io(e))?;
        self.expect(command, None, &[2])?;
        Ok(listing)
    }

    /// `RCVFMT format`, then the `recvq` listing.
    pub fn list_received(&mut self, format: &str) -> Result<Vec<u8>, HfaxdError> {
        let rcvfmt = format!("RCVFMT \"{format}\"");
        self.expect(&rcvfmt, Some(&rcvfmt), &[2])?;
        self.transfer("LIST recvq")
    }

    /// The address this connection is to.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

/// Why a connection to our data port `data` from `from` is not hfaxd's
/// (listening at `hfaxd`): both are on this host and its socket belongs
/// neither to the user of hfaxd's listening socket nor to root (hfaxd
/// 6.0.7 opens the trigger's data connection as its user, uucp, and a
/// listing's as root). `None` when it is hfaxd's, or when the socket
/// tables do not show both (hfaxd on another host, whose address is all
/// there is to check; not Linux).
fn not_hfaxds(hfaxd: SocketAddr, from: SocketAddr, data: SocketAddr) -> Option<String> {
    let theirs = crate::socket_owner::connection_owner(from, data)?;
    let hfaxds = crate::socket_owner::listener_owner(hfaxd)?;
    let hfaxd_users = match hfaxds {
        0 => "root".to_owned(),
        uid => format!("uid {uid} or root"),
    };
    (theirs != hfaxds && theirs != 0)
        .then(|| format!("it belongs to uid {theirs}, hfaxd to {hfaxd_users}"))
}

/// The time left until `deadline`, or a timeout error saying what did not
/// arrive in time.
fn time_left(deadline: Instant, what: &str, limit: Duration) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} did not arrive within {} s", limit.as_secs()),
        ));
    }
    Ok(left)
}

/// One line (with its line end) of at most [`MAX_REPLY`] bytes, read by
/// `deadline`; empty at the end of the stream. Every read waits only for
/// the time left, so a trickle cannot stretch the line past the deadline.
fn read_line_by(reader: &mut BufReader<TcpStream>, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    loop {
        let left = time_left(deadline, "a complete reply", TIMEOUT)?;
        reader.get_ref().set_read_timeout(Some(left))?;
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Asked for again above, which names what was late.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(line);
        }
        let (used, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buf.len(), false),
        };
        let used = used.min(MAX_REPLY - line.len());
        line.extend_from_slice(&buf[..used]);
        reader.consume(used);
        if ended || line.len() == MAX_REPLY {
            return Ok(line);
        }
    }
}

/// Everything hfaxd sends on the data connection `data` until it closes
/// it, by `deadline`, and at most [`MAX_LISTING`] bytes.
fn read_all_by(mut data: TcpStream, deadline: Instant, command: &str) -> io::Result<Vec<u8>> {
    let mut listing = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = time_left(deadline, &format!("the whole {command}"), LISTING_TIMEOUT)?;
        data.set_read_timeout(Some(left))?;
        match data.read(&mut buf) {
            Ok(0) => return Ok(listing),
            Ok(n) if listing.len() + n > MAX_LISTING => {
                return Err(io::Error::other(format!(
                    "{command} sent more than {} MiB, far more than any listing of hfaxd's: \
                     not used",
                    MAX_LISTING >> 20
                )));
            }
            Ok(n) => listing.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Turns on TCP keepalive with the bridge's timings (see
/// [`KEEPALIVE_IDLE_S`]); a dead peer then ends a read with an error.
pub fn keep_alive(stream: &TcpStream) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(stream, sockopt::KeepAlive, &true)?;
    #[cfg(target_os = "linux")]
    {
        setsockopt(stream, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE_S)?;
        setsockopt(stream, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL_S)?;
        setsockopt(stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)?;
    }
    Ok(())
}

/// A final reply line's code and escaped text (hfaxd speaks ASCII; other
/// bytes show as U+FFFD), or `None` for a `NNN-` continuation line or one
/// without a code.
fn parse_reply(line: &[u8]) -> Option<(u16, String)> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end();
    let code = line.get(..3).and_then(|c| c.parse::<u16>().ok())?;
    match line.as_bytes().get(3) {
        Some(b' ') | None => Some((code, escape(line[3..].trim()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

    use super::*;

    /// The `h1,h2,h3,h4,p1,p2` of a PORT command as an address.
    fn port_address(command: &str) -> SocketAddr {
        let numbers: Vec<u8> = command
            .trim_start_matches("PORT ")
            .split(',')
            .map(|n| n.trim().parse().unwrap())
            .collect();
        let ip = Ipv4Addr::new(numbers[0], numbers[1], numbers[2], numbers[3]);
        SocketAddr::from((ip, u16::from_be_bytes([numbers[4], numbers[5]])))
    }

    /// A connection to `to` from `from` (any port).
    fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
        socket.connect(&to.into()).unwrap();
        socket.into()
    }

    /// hfaxd's side of a control connection, as a test scripts it.
    struct Script {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Script {
        /// Accepts the bridge's control connection on `hfaxd`.
        fn accept(hfaxd: &TcpListener) -> Script {
            let (control, _) = hfaxd.accept().unwrap();
            Script {
                reader: BufReader::new(control.try_clone().unwrap()),
                writer: control,
            }
        }

        /// The bridge's next command line.
        fn next(&mut self) -> String {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            line.trim_end().to_owned()
        }

        /// Sends one reply line.
        fn say(&mut self, reply: &str) {
            self.writer
                .write_all(format!("{reply}\r\n").as_bytes())
                .unwrap();
        }

        /// Greets, logs the bridge in and takes its PORT up to `SITE
        /// TRIGGER J*`: the address of the bridge's data port.
        fn up_to_the_trigger(&mut self) -> SocketAddr {
            self.say("220 hfaxd ready");
            assert!(self.next().starts_with("USER "));
            self.say("230 logged in");
            let data = port_address(&self.next());
            self.say("200 PORT ok");
            assert_eq!(self.next(), "SITE TRIGGER J*");
            data
        }

        /// Keeps the connection open until the bridge closes it.
        fn hold(mut self) {
            let _ = self.writer.read_to_end(&mut Vec::new());
        }
    }

    /// Every connection to hfaxd, the control connection and the event
    /// stream, probes a quiet peer (the stream may be quiet for hours; a
    /// host gone without a close would hold the bridge for ever).
    #[cfg(target_os = "linux")]
    #[test]
    fn connections_to_hfaxd_probe_a_quiet_peer() {
        use nix::sys::socket::{getsockopt, sockopt};
        let hfaxd = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = hfaxd.local_addr().unwrap();
        let script = std::thread::spawn(move || {
            let mut script = Script::accept(&hfaxd);
            let data = script.up_to_the_trigger();
            let stream = TcpStream::connect(data).unwrap();
            script.say("150 trigger stream");
            script.hold();
            drop(stream);
        });
        let mut control = Control::connect(&addr.to_string(), "fax").unwrap();
        let data = control.open_data("SITE TRIGGER J*").unwrap();
        for stream in [&control.writer, &data] {
            assert!(getsockopt(stream, sockopt::KeepAlive).unwrap());
            assert_eq!(
                getsockopt(stream, sockopt::TcpKeepIdle).unwrap(),
                KEEPALIVE_IDLE_S
            );
            assert_eq!(
                getsockopt(stream, sockopt::TcpKeepInterval).unwrap(),
                KEEPALIVE_INTERVAL_S
            );
            assert_eq!(
                getsockopt(stream, sockopt::TcpKeepCount).unwrap(),
                KEEPALIVE_PROBES
            );
        }
        drop((control, data));
        script.join().unwrap();
    }

    #[test]
    fn reply_text_is_escaped_and_continuations_are_skipped() {
        assert_eq!(
            parse_reply(b"530 no\x1b[2J\r\n2026 fake log line\xff\r\n"),
            Some((
                530,
                "no\\u{1b}[2J\\r\\n2026 fake log line\u{fffd}".to_owned()
            ))
        );
        assert_eq!(parse_reply(b"220-welcome\r\n"), None);
        assert_eq!(parse_reply(b"hello\r\n"), None);
        assert_eq!(parse_reply(b"200\r\n"), Some((200, String::new())));
    }

    /// Active mode opens a port for hfaxd to connect to, and anyone who can
    /// reach it may try first: a stranger's connection must not become the
    /// event stream (it would feed the bridge forged events).
    #[test]
    fn only_hfaxd_itself_is_taken_as_the_data_connection() {
        let hfaxd = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = hfaxd.local_addr().unwrap();
        let script = std::thread::spawn(move || {
            let mut script = Script::accept(&hfaxd);
            let data = script.up_to_the_trigger();
            // A stranger (another address) gets in first, then hfaxd.
            let mut stranger = connect_from(Ipv4Addr::new(127, 0, 0, 2), data);
            stranger
                .write_all(b"000000 135 RECV FAX: forged\r\n")
                .unwrap();
            let mut real = connect_from(Ipv4Addr::LOCALHOST, data);
            real.write_all(b"000000 151 MODEM ttyIAX0: ready\r\n")
                .unwrap();
            script.say("150 trigger stream");
            // Keep both open until the bridge has read.
            script.hold();
            drop((stranger, real));
        });
        let mut control = Control::connect(&addr.to_string(), "fax").unwrap();
        let data = control.open_data("SITE TRIGGER J*").unwrap();
        let mut first = String::new();
        BufReader::new(data).read_line(&mut first).unwrap();
        assert_eq!(first, "000000 151 MODEM ttyIAX0: ready\r\n");
        drop(control);
        script.join().unwrap();
    }

    /// A peer on hfaxd's port that runs `script` on the control
    /// connection it accepts; its address.
    fn peer(script: impl FnOnce(TcpStream) + Send + 'static) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((control, _)) = listener.accept() {
                script(control);
            }
        });
        addr
    }

    /// Runs `call` on a thread of its own and returns what it returned,
    /// or fails the test when it is still running long after every
    /// deadline of this module (before the fix: for ever).
    fn returns<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
        let (sent, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || sent.send(call()).unwrap());
        result
            .recv_timeout(LISTING_TIMEOUT * 5)
            .expect("the call is still waiting for hfaxd")
    }

    /// Sends `bytes` one at a time, `gap` apart, until the peer leaves.
    fn trickle(stream: &mut TcpStream, bytes: &[u8], gap: Duration) {
        for &b in bytes {
            if stream.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(gap);
        }
    }

    /// The greeting as continuation lines without end: `connect` gives up
    /// when the reply is not complete within TIMEOUT, and says so.
    #[test]
    fn a_reply_of_endless_continuation_lines_times_out() {
        let addr = peer(|mut control| {
            while control.write_all(b"220-still greeting you\r\n").is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let err = returns(move || Control::connect(&addr, "fax").map(drop)).unwrap_err();
        assert!(
            err.to_string()
                .contains("a complete reply did not arrive within 2 s"),
            "{err}"
        );
    }

    /// A greeting trickled a byte at a time, each well within a read's
    /// timeout but the whole far past TIMEOUT: refused, not waited for.
    #[test]
    fn a_trickled_reply_times_out() {
        let addr = peer(|mut control| {
            trickle(
                &mut control,
                b"220 hfaxd ready after all\r\n",
                Duration::from_millis(300),
            );
        });
        let err = returns(move || Control::connect(&addr, "fax").map(drop)).unwrap_err();
        assert!(err.to_string().contains("did not arrive within"), "{err}");
    }

    /// Logs in, accepts RCVFMT and PORT, and answers `LIST recvq` by
    /// connecting to the data port and running `send` on it.
    fn lister(send: impl FnOnce(TcpStream) + Send + 'static) -> String {
        peer(move |control| {
            let mut reader = BufReader::new(control.try_clone().unwrap());
            let mut writer = control;
            let mut line = String::new();
            let mut next = |reader: &mut BufReader<TcpStream>| {
                line.clear();
                reader.read_line(&mut line).unwrap();
                line.trim_end().to_owned()
            };
            writer.write_all(b"220 hfaxd ready\r\n").unwrap();
            next(&mut reader);
            writer.write_all(b"230 logged in\r\n").unwrap();
            next(&mut reader);
            writer.write_all(b"200 RCVFMT ok\r\n").unwrap();
            let data = port_address(&next(&mut reader));
            writer.write_all(b"200 PORT ok\r\n").unwrap();
            assert_eq!(next(&mut reader), "LIST recvq");
            let stream = TcpStream::connect(data).unwrap();
            writer.write_all(b"150 listing\r\n").unwrap();
            send(stream);
            let _ = writer.write_all(b"226 done\r\n");
            let _ = reader.read_to_end(&mut Vec::new());
        })
    }

    /// A listing trickled without end: the transfer gives up at
    /// LISTING_TIMEOUT instead of holding the bridge (and the event stream
    /// it reads in between) for ever.
    #[test]
    fn a_trickled_listing_times_out() {
        let addr = lister(|mut data| {
            trickle(&mut data, &[b'x'; 1000], Duration::from_millis(300));
        });
        let err = returns(move || Control::connect(&addr, "fax")?.list_received("%f")).unwrap_err();
        assert!(
            err.to_string()
                .contains("the whole LIST recvq did not arrive within 3 s"),
            "{err}"
        );
    }

    /// A listing over MAX_LISTING is refused, not cut short and used (the
    /// faxes past the cut would read as deleted); one within it is whole.
    #[test]
    fn a_listing_over_the_limit_is_refused_and_one_within_it_is_whole() {
        let addr = lister(|mut data| {
            let _ = data.write_all(&vec![b'x'; MAX_LISTING + 1]);
        });
        let err = returns(move || Control::connect(&addr, "fax")?.list_received("%f")).unwrap_err();
        assert!(err.to_string().contains("more than 16 MiB"), "{err}");
        let addr = lister(|mut data| data.write_all(&vec![b'x'; MAX_LISTING]).unwrap());
        let listing = returns(move || Control::connect(&addr, "fax")?.list_received("%f")).unwrap();
        assert_eq!(listing.len(), MAX_LISTING);
    }

    /// An error reads as words ("connection refused"), not as Rust's
    /// "Connection refused (os error 111)".
    #[test]
    fn a_refused_connection_is_said_in_words() {
        // Bound but not listening: a connection to it is refused.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let err = Control::connect(&addr.to_string(), "fax").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("hfaxd at {addr}: connection refused")
        );
    }

    /// On hfaxd's host every local user connects from its address: one
    /// who gets to the data port first, as another user than hfaxd's, is
    /// not taken for hfaxd (before, its forged events were the stream).
    /// Needs root (to be the stranger's other user) and setpriv.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_local_stranger_of_another_user_is_not_taken_for_hfaxd() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not run: needs root to connect as another user");
            return;
        }
        let hfaxd = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = hfaxd.local_addr().unwrap();
        let script = std::thread::spawn(move || {
            let mut script = Script::accept(&hfaxd);
            let data = script.up_to_the_trigger();
            // Another local user (nobody) connects first, from 127.0.0.1.
            let mut stranger = std::process::Command::new("setpriv")
                .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .args(["bash", "-c"])
                .arg(format!(
                    "exec 3<>/dev/tcp/127.0.0.1/{}; printf '000000 135 RECV FAX: forged\\r\\n' >&3; \
                     sleep 30",
                    data.port()
                ))
                .spawn()
                .expect("setpriv runs");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !crate::socket_owner::owners_of_connections_to(data).contains(&65534) {
                assert!(Instant::now() < deadline, "the stranger never connected");
                std::thread::sleep(Duration::from_millis(10));
            }
            let mut real = connect_from(Ipv4Addr::LOCALHOST, data);
            real.write_all(b"000000 151 MODEM ttyIAX0: ready\r\n")
                .unwrap();
            script.say("150 trigger stream");
            script.hold();
            let _ = stranger.kill();
            let _ = stranger.wait();
            drop(real);
        });
        let mut control = Control::connect(&addr.to_string(), "fax").unwrap();
        let data = control.open_data("SITE TRIGGER J*").unwrap();
        let mut first = String::new();
        BufReader::new(data).read_line(&mut first).unwrap();
        assert_eq!(first, "000000 151 MODEM ttyIAX0: ready\r\n");
        drop(control);
        script.join().unwrap();
    }

    /// hfaxd says it opens the data connection and never does: the
    /// transfer gives up at TIMEOUT and says so (before: "resource
    /// temporarily unavailable", the listening socket's own words).
    #[test]
    fn a_data_connection_that_never_comes_is_named() {
        let addr = peer(|control| {
            let mut reader = BufReader::new(control.try_clone().unwrap());
            let mut writer = control;
            let mut line = String::new();
            writer.write_all(b"220 hfaxd ready\r\n").unwrap();
            for reply in [
                &b"230 logged in\r\n"[..],
                b"200 PORT ok\r\n",
                b"150 coming\r\n",
            ] {
                line.clear();
                reader.read_line(&mut line).unwrap();
                writer.write_all(reply).unwrap();
            }
            let _ = reader.read_to_end(&mut Vec::new());
        });
        let err = returns(move || {
            Control::connect(&addr, "fax")?
                .open_data("SITE TRIGGER J*")
                .map(drop)
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "hfaxd at {}: it did not connect to the data port for SITE TRIGGER J* within 2 s",
                err_addr(&err)
            )
        );
    }

    fn err_addr(err: &HfaxdError) -> &str {
        match err {
            HfaxdError::Io { addr, .. } => addr,
            other => panic!("{other}"),
        }
    }
}
