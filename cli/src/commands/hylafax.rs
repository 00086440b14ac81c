//! `faxnotify hylafax`: the HylaFAX bridge. It subscribes to hfaxd's event
//! stream (`SITE TRIGGER`), lists HylaFAX's queues for owners and outcomes
//! (and its receive queue for faxes deleted from it),
//! and queues notifications on a running `faxnotify server` through its
//! admin socket. The decisions are in the sans-IO `faxnotify-hylafax`
//! crate; this module does the I/O, the reconnects and the retries.

use std::collections::VecDeque;
use std::io::{self, Read as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use faxnotify_core::wire::{Notification, NotificationKind};
use faxnotify_hylafax::queue::JOB_FORMAT;
use faxnotify_hylafax::received::RECV_FORMAT;
use faxnotify_hylafax::{Bridge, Config, Output, Recipients};
use faxnotify_textfile::{read_bounded, utf8_text};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::admin::client::{call, error_of};
use crate::admin::protocol::{EnumValue, NotificationSpec, Request, To, now_ms};
use crate::failure::{CmdResult, Failure};
use crate::hfaxd::{Control, HfaxdError};

/// The trigger the bridge subscribes to: every job, send, receive and modem event.
const TRIGGER: &str = "J*S*R*M*";
/// Backoff between reconnects to hfaxd: from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a blocked read wakes up to retry undelivered notifications.
const TICK: Duration = Duration::from_millis(500);
/// Notifications held while the faxnotify server cannot be reached.
const MAX_OUTBOX: usize = 10_000;
/// The longest configuration file read.
const MAX_CONFIG: u64 = 1024 * 1024;
/// How often the configuration file is checked for an edit.
const CONFIG_CHECK: Duration = Duration::from_secs(1);

/// `faxnotify hylafax`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
The configuration file (TOML):
  hfaxd = \"127.0.0.1:4559\"          # hfaxd's client-server protocol
  user = \"faxnotify\"                # hfaxd login (allow it in hosts.hfaxd)
  admin_socket = \"/run/faxnotify/admin.sock\"
  unrouted = [\"frontdesk\"]          # who gets faxes no route matches
  [route]                           # called number (DID) or sub-address -> users
  \"5550001\" = [\"alice\", \"bob\"]
  [owners]                          # HylaFAX job owner -> faxnotify user
  root = \"alice\"

The routes, `unrouted` and `owners` of an edited file take effect within a \
second (a file that does not load keeps the old ones, with a warning); hfaxd, \
user and admin_socket when the bridge restarts.

Received faxes go to the routed users as FAX_RECEIVED (and as FAX_UPDATED \
\"deleted\" once they leave HylaFAX's receive queue), send jobs to their owner \
as JOB_STATUS, modem states to everyone as DEVICE_STATUS. The bridge reconnects \
to hfaxd with backoff and, after every reconnect, reports the outcome of jobs \
that finished meanwhile (from hfaxd's queue listing).")]
pub struct Args {
    /// The bridge's configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The faxnotify server's admin socket (default: the file's admin_socket,
    /// else the server's default path, as for `faxnotify notify`).
    #[arg(long, visible_alias = "admin", value_name = "PATH")]
    admin_socket: Option<PathBuf>,
}

/// Runs `faxnotify hylafax` until it is killed.
pub fn run(args: Args) -> CmdResult {
    let text = read_config(&args.config)?;
    let config = parse_config(&args.config, &text)?;
    let mut watch = ConfigWatch::new(args.config.clone(), &config, &text);
    // Like `faxnotify notify`: the flag, the file's admin_socket, else the
    // server's default path (a private directory of the server's user).
    let admin = match args
        .admin_socket
        .or_else(|| config.admin_socket.clone().map(PathBuf::from))
    {
        Some(path) => path,
        None => crate::admin::path::default_path().map_err(Failure::usage)?,
    };
    let mut bridge = Bridge::new(config.routing.clone());
    let mut outbox = Outbox::new(admin);
    let mut backoff = BACKOFF_FIRST;
    loop {
        match serve(&config, &mut bridge, &mut outbox, &mut watch) {
            Ok(Served::Streamed) => {
                tracing::warn!("hfaxd closed its event stream; reconnecting");
                backoff = BACKOFF_FIRST;
            }
            Ok(Served::NotConnected(e)) => {
                tracing::warn!(
                    "cannot subscribe to hfaxd's events: {e}; again in {:.1} s",
                    backoff.as_secs_f64()
                )
            }
            Err(e) => tracing::warn!("hfaxd's event stream ended: {e}; reconnecting"),
        }
        bridge.handle_disconnected();
        let deadline = Instant::now() + backoff;
        while Instant::now() < deadline {
            outbox.flush();
            watch.check(&mut bridge);
            std::thread::sleep(TICK.min(deadline.saturating_duration_since(Instant::now())));
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Reads the configuration file: a regular file of at most [`MAX_CONFIG`]
/// bytes (a FIFO in its place must not hang the command), in UTF-8.
fn read_config(path: &Path) -> Result<String, Failure> {
    let bytes = read_bounded(path, MAX_CONFIG)
        .map_err(|e| Failure::usage(e.describe("configuration file", path)))?;
    utf8_text(bytes).map_err(|e| {
        Failure::usage(format!(
            "cannot read the configuration file {}: {e}",
            path.display()
        ))
    })
}

/// The configuration in `text`, read from `path` (named in errors).
fn parse_config(path: &Path, text: &str) -> Result<Config, Failure> {
    Config::from_toml(text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// The configuration file, checked for edits while the bridge runs: an
/// operator who adds a route expects the next fax to follow it, not to be
/// told nothing while faxes keep going to the `unrouted` group until
/// someone restarts the bridge. A change is a change of the contents (a
/// SHA-256), as for the server's users file.
struct ConfigWatch {
    path: PathBuf,
    /// What the bridge connected with: hfaxd, user and admin_socket apply
    /// to connections already made, so they change only with a restart.
    started: Config,
    /// The hash of the contents last seen, or why the file could not be
    /// used (so that a broken file is reported once, not every second).
    last: Result<[u8; 32], String>,
    next_check: Instant,
}

impl ConfigWatch {
    fn new(path: PathBuf, started: &Config, text: &str) -> Self {
        Self {
            path,
            started: started.clone(),
            last: Ok(Sha256::digest(text.as_bytes()).into()),
            next_check: Instant::now() + CONFIG_CHECK,
        }
    }

    /// Reads the file when a check is due and hands an edited routing to
    /// the bridge; a file that does not load keeps the routing in force.
    fn check(&mut self, bridge: &mut Bridge) {
        let now = Instant::now();
        if now < self.next_check {
            return;
        }
        self.next_check = now + CONFIG_CHECK;
        let text = match read_config(&self.path) {
            Ok(text) => text,
            Err(e) => return self.failed(e.message),
        };
        let hash = Sha256::digest(text.as_bytes()).into();
        if self.last == Ok(hash) {
            return;
        }
        let config = match parse_config(&self.path, &text) {
            Ok(config) => config,
            Err(e) => return self.failed(e.message),
        };
        self.last = Ok(hash);
        let routing = &config.routing;
        tracing::info!(
            "configuration {} reloaded: {} route(s), {} unrouted user(s), {} owner(s) mapped",
            self.path.display(),
            routing.route.len(),
            routing.unrouted.len(),
            routing.owners.len()
        );
        let started = &self.started;
        if (&config.hfaxd, &config.user, &config.admin_socket)
            != (&started.hfaxd, &started.user, &started.admin_socket)
        {
            tracing::warn!(
                "configuration {}: hfaxd, user and admin_socket take effect when the bridge \
                 restarts (it keeps using {} as {})",
                self.path.display(),
                started.hfaxd,
                started.user
            );
        }
        bridge.set_routing(config.routing);
    }

    /// Reports a file that cannot be used, once per reason.
    fn failed(&mut self, why: String) {
        if self.last.as_ref().err() != Some(&why) {
            tracing::warn!("configuration not reloaded (keeping the old routes): {why}");
            self.last = Err(why);
        }
    }
}

/// How a connection to hfaxd went.
enum Served {
    /// The stream ran (and then ended cleanly).
    Streamed,
    /// It never started.
    NotConnected(HfaxdError),
}

/// Connects, subscribes and runs the stream until it ends.
fn serve(
    config: &Config,
    bridge: &mut Bridge,
    outbox: &mut Outbox,
    watch: &mut ConfigWatch,
) -> Result<Served, HfaxdError> {
    let (trigger, data) = match subscribe(config) {
        Ok(parts) => parts,
        Err(e) => return Ok(Served::NotConnected(e)),
    };
    tracing::info!(
        "subscribed to hfaxd's events at {} (SITE TRIGGER {TRIGGER})",
        trigger.addr()
    );
    bridge.handle_connected();
    drain(config, bridge, outbox)?;
    let mut data = data;
    data.set_read_timeout(Some(TICK))
        .map_err(|e| io_error(config, e))?;
    let mut buf = [0u8; 8192];
    loop {
        watch.check(bridge);
        match data.read(&mut buf) {
            Ok(0) => return Ok(Served::Streamed),
            Ok(n) => {
                // What HylaFAX said, for a diagnosis (RUST_LOG=debug).
                tracing::debug!(
                    "hfaxd's event stream: {}",
                    String::from_utf8_lossy(&buf[..n]).escape_debug()
                );
                bridge.handle_stream(now_ms(), &buf[..n]);
                bridge.handle_timeout(now_ms());
                drain(config, bridge, outbox)?;
            }
            Err(e) if is_quiet(&e) => {
                // A quiet stream: the receive queue listing may be due.
                bridge.handle_timeout(now_ms());
                drain(config, bridge, outbox)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(config, e)),
        }
    }
}

/// Whether a read of the event stream only found nothing within [`TICK`]:
/// on Unix the read timeout says `WouldBlock` (EAGAIN), and `TimedOut` is
/// TCP keepalive's verdict on a host that vanished, an error to reconnect
/// on (see `hfaxd::keep_alive`); elsewhere the read timeout may say
/// `TimedOut`.
fn is_quiet(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || (cfg!(not(unix)) && e.kind() == io::ErrorKind::TimedOut)
}

fn io_error(config: &Config, source: io::Error) -> HfaxdError {
    HfaxdError::Io {
        addr: config.hfaxd.clone(),
        source,
    }
}

/// The trigger's control connection and its data stream.
fn subscribe(config: &Config) -> Result<(Control, TcpStream), HfaxdError> {
    let mut trigger = Control::connect(&config.hfaxd, &config.user)?;
    let data = trigger.open_data(&format!("SITE TRIGGER {TRIGGER}"))?;
    Ok((trigger, data))
}

/// Lists the queues on a connection of its own. hfaxd keeps each job it
/// has read for the rest of a connection and reads it again only when the
/// queue file's mtime is newer *in whole seconds*: on a reused connection a
/// listing made in the second faxq rewrites a job would keep showing the
/// old job (e.g. no page total after preparation) until the next write.
fn list_queues(config: &Config) -> Result<Vec<u8>, HfaxdError> {
    Control::connect(&config.hfaxd, &config.user)?.list_queues(JOB_FORMAT)
}

/// Lists the receive queue, on a connection of its own too.
fn list_received(config: &Config) -> Result<Vec<u8>, HfaxdError> {
    Control::connect(&config.hfaxd, &config.user)?.list_received(RECV_FORMAT)
}

/// Carries out what the bridge asks for.
fn drain(config: &Config, bridge: &mut Bridge, outbox: &mut Outbox) -> Result<(), HfaxdError> {
    while let Some(output) = bridge.poll_output() {
        match output {
            Output::ListQueues => {
                tracing::debug!("listing hfaxd's queues");
                match list_queues(config) {
                    Ok(listing) => {
                        tracing::debug!(
                            "hfaxd's queue listing: {}",
                            String::from_utf8_lossy(&listing).escape_debug()
                        );
                        bridge.handle_listing(now_ms(), &listing)
                    }
                    Err(e) => {
                        bridge.handle_listing_failed();
                        return Err(e);
                    }
                }
            }
            // A failed receive queue listing is only asked for again later:
            // the stream it does not belong to stays up.
            Output::ListReceived => match list_received(config) {
                Ok(listing) => bridge.handle_received_listing(&listing),
                Err(e) => {
                    tracing::warn!("cannot list hfaxd's receive queue: {e}");
                    bridge.handle_received_listing_failed();
                }
            },
            Output::Notify { to, notification } => outbox.push(to, notification),
            Output::Warning(text) => tracing::warn!("{text}"),
            _ => {}
        }
    }
    outbox.flush();
    Ok(())
}

/// Notifications on their way to the server, in order, kept while the
/// server cannot be reached (it restarts independently of the bridge).
struct Outbox {
    admin: PathBuf,
    queue: VecDeque<(Recipients, Notification)>,
    /// Whether the last attempt failed (logged once per outage).
    failing: bool,
}

impl Outbox {
    fn new(admin: PathBuf) -> Outbox {
        Outbox {
            admin,
            queue: VecDeque::new(),
            failing: false,
        }
    }

    fn push(&mut self, to: Recipients, notification: Notification) {
        if self.queue.len() >= MAX_OUTBOX
            && let Some((_, dropped)) = self.queue.pop_front()
        {
            tracing::warn!(
                "more than {MAX_OUTBOX} notifications wait for the server; dropped: {dropped}"
            );
        }
        self.queue.push_back((to, notification));
    }

    /// Delivers what it can, in order; stops at the first that cannot reach the server.
    fn flush(&mut self) {
        while let Some((to, notification)) = self.queue.front() {
            match deliver(&self.admin, to, notification) {
                Ok(()) => {
                    if self.failing {
                        tracing::info!("the faxnotify server is reachable again");
                        self.failing = false;
                    }
                    self.queue.pop_front();
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(
                            "cannot reach the faxnotify server ({e}); {} notification(s) wait",
                            self.queue.len()
                        );
                        self.failing = true;
                    }
                    return;
                }
            }
        }
    }
}

/// Queues one notification for its recipients through the admin socket.
/// `Err` only when the server cannot be reached (then it is tried again);
/// a refusal (unknown user, nobody logged in) is logged and done.
///
/// This is the bridge's only use of the admin socket.
fn deliver(admin: &Path, to: &Recipients, notification: &Notification) -> Result<(), Failure> {
    let targets: Vec<To> = match to {
        Recipients::All => vec![To::All],
        Recipients::Users(users) => users.iter().cloned().map(To::User).collect(),
    };
    let Some(spec) = spec_of(notification) else {
        return Ok(());
    };
    for target in targets {
        let reply = call(
            admin,
            &Request::Notify {
                to: target.clone(),
                notification: spec.clone(),
            },
        )?;
        let whom = match &target {
            To::User(user) => user.clone(),
            To::All => "everyone".to_owned(),
            To::Session(s) => format!("session {s}"),
        };
        if let Some((_, message)) = error_of(&reply) {
            tracing::warn!("not queued for {whom}: {message} ({notification})");
            continue;
        }
        // Fax numbers and names are the users' data: the contents only at
        // DEBUG, since an INFO log is kept and shipped widely.
        let kind = NotificationKind::from_wire(notification.kind()).map_or("unknown", |k| k.name());
        tracing::debug!("to {whom}: {notification}");
        let count = |key: &str| reply.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        let (accepted, refused) = (count("accepted"), count("refused"));
        if accepted == 0 && refused == 0 {
            tracing::info!("{whom} has no session: {kind} not queued");
        } else {
            tracing::info!(
                "{kind} queued for {whom} ({accepted} session(s){})",
                if refused > 0 {
                    format!(", refused by {refused}")
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

/// The admin socket's form of a notification.
fn spec_of(n: &Notification) -> Option<NotificationSpec> {
    Some(match n {
        Notification::FaxReceived(f) => NotificationSpec::FaxReceived {
            job: f.job,
            from: f.from.to_string(),
            to: f.to.to_string(),
            pages: f.pages,
            received_at_ms: Some(f.received_at_ms),
        },
        Notification::JobStatus(j) => NotificationSpec::JobStatus {
            job: j.job,
            state: EnumValue::Number(j.state.to_wire()),
            page: j.page,
            pages: j.pages,
            attempt: j.attempt,
            detail: j.detail.to_string(),
        },
        Notification::DeviceStatus(d) => NotificationSpec::DeviceStatus {
            device: d.device.to_string(),
            state: EnumValue::Number(d.state.to_wire()),
            detail: d.detail.to_string(),
        },
        Notification::FaxUpdated(f) => NotificationSpec::FaxUpdated {
            job: f.job,
            change: EnumValue::Number(f.change.to_wire()),
            by: f.by.to_string(),
            comment: f.comment.to_string(),
        },
        Notification::ServerMessage(m) => NotificationSpec::ServerMessage {
            text: m.text.to_string(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use faxnotify_core::wire::{DeviceState, DeviceStatus, JobState, JobStatus};

    use super::*;

    /// A read timeout on a quiet stream goes on; keepalive's verdict on a
    /// vanished host (ETIMEDOUT) ends the stream, to reconnect.
    #[cfg(unix)]
    #[test]
    fn only_a_read_timeout_is_a_quiet_stream() {
        assert!(is_quiet(&io::Error::from(io::ErrorKind::WouldBlock)));
        assert!(!is_quiet(&io::Error::from_raw_os_error(libc::ETIMEDOUT)));
        assert!(!is_quiet(&io::Error::from(io::ErrorKind::ConnectionReset)));
    }

    #[test]
    fn the_admin_form_gives_back_the_same_notification() {
        for n in [
            Notification::JobStatus(JobStatus {
                job: 7,
                state: JobState::Failed,
                page: 1,
                pages: 2,
                attempt: 3,
                detail: "No carrier detected".into(),
            }),
            Notification::DeviceStatus(DeviceStatus {
                device: "ttyIAX0".into(),
                state: DeviceState::Busy,
                detail: "Marked busy".into(),
            }),
        ] {
            let spec = spec_of(&n).unwrap();
            assert_eq!(spec.to_notification().unwrap(), n);
        }
    }
}
