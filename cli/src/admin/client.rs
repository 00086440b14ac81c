//! The client side of the admin socket: one request, one reply.

use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::protocol::{Request, request_line};
use super::{path, peer};
use crate::failure::Failure;

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a failed send looks for the reply the server closed with.
const REFUSAL_WAIT: Duration = Duration::from_millis(500);

/// Opens the admin socket at `path`, explaining the usual failures, and
/// makes sure root or this user serves it (nothing is sent otherwise).
pub fn connect(path: &Path) -> Result<UnixStream, Failure> {
    let stream = open(path)?;
    let peer = peer::peer_uid(&stream).map_err(Failure::runtime)?;
    let me = peer::my_uid();
    if !peer::trusted(peer, me) {
        return Err(Failure::runtime(format!(
            "refusing the admin socket {}: it is served by {}, not by root or by you ({}); \
             another user may have taken the path while the server was down, so nothing \
             was sent. Stop that process or remove the path, then start the server again \
             (its default path is in a directory only its user can enter)",
            path.display(),
            peer::describe_uid(peer),
            peer::describe_uid(me),
        )));
    }
    Ok(stream)
}

fn open(path: &Path) -> Result<UnixStream, Failure> {
    UnixStream::connect(path).map_err(|e| {
        let shown = path.display();
        Failure::runtime(match e.kind() {
            io::ErrorKind::NotFound => format!(
                "no admin socket at {shown}: is `faxnotify server --admin-socket {shown}` running?"
            ),
            io::ErrorKind::PermissionDenied => format!(
                "permission denied on {shown}: the admin socket is owner-only (0600); \
                 run this as the user the server runs as"
            ),
            io::ErrorKind::ConnectionRefused => {
                format!("nobody answers on {shown}: the server that made it is not running")
            }
            _ => format!("cannot connect to the admin socket {shown}: {e}"),
        })
    })
}

/// The socket path given, or the default one.
pub fn socket_path(given: Option<PathBuf>) -> Result<PathBuf, Failure> {
    match given {
        Some(path) => Ok(path),
        None => path::default_path().map_err(Failure::usage),
    }
}

/// What [`Connection::receive`] got.
#[derive(Debug)]
pub enum Received {
    /// One JSON line.
    Line(Value),
    /// The server closed the connection.
    Closed,
    /// Nothing came in time.
    TimedOut,
}

/// An open admin connection: request lines out, reply and report lines in.
#[derive(Debug)]
pub struct Connection {
    path: PathBuf,
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Connection {
    /// Connects (see [`connect`]).
    pub fn open(path: &Path) -> Result<Self, Failure> {
        let stream = connect(path)?;
        let mut this = Self {
            path: path.to_path_buf(),
            reader: BufReader::new(stream.try_clone().map_err(|e| {
                Failure::runtime(format!(
                    "cannot use the admin socket {}: {e}",
                    path.display()
                ))
            })?),
            stream,
        };
        this.stream
            .set_write_timeout(Some(TIMEOUT))
            .map_err(|e| this.broken(&e))?;
        Ok(this)
    }

    fn broken(&mut self, e: &io::Error) -> Failure {
        Failure::runtime(format!(
            "the admin socket {} broke off: {e}",
            self.path.display()
        ))
    }

    /// Sends one request line. If the server closed the connection first,
    /// its refusal (a `busy` reply) is what fails, not the broken pipe.
    pub fn send(&mut self, line: &Value) -> Result<(), Failure> {
        let text = format!("{line}\n");
        let Err(e) = (&self.stream).write_all(text.as_bytes()) else {
            return Ok(());
        };
        if let Ok(Received::Line(reply)) = self.receive(REFUSAL_WAIT)
            && let Some((code, message)) = error_of(&reply)
        {
            return Err(Failure::runtime(format!(
                "the server refused the request on the admin socket {} ({code}): {message}",
                self.path.display()
            )));
        }
        Err(self.broken(&e))
    }

    /// The next line, waiting at most `timeout`.
    pub fn receive(&mut self, timeout: Duration) -> Result<Received, Failure> {
        if timeout.is_zero() {
            return Ok(Received::TimedOut);
        }
        self.stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| self.broken(&e))?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Ok(Received::Closed),
            Ok(_) => serde_json::from_str(line.trim())
                .map(Received::Line)
                .map_err(|e| {
                    Failure::runtime(format!(
                        "the server's reply is not JSON ({e}): {}",
                        line.trim()
                    ))
                }),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(Received::TimedOut)
            }
            Err(e) => Err(self.broken(&e)),
        }
    }
}

/// Sends `request` and returns the reply (`ok` true or false).
pub fn call(path: &Path, request: &Request) -> Result<Value, Failure> {
    let mut connection = Connection::open(path)?;
    connection.send(&request_line(request, None, false))?;
    match connection.receive(TIMEOUT)? {
        Received::Line(reply) => Ok(reply),
        Received::Closed => Err(Failure::runtime(format!(
            "the server closed the admin socket {} without answering",
            path.display()
        ))),
        Received::TimedOut => Err(Failure::runtime(format!(
            "the server did not answer on the admin socket {} within {}s",
            path.display(),
            TIMEOUT.as_secs()
        ))),
    }
}

/// The `message` of an error reply, with its code.
pub fn error_of(reply: &Value) -> Option<(String, String)> {
    if reply.get("ok").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let code = reply
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_owned();
    let message = reply
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the server refused the request")
        .to_owned();
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_refusal_before_the_request_is_reported_not_the_broken_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            // As the server does when every place is taken: a busy reply,
            // then the close, without reading the request.
            let (mut stream, _) = listener.accept().unwrap();
            writeln!(
                stream,
                r#"{{"ok":false,"error":"busy","message":"more than 64 admin connections at once; try again"}}"#
            )
            .unwrap();
        });
        let mut connection = Connection::open(&path).unwrap();
        server.join().unwrap();
        // Large enough not to fit in the socket's buffer before the close.
        let request = serde_json::json!({"op": "sessions", "pad": "x".repeat(4 << 20)});
        let failure = connection.send(&request).unwrap_err();
        assert!(
            failure
                .message
                .contains("(busy): more than 64 admin connections"),
            "{}",
            failure.message
        );
    }
}
