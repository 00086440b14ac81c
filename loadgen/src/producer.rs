//! The server application of a faxnotify load run, the same on every
//! runtime: wait until every session has a delivery path, then on "go"
//! send M notifications to each session, keeping at most `outstanding` of
//! them unacknowledged per session (a closed loop per session, like the raw
//! baseline's window: the application notifies a session as fast as its
//! client acknowledges), and report.

use std::collections::HashSet;
use std::time::Duration;

use faxnotify_core::SessionId;
use faxnotify_core::auth::{Credentials, DEFAULT_ITERATIONS};
use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target, UserStore};
use faxnotify_core::wire::{EncodedNotification, Role as UserRole};
use faxnotify_runtime::{NotificationEncoder, PostReport};

use super::closed_loop::{Batch, ClosedLoop, InLoop};
use super::messages::{self, ChildMsg, ChildReport, Command, Spec};
use super::mio_fleet::{PASSWORD, user_name};
use super::payload;
use super::sys::{self, CpuSample};

/// What the producer needs to know of the server's events.
#[derive(Debug)]
pub enum Seen {
    /// A session has a delivery path (callback handshake done, or backchannel).
    PathUp(SessionId),
    /// A session acknowledged `first..=last`.
    Delivered {
        /// The session.
        session: SessionId,
        /// The lowest newly acknowledged seq.
        first: u64,
        /// The highest.
        last: u64,
    },
    /// Something else worth noting (a refusal, a lost session, ...).
    Note(String),
    /// Nothing of interest.
    Nothing,
}

/// A running server as the producer drives it.
pub trait ServerApi {
    /// Posts each encoded notification for its target, fire and forget
    /// (one call to the runtime, no reply), and empties `batch`. `Err`
    /// when the runtime refused the posts (its inbox is full, or it has
    /// stopped).
    fn post_batch(&mut self, batch: &mut Vec<(Target, EncodedNotification)>) -> Result<(), String>;
    /// What became of the posts the runtime has taken since the last call.
    fn take_post_report(&mut self) -> PostReport;
    /// The next event, waiting at most `timeout` (`None` if none came).
    fn next_event(&mut self, timeout: Duration) -> Option<Seen>;
    /// `Err` once the run cannot complete for a reason no event reports
    /// (a cluster that refused publishes).
    fn check(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Refusals in a post report, as an error for the run (up to 3 reasons).
pub fn refusals(report: &PostReport) -> Result<(), String> {
    if report.all_accepted() {
        return Ok(());
    }
    let why: Vec<String> = report
        .refusals
        .iter()
        .take(3)
        .map(|(s, r)| format!("session {s}: {r}"))
        .collect();
    Err(format!(
        "{} notifications refused: {}",
        report.refused,
        why.join("; ")
    ))
}

/// How many notifications a run may have posted and not yet taken by the
/// runtime at once: every session's `outstanding` (the runtime's default
/// inbox is smaller than a large run's first burst).
pub fn post_capacity(spec: &Spec) -> usize {
    (spec.clients * spec.outstanding as usize).max(65_536)
}

/// The users store every load server uses: `load0`, `load1`, ... with one
/// password and one salt (PBKDF2 runs once).
pub fn users(count: usize) -> Result<MemoryUserStore, String> {
    let credentials =
        Credentials::from_password(PASSWORD, &[0x5a; 16], DEFAULT_ITERATIONS, UserRole::User)
            .map_err(|e| e.to_string())?;
    let mut store = MemoryUserStore::new();
    for i in 0..count {
        store
            .insert(&user_name(i), credentials.clone())
            .map_err(|e| e.to_string())?;
    }
    Ok(store)
}

/// The users of a standalone load server, `load0` … `load{count - 1}`,
/// all with one password and one salt: their credentials are derived once
/// and handed out for any of those names, so the server process holds no
/// table of them. A [`MemoryUserStore`] of the scale run's 10 000 users is
/// about 4 MiB of the server's RSS (0.4 KiB of the table's "per 1 000
/// sessions" column), a users table's cost, not the sessions'.
#[derive(Clone, Debug)]
pub struct LoadUsers {
    count: usize,
    credentials: Credentials,
}

impl LoadUsers {
    /// `count` users with the load tool's password.
    pub fn new(count: usize) -> Result<Self, String> {
        let credentials =
            Credentials::from_password(PASSWORD, &[0x5a; 16], DEFAULT_ITERATIONS, UserRole::User)
                .map_err(|e| e.to_string())?;
        Ok(Self { count, credentials })
    }
}

impl UserStore for LoadUsers {
    fn credentials(&self, prepared_user: &str) -> Option<Credentials> {
        let i: usize = prepared_user.strip_prefix("load")?.parse().ok()?;
        // "load01" parses as 1 but is not user 1's name.
        (i < self.count && user_name(i) == prepared_user).then(|| self.credentials.clone())
    }
}

/// The server configuration of a load run: the protocol's defaults except
/// the window under test and limits that would refuse many clients from
/// one address.
pub fn config(spec: &Spec) -> Result<ServerConfig, String> {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&sys::monotonic_ns().to_le_bytes());
    let mut config = ServerConfig::new(secret);
    config.window = spec.window;
    config.queue_limit = config.queue_limit.max(spec.outstanding as usize);
    config.max_sessions_per_ip = usize::MAX;
    config.max_unauthenticated_per_ip = usize::MAX;
    config.max_unauthenticated = usize::MAX;
    config.max_dials_per_ip = 64;
    config.tls = spec.tls.as_ref().map(|tls| tls.identity()).transpose()?;
    Ok(config)
}

/// Runs the server application until the parent says "quit".
///
/// With `in_loop` (the state the server's
/// [`in_loop_handler`](super::closed_loop::in_loop_handler) shares),
/// the delivery's closed loop runs in the server's loop, which answers
/// each acknowledgement with the next notification on its own thread;
/// this thread only starts it and waits for the end. Without it (a
/// cluster run, whose notifications go through the bus), this thread
/// reads the events and posts. The standalone servers use the handler at
/// every window, by measurement (the crate documentation, "The load", has
/// the figures): it removes the two thread hand-offs per round trip, and
/// costs fewer system calls and context switches at window 64 too.
pub fn run(spec: &Spec, api: &mut dyn ServerApi, in_loop: Option<&InLoop>) -> Result<(), String> {
    let cmds = messages::commands(|| {});
    // Before the first login: the program, its threads and the users store.
    let start_rss = sys::rss_bytes();
    let setup_start = CpuSample::now();
    let listening = std::time::Instant::now();
    let mut logins_ns = 0;
    let mut notes: Vec<String> = Vec::new();

    // Set-up: every session gets a delivery path.
    let mut up: HashSet<SessionId> = HashSet::with_capacity(spec.clients);
    let mut last_sent = usize::MAX;
    let mut last_report = std::time::Instant::now();
    let mut go = false;
    while up.len() < spec.clients || !go {
        match cmds.try_recv() {
            Ok(Command::Go) => go = true,
            Ok(Command::Quit) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return Ok(()),
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        match api.next_event(Duration::from_millis(20)) {
            Some(Seen::PathUp(s)) => {
                up.insert(s);
            }
            Some(Seen::Note(n)) => note(&mut notes, n),
            Some(Seen::Delivered { .. } | Seen::Nothing) | None => {}
        }
        if up.len() != last_sent
            && (last_report.elapsed() > Duration::from_millis(100) || up.len() == spec.clients)
        {
            last_sent = up.len();
            last_report = std::time::Instant::now();
            messages::send(&ChildMsg::SetUp { done: up.len() });
            if up.len() == spec.clients {
                logins_ns = u64::try_from(listening.elapsed().as_nanos()).unwrap_or(u64::MAX);
                messages::send(&ChildMsg::Ready { sessions: up.len() });
            }
        }
    }
    let ready_rss = sys::rss_bytes();

    if spec.broadcasts > 0 {
        // What the sessions themselves cost, beside the table's RSS per
        // session (which counts the process's start-up too).
        notes.push(format!(
            "server RSS before the first login {:.1} MiB; {:.2} KiB per session above it",
            start_rss as f64 / (1024.0 * 1024.0),
            ready_rss.saturating_sub(start_rss) as f64 / 1024.0 / up.len().max(1) as f64
        ));
        return broadcasts(spec, api, &cmds, &up, notes, setup_start, ready_rss);
    }
    // Delivery: per session, at most `outstanding` notified and not yet
    // acknowledged ([`ClosedLoop`]), in the server's loop or on this thread.
    let n = spec.clients;
    let m = spec.per_client;
    let closed_loop = ClosedLoop::new(up.into_iter().collect(), m, spec.outstanding);
    let go_cpu = CpuSample::now();
    let start_ns = sys::monotonic_ns();
    match in_loop {
        Some(shared) => deliver_in_loop(api, shared, closed_loop, &mut notes)?,
        None => deliver_here(api, closed_loop, &mut notes)?,
    }
    let end_ns = sys::monotonic_ns();
    let cpu = CpuSample::now().since(go_cpu);
    messages::send(&ChildMsg::Done(Box::new(ChildReport {
        start_ns,
        end_ns,
        count: m * n as u64,
        cpu,
        setup_cpu_ns: go_cpu.total_ns.saturating_sub(setup_start.total_ns),
        logins_ns,
        peak_rss: sys::peak_rss_bytes(),
        ready_rss,
        threads: messages::thread_count(),
        latency: None,
        broadcast_ns: Vec::new(),
        notes,
    })));
    serve_until_quit(api, &cmds)
}

/// The closed loop on this thread: post what the acknowledgements allow,
/// read the events (every one waiting, or wait for one), repeat.
fn deliver_here(
    api: &mut dyn ServerApi,
    mut closed_loop: ClosedLoop,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let mut batch = Batch::new();
    while !closed_loop.is_complete() {
        closed_loop.fill(&mut batch)?;
        if !batch.is_empty() {
            api.post_batch(&mut batch)?;
        }
        let mut wait = Duration::from_secs(1);
        while let Some(seen) = api.next_event(wait) {
            wait = Duration::ZERO;
            match seen {
                Seen::Delivered { session, last, .. } => closed_loop.acknowledged(session, last),
                Seen::Note(text) => note(notes, text),
                Seen::PathUp(_) | Seen::Nothing => {}
            }
        }
        refusals(&api.take_post_report())?;
        api.check()?;
    }
    Ok(())
}

/// The closed loop in the server's loop: this thread posts the first
/// window of every session and hands the loop over to the handler, then
/// waits for the event that says the run is complete (or failed),
/// looking at the refusals once a second meanwhile.
fn deliver_in_loop(
    api: &mut dyn ServerApi,
    shared: &InLoop,
    mut closed_loop: ClosedLoop,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let mut batch = Batch::new();
    closed_loop.fill(&mut batch)?;
    // Installed before the first post: no acknowledgement can come first.
    shared.lock().closed_loop = Some(closed_loop);
    api.post_batch(&mut batch)?;
    loop {
        match api.next_event(Duration::from_secs(1)) {
            Some(Seen::Note(text)) => note(notes, text),
            Some(Seen::Delivered { .. } | Seen::PathUp(_) | Seen::Nothing) | None => {}
        }
        {
            let mut state = shared.lock();
            if let Some(error) = state.error.take() {
                return Err(error);
            }
            if state.complete {
                return Ok(());
            }
        }
        refusals(&api.take_post_report())?;
        api.check()?;
    }
}

/// Keeps `text` among the run's notes (the first 20).
fn note(notes: &mut Vec<String>, text: String) {
    if notes.len() < 20 {
        notes.push(text);
    }
}

/// Keeps the server serving (keepalives) until the parent is done with the
/// clients.
fn serve_until_quit(
    api: &mut dyn ServerApi,
    cmds: &std::sync::mpsc::Receiver<Command>,
) -> Result<(), String> {
    loop {
        match cmds.try_recv() {
            Ok(Command::Quit) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return Ok(()),
            _ => {}
        }
        let _ = api.next_event(Duration::from_millis(50));
    }
}

/// The scale run: `spec.broadcasts` broadcasts (`Target::All`) one after
/// the other, each once every session has acknowledged the previous one;
/// reports how long each took from `notify` to the last acknowledgement.
fn broadcasts(
    spec: &Spec,
    api: &mut dyn ServerApi,
    cmds: &std::sync::mpsc::Receiver<Command>,
    up: &HashSet<SessionId>,
    mut notes: Vec<String>,
    setup_start: CpuSample,
    ready_rss: u64,
) -> Result<(), String> {
    let n = up.len();
    let go_cpu = CpuSample::now();
    let start_ns = sys::monotonic_ns();
    let mut took = Vec::with_capacity(spec.broadcasts as usize);
    let mut encoder = NotificationEncoder::new();
    let mut batch = Vec::with_capacity(1);
    for k in 1..=u64::from(spec.broadcasts) {
        let sent_ns = sys::monotonic_ns();
        let encoded = encoder
            .encode(&payload::notification(sent_ns, k))
            .map_err(|e| e.to_string())?;
        batch.push((Target::All, encoded));
        api.post_batch(&mut batch)?;
        let mut acked: HashSet<SessionId> = HashSet::with_capacity(n);
        let mut reached = 0;
        while acked.len() < n {
            // The report comes as soon as the loop has taken the post.
            let report = api.take_post_report();
            refusals(&report)?;
            reached += report.accepted;
            if report.posted > 0 && reached != n as u64 {
                return Err(format!("broadcast {k} reached {reached} of {n} sessions"));
            }
            match api.next_event(Duration::from_secs(1)) {
                Some(Seen::Delivered { session, last, .. }) if last >= k => {
                    acked.insert(session);
                }
                Some(Seen::Note(text)) if notes.len() < 20 => notes.push(text),
                _ => {}
            }
        }
        took.push(sys::monotonic_ns() - sent_ns);
    }
    let end_ns = sys::monotonic_ns();
    let cpu = CpuSample::now().since(go_cpu);
    messages::send(&ChildMsg::Done(Box::new(ChildReport {
        start_ns,
        end_ns,
        count: u64::from(spec.broadcasts) * n as u64,
        cpu,
        setup_cpu_ns: go_cpu.total_ns.saturating_sub(setup_start.total_ns),
        // The scale table times the set-up from the parent instead.
        logins_ns: 0,
        peak_rss: sys::peak_rss_bytes(),
        ready_rss,
        threads: messages::thread_count(),
        latency: None,
        broadcast_ns: took,
        notes,
    })));
    serve_until_quit(api, cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_users_are_exactly_load0_to_load_count_minus_one() {
        let users = LoadUsers::new(3).expect("credentials");
        let table = super::users(3).expect("credentials");
        for name in ["load0", "load1", "load2"] {
            assert_eq!(users.credentials(name), table.credentials(name), "{name}");
            assert!(users.credentials(name).is_some(), "{name}");
        }
        for name in ["load3", "load01", "load", "loadx", "alice", "load-1", ""] {
            assert_eq!(users.credentials(name), None, "{name}");
        }
    }
}
