//! The end-to-end load tool behind `faxnotify bench`: one server and N
//! clients on loopback, M notifications each, per runtime and window, side
//! by side with a raw-socket baseline.
//!
//! # How a run is measured
//!
//! Every run uses fresh processes: the parent (the command the user
//! started) re-executes itself once as the **server** and once or more as
//! the **clients** (`<program> <args> --role server|clients --spec <json>`),
//! so the CPU time and peak memory of each side are the process's own:
//! CPU from `CLOCK_PROCESS_CPUTIME_ID` (all threads, user + system;
//! `/proc/self/stat` gives the split), peak RSS from `VmHWM` in
//! `/proc/self/status`. CPU covers the delivery phase only (from "go" to
//! the last notification), not the logins.
//!
//! Latency is measured across the two processes against one clock:
//! `CLOCK_MONOTONIC` is the same in every process on a host. The server
//! application stamps each notification when it calls `notify` (FAX_RECEIVED
//! with the instant in `job`, see [`payload`]); the client process reads the
//! clock when its application receives the notification. Throughput is
//! N × M divided by the time from the first `notify` to the last receipt.
//!
//! # The load
//!
//! The server application broadcasts (`Target::All`) M notifications,
//! keeping at most `outstanding` (default: the window) unacknowledged per
//! session: a closed loop that notifies as fast as the slowest client
//! acknowledges, so the latencies are delivery latencies and not time spent
//! in a queue. The window is the server's delivery window (NOTIFYs in
//! flight per session).
//!
//! On a standalone server that closed loop runs in the server's loop, in
//! an application handler ([`closed_loop::in_loop_handler`]): the loop's
//! thread answers each acknowledgement with the next notification itself,
//! as the raw baseline's one thread does, instead of waking the
//! application's thread for the `Delivered` event and being woken again
//! by its post. It does so at every window: `strace -c -f -p` of the
//! server process and its `voluntary_ctxt_switches` +
//! `nonvoluntary_ctxt_switches` (all threads) over
//! `faxnotify bench --clients 10 --no-raw` (release builds, a busy 2-core
//! machine; two runs each, one for the system calls at W=64), per
//! notification, closed loop on the application's thread → in the handler:
//!
//! | | W=1: futex | system calls | context switches | W=64: system calls | context switches |
//! |---|---:|---:|---:|---:|---:|
//! | mio | 0.20–0.24 → 0.0001 | 2.5–2.7 → 2.1 | 0.34–0.37 → 0.21–0.23 | 0.043 → 0.033 | 0.017–0.020 → 0.009–0.011 |
//! | smol | 0.34 → 0.01–0.04 | 5.1–5.2 → 4.3–4.7 | 0.43–1.04 → 0.15–0.25 | 0.085 → 0.072 | 0.026–0.030 → 0.008 |
//! | tokio | 0.30–0.44 → 0.0001 | 2.6–2.7 → 2.1 | 0.56–0.81 → 0.25 | 0.045 → 0.034 | 0.014–0.029 → 0.006–0.010 |
//!
//! (W=1: 20 000 notifications per client; W=64: 200 000.) A cluster run's
//! servers publish through the bus instead, from the application's thread.
//!
//! # Clients
//!
//! The clients do not use one OS thread each: see [`mio_fleet`] for mio,
//! [`fnp_smol`] for smol and [`fnp_tokio`] for tokio.
//!
//! # Cluster mode
//!
//! With [`run_cluster`], each configuration also runs on
//! [`Options::cluster_servers`] faxnotify-tokio servers in cluster mode on
//! a 3-node NATS JetStream cluster on loopback, the clients spread evenly
//! over them; each server's application publishes its sessions'
//! notifications to the shared log ([`fnp_cluster`] says why in-process),
//! and the row sums the servers' CPU and memory. Before the runs,
//! [`bus_cost`] measures the bus's own per-message costs.
//!
//! # The raw baseline
//!
//! The same connections, the same 54-byte NOTIFY frames and a 13-byte ACK
//! for each, at most `window` frames unacknowledged per connection, on the
//! same runtime — without any protocol logic ([`raw_mio`], [`raw_smol`],
//! [`raw_tokio`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bus_cost;
pub mod closed_loop;
mod cluster_ctx;
pub mod fnp_cluster;
pub mod fnp_mio;
pub mod fnp_smol;
pub mod fnp_tokio;
pub mod histogram;
pub mod messages;
pub mod mio_fleet;
pub mod payload;
pub mod producer;
pub mod raw_mio;
mod raw_shared;
pub mod raw_smol;
pub mod raw_tokio;
pub mod report;
pub mod smol_clients;
pub mod sys;
pub mod tally;
pub mod tls;
pub mod tokio_clients;

mod parent;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use bus_cost::{BusCost, render_bus_table};
pub use messages::Role;
pub use parent::{ClusterBench, Launcher, LoadError, run, run_cluster};
pub use report::{RunResult, render_scale_table, render_table};

/// A runtime the load tool measures.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// `faxnotify-mio`.
    Mio,
    /// `faxnotify-smol`.
    Smol,
    /// `faxnotify-tokio`.
    Tokio,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Mio => "mio",
            Runtime::Smol => "smol",
            Runtime::Tokio => "tokio",
        })
    }
}

impl FromStr for Runtime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mio" => Ok(Runtime::Mio),
            "smol" => Ok(Runtime::Smol),
            "tokio" => Ok(Runtime::Tokio),
            other => Err(format!("unknown runtime `{other}` (mio, smol or tokio)")),
        }
    }
}

/// What runs on the sockets.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// FNP/1: the faxnotify server and client cores.
    Faxnotify,
    /// The raw baseline.
    Raw,
    /// FNP/1 over TLS 1.3: the same cores, the server with a self-signed
    /// certificate its clients pin ([`tls`]).
    #[serde(rename = "faxnotify+tls")]
    FaxnotifyTls,
    /// FNP/1 served by several servers in cluster mode on one NATS
    /// JetStream cluster [D-17] ([`fnp_cluster`]; tokio only), the clients
    /// spread over them.
    #[serde(rename = "cluster")]
    FaxnotifyCluster,
}

impl Implementation {
    /// Whether the faxnotify cores run (over TLS or not), not the baseline.
    pub fn is_faxnotify(self) -> bool {
        matches!(
            self,
            Implementation::Faxnotify
                | Implementation::FaxnotifyTls
                | Implementation::FaxnotifyCluster
        )
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Implementation::Faxnotify => "faxnotify",
            Implementation::Raw => "raw",
            Implementation::FaxnotifyTls => "faxnotify+tls",
            Implementation::FaxnotifyCluster => "cluster",
        })
    }
}

/// What `faxnotify bench` runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Runtimes to measure.
    pub runtimes: Vec<Runtime>,
    /// Client counts (N).
    pub clients: Vec<usize>,
    /// Delivery windows.
    pub windows: Vec<u32>,
    /// Notifications per client (M); `None`: about 1 000 000 per run in
    /// all at window 16 and above, 200 000 below (a window-1 run is bound
    /// by round trips), at least 100 and at most 100 000 per client.
    pub per_client: Option<u64>,
    /// Also run the raw baseline of each configuration.
    pub raw: bool,
    /// Also run each configuration over TLS 1.3 (a self-signed certificate,
    /// pinned by the clients).
    pub tls: bool,
    /// Notifications the server application keeps unacknowledged per
    /// session; `None`: the window.
    pub outstanding: Option<u32>,
    /// Threads per clients process.
    pub client_threads: usize,
    /// Most clients one clients process runs (the file-descriptor limit:
    /// a client with a callback holds 3 descriptors).
    pub clients_per_process: usize,
    /// Of every clients process, the share of clients that advertise no
    /// callback port and take delivery over the backchannel, in percent.
    pub backchannel_percent: u8,
    /// Clients logging in at once, per clients process.
    pub logins_in_flight: usize,
    /// Longest a run's set-up or delivery may take, in seconds.
    pub timeout_secs: u64,
    /// The scale run: instead of M notifications per client, this many
    /// broadcasts (`Target::All`) one after the other, each timed from
    /// `notify` to the last acknowledgement (faxnotify only).
    pub broadcasts: Option<u32>,
    /// Runs per configuration; the table shows the run with the median
    /// throughput and the range of all of them.
    pub repeat: usize,
    /// Servers of the cluster rows (tokio only): that many faxnotify
    /// servers in cluster mode on a 3-node NATS JetStream cluster, beside
    /// the standalone row of each configuration; 0: no cluster rows.
    pub cluster_servers: usize,
    /// Messages of each measurement of the bus's per-message costs (cluster
    /// runs only).
    pub bus_messages: usize,
    /// The clients' callback ports, `lo..=hi` (`None`: any the OS gives).
    /// For tests: a range the test holds makes every client fail to start.
    pub listen_ports: Option<(u16, u16)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runtimes: vec![Runtime::Mio, Runtime::Smol, Runtime::Tokio],
            clients: vec![1, 10, 100, 1_000],
            windows: vec![1, 64],
            per_client: None,
            raw: true,
            tls: false,
            outstanding: None,
            client_threads: 1,
            clients_per_process: 6_000,
            backchannel_percent: 0,
            logins_in_flight: 32,
            timeout_secs: 300,
            broadcasts: None,
            repeat: 1,
            cluster_servers: 0,
            bus_messages: 5_000,
            listen_ports: None,
        }
    }
}

impl Options {
    /// The scale run: 10 000 sessions on each runtime, 10 % of them
    /// without a callback listener (backchannel), window 64, 20 broadcasts.
    /// The file-descriptor limit decides the share: see `docs/performance.md`.
    pub fn scale() -> Self {
        Self {
            clients: vec![10_000],
            windows: vec![64],
            raw: false,
            clients_per_process: 5_000,
            backchannel_percent: 10,
            broadcasts: Some(20),
            timeout_secs: 600,
            ..Self::default()
        }
    }

    /// M for `clients` clients and `window`.
    pub fn per_client_for(&self, clients: usize, window: u32) -> u64 {
        if let Some(b) = self.broadcasts {
            return u64::from(b);
        }
        let budget: u64 = if window >= 16 { 1_000_000 } else { 200_000 };
        self.per_client
            .unwrap_or_else(|| (budget / clients.max(1) as u64).clamp(100, 100_000))
    }
}

/// The entry point of a child process: `role` and the JSON `spec` the
/// parent passed. Reports on standard output; returns when the parent says
/// "quit".
pub fn child(role: Role, spec: &str) -> Result<(), String> {
    let spec: messages::Spec =
        serde_json::from_str(spec).map_err(|e| format!("bad --spec: {e}"))?;
    let result = match (spec.runtime, spec.implementation, role) {
        (Runtime::Mio, Implementation::Faxnotify | Implementation::FaxnotifyTls, Role::Server) => {
            fnp_mio::server(&spec)
        }
        (Runtime::Mio, Implementation::Faxnotify | Implementation::FaxnotifyTls, Role::Clients) => {
            fnp_mio::clients(&spec)
        }
        (Runtime::Mio, Implementation::Raw, Role::Server) => raw_mio::server(&spec),
        (Runtime::Mio, Implementation::Raw, Role::Clients) => raw_mio::clients(&spec),
        (Runtime::Smol, Implementation::Faxnotify | Implementation::FaxnotifyTls, Role::Server) => {
            fnp_smol::server(&spec)
        }
        (
            Runtime::Smol,
            Implementation::Faxnotify | Implementation::FaxnotifyTls,
            Role::Clients,
        ) => fnp_smol::clients(&spec),
        (Runtime::Smol, Implementation::Raw, Role::Server) => raw_smol::server(&spec),
        (Runtime::Smol, Implementation::Raw, Role::Clients) => raw_smol::clients(&spec),
        (
            Runtime::Tokio,
            Implementation::Faxnotify | Implementation::FaxnotifyTls,
            Role::Server,
        ) => fnp_tokio::server(&spec),
        (
            Runtime::Tokio,
            Implementation::Faxnotify | Implementation::FaxnotifyTls,
            Role::Clients,
        ) => fnp_tokio::clients(&spec),
        (Runtime::Tokio, Implementation::Raw, Role::Server) => raw_tokio::server(&spec),
        (Runtime::Tokio, Implementation::Raw, Role::Clients) => raw_tokio::clients(&spec),
        (Runtime::Tokio, Implementation::FaxnotifyCluster, Role::Server) => {
            fnp_cluster::server(&spec)
        }
        (Runtime::Tokio, Implementation::FaxnotifyCluster, Role::Clients) => {
            fnp_tokio::clients(&spec)
        }
        (runtime, Implementation::FaxnotifyCluster, _) => {
            Err(format!("cluster mode runs on tokio only, not on {runtime}"))
        }
    };
    if let Err(error) = &result {
        messages::send(&messages::ChildMsg::Failed {
            error: error.clone(),
        });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::Runtime;

    #[test]
    fn runtimes_read_back_what_they_print_as_text_and_in_a_spec() {
        for runtime in [Runtime::Mio, Runtime::Smol, Runtime::Tokio] {
            assert_eq!(runtime.to_string().parse::<Runtime>(), Ok(runtime));
            let json = serde_json::to_string(&runtime).expect("serializes");
            assert_eq!(json, format!("\"{runtime}\""));
        }
        assert!("glommio".parse::<Runtime>().is_err());
    }
}
