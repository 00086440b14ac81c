//! `faxnotify demo`: a fax server and a few clients in one process, on
//! loopback, with no set-up. It shows the three listen policies (and the
//! "only one instance" error of a second fixed-port client), runs a few
//! seconds of simulated fax activity with a readable timeline, then a burst,
//! and ends with a summary: notifications sent, delivered, duplicates, lost,
//! and the latency from `notify` to the client's application.
//!
//! It runs over TLS 1.3 unless `--plain`: a self-signed certificate made in
//! memory for the run, pinned by every client, as a LAN server made with
//! `faxnotify tls self-signed` would be.
//!
//! It exits 0 when every notification arrived exactly once, 5 when any was
//! lost or duplicated, and 1 when the demo could not be set up.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use faxnotify_core::SessionId;
use faxnotify_core::client::{self, ClientConfig, ListenPolicy, NetworkSettings, StopReason};
use faxnotify_core::server::{self, ServerConfig, Target};
use faxnotify_core::tls::ClientTls;
use faxnotify_core::wire::{
    CallbackState, DeviceState, DeviceStatus, FaxChange, FaxReceived, FaxUpdated, JobState,
    JobStatus, Notification, Role, Text,
};

use crate::admin::protocol::now_ms;
use crate::failure::{CmdResult, Exit, Failure};
use crate::runtime::{self, ClientControl, ClientStartError, Polled, RuntimeKind, ServerControl};
use crate::tls::ephemeral::Ephemeral;
use crate::user_store::SharedUsers;
use crate::users_file::UsersFile;

/// `faxnotify demo`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Exit status: 0 when every notification was delivered exactly once, 5 when any \
was lost or duplicated, 1 when the demo could not run.")]
pub struct Args {
    /// The runtime the server and the clients run on.
    #[arg(long, value_enum, default_value_t)]
    runtime: RuntimeKind,
    /// Notifications sent to every client in the closing burst.
    #[arg(long, value_name = "N", default_value_t = 300)]
    burst: u32,
    /// Plain TCP instead of TLS 1.3 (by default the demo makes a
    /// self-signed certificate in memory and the clients pin it).
    #[arg(long)]
    plain: bool,
}

/// How long the demo waits for one expected thing.
const WAIT: Duration = Duration::from_secs(10);

/// Ports the demo needs side by side: a fixed port and a range that starts on it.
const BLOCK: u16 = 3;

/// What the threads that read events send to the timeline.
enum Msg {
    Client {
        who: usize,
        at: Instant,
        event: client::Event,
    },
    Server(server::Event),
}

/// One demo client and what it received.
struct Member {
    name: &'static str,
    policy: ListenPolicy,
    control: Option<ClientControl>,
    thread: Option<JoinHandle<()>>,
    session: Option<SessionId>,
    reachable: bool,
    last_seq: u64,
    finished: bool,
}

/// Everything the summary counts.
#[derive(Default)]
struct Tally {
    /// (session, seq) → when `notify` was called.
    sent: HashMap<(SessionId, u64), Instant>,
    /// (session, seq) → when the client's application got it.
    received: HashMap<(SessionId, u64), Instant>,
    duplicates: u64,
    unexpected: u64,
    undelivered_reported: u64,
}

struct Demo {
    start: Instant,
    members: Vec<Member>,
    tally: Tally,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
    /// Print every delivery (the story) or stay quiet (the burst).
    verbose: bool,
    /// The clients' TLS settings (`None`: plain TCP).
    tls: Option<ClientTls>,
}

impl Demo {
    fn say(&self, text: impl AsRef<str>) {
        let t = self.start.elapsed().as_secs_f64();
        outln!("{t:>6.2}s  {}", text.as_ref());
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Server(event) => match event {
                server::Event::Undelivered { notifications, .. } => {
                    self.tally.undelivered_reported += notifications.len() as u64;
                }
                server::Event::SessionOpened { user, peer, .. } => {
                    self.say(format!("server: {user} logged in from {peer}"));
                }
                server::Event::SessionClosed { user, reason, .. } => {
                    self.say(format!("server: session of {user} closed ({reason})"));
                }
                _ => {}
            },
            Msg::Client { who, at, event } => self.client_event(who, at, event),
        }
    }

    fn client_event(&mut self, who: usize, at: Instant, event: client::Event) {
        let name = self.members[who].name;
        match event {
            client::Event::Listening { local, policy } => {
                self.say(format!(
                    "{name}: listening for callbacks on port {} ({policy})",
                    local.port()
                ));
            }
            client::Event::LoggedIn { session, .. } => {
                self.members[who].session = Some(session);
                self.say(format!("{name}: logged in (session {session})"));
            }
            client::Event::CallbackStatus { state, hint, .. } => {
                self.members[who].reachable = state == CallbackState::Reachable;
                match hint {
                    Some(hint) => self.say(format!("{name}: callback {state}: {hint}")),
                    None => self.say(format!("{name}: callback {state}: the server dialled back")),
                }
            }
            client::Event::Notification { seq, notification } => {
                let m = &mut self.members[who];
                let Some(session) = m.session else {
                    self.tally.unexpected += 1;
                    return;
                };
                if seq <= m.last_seq || self.tally.received.contains_key(&(session, seq)) {
                    self.tally.duplicates += 1;
                } else {
                    self.tally.received.insert((session, seq), at);
                }
                m.last_seq = m.last_seq.max(seq);
                if self.verbose {
                    self.say(format!("  → {name} #{seq} {notification}"));
                }
            }
            client::Event::ConnectionLost { reason, .. } => {
                self.say(format!("{name}: connection lost: {reason}; reconnecting"));
            }
            client::Event::LoggedOut { .. } => {
                self.members[who].finished = true;
                self.say(format!("{name}: logged out"));
            }
            client::Event::Stopped { reason } => {
                self.members[who].finished = true;
                self.say(format!("{name}: stopped: {reason}"));
            }
            _ => {}
        }
    }

    /// Handles messages until `done` holds or `wait` has passed; whether it held.
    fn pump_until(&mut self, wait: Duration, done: impl Fn(&Demo) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if done(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => return done(self),
                Err(RecvTimeoutError::Disconnected) => return done(self),
            }
        }
    }

    /// Handles whatever is waiting, for `wait`.
    fn pump_for(&mut self, wait: Duration) {
        self.pump_until(wait, |_| false);
    }

    fn all_delivered(&self) -> bool {
        self.tally
            .sent
            .keys()
            .all(|key| self.tally.received.contains_key(key))
    }

    /// Starts a client; a thread of its own forwards its events to the
    /// timeline until it ends.
    fn start_client(
        &mut self,
        kind: RuntimeKind,
        server: SocketAddr,
        who: usize,
    ) -> Result<(), ClientStartError> {
        let m = &self.members[who];
        let mut config = ClientConfig::new(
            server,
            m.name,
            password(m.name),
            NetworkSettings::new(m.policy),
        );
        config.tls = self.tls.clone();
        let runner = runtime::start_client(kind, config)?;
        self.members[who].control = Some(runner.control());
        let tx = self.tx.clone();
        let thread = std::thread::spawn(move || {
            loop {
                match runner.next_event(Duration::from_millis(200)) {
                    Polled::Event(event) => {
                        let msg = Msg::Client {
                            who,
                            at: Instant::now(),
                            event,
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                    Polled::Idle => {}
                    Polled::Ended => return,
                }
            }
        });
        self.members[who].thread = Some(thread);
        Ok(())
    }
}

fn password(user: &str) -> String {
    format!("{user} demo password")
}

/// A block of `BLOCK` consecutive ports that are free right now on every
/// IPv4 interface (where the clients bind their callback listeners).
fn free_block() -> Option<u16> {
    for _ in 0..64 {
        let mut r = [0u8; 2];
        getrandom::fill(&mut r).ok()?;
        let base = 20_000 + u16::from_le_bytes(r) % 40_000;
        let held: Result<Vec<TcpListener>, _> = (base..base + BLOCK)
            .map(|p| TcpListener::bind((Ipv4Addr::UNSPECIFIED, p)))
            .collect();
        if held.is_ok() {
            return Some(base);
        }
    }
    None
}

/// The story of simulated fax activity: (what the fax engine says, to whom, what).
fn story() -> Vec<(&'static str, Target, Notification)> {
    let user = |name: &str| Target::User(name.to_owned());
    let job = |state: JobState, page: u16, detail: &str| {
        Notification::JobStatus(JobStatus {
            job: 202,
            state,
            page,
            pages: 2,
            attempt: 1,
            detail: detail.into(),
        })
    };
    vec![
        (
            "modem ttyS0 is up",
            Target::All,
            Notification::DeviceStatus(DeviceStatus {
                device: "ttyS0".into(),
                state: DeviceState::Up,
                detail: "ready".into(),
            }),
        ),
        (
            "a 3-page fax for alice arrives from +1 555 0100",
            user("alice"),
            Notification::FaxReceived(FaxReceived {
                job: 101,
                from: "+1 555 0100".into(),
                to: "alice".into(),
                pages: 3,
                received_at_ms: now_ms(),
            }),
        ),
        (
            "bob's job 202 is queued",
            user("bob"),
            job(JobState::Queued, 0, "queued"),
        ),
        (
            "bob's job 202 dials",
            user("bob"),
            job(JobState::Dialing, 0, "dialing +1 555 0199"),
        ),
        (
            "bob's job 202 sends page 1",
            user("bob"),
            job(JobState::Sending, 1, "page 1 of 2"),
        ),
        (
            "bob's job 202 sends page 2",
            user("bob"),
            job(JobState::Sending, 2, "page 2 of 2"),
        ),
        (
            "bob's job 202 is delivered",
            user("bob"),
            job(JobState::Completed, 2, "delivered"),
        ),
        (
            "carol marks fax 101 as seen: every list updates",
            Target::All,
            Notification::FaxUpdated(FaxUpdated {
                job: 101,
                change: FaxChange::Seen,
                by: "carol".into(),
                comment: Text::new(),
            }),
        ),
        (
            "the administrator broadcasts a message",
            Target::All,
            Notification::server_message("maintenance tonight at 22:00"),
        ),
        (
            "modem ttyS1 takes a call",
            Target::All,
            Notification::DeviceStatus(DeviceStatus {
                device: "ttyS1".into(),
                state: DeviceState::Busy,
                detail: "receiving".into(),
            }),
        ),
        (
            "a 1-page fax for carol arrives from +49 30 1234",
            user("carol"),
            Notification::FaxReceived(FaxReceived {
                job: 103,
                from: "+49 30 1234".into(),
                to: "carol".into(),
                pages: 1,
                received_at_ms: now_ms(),
            }),
        ),
    ]
}

/// Sends one notification and records, per recipient session, when.
fn send(
    server: &ServerControl,
    demo: &mut Demo,
    target: Target,
    n: &Notification,
) -> Result<usize, Failure> {
    let at = Instant::now();
    let report = server
        .notify(target, n)
        .map_err(|e| Failure::runtime(format!("notify failed: {e}")))?;
    for a in &report.accepted {
        demo.tally.sent.insert((a.session, a.seq), at);
    }
    if !report.refused.is_empty() {
        let why: Vec<String> = report
            .refused
            .iter()
            .map(|(session, why)| format!("session {session}: {why}"))
            .collect();
        demo.say(format!(
            "server refused {} recipient(s): {}",
            report.refused.len(),
            why.join("; ")
        ));
    }
    Ok(report.accepted.len())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Runs `faxnotify demo`.
pub fn run(args: Args) -> CmdResult {
    let kind = args.runtime;
    let (tx, rx) = mpsc::channel();
    let mut demo = Demo {
        start: Instant::now(),
        members: Vec::new(),
        tally: Tally::default(),
        rx,
        tx: tx.clone(),
        verbose: true,
        tls: None,
    };
    let tls = match args.plain {
        true => None,
        false => Some(Ephemeral::new("localhost").map_err(|e| {
            Failure::runtime(format!("cannot make the demo's TLS certificate: {e}"))
        })?),
    };
    demo.tls = tls.as_ref().map(Ephemeral::pinned);
    outln!("faxnotify demo: a fax server and three clients on loopback ({kind} runtime)");
    match &tls {
        Some(tls) => outln!(
            "over TLS 1.3: the server has a self-signed certificate made for this run; the clients pin\n  {}\n(`faxnotify tls self-signed` makes one to keep; `--plain` runs without TLS)\n",
            tls.fingerprint
        ),
        None => outln!("over plain TCP (--plain): nothing is encrypted\n"),
    }

    // The server, with four users.
    let mut file = UsersFile::new().map_err(|e| Failure::runtime(e.to_string()))?;
    for name in ["alice", "bob", "carol", "dave"] {
        file.add(name, &password(name), Role::User, false)
            .map_err(|e| Failure::runtime(e.to_string()))?;
    }
    let mut config = ServerConfig::new(file.secret());
    config.server_name = "faxnotify demo".to_owned();
    config.tls = tls.map(|tls| tls.identity);
    let users = SharedUsers::new(file.into_users());
    let server = runtime::start_server(
        kind,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        config,
        users,
    )
    .map_err(|e| Failure::runtime(format!("cannot start the demo server: {e}")))?;
    let control = server.control();
    let addr = server.local_addr();
    demo.say(format!("server: listening on {addr}"));
    let server_tx = tx.clone();
    // The server's events feed the timeline from a thread of their own.
    let server_thread = std::thread::spawn(move || {
        loop {
            match server.next_event(Duration::from_millis(200)) {
                Polled::Event(e) => {
                    if server_tx.send(Msg::Server(e)).is_err() {
                        break;
                    }
                }
                Polled::Idle => {}
                Polled::Ended => break,
            }
        }
        server
    });
    let result = scenario(&mut demo, kind, addr, &control, args.burst);

    // Log everyone out, then shut the server down (BYE shutdown).
    for who in 0..demo.members.len() {
        if let Some(control) = &demo.members[who].control
            && !demo.members[who].finished
        {
            let _ = control.logout();
        }
    }
    demo.pump_until(WAIT, |d| {
        d.members.iter().all(|m| m.finished || m.control.is_none())
    });
    for m in &mut demo.members {
        if let Some(thread) = m.thread.take() {
            let _ = thread.join();
        }
    }
    control.begin_shutdown();
    let server = server_thread
        .join()
        .map_err(|_| Failure::runtime("the server's event thread panicked"))?;
    server
        .join()
        .map_err(|e| Failure::runtime(format!("the server failed: {e}")))?;
    while let Ok(msg) = demo.rx.try_recv() {
        demo.handle(msg);
    }
    demo.say("server: shut down");
    result?;
    Ok(summary(&demo, kind, demo.tls.is_some()))
}

/// Everything between the server's start and the logouts.
fn scenario(
    demo: &mut Demo,
    kind: RuntimeKind,
    addr: SocketAddr,
    server: &ServerControl,
    burst: u32,
) -> Result<(), Failure> {
    // carol holds a fixed port; bob's range starts on that same port, so he
    // gets the next one; alice lets the OS choose.
    let mut started = false;
    for _ in 0..3 {
        let base = free_block().ok_or_else(|| {
            Failure::runtime("found no 3 free ports in a row for the range and fixed clients")
        })?;
        demo.members = vec![
            member("carol", ListenPolicy::Fixed { port: base }),
            member(
                "bob",
                ListenPolicy::Range {
                    lo: base,
                    hi: base + BLOCK - 1,
                },
            ),
            member("alice", ListenPolicy::Dynamic),
            member("dave", ListenPolicy::Fixed { port: base }),
        ];
        match demo.start_client(kind, addr, 0) {
            Ok(()) => {
                started = true;
                break;
            }
            // Another program took the port since we looked: pick another block.
            Err(ClientStartError::Listen(StopReason::FixedPortInUse { .. })) => continue,
            Err(e) => {
                return Err(Failure::runtime(format!(
                    "carol's client did not start: {e}"
                )));
            }
        }
    }
    if !started {
        return Err(Failure::runtime(
            "other programs keep taking the demo's ports; try again",
        ));
    }
    for who in [1, 2] {
        demo.start_client(kind, addr, who).map_err(|e| {
            Failure::runtime(format!(
                "{}'s client did not start: {e}",
                demo.members[who].name
            ))
        })?;
    }
    let ready = demo.pump_until(WAIT, |d| d.members[..3].iter().all(|m| m.reachable));
    if !ready {
        return Err(Failure::runtime(
            "the clients did not all become reachable in time",
        ));
    }
    // dave on the same machine wants carol's fixed port: only one instance
    // can hold it.
    let dave = &demo.members[3];
    demo.say(format!(
        "dave: starting a second client with {} on the same machine",
        dave.policy
    ));
    match demo.start_client(kind, addr, 3) {
        Err(ClientStartError::Listen(reason @ StopReason::FixedPortInUse { .. })) => {
            demo.say(format!("dave: refused, as it should be: {reason}"));
        }
        Ok(()) => {
            return Err(Failure::runtime(
                "a second client got the same fixed port: two instances share a callback endpoint",
            ));
        }
        Err(e) => return Err(Failure::runtime(format!("dave's client failed oddly: {e}"))),
    }
    demo.pump_for(Duration::from_millis(300));

    outln!();
    demo.say("fax engine: simulated activity");
    for (what, target, notification) in story() {
        demo.say(format!("fax engine: {what}"));
        send(server, demo, target, &notification)?;
        demo.pump_until(WAIT, Demo::all_delivered);
        demo.pump_for(Duration::from_millis(250));
    }

    outln!();
    demo.say(format!(
        "fax engine: a burst of {burst} job updates to everyone"
    ));
    demo.verbose = false;
    let burst_start = Instant::now();
    let mut queued = 0;
    for i in 0..burst {
        let n = Notification::JobStatus(JobStatus {
            job: 1_000 + u64::from(i),
            state: JobState::Completed,
            page: 1,
            pages: 1,
            attempt: 1,
            detail: "burst".into(),
        });
        queued += send(server, demo, Target::All, &n)?;
        // Let deliveries flow while sending (the timeline thread is this one).
        while let Ok(msg) = demo.rx.try_recv() {
            demo.handle(msg);
        }
    }
    demo.pump_until(WAIT, Demo::all_delivered);
    demo.say(format!(
        "burst: {queued} deliveries queued, all in by {:.2} s",
        burst_start.elapsed().as_secs_f64()
    ));
    demo.verbose = true;
    outln!();
    Ok(())
}

fn member(name: &'static str, policy: ListenPolicy) -> Member {
    Member {
        name,
        policy,
        control: None,
        thread: None,
        session: None,
        reachable: false,
        last_seq: 0,
        finished: false,
    }
}

fn summary(demo: &Demo, kind: RuntimeKind, tls: bool) -> Exit {
    let t = &demo.tally;
    let sent = t.sent.len();
    let delivered = t.sent.keys().filter(|k| t.received.contains_key(k)).count();
    let lost = sent - delivered;
    let mut latencies: Vec<Duration> = t
        .sent
        .iter()
        .filter_map(|(k, at)| t.received.get(k).map(|r| r.saturating_duration_since(*at)))
        .collect();
    latencies.sort_unstable();
    outln!();
    outln!(
        "summary ({kind} runtime, {})",
        if tls { "TLS 1.3" } else { "plain TCP" }
    );
    outln!("  notifications sent:   {sent}");
    outln!("  delivered:            {delivered}");
    outln!("  duplicates:           {}", t.duplicates);
    outln!("  lost:                 {lost}");
    if t.undelivered_reported > 0 {
        outln!("  reported undelivered: {}", t.undelivered_reported);
    }
    if t.unexpected > 0 {
        outln!("  unexpected:           {}", t.unexpected);
    }
    outln!(
        "  latency p50 / p99:    {} / {}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0))
    );
    let exit = verdict(t);
    if exit == Exit::Ok {
        outln!("every notification arrived exactly once");
    } else {
        outln!("NOT every notification arrived exactly once");
    }
    exit
}

/// Exit status 0 when every notification sent arrived exactly once (and
/// something was sent), else 5.
fn verdict(t: &Tally) -> Exit {
    let lost = t
        .sent
        .keys()
        .filter(|k| !t.received.contains_key(k))
        .count();
    if lost == 0 && t.duplicates == 0 && t.unexpected == 0 && !t.sent.is_empty() {
        Exit::Ok
    } else {
        Exit::Lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(sent: u64, received: u64) -> Tally {
        let at = Instant::now();
        let session = SessionId::new(1).expect("non-zero");
        Tally {
            sent: (1..=sent).map(|seq| ((session, seq), at)).collect(),
            received: (1..=received).map(|seq| ((session, seq), at)).collect(),
            ..Tally::default()
        }
    }

    #[test]
    fn the_demo_exits_5_when_a_notification_is_lost_or_duplicated() {
        assert_eq!(verdict(&tally(3, 3)), Exit::Ok);
        assert_eq!(verdict(&tally(3, 2)), Exit::Lost, "one lost");
        let mut twice = tally(3, 3);
        twice.duplicates = 1;
        assert_eq!(verdict(&twice), Exit::Lost, "one duplicated");
        let mut stray = tally(3, 3);
        stray.unexpected = 1;
        assert_eq!(verdict(&stray), Exit::Lost, "one nobody sent");
        assert_eq!(verdict(&tally(0, 0)), Exit::Lost, "nothing was sent");
        assert_eq!(Exit::Lost as i32, 5, "the documented status");
    }
}
