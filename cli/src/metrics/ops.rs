//! The server handle the admin socket gets when metrics are recorded: the
//! same operations, with every `notify` result counted and its accepted
//! seqs timed for the delivery latency.

use std::time::Instant;

use faxnotify_core::SessionId;
use faxnotify_core::server::{NotifyReport, SessionInfo, Target};
use faxnotify_core::wire::Notification;

use super::Recorder;
use crate::runtime::{EndSessionError, ServerControl, ServerOps};

/// [`ServerOps`] that record what `notify` did.
pub struct Metered {
    inner: ServerControl,
    recorder: Recorder,
}

impl Metered {
    /// Records `inner`'s notifications into `recorder`.
    pub fn new(inner: ServerControl, recorder: Recorder) -> Self {
        Self { inner, recorder }
    }
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered").finish_non_exhaustive()
    }
}

impl ServerOps for Metered {
    fn notify(&self, target: Target, notification: &Notification) -> Result<NotifyReport, String> {
        // Taken before the runtime queues it: the latency includes the
        // hand-over to the event loop, as the application sees it.
        let asked = Instant::now();
        let report = self.inner.notify(target, notification)?;
        self.recorder.notified(&report, asked);
        Ok(report)
    }

    fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
        self.inner.sessions()
    }

    fn end_session(&self, session: SessionId) -> Result<(), EndSessionError> {
        self.inner.end_session(session)
    }

    fn begin_shutdown(&self) {
        self.inner.begin_shutdown();
    }

    fn set_tls_identity(
        &self,
        identity: faxnotify_core::tls::ServerIdentity,
    ) -> Result<(), String> {
        self.inner.set_tls_identity(identity)
    }
}
