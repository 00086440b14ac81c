//! The client side of the admin socket: one request, one reply.

use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::protocol::Request;
use crate::failure::Failure;

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the admin socket at `path`, explaining the usual failures.
pub fn connect(path: &Path) -> Result<UnixStream, Failure> {
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

/// Sends `request` and returns the reply (`ok` true or false).
pub fn call(path: &Path, request: &Request) -> Result<Value, Failure> {
    let stream = connect(path)?;
    let broken = |e: io::Error| {
        Failure::runtime(format!(
            "the admin socket {} broke off: {e}",
            path.display()
        ))
    };
    stream.set_read_timeout(Some(TIMEOUT)).map_err(broken)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(broken)?;
    let line = serde_json::to_string(request)
        .map_err(|e| Failure::runtime(format!("cannot encode the request: {e}")))?;
    (&stream)
        .write_all(format!("{line}\n").as_bytes())
        .map_err(broken)?;
    let mut reply = String::new();
    BufReader::new(&stream)
        .read_line(&mut reply)
        .map_err(broken)?;
    if reply.trim().is_empty() {
        return Err(Failure::runtime(format!(
            "the server closed the admin socket {} without answering",
            path.display()
        )));
    }
    serde_json::from_str(reply.trim()).map_err(|e| {
        Failure::runtime(format!(
            "the server's reply is not JSON ({e}): {}",
            reply.trim()
        ))
    })
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
