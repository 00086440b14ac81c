//! How a client [`Event`] reads: one line per event for logs and
//! transcripts, as the server's events read (`server::Event`'s `Display`).
//! Text that came from the network (the server's name, its details and
//! hints, ERROR messages, notification texts) is quoted and escaped, so a
//! peer cannot forge lines or control sequences in the output.

use std::fmt;

use super::events::{ConnectionKind, Event, Peer};

fn connection(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Control => "control connection",
        ConnectionKind::Callback => "callback connection",
    }
}

fn peer(peer: Peer) -> String {
    match peer {
        Peer::Server { addr } => format!("the server at {addr}"),
        Peer::Unauthenticated { addr } => format!("{addr}, not proven to be the server"),
    }
}

/// One line per event, for logs and transcripts.
///
/// ```
/// use faxnotify_core::client::Event;
/// use faxnotify_core::wire::Notification;
///
/// let event = Event::Notification { seq: 7, notification: Notification::server_message("toner low") };
/// assert_eq!(event.to_string(), r#"#7 server message: "toner low""#);
/// assert_eq!(Event::LoggedOut { confirmed: true }.to_string(), "logged out");
/// ```
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Listening { local, policy } => {
                write!(f, "callback listener on {local} ({policy})")
            }
            Event::LoggedIn {
                session,
                role,
                resumed,
                lease,
                callback,
                server_name,
                server,
                ..
            } => write!(
                f,
                "logged in to {server_name:?} at {server} ({} session {session}, {role}, \
                 lease {}s); the server will call back {callback}",
                if *resumed { "resumed" } else { "new" },
                lease.as_secs()
            ),
            Event::CallbackStatus {
                state,
                detail,
                hint,
            } => {
                write!(f, "callback {state}: {detail:?}")?;
                match hint {
                    Some(hint) => write!(f, " (hint: {hint:?})"),
                    None => Ok(()),
                }
            }
            Event::CallbackEstablished { conn, peer } => {
                write!(f, "callback {conn} from {peer} established")
            }
            Event::CallbackRejected { conn, peer, reason } => {
                write!(f, "callback {conn} from {peer} rejected: {reason}")
            }
            Event::CallbackClosed { conn, peer, reason } => {
                write!(f, "callback {conn} from {peer} closed: {reason}")
            }
            Event::Notification { seq, notification } => write!(f, "#{seq} {notification}"),
            Event::NotificationsMayHaveBeenMissed {
                session,
                last_delivered_seq,
            } => write!(
                f,
                "notifications may have been missed: session {session} ended after \
                 #{last_delivered_seq}"
            ),
            Event::SessionEnded { session, reason } => {
                write!(f, "session {session} ended: {reason}")
            }
            Event::ConnectionLost {
                reason,
                attempt,
                retry_in,
                server,
                next_server,
            } => {
                write!(
                    f,
                    "connection to {server} lost: {reason} (attempt {attempt}); retrying in {:.1}s",
                    retry_in.as_secs_f64()
                )?;
                if next_server != server {
                    write!(f, " with {next_server}")?;
                }
                Ok(())
            }
            Event::ProtocolError {
                conn,
                connection: kind,
                peer: p,
                error,
            } => write!(
                f,
                "{} {conn} ({}) broke the protocol: {error}",
                connection(*kind),
                peer(*p)
            ),
            Event::ErrorReceived {
                conn,
                connection: kind,
                peer: p,
                code,
                message,
            } => write!(
                f,
                "{} {conn} ({}) sent ERROR {code} {message:?}",
                connection(*kind),
                peer(*p)
            ),
            Event::LoggedOut { confirmed: true } => f.write_str("logged out"),
            Event::LoggedOut { confirmed: false } => {
                f.write_str("logged out (the server did not confirm it)")
            }
            Event::TlsFailed {
                conn,
                connection: kind,
                reason,
            } => write!(f, "TLS on {} {conn} failed: {reason}", connection(*kind)),
            Event::Stopped { reason } => write!(f, "stopped: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;
    use crate::client::DisconnectReason;
    use crate::io::ConnectError;
    use crate::wire::ErrorCode;
    use std::time::Duration;

    #[test]
    fn network_text_is_quoted_and_escaped() {
        let event = Event::ErrorReceived {
            conn: ConnId::from_raw(3),
            connection: ConnectionKind::Callback,
            peer: Peer::Unauthenticated {
                addr: "192.0.2.9:4000".parse().expect("addr"),
            },
            code: ErrorCode::AuthFailed,
            message: "\u{1b}[2Jyou are hacked\nfake line".into(),
        };
        let text = event.to_string();
        assert!(!text.contains('\u{1b}') && !text.contains('\n'), "{text}");
        assert!(text.contains("not proven to be the server"), "{text}");
    }

    #[test]
    fn a_lost_connection_names_where_the_next_attempt_goes() {
        let a = "192.0.2.1:4580".parse().expect("addr");
        let b = "192.0.2.2:4580".parse().expect("addr");
        let lost = |next_server| Event::ConnectionLost {
            reason: DisconnectReason::ConnectFailed {
                error: ConnectError::Refused,
            },
            attempt: 2,
            retry_in: Duration::from_millis(1500),
            server: a,
            next_server,
        };
        assert_eq!(
            lost(a).to_string(),
            "connection to 192.0.2.1:4580 lost: cannot connect: connection refused (attempt 2); \
             retrying in 1.5s"
        );
        assert!(lost(b).to_string().ends_with(" with 192.0.2.2:4580"));
    }
}
