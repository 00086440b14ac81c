//! How notifications are shown: one readable line, or one JSON object per
//! line under the stdout contract of docs/conformance.md.

use faxnotify_core::wire::Notification;
use serde_json::{Value, json};

/// The parsed fields of a known kind, named as in docs/protocol.md section 8,
/// enum values as numbers; `None` for raw notifications.
pub fn fields(n: &Notification) -> Option<Value> {
    Some(match n {
        Notification::FaxReceived(f) => {
            json!({"job": f.job, "from": f.from.as_str(), "to": f.to.as_str(),
            "pages": f.pages, "received_at_ms": f.received_at_ms})
        }
        Notification::JobStatus(j) => json!({"job": j.job, "state": j.state.to_wire(),
            "page": j.page, "pages": j.pages, "attempt": j.attempt, "detail": j.detail.as_str()}),
        Notification::ServerMessage(m) => json!({"text": m.text.as_str()}),
        Notification::DeviceStatus(d) => {
            json!({"device": d.device.as_str(), "state": d.state.to_wire(),
            "detail": d.detail.as_str()})
        }
        Notification::FaxUpdated(f) => json!({"job": f.job, "change": f.change.to_wire(),
            "by": f.by.as_str(), "comment": f.comment.as_str()}),
        _ => return None,
    })
}

/// The stdout-contract object for a delivered notification:
/// `{"event":"notification","seq":..,"kind":..,"payload":"<hex>","malformed":..,"fields":{..}}`.
pub fn notification_json(seq: u64, n: &Notification) -> Value {
    let (payload, malformed) = match n {
        Notification::Unknown { payload, .. } => (payload.to_vec(), false),
        Notification::Malformed { payload, .. } => (payload.to_vec(), true),
        other => (
            other.to_payload().map(|b| b.to_vec()).unwrap_or_default(),
            false,
        ),
    };
    let mut line = json!({"event": "notification", "seq": seq, "kind": n.kind(),
        "payload": hex::encode(payload), "malformed": malformed});
    if let Some(fields) = fields(n) {
        line["fields"] = fields;
    }
    line
}

#[cfg(test)]
mod tests {
    use faxnotify_core::wire::{JobState, JobStatus};

    use super::*;

    #[test]
    fn contract_lines_follow_docs_conformance() {
        let line = notification_json(7, &Notification::server_message("hi!"));
        // The SERVER_MESSAGE "hi!" payload of docs/protocol.md section 11.
        assert_eq!(
            line,
            json!({"event": "notification", "seq": 7, "kind": 3, "payload": "0003686921",
                "malformed": false, "fields": {"text": "hi!"}})
        );
        let raw = notification_json(8, &Notification::decode(200, &[1, 2, 3]));
        assert_eq!(raw["kind"], 200);
        assert_eq!(raw["payload"], "010203");
        assert_eq!(raw["malformed"], false);
        assert!(raw.get("fields").is_none());
        let bad = notification_json(9, &Notification::decode(1, &[0xff]));
        assert_eq!(bad["malformed"], true);
        assert_eq!(bad["payload"], "ff");
        let job = notification_json(
            10,
            &Notification::JobStatus(JobStatus {
                job: 1,
                state: JobState::Other(99),
                page: 0,
                pages: 0,
                attempt: 0,
                detail: faxnotify_core::wire::Text::new(),
            }),
        );
        assert_eq!(job["fields"]["state"], 99);
    }
}
