//! The load application's cost per notification in the server's loop at a
//! window of 64: what the in-loop handler does for each acknowledgement
//! (note it, make and encode the notifications it allows) — without the
//! core's step, which `faxnotify-core`'s `server_steps` bench measures.
//!
//! Each step acknowledges one more notification of one of 10 sessions,
//! round robin, and keeps every notification not yet acknowledged alive
//! (64 per session, as the core's queues hold them), so the encoder's
//! arena is reused as it is in a run.
//!
//! Run: `cargo bench -p faxnotify-loadgen --bench closed_loop`; count
//! instructions with `valgrind --tool=callgrind
//! --toggle-collect='*closed_loop_step*'` on the bench binary with
//! `--bench --profile-time 2` (instructions per step = Ir / calls).

#![allow(clippy::unwrap_used, unreachable_pub)]

use std::collections::VecDeque;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use faxnotify_core::SessionId;
use faxnotify_core::server::Target;
use faxnotify_core::wire::EncodedNotification;
use faxnotify_loadgen::closed_loop::{Batch, ClosedLoop};

const SESSIONS: u64 = 10;
const WINDOW: u32 = 64;

struct Run {
    closed_loop: ClosedLoop,
    sessions: Vec<SessionId>,
    acked: Vec<u64>,
    next: usize,
    batch: Batch,
    /// What the core's queues would hold: the unacknowledged notifications.
    in_flight: VecDeque<(Target, EncodedNotification)>,
}

impl Run {
    fn new() -> Self {
        let sessions: Vec<SessionId> = (1..=SESSIONS).map(|i| SessionId::new(i).unwrap()).collect();
        let mut closed_loop = ClosedLoop::new(sessions.clone(), u64::MAX / 2, WINDOW);
        let mut batch = Batch::new();
        closed_loop.fill_at(0, &mut batch).unwrap();
        let in_flight = batch.drain(..).collect();
        Self {
            closed_loop,
            acked: vec![0; sessions.len()],
            sessions,
            next: 0,
            batch,
            in_flight,
        }
    }
}

/// One acknowledgement and the one notification it allows.
#[inline(never)]
fn closed_loop_step(run: &mut Run) {
    let i = run.next;
    run.next = (i + 1) % run.sessions.len();
    run.acked[i] += 1;
    run.closed_loop.acknowledged(run.sessions[i], run.acked[i]);
    run.closed_loop
        .fill_at(run.acked[i], &mut run.batch)
        .unwrap();
    // The oldest notification is the one acknowledged (round robin).
    black_box(run.in_flight.pop_front());
    run.in_flight.extend(run.batch.drain(..));
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("closed_loop");
    group.throughput(Throughput::Elements(1));
    let mut run = Run::new();
    group.bench_function("ack_and_next_notification_w64", |b| {
        b.iter(|| closed_loop_step(&mut run))
    });
    group.finish();
    c.final_summary();
}
