//! The admin socket's line protocol: one JSON request per line, one JSON
//! reply per line, in order, on a Unix socket only the server's owner can
//! open (docs/architecture.md has the full description).
//!
//! Requests (`op` selects the operation):
//!
//! ```text
//! {"op":"notify","to":{"user":"alice"},"notification":{"kind":"server_message","text":"hi"}}
//! {"op":"notify","to":"all","notification":{"kind":"device_status","device":"ttyS0","state":"busy"}}
//! {"op":"notify","to":{"session":"0123456789abcdef"},"notification":{"kind":"fax_received",...}}
//! {"op":"sessions"}
//! {"op":"end_session","session":"0123456789abcdef"}
//! ```
//!
//! Replies: `{"ok":true,...}` with the operation's result, or
//! `{"ok":false,"error":"<code>","message":"<sentence>"}` with the codes
//! `bad_request`, `no_such_user`, `no_such_session`, `cannot_encode`,
//! `busy`, `server_stopped`. A notify reply lists every recipient session:
//! `accepted` (with the seq it got) or `refused` (with `queue_full`,
//! `no_such_session` or `payload_too_large`) [B-6].
//!
//! Any request may carry an `"id"` (string or number), echoed in its reply;
//! a notify with `"delivery_reports":true` (and an id) is followed by one
//! `{"id":..,"report":"delivered"|"undelivered",..}` line per accepted
//! recipient and a `{"id":..,"report":"done",..}` line ([`Envelope`],
//! `delivery`).

use std::time::{SystemTime, UNIX_EPOCH};

use faxnotify_core::wire::{
    DeviceState, DeviceStatus, FaxChange, FaxReceived, FaxUpdated, JobState, JobStatus,
    Notification, ServerMessage,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One request line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Queue a notification.
    Notify {
        /// The recipients.
        to: To,
        /// What to send.
        notification: NotificationSpec,
    },
    /// List the live sessions. (A struct variant, so that unknown keys are
    /// refused like everywhere else.)
    Sessions {},
    /// End a session with BYE "ended by server".
    EndSession {
        /// The session id, 16 hex digits as `sessions` shows it.
        session: String,
    },
}

/// The recipients of a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum To {
    /// Every session of a user (any spelling that prepares to the name).
    User(String),
    /// One session, by id.
    Session(String),
    /// Every session.
    All,
}

/// An enum field given by name (`"completed"`) or by number (`3`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnumValue {
    /// The wire number; unknown numbers pass through [N-1].
    Number(u8),
    /// The name from docs/protocol.md section 8.
    Name(String),
}

/// A notification as the admin socket takes it (docs/protocol.md section 8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NotificationSpec {
    /// Kind 1.
    FaxReceived {
        /// The job number.
        job: u64,
        /// Caller id / TSI.
        from: String,
        /// DID or recipient.
        to: String,
        /// Pages received.
        pages: u16,
        /// Unix time in ms; now when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_at_ms: Option<u64>,
    },
    /// Kind 2.
    JobStatus {
        /// The job number.
        job: u64,
        /// queued, dialing, sending, completed, failed, retrying, cancelled, blocked.
        state: EnumValue,
        /// The page being sent.
        #[serde(default)]
        page: u16,
        /// Pages in all.
        #[serde(default)]
        pages: u16,
        /// The attempt number.
        #[serde(default)]
        attempt: u16,
        /// Free text.
        #[serde(default)]
        detail: String,
    },
    /// Kind 3.
    ServerMessage {
        /// The message.
        text: String,
    },
    /// Kind 4.
    DeviceStatus {
        /// The modem or device.
        device: String,
        /// up, down, busy.
        state: EnumValue,
        /// Free text.
        #[serde(default)]
        detail: String,
    },
    /// Kind 5.
    FaxUpdated {
        /// The job number.
        job: u64,
        /// seen, deleted, commented.
        change: EnumValue,
        /// Who changed it.
        by: String,
        /// Free text.
        #[serde(default)]
        comment: String,
    },
}

/// Finds the wire value of `value` among the names `label` gives to 0..=255.
fn enum_value(value: &EnumValue, field: &str, label: impl Fn(u8) -> String) -> Result<u8, String> {
    match value {
        EnumValue::Number(n) => Ok(*n),
        EnumValue::Name(name) => {
            let known: Vec<String> = (0..=255u8)
                .map(&label)
                .take_while(|l| !l.starts_with("state "))
                .collect();
            known
                .iter()
                .position(|l| l == name)
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(|| {
                    format!(
                        "{field} {name:?} is not one of {} (or give the number)",
                        known.join(", ")
                    )
                })
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl NotificationSpec {
    /// The notification to queue, or why the fields are unusable.
    pub fn to_notification(&self) -> Result<Notification, String> {
        Ok(match self {
            NotificationSpec::FaxReceived {
                job,
                from,
                to,
                pages,
                received_at_ms,
            } => Notification::FaxReceived(FaxReceived {
                job: *job,
                from: from.as_str().into(),
                to: to.as_str().into(),
                pages: *pages,
                received_at_ms: received_at_ms.unwrap_or_else(now_ms),
            }),
            NotificationSpec::JobStatus {
                job,
                state,
                page,
                pages,
                attempt,
                detail,
            } => Notification::JobStatus(JobStatus {
                job: *job,
                state: JobState::from_wire(enum_value(state, "state", |n| {
                    JobState::from_wire(n).to_string()
                })?),
                page: *page,
                pages: *pages,
                attempt: *attempt,
                detail: detail.as_str().into(),
            }),
            NotificationSpec::ServerMessage { text } => {
                Notification::ServerMessage(ServerMessage {
                    text: text.as_str().into(),
                })
            }
            NotificationSpec::DeviceStatus {
                device,
                state,
                detail,
            } => Notification::DeviceStatus(DeviceStatus {
                device: device.as_str().into(),
                state: DeviceState::from_wire(enum_value(state, "state", |n| {
                    DeviceState::from_wire(n).to_string()
                })?),
                detail: detail.as_str().into(),
            }),
            NotificationSpec::FaxUpdated {
                job,
                change,
                by,
                comment,
            } => Notification::FaxUpdated(FaxUpdated {
                job: *job,
                change: FaxChange::from_wire(enum_value(change, "change", |n| {
                    FaxChange::from_wire(n).to_string()
                })?),
                by: by.as_str().into(),
                comment: comment.as_str().into(),
            }),
        })
    }
}

/// A request line as it came: the request, its optional `id` (a string or
/// a number, echoed in the reply and in report lines) and whether a notify
/// asked for delivery reports (`"delivery_reports":true`).
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The request's label, if it has one.
    pub id: Option<Value>,
    /// Report every recipient's delivery (notify only; needs an `id`).
    pub delivery_reports: bool,
    /// The request.
    pub request: Request,
}

/// Parses a request line; on error, the id (if one could be read) and why.
pub fn parse_line(line: &str) -> Result<Envelope, (Option<Value>, String)> {
    let mut value: Value = serde_json::from_str(line).map_err(|e| (None, e.to_string()))?;
    let Some(object) = value.as_object_mut() else {
        return Err((None, "a request is a JSON object".to_owned()));
    };
    let id = object.remove("id");
    if let Some(bad) = id.as_ref().filter(|v| !v.is_string() && !v.is_u64()) {
        return Err((None, format!("id {bad} must be a string or a number")));
    }
    let delivery_reports = match object.remove("delivery_reports") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err((
                id,
                format!("delivery_reports {other} must be true or false"),
            ));
        }
    };
    let request: Request =
        serde_json::from_value(value).map_err(|e| (id.clone(), e.to_string()))?;
    if delivery_reports {
        if !matches!(request, Request::Notify { .. }) {
            return Err((
                id,
                "delivery_reports is for notify requests only".to_owned(),
            ));
        }
        if id.is_none() {
            return Err((
                None,
                "delivery_reports needs an id, to label the report lines".to_owned(),
            ));
        }
    }
    Ok(Envelope {
        id,
        delivery_reports,
        request,
    })
}

/// The line for `request`, with `id` and `delivery_reports` when given.
pub fn request_line(request: &Request, id: Option<&str>, delivery_reports: bool) -> Value {
    let mut value = serde_json::to_value(request).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        if let Some(id) = id {
            object.insert("id".into(), Value::from(id));
        }
        if delivery_reports {
            object.insert("delivery_reports".into(), Value::Bool(true));
        }
    }
    value
}

/// Error codes of `{"ok":false,...}` replies.
pub mod codes {
    /// The line is not a valid request.
    pub const BAD_REQUEST: &str = "bad_request";
    /// `to.user` names nobody in the users file.
    pub const NO_SUCH_USER: &str = "no_such_user";
    /// The session id is not live (or not a session id).
    pub const NO_SUCH_SESSION: &str = "no_such_session";
    /// The notification does not fit in a NOTIFY.
    pub const CANNOT_ENCODE: &str = "cannot_encode";
    /// Too many admin connections at once.
    pub const BUSY: &str = "busy";
    /// The server is shutting down.
    pub const SERVER_STOPPED: &str = "server_stopped";
    /// Cluster mode: the notification could not be made durable (the
    /// cluster's bus is unreachable or refused it); nothing was accepted.
    pub const NOT_DURABLE: &str = "not_durable";
    /// Cluster mode: the publish got no answer saying whether the cluster
    /// stored the notification (its ack was lost): it may be delivered, and
    /// sending it again may deliver it twice.
    pub const DURABILITY_UNKNOWN: &str = "durability_unknown";
}

/// An error reply.
pub fn error_reply(code: &str, message: impl Into<String>) -> Value {
    json!({"ok": false, "error": code, "message": message.into()})
}

/// Parses a session id as `sessions` prints it (16 hex digits; a `0x`
/// prefix and fewer digits are accepted).
pub fn parse_session(text: &str) -> Option<faxnotify_core::SessionId> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Request, String> {
        serde_json::from_str(line).map_err(|e| e.to_string())
    }

    #[test]
    fn requests_parse_as_documented() {
        assert_eq!(
            parse(
                r#"{"op":"notify","to":{"user":"alice"},"notification":{"kind":"server_message","text":"hi"}}"#
            ),
            Ok(Request::Notify {
                to: To::User("alice".into()),
                notification: NotificationSpec::ServerMessage { text: "hi".into() }
            })
        );
        assert_eq!(
            parse(r#"{"op":"notify","to":"all","notification":{"kind":"device_status","device":"ttyS0","state":"busy"}}"#)
                .map(|r| matches!(r, Request::Notify { to: To::All, .. })),
            Ok(true)
        );
        assert_eq!(parse(r#"{"op":"sessions"}"#), Ok(Request::Sessions {}));
        assert_eq!(
            parse(r#"{"op":"end_session","session":"00ff"}"#),
            Ok(Request::EndSession {
                session: "00ff".into()
            })
        );
        for bad in [
            r#"{"op":"reboot"}"#,
            r#"{"op":"sessions","extra":1}"#,
            r#"{"op":"notify","to":"all","notification":{"kind":"server_message"}}"#,
            r#"{"op":"notify","to":"all","notification":{"kind":"server_message","text":"x","color":"red"}}"#,
            "not json",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_and_delivery_reports_ride_along() {
        let line = r#"{"op":"notify","id":"job-42","delivery_reports":true,"to":"all","notification":{"kind":"server_message","text":"hi"}}"#;
        let envelope = parse_line(line).unwrap();
        assert_eq!(envelope.id, Some(json!("job-42")));
        assert!(envelope.delivery_reports);
        assert!(matches!(
            envelope.request,
            Request::Notify { to: To::All, .. }
        ));
        let built = request_line(&envelope.request, Some("job-42"), true);
        assert_eq!(parse_line(&built.to_string()).unwrap(), envelope);
        assert_eq!(
            parse_line(r#"{"op":"sessions","id":7}"#).unwrap().id,
            Some(json!(7))
        );
        for (bad, id) in [
            (
                r#"{"op":"sessions","delivery_reports":true,"id":1}"#,
                Some(json!(1)),
            ),
            (
                r#"{"op":"notify","delivery_reports":true,"to":"all","notification":{"kind":"server_message","text":"x"}}"#,
                None,
            ),
            (r#"{"op":"sessions","id":{"a":1}}"#, None),
            (r#"{"op":"sessions","id":"x","extra":1}"#, Some(json!("x"))),
            ("[]", None),
            ("", None),
        ] {
            let err = parse_line(bad).unwrap_err();
            assert_eq!(err.0, id, "{bad}: {err:?}");
            assert!(!err.1.is_empty());
        }
    }

    #[test]
    fn enum_fields_take_names_or_numbers() {
        let spec = |state: EnumValue| NotificationSpec::JobStatus {
            job: 7,
            state,
            page: 1,
            pages: 2,
            attempt: 1,
            detail: String::new(),
        };
        let state = |spec: NotificationSpec| match spec.to_notification() {
            Ok(Notification::JobStatus(j)) => Ok(j.state),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(
            state(spec(EnumValue::Name("completed".into()))),
            Ok(JobState::Completed)
        );
        assert_eq!(state(spec(EnumValue::Number(99))), Ok(JobState::Other(99)));
        let err = state(spec(EnumValue::Name("done".into()))).unwrap_err();
        assert!(err.contains("queued, dialing, sending, completed"), "{err}");
        let device = NotificationSpec::DeviceStatus {
            device: "ttyS0".into(),
            state: EnumValue::Name("busy".into()),
            detail: String::new(),
        };
        assert!(matches!(
            device.to_notification(),
            Ok(Notification::DeviceStatus(DeviceStatus {
                state: DeviceState::Busy,
                ..
            }))
        ));
    }

    #[test]
    fn session_ids_parse_as_printed() {
        let id = parse_session("0123456789abcdef").unwrap();
        assert_eq!(id.to_string(), "0123456789abcdef");
        assert_eq!(parse_session("0x10").map(|s| s.get()), Some(16));
        assert_eq!(parse_session("0"), None);
        assert_eq!(parse_session("xyz"), None);
        assert_eq!(parse_session("00000000000000001"), None);
    }
}
