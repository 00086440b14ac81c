//! What the parent and its child processes say to each other: the child's
//! task (`--spec`, JSON), the child's reports (JSON lines on its standard
//! output) and the parent's commands (lines on the child's standard input).

use std::io::{self, BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};

use faxnotify_core::client::ListenPolicy;
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;
use super::sys::CpuSample;
use super::{Implementation, Runtime};

/// Which side of a run a child process plays.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The server: one per run.
    Server,
    /// A share of the clients.
    Clients,
}

impl Role {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Clients => "clients",
        }
    }

    /// Parses the command-line name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "server" => Some(Role::Server),
            "clients" => Some(Role::Clients),
            _ => None,
        }
    }
}

/// A child's task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Spec {
    /// The runtime under test.
    pub runtime: Runtime,
    /// faxnotify or the raw baseline.
    pub implementation: Implementation,
    /// For the server, every session of the run; for a clients process,
    /// its share.
    pub clients: usize,
    /// The index of this process's first client (user `load<i>`).
    pub first_client: usize,
    /// How many of this process's clients have no callback listener and
    /// take delivery over the backchannel (faxnotify only).
    pub backchannel: usize,
    /// Notifications per client.
    pub per_client: u64,
    /// The delivery window: NOTIFYs in flight per session.
    pub window: u32,
    /// Notifications the server application keeps outstanding (notified
    /// and not yet acknowledged) per session.
    pub outstanding: u32,
    /// The server's control address (clients only).
    pub server: Option<SocketAddr>,
    /// Clients logging in at once (clients only).
    pub logins_in_flight: usize,
    /// Threads to run the clients on (clients only).
    pub client_threads: usize,
    /// The scale run: this many broadcasts one after the other, instead
    /// of `per_client` notifications per session (0: not a scale run).
    pub broadcasts: u32,
    /// The certificate of a run over TLS (`None`: plain TCP).
    #[serde(default)]
    pub tls: Option<super::tls::TlsMaterial>,
    /// The bus of a cluster run's servers (`None`: a standalone server).
    #[serde(default)]
    pub cluster: Option<ClusterSpec>,
    /// The clients' callback ports, `lo..=hi` (`None`: any port the OS
    /// gives, the default). A test sets a range it holds to make every
    /// client fail to start.
    #[serde(default)]
    pub listen_ports: Option<(u16, u16)>,
    /// The loopback address this clients process dials from and listens
    /// on (mio; `None`: the route's, 127.0.0.1), so that each clients
    /// process has a port space of its own.
    #[serde(default)]
    pub local_ip: Option<Ipv4Addr>,
}

impl Spec {
    /// The listen policy of the clients that have a callback listener.
    pub fn listen_policy(&self) -> ListenPolicy {
        match self.listen_ports {
            Some((lo, hi)) => ListenPolicy::Range { lo, hi },
            None => ListenPolicy::Dynamic,
        }
    }
}

/// What a server of a cluster run needs to join the cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// The NATS servers' client URLs.
    pub urls: Vec<String>,
    /// The run's subject prefix: every run has streams of its own.
    pub prefix: String,
    /// The log's size limit, bytes.
    pub log_max_bytes: i64,
    /// The cluster secret every server of the run shares.
    pub secret: [u8; 32],
    /// Users in the users store (every client of the run, whichever server
    /// it logs in to).
    pub users: usize,
}

/// A child's figures for the delivery phase.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChildReport {
    /// When delivery started here (server: the first notify; clients: "go").
    pub start_ns: u64,
    /// When it ended here (server: the last acknowledgement; clients: the
    /// last notification handed to the application).
    pub end_ns: u64,
    /// Notifications sent (server) or received (clients).
    pub count: u64,
    /// CPU used between start and end.
    pub cpu: CpuSample,
    /// CPU used before start (start-up, logins).
    pub setup_cpu_ns: u64,
    /// Server: from listening to every session's delivery path up, ns —
    /// the logins (the clients process's start included); 0 elsewhere.
    #[serde(default)]
    pub logins_ns: u64,
    /// Peak resident set size of the process (`VmHWM`), bytes.
    pub peak_rss: u64,
    /// Resident set size once every session was up, before delivery, bytes.
    pub ready_rss: u64,
    /// OS threads in the process during delivery.
    pub threads: usize,
    /// Latencies from `notify` to the client application (clients only).
    pub latency: Option<Histogram>,
    /// The scale run: how long each broadcast took, from `notify` to the
    /// last session's acknowledgement, ns (server only).
    pub broadcast_ns: Vec<u64>,
    /// Anything unexpected that happened (reconnects, refusals, ...).
    pub notes: Vec<String>,
}

/// One line a child writes on its standard output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildMsg {
    /// The server listens here.
    Listening {
        /// The control address.
        addr: SocketAddr,
    },
    /// Sessions up so far (server) or clients logged in with a delivery
    /// path (clients), during set-up.
    SetUp {
        /// How many.
        done: usize,
    },
    /// Clients of this process that could not start so far (set-up only;
    /// sent as soon as the count changes, for the progress line).
    NotStarted {
        /// How many.
        failed: usize,
    },
    /// Every client of this process is settled and `failed` of them could
    /// not start: the run cannot complete (the server application waits for
    /// every session), so the parent ends it.
    StartFailed {
        /// Clients that could not start.
        failed: usize,
        /// Clients of this process.
        clients: usize,
        /// The first failure was its callback listener's bind.
        listener: bool,
        /// Why the first failed, for a person.
        why: String,
    },
    /// Every session is up: ready for "go".
    Ready {
        /// How many.
        sessions: usize,
    },
    /// Notifications acknowledged (server) or received (clients) so far.
    Progress {
        /// How many.
        done: u64,
    },
    /// Delivery is over.
    Done(Box<ChildReport>),
    /// The child could not do its task.
    Failed {
        /// Why.
        error: String,
    },
}

/// A command the parent writes on a child's standard input.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Command {
    /// Start delivering (server) / start the clock (clients).
    Go,
    /// Finish and exit.
    Quit,
}

/// Writes one message as a JSON line on standard output.
pub fn send(msg: &ChildMsg) {
    let line = serde_json::to_string(msg)
        .unwrap_or_else(|e| format!("{{\"failed\":{{\"error\":\"{e}\"}}}}"));
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reads the parent's commands on a thread of their own; `wake` is called
/// after each (to interrupt an event loop). End of input counts as Quit.
pub fn commands(wake: impl Fn() + Send + 'static) -> mpsc::Receiver<Command> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("load-stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                let cmd = match line.as_deref().map(str::trim) {
                    Ok("go") => Command::Go,
                    Ok("quit") | Err(_) => Command::Quit,
                    Ok(_) => continue,
                };
                let quit = cmd == Command::Quit;
                if tx.send(cmd).is_err() {
                    return;
                }
                wake();
                if quit {
                    return;
                }
            }
            let _ = tx.send(Command::Quit);
            wake();
        })
        .expect("spawn the stdin reader");
    rx
}

/// Number of OS threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}
