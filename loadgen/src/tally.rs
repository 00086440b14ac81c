//! The clients process's shared counters: threads that drive clients
//! record latencies and counts here; the process's main thread reports
//! them to the parent.

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faxnotify_core::client::StopReason;

use super::histogram::Histogram;
use super::messages::{self, ChildMsg, ChildReport, Command, Spec};
use super::sys::{self, CpuSample};

const SETTING_UP: u8 = 0;
const GO: u8 = 1;
const QUIT: u8 = 2;

type Wake = Box<dyn Fn() + Send + Sync>;

/// What the threads of a clients process share.
pub struct Tally {
    total: u64,
    ready: AtomicUsize,
    /// Clients that could not start (no delivery path, ever).
    failed: AtomicUsize,
    /// Why the first of them could not, and whether it was its callback
    /// listener.
    first_failure: Mutex<Option<StartFailure>>,
    received: AtomicU64,
    last_ns: AtomicU64,
    phase: AtomicU8,
    threads_done: AtomicUsize,
    end_cpu: Mutex<Option<CpuSample>>,
    latency: Mutex<Histogram>,
    notes: Mutex<Vec<String>>,
    wakers: Mutex<Vec<Wake>>,
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("total", &self.total)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl Tally {
    /// Counters for `total` notifications.
    pub fn new(total: u64) -> Arc<Self> {
        Arc::new(Self {
            total,
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            first_failure: Mutex::new(None),
            received: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            phase: AtomicU8::new(SETTING_UP),
            threads_done: AtomicUsize::new(0),
            end_cpu: Mutex::new(None),
            latency: Mutex::new(Histogram::new()),
            notes: Mutex::new(Vec::new()),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Registers a thread's wake-up (called on every command).
    pub fn on_command(&self, wake: impl Fn() + Send + Sync + 'static) {
        lock(&self.wakers).push(Box::new(wake));
    }

    fn wake_all(&self) {
        for wake in lock(&self.wakers).iter() {
            wake();
        }
    }

    /// A client has its delivery path.
    pub fn client_ready(&self) {
        self.ready.fetch_add(1, Ordering::Relaxed);
    }

    /// A client could not start: it will never have a delivery path.
    /// Counted, and reported to the parent once every client of the
    /// process is either up or failed (see [`report_loop`]).
    pub fn client_failed(&self, failure: StartFailure) {
        let mut first = lock(&self.first_failure);
        if first.is_none() {
            *first = Some(failure);
        }
        self.failed.fetch_add(1, Ordering::AcqRel);
    }

    /// Clients that could not start so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Acquire)
    }

    /// Whether the parent said "go".
    pub fn started(&self) -> bool {
        self.phase.load(Ordering::Acquire) >= GO
    }

    /// Whether the parent said "quit".
    pub fn quitting(&self) -> bool {
        self.phase.load(Ordering::Acquire) == QUIT
    }

    /// Notes something unexpected.
    pub fn note(&self, text: String) {
        let mut notes = lock(&self.notes);
        if notes.len() < 20 {
            notes.push(text);
        }
    }
}

/// Why a client could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartFailure {
    /// Its callback listener could not be bound (a port or address
    /// problem), as opposed to any other reason.
    pub listener: bool,
    /// What went wrong, for a person.
    pub why: String,
}

impl StartFailure {
    /// Why a client core stopped before it had its delivery path.
    pub fn stopped(reason: &StopReason) -> Self {
        Self {
            listener: matches!(
                reason,
                StopReason::ListenFailed { .. }
                    | StopReason::RangeExhausted { .. }
                    | StopReason::FixedPortInUse { .. }
            ),
            why: reason.to_string(),
        }
    }

    /// A client that failed before its core ran (`why` for a person).
    pub fn other(why: String) -> Self {
        Self {
            listener: false,
            why,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A thread's latency recorder.
#[derive(Debug)]
pub struct Recorder {
    tally: Arc<Tally>,
    hist: Histogram,
    received: u64,
    expected: u64,
}

impl Recorder {
    /// A recorder for a thread that expects `expected` notifications.
    pub fn new(tally: &Arc<Tally>, expected: u64) -> Self {
        let r = Self {
            tally: Arc::clone(tally),
            hist: Histogram::new(),
            received: 0,
            expected,
        };
        if expected == 0 {
            tally.threads_done.fetch_add(1, Ordering::AcqRel);
        }
        r
    }

    /// One notification reached the application; it was sent at `sent_ns`.
    pub fn record(&mut self, sent_ns: u64) {
        let now = sys::monotonic_ns();
        self.hist.record(now.saturating_sub(sent_ns));
        self.received += 1;
        self.tally.last_ns.fetch_max(now, Ordering::Relaxed);
        let before = self.tally.received.fetch_add(1, Ordering::AcqRel);
        if before + 1 == self.tally.total {
            *lock(&self.tally.end_cpu) = Some(CpuSample::now());
        }
        if self.received == self.expected {
            lock(&self.tally.latency).merge(&self.hist);
            self.tally.threads_done.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Notifications received by this thread.
    pub fn received(&self) -> u64 {
        self.received
    }
}

/// The main thread of a clients process, once its client threads run:
/// reports set-up progress, relays "go" and "quit" to the threads, and
/// reports the delivery phase. Returns when the parent says "quit".
pub fn report_loop(spec: &Spec, tally: &Arc<Tally>, threads: usize) {
    let t = Arc::clone(tally);
    let cmds = messages::commands(move || t.wake_all());
    let setup_start = CpuSample::now();
    let mut go_cpu = None;
    let mut start_ns = 0;
    let mut last_ready = usize::MAX;
    let mut ready_sent = false;
    let mut last_failed = 0;
    let mut ready_rss = 0;
    let mut last_progress = u64::MAX;
    let mut done = false;
    loop {
        match cmds.recv_timeout(Duration::from_millis(100)) {
            Ok(Command::Go) => {
                start_ns = sys::monotonic_ns();
                go_cpu = Some(CpuSample::now());
                tally.phase.store(GO, Ordering::Release);
                tally.wake_all();
            }
            Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => {
                tally.phase.store(QUIT, Ordering::Release);
                tally.wake_all();
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if !ready_sent {
            let ready = tally.ready.load(Ordering::Relaxed);
            let failed = tally.failed();
            if ready != last_ready {
                last_ready = ready;
                messages::send(&ChildMsg::SetUp { done: ready });
            }
            if failed != last_failed {
                last_failed = failed;
                messages::send(&ChildMsg::NotStarted { failed });
            }
            if failed > 0 && ready + failed >= spec.clients {
                // Every client is settled and some never will be up: the
                // server would wait for them for ever. Say so once; the
                // parent ends the run.
                ready_sent = true;
                let first = lock(&tally.first_failure).clone();
                let first = first.unwrap_or_else(|| StartFailure::other("unknown".into()));
                messages::send(&ChildMsg::StartFailed {
                    failed,
                    clients: spec.clients,
                    listener: first.listener,
                    why: first.why,
                });
                continue;
            }
            if ready >= spec.clients {
                ready_sent = true;
                ready_rss = sys::rss_bytes();
                messages::send(&ChildMsg::Ready { sessions: ready });
            }
        }
        let Some(go_cpu) = go_cpu else { continue };
        if done {
            continue;
        }
        let received = tally.received.load(Ordering::Acquire);
        if received != last_progress {
            last_progress = received;
            messages::send(&ChildMsg::Progress { done: received });
        }
        if received >= tally.total && tally.threads_done.load(Ordering::Acquire) >= threads {
            done = true;
            let end_cpu = lock(&tally.end_cpu).unwrap_or_else(CpuSample::now);
            let report = ChildReport {
                start_ns,
                end_ns: tally.last_ns.load(Ordering::Acquire),
                count: received,
                cpu: end_cpu.since(go_cpu),
                setup_cpu_ns: go_cpu.total_ns.saturating_sub(setup_start.total_ns),
                logins_ns: 0,
                peak_rss: sys::peak_rss_bytes(),
                ready_rss,
                threads: messages::thread_count(),
                latency: Some(lock(&tally.latency).clone()),
                broadcast_ns: Vec::new(),
                notes: lock(&tally.notes).clone(),
            };
            messages::send(&ChildMsg::Done(Box::new(report)));
        }
    }
}

/// Waits for "go" or "quit" on `cmds` (for processes without client threads).
pub fn wait_for(cmds: &mpsc::Receiver<Command>, want: Command) -> bool {
    loop {
        match cmds.recv() {
            Ok(c) if c == want => return true,
            Ok(Command::Quit) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}
