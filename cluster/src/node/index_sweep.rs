//! The node's turns at sweeping the sessions bucket (`sweeper.rs`): every
//! quarter of [`NodeTimings::index_sweeper_lease`](super::NodeTimings) it
//! reads the sweep record, and the one node holding the lease sweeps
//! every [`NodeTimings::index_sweep_every`](super::NodeTimings), so that
//! sessions opened by servers of the previous version during a rolling
//! upgrade get their index entries and `notify --wait` counts them.

use std::time::Duration;

use crate::connect::Bus;
use crate::sweeper::SweepTurn;

/// How soon a turn that failed (no bus) is tried again, at most.
const RETRY: Duration = Duration::from_secs(10);

/// Takes turns until the task is aborted (when the node stops).
pub(super) async fn run(bus: Bus, every: Duration, lease: Duration) {
    let period = lease / 4;
    loop {
        let wait = match bus.sweep_turn(every, lease).await {
            Ok(SweepTurn::Swept(done)) => {
                if done.indexed > 0 {
                    tracing::info!(
                        indexed = done.indexed,
                        "indexed sessions opened by servers of the previous version"
                    );
                }
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
