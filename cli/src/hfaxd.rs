//! A small client of hfaxd's client-server protocol (HylaFAX's FTP-like
//! protocol on TCP 4559): log in, open data connections in active mode
//! (`PORT`/`EPRT` to a listener of ours; hfaxd gives nothing on `PASV` for
//! triggers), subscribe to the event stream and list the queues and the
//! receive queue.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

/// How long one command, connect or data transfer may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The longest reply line or listing kept (hfaxd's are far smaller).
const MAX_REPLY: u64 = 64 * 1024;
const MAX_LISTING: u64 = 16 * 1024 * 1024;

/// Why talking to hfaxd failed, for a person.
#[derive(Debug, thiserror::Error)]
pub enum HfaxdError {
    /// Could not connect or the connection broke.
    #[error("hfaxd at {addr}: {source}")]
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

    /// Reads one reply, skipping `NNN-` continuation lines.
    fn reply(&mut self) -> Result<(u16, String), HfaxdError> {
        loop {
            let mut line = String::new();
            let n = (&mut self.reader)
                .take(MAX_REPLY)
                .read_line(&mut line)
                .map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(self.io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "hfaxd closed the connection",
                )));
            }
            let line = line.trim_end();
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            match (code, line.as_bytes().get(3)) {
                (Some(code), Some(b' ') | None) => return Ok((code, line[3..].trim().to_owned())),
                _ => continue,
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
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(|e| self.io(e))?;
                    return Ok(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
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

    /// Runs `command` with a data connection and returns what came on it.
    fn transfer(&mut self, command: &str) -> Result<Vec<u8>, HfaxdError> {
        let data = self.open_data(command)?;
        data.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| self.io(e))?;
        let mut chunk = Vec::new();
        data.take(MAX_LISTING)
            .read_to_end(&mut chunk)
            .map_err(|e| self.io(e))?;
        self.expect(command, None, &[2])?;
        Ok(chunk)
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
