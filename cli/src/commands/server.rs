//! `faxnotify server`: a fax notification server.
//!
//! It logs sessions, callback states and deliveries (tracing; `RUST_LOG`
//! filters, default `info`), serves the admin socket for `notify`,
//! `sessions` and `end-session`, reloads the users file and the TLS
//! certificate when they change (on a thread of their own), and on Ctrl-C
//! (or SIGTERM) ends every session with BYE shutdown before it exits. A
//! second Ctrl-C exits at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use faxnotify_cluster::{BusConfig, ClusterSecret, NodeTimings};

use crate::runtime::cluster::ClusterSettings;
use faxnotify_core::server::{ConfigError, ServerConfig};
use faxnotify_core::wire::Caps;

use crate::admin::{self, server::AdminSocket};
use crate::event_log::{self, EventLog};
use crate::failure::{CmdResult, Exit, Failure};
use crate::metrics::{self, Recorder};
use crate::parse;
use crate::runtime::{self, Polled, RuntimeKind, ServerStartError};
use crate::tls::files::TlsFiles;
use crate::user_store::SharedUsers;
use crate::users_file::{UsersFile, UsersFileError, read_text, too_open};
use crate::users_reload::{Reloader, Watch};

/// How often the users file is checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// `faxnotify server`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
For the conformance suite (docs/conformance.md), relax the failed-login limiter \
and shorten the lease so that the slow cases are quick:
  faxnotify server --listen 127.0.0.1:4580 --users users.toml --admin-socket fx.sock \\
      --lease 10s --handshake-timeout 3s --max-failed-logins 1000 \\
      --max-failed-logins-per-address 1000
  faxnotify conformance server 127.0.0.1:4580 --user alice --password-file pw \\
      --admin-socket fx.sock --handshake-timeout 3s

Under systemd (Type=notify, NOTIFY_SOCKET set) the server reports READY=1 once it \
serves and STOPPING=1 when it shuts down; contrib/systemd has a hardened unit.")]
pub struct Args {
    /// The address to listen on for control connections (a bare port means
    /// every interface, IPv4 and IPv6).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:4580", value_parser = parse::listen_addr)]
    listen: SocketAddr,
    /// The users file (`faxnotify user add --users FILE NAME` creates it).
    #[arg(long, value_name = "FILE")]
    users: PathBuf,
    /// Serve the admin socket (owner-only) for `faxnotify notify`,
    /// `sessions` and `end-session`: at PATH, or without PATH at the
    /// default path in a private directory ($XDG_RUNTIME_DIR/faxnotify/admin.sock,
    /// /run/faxnotify/admin.sock for root).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    admin_socket: Option<Option<PathBuf>>,
    /// The runtime to run on (default smol; tokio in cluster mode, the only
    /// one it runs on).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// Cluster mode (docs/protocol.md [D-17]): this server is one of several that share
    /// their sessions and notifications on a NATS JetStream cluster at
    /// these addresses (nats://HOST:PORT, comma-separated). Any server's
    /// admin socket accepts notifications for every session, and a client
    /// whose server dies resumes on another with nothing lost. Runs on
    /// --runtime tokio.
    #[arg(
        long,
        value_name = "URLS",
        value_delimiter = ',',
        requires = "cluster_secret"
    )]
    cluster: Option<Vec<String>>,
    /// The cluster's secret (exactly 32 bytes, mode 0600, the same file on
    /// every server): it seals the session records the cluster stores.
    #[arg(long, value_name = "FILE", requires = "cluster")]
    cluster_secret: Option<PathBuf>,
    /// Copies the cluster keeps of its log and session records: 3 survives
    /// the loss of one NATS node; 1 for a single nats-server (no failover
    /// of the bus itself).
    #[arg(long, value_name = "N", default_value_t = 3, requires = "cluster")]
    cluster_replicas: usize,
    /// How long the cluster's log keeps a notification (the log's only
    /// trim). A session whose client acknowledges nothing for that long, or
    /// that resumes after it, is ended, and its client starts a new session
    /// told it may have missed notifications. At least twice --lease plus
    /// --detached-grace.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "7d",
        value_parser = parse::duration,
        requires = "cluster"
    )]
    cluster_log_max_age: Duration,
    /// How long this server owns a session without renewing it in the
    /// cluster (at least 5s; renewed every fifth of it). The clients of a
    /// server that crashed resume elsewhere once it has run out; every
    /// renewal is one write per session to the bus, so a longer lease is a
    /// lighter load.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse::duration,
        requires = "cluster"
    )]
    cluster_owner_lease: Duration,
    /// The name SERVER_HELLO announces.
    #[arg(long, value_name = "NAME", default_value = "faxnotify")]
    server_name: String,
    /// How long a session lives without a frame on its control connection
    /// [C-5] (at least 3s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse::duration)]
    lease: Duration,
    /// How long a session whose control connection dropped waits, queue
    /// intact, for its client to resume it [D-15] (it ends when this and its
    /// lease have both run out; 0s: the lease alone).
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse::duration)]
    detached_grace: Duration,
    /// Notifications in flight (sent, not acknowledged) per session [B-4].
    #[arg(long, value_name = "N", default_value_t = 64)]
    window: u32,
    /// Unacknowledged notifications one session may hold; beyond that
    /// `notify` is refused for it [B-6].
    #[arg(long, value_name = "N", default_value_t = 1024)]
    queue_limit: usize,
    /// From accepting a control connection to ADVERTISE_OK [C-9].
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    handshake_timeout: Duration,
    /// How long a callback dial and its handshake may take [B-7].
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::duration)]
    callback_timeout: Duration,
    /// Do not offer BACKCHANNEL: never deliver over the control connection.
    #[arg(long)]
    no_backchannel: bool,
    /// Failed logins one user name may make from one IP address in a burst
    /// before its logins from there are refused [A-5] [D-15]; raise it for
    /// the conformance suite.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_failed_logins: u32,
    /// Failed logins of any names one IP address (IPv6: its /64) may make in
    /// a burst before its connections are refused [A-5] [D-15].
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_failed_logins_per_address: u32,
    /// The time it takes to forgive all of those failures.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse::duration)]
    failed_login_window: Duration,
    /// Sessions one user may have at once [C-7].
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_sessions_per_user: usize,
    /// Sessions from one IP address [C-7] (terminal servers share one).
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_sessions_per_ip: usize,
    /// Connections per IP address (IPv6: per /64) that have not logged in yet.
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_unauthenticated_per_ip: usize,
    /// The server's TLS certificate (PEM: the server's own first, then any
    /// intermediates). With it every control and callback connection runs
    /// FNP/1 over TLS 1.3. Reloaded when the file changes.
    /// `faxnotify tls self-signed` makes one for a LAN.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM, unencrypted; keep it mode 0600).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (sessions, queued,
    /// accepted, delivered, undelivered and refused notifications, delivery
    /// latency, logins, refused connections; docs/architecture.md lists
    /// them). Port 0 picks a free port; the log says which.
    #[arg(long, value_name = "ADDR", value_parser = parse::listen_addr)]
    metrics: Option<SocketAddr>,
}

fn config(args: &Args, secret: [u8; 32]) -> Result<ServerConfig, Failure> {
    let mut config = ServerConfig::new(secret);
    config.server_name = args.server_name.clone();
    config.lease = args.lease;
    config.window = args.window;
    config.queue_limit = args.queue_limit;
    config.handshake_timeout = args.handshake_timeout;
    config.callback_handshake_timeout = args.callback_timeout;
    if args.no_backchannel {
        config.caps = Caps::NONE;
    }
    config.detached_grace = args.detached_grace;
    config.login_limiter.max_failures = args.max_failed_logins;
    config.login_limiter.max_failures_per_address = args.max_failed_logins_per_address;
    config.login_limiter.window = args.failed_login_window;
    config.max_sessions_per_user = args.max_sessions_per_user;
    config.max_sessions_per_ip = args.max_sessions_per_ip;
    config.max_unauthenticated_per_ip = args.max_unauthenticated_per_ip;
    config.validate().map_err(|e| {
        let message = match e {
            ConfigError::Zero { field } => format!("{} must not be zero", flag_of(field)),
            ConfigError::TooLong { field, .. } => e.to_string().replacen(field, flag_of(field), 1),
            other => format!("bad server setting: {other}"),
        };
        Failure::usage(message)
    })?;
    Ok(config)
}

/// The command-line flag that sets a `ServerConfig` field: a refusal names
/// what the user typed, not the library's field.
fn flag_of(field: &str) -> &str {
    match field {
        "window" => "--window",
        "queue_limit" => "--queue-limit",
        "handshake_timeout" => "--handshake-timeout",
        "callback_handshake_timeout" => "--callback-timeout",
        "detached_grace" => "--detached-grace",
        "max_sessions_per_user" => "--max-sessions-per-user",
        "max_sessions_per_ip" => "--max-sessions-per-ip",
        "max_unauthenticated_per_ip" => "--max-unauthenticated-per-ip",
        "login_limiter.max_failures" => "--max-failed-logins",
        "login_limiter.max_failures_per_address" => "--max-failed-logins-per-address",
        "login_limiter.window" => "--failed-login-window",
        other => other,
    }
}

/// Loads the users file, and the watch that notices its next change.
fn load_users(path: &Path) -> Result<(UsersFile, Watch), Failure> {
    // A users file that cannot be read (missing, a directory, no
    // permission) is as bad a file as one that does not parse: exit 2.
    let failure = |e: UsersFileError| Failure::usage(e.to_string());
    let text = read_text(path).map_err(failure)?;
    let file = UsersFile::parse(&text, path).map_err(failure)?;
    Ok((file, Watch::new(path.to_path_buf(), &text)))
}

/// The admin socket's path, checked (and for the default path, its private
/// directory made) before anything starts.
fn admin_path(arg: Option<&Option<PathBuf>>) -> Result<Option<PathBuf>, Failure> {
    let path = match arg {
        None => return Ok(None),
        Some(Some(path)) => {
            let dir = admin::path::parent(path);
            if admin::path::others_can_write(&dir) {
                tracing::warn!(
                    "the admin socket's directory {} is writable by other users: while no server \
                     runs, one of them could take {} (faxnotify notify refuses a socket another \
                     user serves); `--admin-socket` without a path uses a private directory",
                    dir.display(),
                    path.display()
                );
            }
            path.clone()
        }
        Some(None) => {
            let path = admin::path::default_path().map_err(Failure::usage)?;
            admin::path::ensure_private_dir(&admin::path::parent(&path)).map_err(Failure::usage)?;
            path
        }
    };
    admin::path::validate(&path).map_err(Failure::usage)?;
    Ok(Some(path))
}

/// The runtime to run on: tokio in cluster mode (refusing another one
/// asked for), smol by default.
fn runtime_of(args: &Args) -> Result<RuntimeKind, Failure> {
    match (&args.cluster, args.runtime) {
        (None, kind) => Ok(kind.unwrap_or_default()),
        (Some(_), None | Some(RuntimeKind::Tokio)) => Ok(RuntimeKind::Tokio),
        (Some(_), Some(other)) => Err(Failure::usage(format!(
            "cluster mode runs on the tokio runtime, not {other}: use --runtime tokio (or leave \
             --runtime out)"
        ))),
    }
}

/// Cluster mode's bus settings and secret, checked before anything starts.
fn cluster_of(args: &Args) -> Result<Option<ClusterSettings>, Failure> {
    let (Some(urls), Some(secret)) = (&args.cluster, &args.cluster_secret) else {
        return Ok(None);
    };
    let mut config = BusConfig::new(urls.iter().map(|u| u.trim().to_owned()).collect());
    config.replicas = args.cluster_replicas;
    // A detached session's position ages unread until it is resumed (its
    // record outlives it by lease + grace): the log must keep it longer.
    let resumable = args.lease + args.detached_grace;
    if args.cluster_log_max_age < resumable * 2 {
        return Err(Failure::usage(format!(
            "--cluster-log-max-age {}: a session may be resumed up to {} after its client went \
             away (--lease plus --detached-grace); the log must keep notifications at least \
             twice that",
            humantime_secs(args.cluster_log_max_age),
            humantime_secs(resumable)
        )));
    }
    config.log_max_age = args.cluster_log_max_age;
    // A publish retry is recognised within the window, which JetStream
    // wants no longer than the age limit.
    config.duplicate_window = config.duplicate_window.min(config.log_max_age);
    config
        .validate()
        .map_err(|e| Failure::usage(format!("--cluster: {e}")))?;
    let timings = NodeTimings::with_owner_lease(args.cluster_owner_lease)
        .map_err(|e| Failure::usage(format!("--cluster-owner-lease: {e}")))?;
    let secret = ClusterSecret::read_file(secret)
        .map_err(|e| Failure::usage(format!("--cluster-secret: {e}")))?;
    Ok(Some(ClusterSettings {
        bus: config,
        secret,
        timings,
    }))
}

/// `90s`, `1.5s`: a duration as a person writes it.
fn humantime_secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Runs `faxnotify server`.
pub fn run(args: Args) -> CmdResult {
    let runtime = runtime_of(&args)?;
    let cluster = cluster_of(&args)?;
    let admin_path = admin_path(args.admin_socket.as_ref())?;
    let (file, watch) = load_users(&args.users)?;
    if let Some(mode) = too_open(&args.users) {
        tracing::warn!(
            "the users file {} has mode {mode:03o}: others can read the credentials; run `chmod 600 {}`",
            args.users.display(),
            args.users.display()
        );
    }
    if file.is_empty() {
        tracing::warn!(
            "the users file {} has no users: add one with `faxnotify user add --users {} NAME`",
            args.users.display(),
            args.users.display()
        );
    }
    let mut config = config(&args, file.secret())?;
    crate::descriptors::fit_to_descriptor_limit(&mut config);
    let tls_files = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let (files, identity) =
                TlsFiles::load(cert.clone(), key.clone()).map_err(Failure::usage)?;
            if let Some(mode) = too_open(key) {
                tracing::warn!(
                    "the TLS key {} has mode {mode:03o}: others can read it; run `chmod 600 {}`",
                    key.display(),
                    key.display()
                );
            }
            config.tls = Some(identity);
            Some(files)
        }
        _ => {
            if !args.listen.ip().is_loopback() {
                tracing::warn!(
                    "no --tls-cert: connections are plain TCP, not encrypted; anyone on the network \
                     path can read the notifications (`faxnotify tls self-signed` makes a certificate)"
                );
            }
            None
        }
    };
    // Bound before the server starts, so that a taken path stops nothing
    // that is already running.
    let mut admin = match &admin_path {
        Some(path) => Some(AdminSocket::bind(path).map_err(Failure::usage)?),
        None => None,
    };
    let metrics_endpoint = args.metrics.map(metrics::Endpoint::bind).transpose()?;
    let users = SharedUsers::new(file.into_users());
    let recorder = if cluster.is_some() {
        Recorder::for_cluster()
    } else {
        Recorder::default()
    };
    let mut cluster_control = None;
    let started = match cluster {
        None => runtime::start_server(runtime, args.listen, config, users.clone()),
        Some(cluster) => {
            let tracker = admin.as_ref().map(|a| a.cluster_tracker().clone());
            let counted = recorder.clone();
            let sink: runtime::cluster::ReportSink = Arc::new(move |report| {
                counted.reported(&report);
                if let Some(tracker) = &tracker {
                    tracker.report(&report);
                }
            });
            runtime::cluster::start(args.listen, config, users.clone(), cluster, sink).map(
                |(server, control)| {
                    cluster_control = Some(metrics::metered_cluster(control, recorder.clone()));
                    server
                },
            )
        }
    };
    let server = started.map_err(|e| match e {
        ServerStartError::AddrInUse(addr) => Failure::new(
            Exit::PortConflict,
            format!("cannot listen on {addr}: the address is in use (is another server running?)"),
        ),
        ServerStartError::Other(message) => Failure::runtime(message),
    })?;
    tracing::info!(
        "listening on {} ({} runtime, {} user{}, lease {:?}, {}){}",
        server.local_addr(),
        runtime,
        users.len(),
        if users.len() == 1 { "" } else { "s" },
        args.lease,
        match &tls_files {
            Some(files) => format!("TLS with {}", files.cert().display()),
            None => "plain TCP".to_owned(),
        },
        if cluster_control.is_some() {
            ", cluster mode"
        } else {
            ""
        }
    );
    let control = server.control();
    if let Some(socket) = &mut admin {
        if let Some(cluster) = &cluster_control {
            socket.set_cluster(Arc::clone(cluster));
        }
        let ops = metrics::metered(Arc::clone(&control), recorder.clone());
        if let Err(message) = socket.serve(ops, users.clone()) {
            control.begin_shutdown();
            let _ = server.join();
            return Err(Failure::runtime(message));
        }
        tracing::info!("admin socket at {}", socket.path().display());
    }
    if let Some(Err(failure)) = metrics_endpoint.map(|m| {
        m.serve(
            recorder.clone(),
            Arc::clone(&control),
            cluster_control.clone(),
        )
    }) {
        control.begin_shutdown();
        let _ = server.join();
        return Err(failure);
    }
    let tracker = admin.as_ref().map(|a| a.tracker().clone());

    let clustered = cluster_control.is_some();
    let presses = Arc::new(AtomicUsize::new(0));
    let on_signal = Arc::clone(&control);
    ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) == 0 {
            if clustered {
                tracing::info!(
                    "shutting down: every session goes back to the cluster, its client resumes on \
                     another server (Ctrl-C again to exit at once)"
                );
            } else {
                tracing::info!(
                    "shutting down: ending every session (Ctrl-C again to exit at once)"
                );
            }
            crate::systemd::stopping();
            on_signal.begin_shutdown();
        } else {
            std::process::exit(130);
        }
    })
    .map_err(|e| Failure::runtime(format!("cannot handle Ctrl-C: {e}")))?;
    // Only now does Ctrl-C shut down gracefully: say so (tests and
    // scripts wait for this line before they signal).
    tracing::info!("ready: serving until Ctrl-C or SIGTERM");
    crate::systemd::ready();

    // The reloads read files: on their own thread, never on this one, which
    // must keep draining the runtime's events.
    let tls_reload = tls_files.map(|files| (files, Arc::clone(&control)));
    let reloader = Reloader::start(watch, users.clone(), tls_reload, RELOAD_CHECK)
        .map_err(|e| Failure::runtime(format!("cannot start the reload thread: {e}")))?;
    // Nothing on this thread may block: while it does not drain the
    // runtime's events, the runtime stops reading the network. Logging
    // goes through a queue (log_writer) and repeated warnings are counted.
    let mut log = EventLog::new(Instant::now(), event_log::INTERVAL);
    loop {
        match server.next_event(RELOAD_CHECK) {
            Polled::Event(event) => {
                // Counted before the tracker reports a delivery, so that a
                // scrape after `notify --wait` returns sees it.
                recorder.observe(&event);
                if let Some(tracker) = &tracker {
                    tracker.observe(&event);
                }
                log.event(&event, Instant::now());
            }
            Polled::Idle => log.tick(Instant::now()),
            Polled::Ended => break,
        }
    }
    log.finish();
    drop(reloader);
    if let Some(admin) = admin {
        admin.close();
    }
    server
        .join()
        .map_err(|e| Failure::runtime(format!("the server failed: {e}")))?;
    tracing::info!("server stopped");
    Ok(Exit::Ok)
}
