//! The smallest HTTP responder that serves `GET /metrics` to Prometheus.
//!
//! A scrape is one small request a few times a minute, so this is a plain
//! `std` listener on a thread of its own (never the event thread), not a
//! web server: one request per connection (`Connection: close`), a
//! request of at most [`MAX_REQUEST`] bytes that must arrive within
//! [`DEADLINE`], and replies written with the same deadline.
//!
//! Each connection is served on a thread of its own, at most
//! [`MAX_CONNECTIONS`] at once; a connection beyond that closes the oldest
//! one. Served one at a time, a few connections that never finish their
//! request (a slowloris) would each hold the next scrape back by the whole
//! deadline, two of them past Prometheus's 10 s scrape timeout; a scrape
//! takes milliseconds, so the oldest connection is the one dawdling.

use std::collections::VecDeque;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The largest request head read; Prometheus sends a few hundred bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long one connection may take, from accept to the last byte written.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Connections served at once; one more closes the oldest.
pub const MAX_CONNECTIONS: usize = 8;
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
pub fn serve(
    listener: TcpListener,
    page: impl Fn() -> String + Send + Sync + 'static,
) -> io::Result<()> {
    let page = Arc::new(page);
    std::thread::Builder::new()
        .name("faxnotify-metrics".into())
        .spawn(move || {
            let live = Live::default();
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => live.spawn(stream, &page),
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

/// The connections being served, oldest first, each with a handle that
/// can close it from the accepting thread.
#[derive(Clone, Default)]
struct Live(Arc<Mutex<Conns>>);

#[derive(Default)]
struct Conns {
    /// Never reused: a closed connection's thread may still be ending and
    /// must not forget a newer connection when it does.
    next_id: u64,
    serving: VecDeque<(u64, TcpStream)>,
}

impl Live {
    /// Serves `stream` on a thread of its own, closing the oldest
    /// connection first when [`MAX_CONNECTIONS`] are being served.
    fn spawn<P: Fn() -> String + Send + Sync + 'static>(&self, stream: TcpStream, page: &Arc<P>) {
        let Ok(handle) = stream.try_clone() else {
            return;
        };
        let id = {
            let mut conns = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            while conns.serving.len() >= MAX_CONNECTIONS {
                if let Some((_, oldest)) = conns.serving.pop_front() {
                    // Its thread's read or write fails at once and ends it.
                    let _ = oldest.shutdown(Shutdown::Both);
                }
            }
            let id = conns.next_id;
            conns.next_id += 1;
            conns.serving.push_back((id, handle));
            id
        };
        let live = self.clone();
        let page = Arc::clone(page);
        let spawned = std::thread::Builder::new()
            .name("faxnotify-metrics-conn".into())
            .spawn(move || {
                // A client that goes away mid-request is its own problem.
                let _ = answer(stream, &*page);
                live.remove(id);
            });
        if let Err(e) = spawned {
            tracing::debug!("metrics: cannot start a connection's thread: {e}");
            self.remove(id);
        }
    }

    /// Forgets connection `id` (served, or its thread never started).
    fn remove(&self, id: u64) {
        let mut conns = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        conns.serving.retain(|(other, _)| *other != id);
    }
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
