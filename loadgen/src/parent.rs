//! The parent process: runs each configuration with fresh child processes,
//! shows progress, and collects the figures.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::bus_cost::BusCost;
use super::cluster_ctx::ClusterCtx;
use super::histogram::Histogram;
use super::messages::{ChildMsg, ChildReport, ClusterSpec, Role, Spec};
use super::report::{Figures, RunResult};
use super::sys::{self, CpuSample};
use super::tls::TlsMaterial;
use super::{Implementation, Options, Runtime};

/// How to start a child process: `program args.. --role R --spec JSON`.
#[derive(Clone, Debug)]
pub struct Launcher {
    /// The executable (usually `std::env::current_exe()`).
    pub program: PathBuf,
    /// Arguments before `--role` (e.g. `["bench"]`).
    pub args: Vec<OsString>,
}

/// Why the load tool could not run at all (a failed run is a row of the
/// table, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A child process could not be started.
    #[error("cannot start {program}: {error}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        error: std::io::Error,
    },
    /// The certificate of the TLS runs could not be made.
    #[error("cannot make the certificate for the runs over TLS: {0}")]
    Certificate(String),
    /// The cluster rows need `nats-server`, and it is not there.
    #[error("the cluster rows need nats-server: {why}. To enable them: {enable}")]
    NatsMissing {
        /// What is missing.
        why: String,
        /// The command that installs it.
        enable: String,
    },
    /// The NATS JetStream cluster of the cluster rows did not start.
    #[error("cannot start the NATS cluster of the cluster rows: {0}")]
    Cluster(String),
}

/// What `faxnotify bench --cluster` measured: the rows, and the bus's own
/// per-message costs on the same NATS cluster.
#[derive(Debug)]
pub struct ClusterBench {
    /// Every run, standalone and cluster rows.
    pub results: Vec<RunResult>,
    /// The bus's per-message costs (`Err`: why they could not be measured).
    pub bus: Result<BusCost, String>,
}

/// Which child a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum From {
    Server(usize),
    Clients(usize),
}

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Proc {
    fn say(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    /// Says "quit" and waits a little for the exit, then kills.
    fn finish(mut self) {
        self.say("quit");
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    launcher: &Launcher,
    role: Role,
    spec: &Spec,
    from: From,
    tx: &Sender<(From, ChildMsg)>,
) -> Result<Proc, LoadError> {
    let json = serde_json::to_string(spec).unwrap_or_default();
    let mut child = Command::new(&launcher.program)
        .args(&launcher.args)
        .arg("--role")
        .arg(role.as_str())
        .arg("--spec")
        .arg(json)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| LoadError::Spawn {
            program: launcher.program.display().to_string(),
            error,
        })?;
    let stdout = child.stdout.take();
    let stdin = child.stdin.take();
    let tx = tx.clone();
    std::thread::spawn(move || {
        let Some(stdout) = stdout else { return };
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<ChildMsg>(&line) {
                Ok(msg) => {
                    if tx.send((from, msg)).is_err() {
                        return;
                    }
                }
                Err(_) => eprintln!("{line}"),
            }
        }
        let _ = tx.send((
            from,
            ChildMsg::Failed {
                error: "exited".into(),
            },
        ));
    });
    Ok(Proc { child, stdin })
}

/// Live progress on one line.
struct Progress<'a> {
    out: &'a mut dyn Write,
    label: String,
    last: Instant,
}

impl Progress<'_> {
    fn show(&mut self, text: &str, force: bool) {
        if !force && self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let _ = write!(self.out, "\r\x1b[2K{}: {text}", self.label);
        let _ = self.out.flush();
    }

    fn end(&mut self, text: &str) {
        let _ = writeln!(self.out, "\r\x1b[2K{}: {text}", self.label);
        let _ = self.out.flush();
    }
}

/// One configuration.
#[derive(Clone, Copy, Debug)]
struct Config {
    runtime: Runtime,
    implementation: Implementation,
    clients: usize,
    window: u32,
    per_client: u64,
}

/// Runs every configuration of `options` (faxnotify, then its raw
/// baseline), writing progress to `progress`; returns one result per run.
pub fn run(
    options: &Options,
    launcher: &Launcher,
    progress: &mut dyn Write,
) -> Result<Vec<RunResult>, LoadError> {
    run_all(options, launcher, progress, None)
}

/// `faxnotify bench --cluster`: starts a 3-node NATS JetStream cluster on
/// loopback (stopped when this returns), measures the bus's per-message
/// costs on it, then runs every configuration standalone and with
/// `options.cluster_servers` servers in cluster mode (tokio only).
pub fn run_cluster(
    options: &Options,
    launcher: &Launcher,
    progress: &mut dyn Write,
) -> Result<ClusterBench, LoadError> {
    let _ = writeln!(
        progress,
        "starting a 3-node NATS JetStream cluster on loopback"
    );
    let cluster = ClusterCtx::start()?;
    let _ = writeln!(progress, "measuring the bus's per-message costs");
    let bus = cluster.bus_cost(options);
    let results = run_all(options, launcher, progress, Some(&cluster))?;
    Ok(ClusterBench { results, bus })
}

fn run_all(
    options: &Options,
    launcher: &Launcher,
    progress: &mut dyn Write,
    cluster: Option<&ClusterCtx>,
) -> Result<Vec<RunResult>, LoadError> {
    let mut results = Vec::new();
    // One certificate for every TLS run: what a run measures is the
    // handshakes and the records, not making keys.
    let tls = match options.tls {
        true => Some(TlsMaterial::self_signed().map_err(LoadError::Certificate)?),
        false => None,
    };
    let shared = Shared {
        tls: tls.as_ref(),
        cluster,
    };
    for &runtime in &options.runtimes {
        for &clients in &options.clients {
            for &window in &options.windows {
                let per_client = options.per_client_for(clients, window);
                let mut impls = vec![Implementation::Faxnotify];
                if options.tls {
                    impls.push(Implementation::FaxnotifyTls);
                }
                if cluster.is_some() && runtime == Runtime::Tokio && options.broadcasts.is_none() {
                    impls.push(Implementation::FaxnotifyCluster);
                }
                if options.raw && options.broadcasts.is_none() {
                    impls.push(Implementation::Raw);
                }
                for implementation in impls {
                    let config = Config {
                        runtime,
                        implementation,
                        clients,
                        window,
                        per_client,
                    };
                    results.push(run_repeated(options, launcher, config, &shared, progress)?);
                }
            }
        }
    }
    Ok(results)
}

/// What every run of a `faxnotify bench` shares.
#[derive(Clone, Copy)]
struct Shared<'a> {
    tls: Option<&'a TlsMaterial>,
    cluster: Option<&'a ClusterCtx>,
}

/// Runs a configuration `options.repeat` times and keeps the run with the
/// median throughput (failures count as zero), with every run's figure.
fn run_repeated(
    options: &Options,
    launcher: &Launcher,
    config: Config,
    shared: &Shared<'_>,
    out: &mut dyn Write,
) -> Result<RunResult, LoadError> {
    let mut runs = Vec::new();
    for _ in 0..options.repeat.max(1) {
        runs.push(run_one(options, launcher, config, shared, out)?);
    }
    let rate = |r: &RunResult| r.outcome.as_ref().map_or(0.0, |f| f.per_second);
    let samples: Vec<f64> = runs.iter().map(rate).collect();
    runs.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let mut median = runs.swap_remove(runs.len() / 2);
    median.samples = samples;
    Ok(median)
}

fn run_one(
    options: &Options,
    launcher: &Launcher,
    config: Config,
    shared: &Shared<'_>,
    out: &mut dyn Write,
) -> Result<RunResult, LoadError> {
    let mut progress = Progress {
        out,
        label: format!(
            "{} {:<13} N={:<5} W={:<2} M={}",
            config.runtime, config.implementation, config.clients, config.window, config.per_client
        ),
        last: Instant::now() - Duration::from_secs(1),
    };
    let (tx, rx) = mpsc::channel();
    let mut procs: Vec<Proc> = Vec::new();
    let mut backchannel = 0;
    // A cluster run has streams of its own, removed after it.
    let bus = match (config.implementation, shared.cluster) {
        (Implementation::FaxnotifyCluster, Some(cluster)) => {
            Some(cluster.run_spec(config.clients, config.per_client))
        }
        _ => None,
    };
    let nats_cpu = || shared.cluster.map_or(0, ClusterCtx::nats_cpu_ns);
    let nats_before = nats_cpu();
    let mut outcome = drive(
        options,
        launcher,
        config,
        shared.tls,
        bus.as_ref(),
        &tx,
        &rx,
        &mut procs,
        &mut progress,
        &mut backchannel,
    );
    if let (Some(_), Ok(figures)) = (&bus, &mut outcome) {
        // The bus's share of a cluster run, set-up included: the servers'
        // CPU does not show it.
        let ns = nats_cpu().saturating_sub(nats_before);
        figures.notes.push(format!(
            "nats-server CPU {:.2} s (3 nodes, set-up included), {:.1} µs per notification",
            ns as f64 / 1e9,
            ns as f64 / 1e3 / figures.notifications.max(1) as f64
        ));
    }
    for p in procs {
        p.finish();
    }
    if let (Some(bus), Some(cluster)) = (&bus, shared.cluster) {
        let stored = cluster.remove_streams(&bus.prefix);
        if let (Ok(figures), Some((log, reports))) = (&mut outcome, stored) {
            // What the bus stored (each on 3 replicas) for the run's
            // notifications: the writes the extrapolation counts.
            figures.notes.push(format!(
                "the bus stored {log} log and {reports} report messages for {} notifications",
                figures.notifications
            ));
        }
    }
    let result = RunResult {
        runtime: config.runtime,
        implementation: config.implementation,
        clients: config.clients,
        window: config.window,
        per_client: config.per_client,
        backchannel,
        samples: Vec::new(),
        outcome,
    };
    progress.end(&result.summary());
    Ok(result)
}

fn base_spec(options: &Options, config: Config, tls: Option<&TlsMaterial>) -> Spec {
    Spec {
        runtime: config.runtime,
        implementation: config.implementation,
        clients: config.clients,
        first_client: 0,
        backchannel: 0,
        per_client: config.per_client,
        window: config.window,
        outstanding: options.outstanding.unwrap_or(config.window).max(1),
        server: None,
        logins_in_flight: options.logins_in_flight,
        client_threads: options.client_threads,
        broadcasts: options.broadcasts.unwrap_or(0),
        tls: match config.implementation {
            Implementation::FaxnotifyTls => tls.cloned(),
            _ => None,
        },
        cluster: None,
        listen_ports: options.listen_ports,
        local_ip: None,
    }
}

/// Clients processes started so far by this parent: each gets the next
/// loopback address ([`sys::clients_loopback`]).
static CLIENTS_PROCESSES: AtomicU32 = AtomicU32::new(0);

/// The loopback address of the next clients process: its own, so that its
/// callback listeners and dials do not compete for 127.0.0.1's ephemeral
/// ports with the server's dials, the other processes and the TIME-WAIT
/// connections earlier runs left. Offset by this parent's process id, so
/// that a second `faxnotify bench` right after a first uses other ones.
fn next_loopback() -> Ipv4Addr {
    let offset = std::process::id().wrapping_mul(64);
    sys::clients_loopback(offset, CLIENTS_PROCESSES.fetch_add(1, Ordering::Relaxed))
}

/// Sessions of server `i` of `servers`, and the index of its first client.
fn share(clients: usize, servers: usize, i: usize) -> (usize, usize) {
    let count = clients / servers + usize::from(i < clients % servers);
    let first = (0..i)
        .map(|j| clients / servers + usize::from(j < clients % servers))
        .sum();
    (count, first)
}

#[allow(clippy::too_many_arguments)]
fn drive(
    options: &Options,
    launcher: &Launcher,
    config: Config,
    tls: Option<&TlsMaterial>,
    cluster: Option<&ClusterSpec>,
    tx: &Sender<(From, ChildMsg)>,
    rx: &Receiver<(From, ChildMsg)>,
    procs: &mut Vec<Proc>,
    progress: &mut Progress<'_>,
    backchannel_total: &mut usize,
) -> Result<Figures, String> {
    let timeout = Duration::from_secs(options.timeout_secs);
    let setup_started = Instant::now();
    let spec = Spec {
        cluster: cluster.cloned(),
        ..base_spec(options, config, tls)
    };
    // A cluster run's clients are spread evenly over its servers; each
    // server drives the sessions logged in to it.
    let servers = match cluster {
        Some(_) => options.cluster_servers.clamp(1, config.clients.max(1)),
        None => 1,
    };
    for i in 0..servers {
        let server_spec = Spec {
            clients: share(config.clients, servers, i).0,
            ..spec.clone()
        };
        procs.push(
            spawn(launcher, Role::Server, &server_spec, From::Server(i), tx)
                .map_err(|e| e.to_string())?,
        );
    }
    progress.show(
        match servers {
            1 => "starting the server",
            _ => "starting the servers",
        },
        true,
    );
    let deadline = Instant::now() + timeout;
    let mut addrs = vec![None; servers];
    while addrs.iter().any(Option::is_none) {
        match next(rx, deadline)? {
            (From::Server(i), ChildMsg::Listening { addr }) => addrs[i] = Some(addr),
            (who, ChildMsg::Failed { error }) => return Err(format!("{}: {error}", name(who))),
            _ => {}
        }
    }

    // The clients, split over processes, each process on one server.
    let per_process = options.clients_per_process.max(1);
    let mut processes = 0;
    for (i, addr) in addrs.iter().enumerate() {
        let (on_server, mut first) = share(config.clients, servers, i);
        let here = on_server.div_ceil(per_process).max(1);
        for p in 0..here {
            let count = on_server / here + usize::from(p < on_server % here);
            let backchannel = if config.implementation.is_faxnotify() {
                count * usize::from(options.backchannel_percent.min(100)) / 100
            } else {
                0
            };
            let spec = Spec {
                clients: count,
                first_client: first,
                backchannel,
                server: *addr,
                local_ip: Some(next_loopback()),
                ..spec.clone()
            };
            first += count;
            *backchannel_total += backchannel;
            procs.push(
                spawn(launcher, Role::Clients, &spec, From::Clients(processes), tx)
                    .map_err(|e| e.to_string())?,
            );
            processes += 1;
        }
    }

    // Set-up: every session up on both sides.
    let mut servers_ready = vec![false; servers];
    let mut clients_ready = vec![false; processes];
    let mut set_up = vec![0usize; processes];
    let mut server_up = vec![0usize; servers];
    let mut not_started = vec![0usize; processes];
    let mut start_failed: Vec<Option<StartFailed>> = vec![None; processes];
    while !(servers_ready.iter().all(|r| *r) && clients_ready.iter().all(|r| *r)) {
        match next(rx, deadline)? {
            (From::Server(i), ChildMsg::SetUp { done }) => server_up[i] = done,
            (From::Server(i), ChildMsg::Ready { .. }) => servers_ready[i] = true,
            (From::Clients(p), ChildMsg::SetUp { done }) => set_up[p] = done,
            (From::Clients(p), ChildMsg::Ready { sessions }) => {
                set_up[p] = sessions;
                clients_ready[p] = true;
            }
            (From::Clients(p), ChildMsg::NotStarted { failed }) => not_started[p] = failed,
            (
                From::Clients(p),
                ChildMsg::StartFailed {
                    failed,
                    listener,
                    why,
                    ..
                },
            ) => {
                not_started[p] = failed;
                start_failed[p] = Some(StartFailed { listener, why });
            }
            (who, ChildMsg::Failed { error }) => return Err(format!("{}: {error}", name(who))),
            _ => {}
        }
        // Once every clients process is settled (all its clients up, or
        // some never will be), a run with clients that could not start
        // ends here: the server application would wait for them for ever.
        let settled = (0..processes).all(|p| clients_ready[p] || start_failed[p].is_some());
        if settled && let Some(first) = start_failed.iter().flatten().next() {
            return Err(first.sentence(not_started.iter().sum(), config.clients));
        }
        let failed: usize = not_started.iter().sum();
        progress.show(
            &format!(
                "set-up: {} clients up, {}{} {} sessions",
                set_up.iter().sum::<usize>(),
                match failed {
                    0 => String::new(),
                    n => format!("{} could not start, ", group(n)),
                },
                match servers {
                    1 => "server sees",
                    _ => "servers see",
                },
                server_up.iter().sum::<usize>()
            ),
            false,
        );
    }

    let setup_seconds = setup_started.elapsed().as_secs_f64();
    // Delivery: the clients start their clocks before the servers notify.
    for p in procs.iter_mut().skip(servers) {
        p.say("go");
    }
    for p in procs.iter_mut().take(servers) {
        p.say("go");
    }
    let total = config.clients as u64 * config.per_client;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut server_reports: Vec<Option<ChildReport>> = vec![None; servers];
    let mut client_reports: Vec<Option<ChildReport>> = vec![None; processes];
    let mut received = vec![0u64; processes];
    while server_reports.iter().any(Option::is_none) || client_reports.iter().any(Option::is_none) {
        match next(rx, deadline)? {
            (From::Server(i), ChildMsg::Done(r)) => server_reports[i] = Some(*r),
            (From::Clients(p), ChildMsg::Done(r)) => {
                received[p] = r.count;
                client_reports[p] = Some(*r);
            }
            (From::Clients(p), ChildMsg::Progress { done }) => received[p] = done,
            (who, ChildMsg::Failed { error }) => return Err(format!("{}: {error}", name(who))),
            _ => {}
        }
        let got: u64 = received.iter().sum();
        progress.show(
            &format!(
                "{got}/{total} notifications, {:.1} s",
                started.elapsed().as_secs_f64()
            ),
            false,
        );
    }
    let server = merge_servers(server_reports.into_iter().flatten().collect());
    let clients: Vec<ChildReport> = client_reports.into_iter().flatten().collect();
    let mut figures = figures(&server, &clients, total);
    figures.setup_seconds = setup_seconds;
    Ok(figures)
}

/// The first reason a clients process gave for clients that could not
/// start.
#[derive(Clone, Debug)]
struct StartFailed {
    listener: bool,
    why: String,
}

impl StartFailed {
    /// The failed run's sentence: how many of the run's `clients` could not
    /// start (`failed`), why, and what to do about it.
    fn sentence(&self, failed: usize, clients: usize) -> String {
        let (failed, clients) = (group(failed), group(clients));
        if self.listener {
            format!(
                "{failed} of {clients} clients could not bind a callback listener: {}. \
                 Ephemeral ports exhausted? Wait a minute for TIME-WAIT to clear, or lower \
                 --clients",
                self.why
            )
        } else {
            format!(
                "{failed} of {clients} clients could not start: {}",
                self.why
            )
        }
    }
}

/// `n` with its thousands apart ("10 000"), as the tables write them.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A child as a person calls it in a failed run's row.
fn name(who: From) -> String {
    match who {
        From::Server(0) => "server".into(),
        From::Server(i) => format!("server {}", i + 1),
        From::Clients(p) => format!("clients process {}", p + 1),
    }
}

/// The servers of a cluster run as one: delivery from the first server's
/// start, CPU, memory and threads summed, logins until the last was done.
fn merge_servers(mut reports: Vec<ChildReport>) -> ChildReport {
    let mut merged = match reports.len() {
        0 => return ChildReport::default(),
        1 => return reports.swap_remove(0),
        _ => reports[0].clone(),
    };
    for r in &reports[1..] {
        merged.start_ns = merged.start_ns.min(r.start_ns);
        merged.end_ns = merged.end_ns.max(r.end_ns);
        merged.count += r.count;
        merged.cpu.total_ns += r.cpu.total_ns;
        merged.cpu.user_ns += r.cpu.user_ns;
        merged.cpu.system_ns += r.cpu.system_ns;
        merged.setup_cpu_ns += r.setup_cpu_ns;
        merged.logins_ns = merged.logins_ns.max(r.logins_ns);
        merged.peak_rss += r.peak_rss;
        merged.ready_rss += r.ready_rss;
        merged.threads += r.threads;
        merged.notes.extend(r.notes.iter().cloned());
    }
    // The table has one server column: say that it adds the servers up,
    // and what each one held.
    let peaks: Vec<String> = reports
        .iter()
        .map(|r| format!("{:.1}", r.peak_rss as f64 / (1024.0 * 1024.0)))
        .collect();
    merged.notes.push(format!(
        "server CPU and RSS are the sum of {} servers'; peak RSS of each: {} MiB",
        reports.len(),
        peaks.join(" / ")
    ));
    merged
}

fn next(rx: &Receiver<(From, ChildMsg)>, deadline: Instant) -> Result<(From, ChildMsg), String> {
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(msg) => Ok(msg),
        Err(RecvTimeoutError::Timeout) => Err("timed out".into()),
        Err(RecvTimeoutError::Disconnected) => Err("children gone".into()),
    }
}

fn figures(server: &ChildReport, clients: &[ChildReport], total: u64) -> Figures {
    let end_ns = clients.iter().map(|c| c.end_ns).max().unwrap_or(0);
    let seconds = end_ns.saturating_sub(server.start_ns) as f64 / 1e9;
    let mut latency = Histogram::new();
    let mut clients_cpu = CpuSample::default();
    let mut notes = server.notes.clone();
    for c in clients {
        if let Some(h) = &c.latency {
            latency.merge(h);
        }
        clients_cpu.total_ns += c.cpu.total_ns;
        clients_cpu.user_ns += c.cpu.user_ns;
        clients_cpu.system_ns += c.cpu.system_ns;
        notes.extend(c.notes.iter().cloned());
    }
    let received: u64 = clients.iter().map(|c| c.count).sum();
    if received != total {
        notes.push(format!("received {received} of {total}"));
    }
    Figures {
        notifications: received,
        seconds,
        per_second: if seconds > 0.0 {
            received as f64 / seconds
        } else {
            0.0
        },
        latency,
        server_cpu: server.cpu,
        clients_cpu,
        server_peak_rss: server.peak_rss,
        server_ready_rss: server.ready_rss,
        clients_peak_rss: clients.iter().map(|c| c.peak_rss).sum(),
        server_threads: server.threads,
        clients_threads: clients.iter().map(|c| c.threads).sum(),
        client_processes: clients.len(),
        server_setup_cpu_ns: server.setup_cpu_ns,
        clients_setup_cpu_ns: clients.iter().map(|c| c.setup_cpu_ns).sum(),
        broadcast_ns: server.broadcast_ns.clone(),
        setup_seconds: 0.0,
        logins_seconds: server.logins_ns as f64 / 1e9,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_that_could_not_start_are_counted_in_a_sentence_that_says_what_to_do() {
        let ports = StartFailed {
            listener: true,
            why: "cannot listen on 127.0.0.2:0: Address not available (os error 99)".into(),
        };
        assert_eq!(
            ports.sentence(3_120, 10_000),
            "3 120 of 10 000 clients could not bind a callback listener: cannot listen on \
             127.0.0.2:0: Address not available (os error 99). Ephemeral ports exhausted? \
             Wait a minute for TIME-WAIT to clear, or lower --clients"
        );
        let other = StartFailed {
            listener: false,
            why: "login refused".into(),
        };
        assert_eq!(
            other.sentence(1, 4),
            "1 of 4 clients could not start: login refused"
        );
        assert_eq!(
            [group(0), group(999), group(1_000), group(1_234_567)],
            ["0", "999", "1 000", "1 234 567"]
        );
    }

    #[test]
    fn clients_are_spread_evenly_over_the_servers_each_from_its_own_first_client() {
        let shares: Vec<(usize, usize)> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(shares, [(4, 0), (3, 4), (3, 7)]);
        assert_eq!(share(10, 1, 0), (10, 0), "standalone: every client");
        assert_eq!(share(2, 3, 2), (0, 2), "more servers than clients");
    }

    #[test]
    fn the_servers_of_a_cluster_run_add_up_to_one_row() {
        let server = |start_ns, end_ns, cpu_ns, logins_ns| ChildReport {
            start_ns,
            end_ns,
            count: 10,
            cpu: CpuSample {
                total_ns: cpu_ns,
                user_ns: cpu_ns,
                system_ns: 0,
            },
            logins_ns,
            peak_rss: 100 << 20,
            ready_rss: 50,
            threads: 4,
            notes: vec![format!("from {start_ns}")],
            ..ChildReport::default()
        };
        let merged = merge_servers(vec![server(20, 90, 5, 7), server(10, 80, 6, 9)]);
        assert_eq!(
            (merged.start_ns, merged.end_ns),
            (10, 90),
            "first start, last end"
        );
        assert_eq!((merged.count, merged.cpu.total_ns), (20, 11));
        assert_eq!(
            (merged.peak_rss, merged.ready_rss, merged.threads),
            (200 << 20, 100, 8)
        );
        assert_eq!(
            merged.logins_ns, 9,
            "until the last server had its sessions"
        );
        assert_eq!(
            merged.notes,
            [
                "from 20",
                "from 10",
                "server CPU and RSS are the sum of 2 servers'; peak RSS of each: 100.0 / 100.0 MiB"
            ]
        );
        let alone = server(1, 2, 3, 4);
        assert_eq!(merge_servers(vec![alone.clone()]).start_ns, alone.start_ns);
    }
}
