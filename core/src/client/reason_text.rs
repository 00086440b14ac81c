//! How the reasons of [`Event::SessionEnded`](super::Event::SessionEnded),
//! [`Event::ConnectionLost`](super::Event::ConnectionLost) and
//! [`Event::CallbackClosed`](super::Event::CallbackClosed) read: a
//! phrase for a person (`Display`) and a stable snake_case name for
//! machine output (`name`).

use std::fmt;

use super::events::{CallbackClosure, DisconnectReason, SessionEndReason};
use crate::wire::ErrorCode;

impl SessionEndReason {
    /// A stable snake_case name, e.g. for JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            SessionEndReason::LoggedOutByServer => "logged_out_by_server",
            SessionEndReason::LeaseExpired => "lease_expired",
            SessionEndReason::Replaced => "replaced",
            SessionEndReason::Shutdown => "server_shutdown",
            SessionEndReason::EndedByServer => "ended_by_server",
            SessionEndReason::ResumeRefused => "resume_refused",
            SessionEndReason::ControlError { .. } => "control_error",
        }
    }
}

impl fmt::Display for SessionEndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEndReason::LoggedOutByServer => f.write_str("the server logged it out"),
            SessionEndReason::LeaseExpired => f.write_str("its lease ran out on the server"),
            SessionEndReason::Replaced => f.write_str("another connection took it over"),
            SessionEndReason::Shutdown => f.write_str("the server is shutting down"),
            SessionEndReason::EndedByServer => f.write_str("the server's administrator ended it"),
            SessionEndReason::ResumeRefused => {
                f.write_str("the server no longer knows it and refused to resume it")
            }
            SessionEndReason::ControlError { code } => {
                write!(f, "an ERROR {code} on the control connection")
            }
        }
    }
}

impl DisconnectReason {
    /// A stable snake_case name, e.g. for JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            DisconnectReason::ConnectFailed { .. } => "connect_failed",
            DisconnectReason::Closed => "closed",
            DisconnectReason::HandshakeTimeout => "handshake_timeout",
            DisconnectReason::ServerSilent => "server_silent",
            DisconnectReason::ErrorReceived { .. } => "error_received",
            DisconnectReason::ProtocolError => "protocol_error",
            DisconnectReason::TlsFailed => "tls_failed",
            DisconnectReason::SessionEnded => "session_ended",
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ConnectFailed { error } => write!(f, "cannot connect: {error}"),
            DisconnectReason::Closed => f.write_str("the server closed the connection"),
            DisconnectReason::HandshakeTimeout => f.write_str("the login did not complete in time"),
            DisconnectReason::ServerSilent => {
                f.write_str("the server went silent: not even a PING was answered")
            }
            // The temporary refusal, routine when a cluster's server stops
            // or cannot serve the session yet [D-17]: said as such, so that
            // a failover does not read as a fault.
            DisconnectReason::ErrorReceived {
                code: ErrorCode::ShuttingDown,
            } => f.write_str(
                "the server sent ERROR SHUTTING_DOWN: it is stopping, or cannot serve the session \
                 just now",
            ),
            DisconnectReason::ErrorReceived { code } => write!(f, "the server sent ERROR {code}"),
            DisconnectReason::ProtocolError => f.write_str("the server broke the protocol"),
            DisconnectReason::TlsFailed => f.write_str("the TLS session failed"),
            DisconnectReason::SessionEnded => f.write_str("the session ended"),
        }
    }
}

impl CallbackClosure {
    /// A stable snake_case name, e.g. for JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            CallbackClosure::ClosedByServer => "closed_by_server",
            CallbackClosure::Bye { .. } => "bye",
            CallbackClosure::Superseded => "superseded",
            CallbackClosure::Silent { .. } => "silent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ConnectError;

    #[test]
    fn a_range_of_one_port_is_one_client_not_one_clients() {
        let one = crate::client::StopReason::RangeExhausted { lo: 6000, hi: 6000 }.to_string();
        assert!(one.contains("at most 1 client can run"), "{one}");
        let three = crate::client::StopReason::RangeExhausted { lo: 6000, hi: 6002 }.to_string();
        assert!(three.contains("at most 3 clients can run"), "{three}");
    }

    #[test]
    fn reasons_read_as_phrases_and_name_in_snake_case() {
        let ends = [
            SessionEndReason::LoggedOutByServer,
            SessionEndReason::LeaseExpired,
            SessionEndReason::Replaced,
            SessionEndReason::Shutdown,
            SessionEndReason::EndedByServer,
            SessionEndReason::ResumeRefused,
            SessionEndReason::ControlError {
                code: ErrorCode::LimitExceeded,
            },
        ];
        let lost = [
            DisconnectReason::ConnectFailed {
                error: ConnectError::Refused,
            },
            DisconnectReason::Closed,
            DisconnectReason::HandshakeTimeout,
            DisconnectReason::ServerSilent,
            DisconnectReason::ErrorReceived {
                code: ErrorCode::LimitExceeded,
            },
            DisconnectReason::ErrorReceived {
                code: ErrorCode::ShuttingDown,
            },
            DisconnectReason::ProtocolError,
            DisconnectReason::TlsFailed,
            DisconnectReason::SessionEnded,
        ];
        let texts = ends
            .iter()
            .map(|r| (r.to_string(), r.name()))
            .chain(lost.iter().map(|r| (r.to_string(), r.name())));
        for (text, name) in texts {
            assert!(text.contains(' '), "{text}: a phrase, not an identifier");
            assert!(!text.contains('{') && !text.contains('('), "{text}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
        assert_eq!(
            lost[0].to_string(),
            "cannot connect: connection refused",
            "the OS's reason is said"
        );
        assert_eq!(lost[4].to_string(), "the server sent ERROR LIMIT_EXCEEDED");
        assert!(
            lost[5]
                .to_string()
                .ends_with("it is stopping, or cannot serve the session just now"),
            "the temporary refusal says it is one: {}",
            lost[5]
        );
    }
}
