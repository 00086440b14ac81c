//! The smallest HTTP responder that serves `GET /metrics` to Prometheus.
//!
//! A scrape is one small request a few times a minute, so this is a plain
//! `std` listener on a thread of its own (never the event thread), not a
//! web server: one connection at a time, one request per connection
//! (`Connection: close`), a request of at most [`MAX_REQUEST`] bytes that
//! must arrive within [`DEADLINE`], and replies written with the same
//! deadline. A client that dawdles delays the next scrape by at most that.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The largest request head read; Prometheus sends a few hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long one connection may take, from accept to the last byte written.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// The pause after a failed accept, as the event loops make.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Why the metrics address cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another process listens there.
    #[error("cannot serve metrics on {0}: the address is in use")]
    InUse(SocketAddr),
    /// Anything else (an address this machine does not have, a privileged port).
    #[error("cannot serve metrics on {addr}: {source}")]
    Other {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
}

/// Binds the metrics address (before the server starts, so that a taken
/// address stops nothing that is already running).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => BindError::InUse(addr),
        _ => BindError::Other { addr, source },
    })
}

/// Serves `page()` at `/metrics` on a thread of its own, for as long as
/// the process lives.
pub fn serve(listener: TcpListener, page: impl Fn() -> String + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name("faxnotify-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    // A client that goes away mid-request is its own problem.
                    Ok(stream) => {
                        let _ = answer(stream, &page);
                    }
                    Err(e) => {
                        tracing::debug!("metrics: accept failed: {e}");
                        // Out of descriptors (EMFILE, ENFILE), accept fails at
                        // once for as long as the connection waits: without a
                        // pause this thread would spin a core until a
                        // descriptor comes free.
                        std::thread::sleep(ACCEPT_RETRY);
                    }
                }
            }
        })?;
    Ok(())
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// GET (or HEAD: `head` true) of `/metrics`.
    Metrics {
        head: bool,
    },
    NotFound,
    BadMethod,
    Bad,
    TooLarge,
}

fn answer(mut stream: TcpStream, page: &impl Fn() -> String) -> io::Result<()> {
    let deadline = Instant::now() + DEADLINE;
    let request = read_request(&mut stream, deadline)?;
    let (status, extra, body) = match request {
        Request::Metrics { head } => {
            let body = page();
            let body = if head { String::new() } else { body };
            ("200 OK", format!("Content-Type: {CONTENT_TYPE}\r\n"), body)
        }
        Request::NotFound => ("404 Not Found", String::new(), "try /metrics\n".to_owned()),
        Request::BadMethod => (
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n".to_owned(),
            String::new(),
        ),
        Request::Bad => ("400 Bad Request", String::new(), String::new()),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            String::new(),
            String::new(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.set_write_timeout(Some(left(deadline)?))?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// The time left until `deadline`, or a timeout error once it has passed.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

/// Reads the request head (up to the blank line), within `deadline`.
fn read_request(stream: &mut TcpStream, deadline: Instant) -> io::Result<Request> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST {
            return Ok(Request::TooLarge);
        }
        stream.set_read_timeout(Some(left(deadline)?))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(Request::Bad);
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(parse(&head))
}

/// What the request line asks for.
fn parse(head: &[u8]) -> Request {
    let Some(line) = head.split(|&b| b == b'\r').next() else {
        return Request::Bad;
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return Request::Bad;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::BadMethod,
    };
    // Prometheus may add a query string; the path alone decides.
    let path = target.split('?').next().unwrap_or(target);
    if path == "/metrics" {
        Request::Metrics { head }
    } else {
        Request::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics { head: false }
        );
        assert_eq!(
            parse(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics { head: false }
        );
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Request::Metrics { head: true }
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(parse(b"POST /metrics HTTP/1.1\r\n\r\n"), Request::BadMethod);
        assert_eq!(parse(b"GET /metrics\r\n\r\n"), Request::Bad);
        assert_eq!(parse(b"\xff\xfe\r\n\r\n"), Request::Bad);
        assert_eq!(parse(b"GET /metrics SPDY/3\r\n\r\n"), Request::Bad);
    }
}
