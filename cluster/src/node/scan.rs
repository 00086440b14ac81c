//! Which sessions of a user the cluster has: a scan of the session
//! records, for the origin of a notification to know how many delivery
//! reports to wait for (`notify --wait`). One read per session of the
//! cluster: fine for a submitter waiting, not for every notification.

use futures_lite::StreamExt as _;

use super::claims::unix_ms;
use crate::connect::Bus;
use crate::error::{BusError, SessionError};
use crate::ids::LogSeq;

const SCAN: &str = "listing the session records";

/// The sessions of `user` alive now that the log entry `at` belongs to.
pub(super) async fn sessions_of(bus: &Bus, user: &str, at: LogSeq) -> Result<Vec<u64>, BusError> {
    let inner = &bus.inner;
    let bound = inner.config.timeouts.operation;
    let filter = format!("$KV.{}.>", inner.names.sessions_bucket);
    let keys: Vec<u64> = inner
        .link
        .within(SCAN, bound, async {
            let mut info = inner.sessions.info_with_subjects(&filter).await?;
            let mut keys = Vec::new();
            while let Some(item) = info.next().await {
                let (subject, _) = item?;
                if let Some(key) = subject.rsplit('.').next()
                    && let Ok(id) = u64::from_str_radix(key, 16)
                {
                    keys.push(id);
                }
            }
            Ok::<_, async_nats::jetstream::stream::InfoError>(keys)
        })
        .await?
        .map_err(|err| inner.link.failed(SCAN, &err, None))?;
    let now = unix_ms();
    let mut found = Vec::new();
    for session in keys {
        match bus.load_session(session).await {
            Ok(Some((record, _)))
                if record.user == user
                    && record.expires_unix_ms > now
                    && record.start_log_seq <= at.0 =>
            {
                found.push(session);
            }
            Ok(_) | Err(SessionError::Record { .. }) => {}
            Err(SessionError::Bus(err)) => return Err(err),
            Err(_) => {}
        }
    }
    found.sort_unstable();
    Ok(found)
}
