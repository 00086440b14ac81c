//! The node's turns at sweeping the sessions bucket (`sweeper.rs`): every
//! quarter of [`NodeTimings::index_sweeper_lease`](super::NodeTimings) it
//! reads the sweep record, and the one node holding the lease sweeps
//! every [`NodeTimings::index_sweep_every`](super::NodeTimings), so that
//! sessions opened by servers of the previous version during a rolling
//! upgrade get their index entries and `notify --wait` counts them. The
//! sweeper also lists the log's subjects for notifications no session
//! reads (`stray.rs`).

use std::time::Duration;

use crate::connect::Bus;
use crate::stray::StrayReport;
use crate::sweeper::SweepTurn;

/// How soon a turn that failed (no bus) is tried again, at most.
const RETRY: Duration = Duration::from_secs(10);

/// Takes turns until the task is aborted (when the node stops).
pub(super) async fn run(bus: Bus, every: Duration, lease: Duration) {
    let period = lease / 4;
    let mut last_stray = StrayReport::default();
    loop {
        let wait = match bus.sweep_turn(every, lease).await {
            Ok(SweepTurn::Swept(done)) => {
                if done.indexed > 0 {
                    tracing::info!(
                        indexed = done.indexed,
                        "indexed sessions opened by servers of the previous version"
                    );
                }
                look_for_stray_notifications(&bus, &mut last_stray).await;
                period
            }
            Ok(_) => period,
            Err(err) => {
                tracing::debug!(%err, "the session index sweeper's turn failed; trying again");
                period.min(RETRY)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// The sweeper's look at the log's subjects (`stray.rs`): notifications
/// stored where no session reads them are a warning, repeated at the
/// sweep after a restart and whenever what it finds changes, not at every
/// sweep while the same ones wait for the log's age limit.
async fn look_for_stray_notifications(bus: &Bus, last: &mut StrayReport) {
    match bus.stray_log_subjects().await {
        Ok(found) if found == *last => {}
        Ok(found) => {
            if found.subjects > 0 {
                tracing::warn!(
                    subjects = found.subjects,
                    messages = found.messages,
                    "{found}"
                );
            }
            *last = found;
        }
        Err(err) => {
            tracing::debug!(%err, "the sweeper could not list the log's subjects; it tries again at its next sweep");
        }
    }
}
