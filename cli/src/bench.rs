//! `faxnotify bench`: the end-to-end load tool — one server and N clients
//! on loopback per runtime and window, side by side with a raw-socket
//! baseline — a thin layer over `faxnotify_loadgen`.
//! docs/performance.md has the figures and how to read them.

use std::ffi::OsString;

use clap::{Args as ClapArgs, ValueEnum};
use faxnotify_loadgen::{self as load, Launcher, Options, Role, Runtime};

use crate::failure::{CmdResult, Exit, Failure};

/// `faxnotify bench`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Each run starts the server and the clients as child processes of this command
(`faxnotify bench --role server|clients`), so CPU time and peak memory are
measured per side. Progress goes to standard error, the table to standard
output (Markdown). Run it on a quiet machine: other load distorts every figure.

Examples:
  faxnotify bench                                   # the whole matrix (a few minutes)
  faxnotify bench --runtime mio --clients 100 --window 64
  faxnotify bench --tls --clients 10,100 --window 1,64   # TLS beside plain and raw
  faxnotify bench --scale                           # 10 000 sessions, broadcasts
  faxnotify bench --cluster --clients 100 --window 64   # 3 servers on NATS beside one

--cluster starts a 3-node NATS JetStream cluster on loopback (nats-server, the
Debian package), measures the bus's own per-message costs on it, then runs each
configuration on tokio twice: one standalone server, and --cluster-servers
servers in cluster mode with the clients spread over them, each server
publishing its sessions' notifications to the cluster's log the way the admin
socket's notify does (accepted once stored on a quorum). ×plain is the cluster
row over the standalone one; the notes give nats-server's CPU.")]
pub struct Args {
    /// Runtimes to measure (repeatable).
    #[arg(long = "runtime", value_enum, default_values = ["mio", "smol", "tokio"])]
    runtimes: Vec<RuntimeArg>,
    /// Client counts N, comma-separated [default: 1,10,100,1000; with
    /// --scale: 10000].
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<usize>>,
    /// Delivery windows, comma-separated [default: 1,64; with --scale: 64].
    #[arg(long = "window", value_delimiter = ',')]
    windows: Option<Vec<u32>>,
    /// Notifications per client M (default: about 1 000 000 per run at
    /// window 16 and above, 200 000 below).
    #[arg(long = "notifications", value_name = "M")]
    per_client: Option<u64>,
    /// Notifications the server application keeps unacknowledged per
    /// session (default: the window).
    #[arg(long, value_name = "Q")]
    outstanding: Option<u32>,
    /// Skip the raw-socket baseline.
    #[arg(long)]
    no_raw: bool,
    /// Also run every configuration over TLS 1.3 (a self-signed ECDSA
    /// certificate the clients pin), in rows beside plain faxnotify.
    #[arg(long)]
    tls: bool,
    /// Runs per configuration: the table shows the median one and the
    /// range of all.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Threads per clients process.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Clients logging in at once, per clients process.
    #[arg(long, default_value_t = 32)]
    logins_in_flight: usize,
    /// The scale run: 10 000 sessions (10 % backchannel-only) per runtime,
    /// window 64, timed broadcasts (--clients and --window still apply).
    #[arg(long)]
    scale: bool,
    /// Broadcasts in the scale run.
    #[arg(long, default_value_t = 20, requires = "scale")]
    broadcasts: u32,
    /// Cluster mode beside standalone: tokio only, no raw baseline (see
    /// below).
    #[arg(long, conflicts_with = "scale")]
    cluster: bool,
    /// Servers in cluster mode in the cluster rows.
    #[arg(long, default_value_t = 3, value_name = "S", requires = "cluster",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    cluster_servers: u16,
    /// Messages of each measurement of the bus's per-message costs.
    #[arg(long, default_value_t = 5_000, value_name = "K", requires = "cluster",
          value_parser = clap::value_parser!(u32).range(1..))]
    bus_messages: u32,
    /// Longest a run's set-up or delivery may take, in seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// The clients' callback ports, LO-HI (default: any the OS gives). A
    /// range that is taken makes the clients fail to start: the tests use
    /// it to check that such a run ends at once, saying why.
    #[arg(long, hide = true, value_name = "LO-HI", value_parser = port_range)]
    listen_ports: Option<(u16, u16)>,
    /// Internal: the child process's part (server or clients).
    #[arg(long, hide = true, requires = "spec")]
    role: Option<String>,
    /// Internal: the child process's task (JSON).
    #[arg(long, hide = true, requires = "role")]
    spec: Option<String>,
}

/// `LO-HI`: two ports, the low one first.
fn port_range(text: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?}: expected LO-HI, e.g. 40000-40010"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("{p:?} is not a port (1-65535)"))
    };
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo > hi {
        return Err(format!("{lo}-{hi}: the low port must come first"));
    }
    Ok((lo, hi))
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RuntimeArg {
    Mio,
    Smol,
    Tokio,
}

/// Runs `faxnotify bench` (or, with `--role`, one of its child processes).
pub fn run(args: Args) -> CmdResult {
    if let (Some(role), Some(spec)) = (&args.role, &args.spec) {
        let role = Role::parse(role)
            .ok_or_else(|| Failure::usage(format!("unknown bench role {role:?}")))?;
        load::child(role, spec).map_err(Failure::runtime)?;
        return Ok(Exit::Ok);
    }
    let mut options = if args.scale {
        Options::scale()
    } else {
        Options::default()
    };
    options.runtimes = args
        .runtimes
        .iter()
        .map(|r| match r {
            RuntimeArg::Mio => Runtime::Mio,
            RuntimeArg::Smol => Runtime::Smol,
            RuntimeArg::Tokio => Runtime::Tokio,
        })
        .collect();
    if let Some(clients) = &args.clients {
        options.clients = clients.clone();
    }
    if let Some(windows) = &args.windows {
        options.windows = windows.clone();
    }
    if args.scale {
        options.broadcasts = Some(args.broadcasts);
    }
    options.per_client = args.per_client;
    options.outstanding = args.outstanding;
    options.raw = options.raw && !args.no_raw;
    options.tls = args.tls;
    options.client_threads = args.client_threads.max(1);
    options.repeat = args.repeat.max(1);
    options.logins_in_flight = args.logins_in_flight.max(1);
    options.listen_ports = args.listen_ports;
    if let Some(t) = args.timeout {
        options.timeout_secs = t;
    }
    if args.cluster {
        // Cluster mode is a faxnotify-tokio server; its rows compare with
        // the standalone tokio server, not with a baseline.
        options.runtimes = vec![Runtime::Tokio];
        options.raw = false;
        options.cluster_servers = usize::from(args.cluster_servers);
        options.bus_messages = args.bus_messages as usize;
    }
    let program = std::env::current_exe()
        .map_err(|e| Failure::runtime(format!("cannot find this program to re-run it: {e}")))?;
    let launcher = Launcher {
        program,
        args: vec![OsString::from("bench")],
    };
    let mut bus_ok = true;
    let results = if args.cluster {
        let bench = load::run_cluster(&options, &launcher, &mut std::io::stderr())
            .map_err(|e| Failure::runtime(e.to_string()))?;
        println!("{}", load::render_table(&bench.results));
        match &bench.bus {
            Ok(cost) => println!("{}", load::render_bus_table(cost)),
            Err(why) => {
                bus_ok = false;
                println!("the bus's per-message costs: FAILED: {why}");
            }
        }
        bench.results
    } else {
        let results = load::run(&options, &launcher, &mut std::io::stderr())
            .map_err(|e| Failure::runtime(e.to_string()))?;
        let table = if args.scale {
            load::render_scale_table(&results)
        } else {
            load::render_table(&results)
        };
        println!("{table}");
        results
    };
    Ok(if bus_ok && results.iter().all(|r| r.outcome.is_ok()) {
        Exit::Ok
    } else {
        Exit::Runtime
    })
}
