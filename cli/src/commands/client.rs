//! `faxnotify client`: a fax client that prints notifications as they
//! arrive.
//!
//! It reads the machine-wide settings once at start (the listen policy of
//! its callback port), logs in, prints each notification as a readable line
//! (or, with `--json`, one JSON object per line under the stdout contract of
//! docs/conformance.md), prints callback status changes with what to do
//! about them, reconnects and resumes by itself, and logs out on Ctrl-C.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use faxnotify_core::client::{
    BindError, CallbackClosure, ClientConfig, ConnectError, ConnectionKind, DisconnectReason,
    Event, ListenPolicy, Peer, ProtocolError, StopReason, TlsSettings, TlsTrust, check_server_name,
};
use faxnotify_core::wire::{CallbackState, DecodeError};
use faxnotify_settings::{SettingsFile, SettingsFileError};
use faxnotify_textfile::IoReason;
use serde_json::{Value, json};

use crate::escape::{escape, escape_short, json_line, terminal_line};
use crate::failure::{CmdResult, Exit, Failure};
use crate::password::{self, PASSWORD_ENV};
use crate::render::notification_json;
use crate::runtime::{self, ClientStartError, Polled, RuntimeKind};
use crate::server_list::ServerList;
use crate::strangers::{Report, Strangers};

/// How much of an unauthenticated peer's ERROR text is shown.
const STRANGER_TEXT: usize = 80;

/// `faxnotify client`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
The password comes from --password-file, else the FAXNOTIFY_PASSWORD environment \
variable, else a prompt on the terminal; never from the command line.

Settings (the callback port's listen policy) are read once at start from \
--settings, else /etc/faxnotify/client.toml if it exists, else `dynamic`; change \
them with `faxnotify settings set` and restart the client.

Exit status: 0 after Ctrl-C (logged out, or stopped before logging in), 3 when the login is refused, 4 when \
the callback port is taken, 9 when the server's TLS certificate cannot be trusted \
(not the pinned one, unknown authority, another name, expired) or the server does \
not speak TLS, 2 for bad arguments or settings, 1 otherwise.")]
pub struct Args {
    /// The fax server, host:port (default: the settings file's `server` or
    /// `servers`). Repeat it to list the servers of a cluster: the client
    /// moves to the next one when it loses its server or cannot reach it,
    /// and resumes its session there. A name with several addresses gives
    /// all of them.
    #[arg(long, value_name = "ADDR")]
    server: Vec<String>,
    /// The user name.
    #[arg(long, value_name = "USER")]
    user: String,
    /// A file holding the password (one trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// The machine-wide client settings file.
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// Override the settings file's listen policy: dynamic, range:LO-HI,
    /// fixed:PORT or none (no callback port: notifications over the control
    /// connection, if the server offers it).
    #[arg(long, value_name = "POLICY", value_parser = parse_policy)]
    listen: Option<ListenPolicy>,
    /// Override the settings file's TLS trust: system, ca:FILE,
    /// pin:sha256:AB:CD:... or off.
    #[arg(long, value_name = "TRUST", value_parser = parse_trust)]
    trust: Option<TlsTrust>,
    /// Override the name the server's certificate must carry ("": the
    /// server's host, whatever the settings file says, as with `settings set`).
    #[arg(long, value_name = "NAME", value_parser = parse_server_name)]
    tls_server_name: Option<String>,
    /// Print one JSON object per line: every delivered notification as
    /// {"event":"notification","seq":..,"kind":..,"payload":..,"malformed":..,"fields":..},
    /// and the other events with their own "event" names.
    #[arg(long)]
    json: bool,
    /// The runtime to run on.
    #[arg(long, value_enum, default_value_t)]
    runtime: RuntimeKind,
}

fn parse_policy(text: &str) -> Result<ListenPolicy, String> {
    text.parse::<ListenPolicy>().map_err(|e| e.to_string())
}

fn parse_trust(text: &str) -> Result<TlsTrust, String> {
    text.parse::<TlsTrust>().map_err(|e| e.to_string())
}

fn parse_server_name(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    check_server_name(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.to_string())
}

/// Loads the settings: the given file (which must exist), else the default
/// file if it exists, else the defaults.
pub fn load_settings(path: Option<&Path>) -> Result<(SettingsFile, Option<PathBuf>), Failure> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (SettingsFile::default_path(), false),
    };
    match SettingsFile::load(&path) {
        Ok(file) => Ok((file, Some(path))),
        Err(SettingsFileError::Io { source, .. })
            if !required && source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok((SettingsFile::default(), None))
        }
        Err(SettingsFileError::Io { path, source })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Err(Failure::usage(format!(
                "the settings file {} does not exist: create it with `faxnotify settings set --settings {} ...`",
                path.display(),
                path.display()
            )))
        }
        Err(SettingsFileError::Io { path, source }) => Err(Failure::usage(format!(
            "cannot read the settings file {}: {}",
            path.display(),
            IoReason(&source)
        ))),
        Err(e) => Err(Failure::usage(e.to_string())),
    }
}

/// The exit status for a client that stopped for good.
pub fn stop_exit(reason: &StopReason) -> Exit {
    match reason {
        StopReason::AuthFailed { .. }
        | StopReason::AuthFailedOverTls { .. }
        | StopReason::ServerSignatureInvalid
        | StopReason::IterationsOutOfBounds { .. } => Exit::Auth,
        StopReason::FixedPortInUse { .. } | StopReason::RangeExhausted { .. } => Exit::PortConflict,
        StopReason::ListenFailed {
            error: BindError::AddrInUse,
            ..
        } => Exit::PortConflict,
        StopReason::Tls(_) => Exit::Tls,
        _ => Exit::Runtime,
    }
}

/// Prints lines for the user, readable or JSON, and keeps the tally of
/// unauthenticated peers.
struct Printer {
    json: bool,
    strangers: Strangers,
    /// The servers as the user named them, for messages about reaching them.
    servers: ServerList,
    /// Whether a login ever succeeded (a Ctrl-C before it logs nothing out).
    logged_in: bool,
    /// The text of the server's last ERROR on the control connection, for
    /// the line that says what the client does about it.
    control_error: Option<String>,
    /// TLS is off (`trust = "off"`): a login that times out may be a TLS
    /// server waiting, in silence, for a TLS handshake.
    plain: bool,
    /// Where the callback listener listens, and where the server said it
    /// will call back: for the hint when the two addresses differ.
    listener: Option<SocketAddr>,
    callback: Option<SocketAddr>,
}

impl Printer {
    /// Prints one line. Every peer-supplied field is escaped where the line
    /// is built; this last pass catches anything that was not, so no control
    /// character from the network reaches the terminal in either mode.
    fn line(&self, json: Value, text: impl FnOnce() -> String) {
        let mut out = std::io::stdout().lock();
        let line = if self.json {
            json_line(&json)
        } else {
            terminal_line(&text())
        };
        // A closed stdout (e.g. `| head`) must not stop the client.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// The connection's name in a sentence.
fn connection_name(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Control => "control",
        _ => "callback",
    }
}

impl Printer {
    /// Counts an unauthenticated peer's doing, printing what is due.
    fn stranger(&mut self, ip: std::net::IpAddr, what: String) {
        // A dual-stack listener sees IPv4 peers as IPv4-mapped addresses.
        let ip = ip.to_canonical();
        if let Some(report) = self.strangers.record(Instant::now(), ip, what) {
            self.report(&report);
        }
    }

    /// Prints the summaries whose period has ended.
    fn strangers_due(&mut self) {
        for report in self.strangers.due(Instant::now()) {
            self.report(&report);
        }
    }

    fn report(&self, report: &Report) {
        self.line(report.json(), || report.text());
    }
}

/// What the event means for the loop.
enum Next {
    Continue,
    Exit(Exit, Option<String>),
}

fn show(p: &mut Printer, event: Event) -> Next {
    match event {
        Event::Listening { local, policy } => {
            p.listener = Some(local);
            p.line(
                json!({"event": "listening", "addr": local.to_string(), "policy": policy.to_string()}),
                || format!("callback listener on {local} ({policy})"),
            )
        }
        Event::LoggedIn {
            session,
            role,
            resumed,
            lease,
            callback,
            server_name,
            server,
            ..
        } => {
            p.logged_in = true;
            p.callback = Some(callback);
            let at = p.servers.describe(server);
            p.line(
                json!({"event": "logged_in", "session": session.to_string(), "role": role.name(),
                "resumed": resumed, "lease_ms": lease.as_millis() as u64,
                "callback": callback.to_string(), "server_name": server_name,
                "server": server.to_string()}),
                || {
                    let how = if resumed { "resumed" } else { "new" };
                    format!(
                        "logged in to {server_name:?} at {at} ({how} session {session}, {role}); \
                     the server will call back {callback}"
                    )
                },
            )
        }
        Event::CallbackStatus {
            state,
            detail,
            hint,
        } => {
            // The likelier cause first: no firewall opens a port on an
            // address the server does not dial.
            let elsewhere = match state {
                CallbackState::Reachable => None,
                _ => elsewhere_hint(p.listener, p.callback),
            };
            let hints: Vec<String> = elsewhere.into_iter().chain(hint).collect();
            show_status(p, state, detail, hints);
        }
        Event::Notification { seq, notification } => p
            .line(notification_json(seq, &notification), || {
                format!("#{seq} {notification}")
            }),
        Event::NotificationsMayHaveBeenMissed {
            session,
            last_delivered_seq,
        } => p.line(
            json!({"event": "may_have_missed", "session": session.to_string(),
                "last_delivered_seq": last_delivered_seq}),
            || {
                format!(
                    "session {session} ended after #{last_delivered_seq}: notifications may \
                     have been missed; re-read the fax list"
                )
            },
        ),
        Event::SessionEnded { session, reason } => p.line(
            json!({"event": "session_ended", "session": session.to_string(),
                "reason": reason.name(), "detail": reason.to_string()}),
            || format!("session {session} ended: {reason}"),
        ),
        Event::ConnectionLost {
            reason,
            attempt,
            retry_in,
            server,
            next_server,
        } => {
            let said = p.control_error.take();
            let lost = p.servers.describe(server);
            // Said only when the client moves on to another server.
            let next = (next_server != server).then(|| p.servers.describe(next_server));
            let mut text = lost_text(&lost, next.as_deref(), reason, said, attempt, retry_in);
            if p.plain && matches!(reason, DisconnectReason::HandshakeTimeout) {
                text.push_str(PLAIN_TIMEOUT_HINT);
            }
            p.line(
                json!({"event": "connection_lost", "reason": reason.name(),
                    "detail": reason.to_string(), "server": server.to_string(),
                    "next_server": next_server.to_string(),
                    "attempt": attempt, "retry_in_ms": retry_in.as_millis() as u64}),
                || text,
            )
        }
        // A dead callback is worth a line: deliveries now wait for the
        // server's redial [D-4]. Routine closes (the server's own, its BYE
        // after a resume, a newer callback) are not.
        Event::CallbackClosed {
            peer,
            reason: reason @ CallbackClosure::Silent { .. },
            ..
        } => p.line(
            json!({"event": "callback_closed", "peer": peer.to_string(),
                "reason": reason.name(), "detail": reason.to_string()}),
            || format!("closed the callback from {peer}: {reason}; the server will dial again to deliver"),
        ),
        // Anyone who can reach the callback port: counted, never shown as the server.
        Event::CallbackRejected { peer, reason, .. } => p.stranger(peer.ip(), reason.to_string()),
        Event::ProtocolError {
            peer: Peer::Unauthenticated { addr },
            connection: ConnectionKind::Callback,
            error,
            ..
        } => p.stranger(
            addr.ip(),
            format!("broke the protocol: {}", escape(&error.to_string())),
        ),
        Event::ErrorReceived {
            peer: Peer::Unauthenticated { addr },
            connection: ConnectionKind::Callback,
            code,
            message,
            ..
        } => p.stranger(
            addr.ip(),
            format!(
                "sent ERROR {code}: \"{}\"",
                escape_short(&message, STRANGER_TEXT)
            ),
        ),
        Event::ProtocolError {
            connection,
            peer,
            error,
            ..
        } => {
            let hint = not_fnp_hint(&error);
            p.line(
                json!({"event": "protocol_error", "connection": connection_name(connection),
                    "peer": peer.addr().to_string(), "authenticated": peer.is_authenticated(),
                    "code": error.code().name(), "message": error.to_string(), "hint": hint}),
                || {
                    let text = format!(
                        "protocol error on the {} connection with {}: {}",
                        connection_name(connection),
                        peer_text(peer),
                        escape(&error.to_string())
                    );
                    match &hint {
                        Some(hint) => format!("{text}\n  hint: {hint}"),
                        None => text,
                    }
                },
            )
        }
        // On a terminal, the server's ERROR on the control connection is
        // told once, by the line that says what the client does about it
        // (it stops, or retries).
        Event::ErrorReceived {
            connection: ConnectionKind::Control,
            message,
            ..
        } if !p.json => p.control_error = Some(escape(&message)),
        Event::ErrorReceived {
            connection,
            peer,
            code,
            message,
            ..
        } => p.line(
            json!({"event": "error_received", "connection": connection_name(connection),
                "peer": peer.addr().to_string(), "authenticated": peer.is_authenticated(),
                "code": code.name(), "message": message}),
            || {
                let who = if peer.is_authenticated() {
                    "the server".to_owned()
                } else {
                    peer_text(peer)
                };
                format!(
                    "{who} sent {code} on the {} connection: \"{}\"",
                    connection_name(connection),
                    escape(&message)
                )
            },
        ),
        Event::LoggedOut { .. } if !p.logged_in => {
            // Ctrl-C before any login: there was nothing to log out of.
            p.line(
                json!({"event": "stopped", "reason": "interrupted before logging in"}),
                || "stopped before logging in".to_owned(),
            );
            return Next::Exit(Exit::Ok, None);
        }
        Event::LoggedOut { confirmed } => {
            p.line(
                json!({"event": "logged_out", "confirmed": confirmed}),
                || {
                    if confirmed {
                        "logged out".to_owned()
                    } else {
                        "logged out (the server did not confirm)".to_owned()
                    }
                },
            );
            return Next::Exit(Exit::Ok, None);
        }
        Event::Stopped { reason } => {
            // In text mode the failure's sentence on stderr is the one
            // message; JSON readers get the event too.
            if p.json {
                p.line(
                    json!({"event": "stopped", "reason": reason.to_string()}),
                    String::new,
                );
            }
            return Next::Exit(stop_exit(&reason), Some(reason.to_string()));
        }
        other => tracing::debug!(?other, "client event"),
    }
    Next::Continue
}

/// The line for a CALLBACK_STATUS: the state, the server's detail and the
/// hints, each on a line of its own (in JSON, one string).
fn show_status(p: &Printer, state: CallbackState, detail: String, hints: Vec<String>) {
    let hint = (!hints.is_empty()).then(|| hints.join("; "));
    p.line(
        json!({"event": "status", "state": state.name(), "detail": detail, "hint": hint}),
        || {
            let what = match state {
                CallbackState::Reachable => "callback reachable: notifications arrive on it",
                CallbackState::Backchannel => {
                    "callback unreachable: notifications arrive over the control connection"
                }
                _ => "callback unreachable: notifications wait on the server",
            };
            if hints.is_empty() {
                return what.to_owned();
            }
            let mut text = format!("{what} ({})", escape(&detail));
            for hint in &hints {
                text.push_str("\n  hint: ");
                text.push_str(&escape(hint));
            }
            text
        },
    );
}

/// When the callback listener is bound to one address (`listen_address`)
/// and the server calls back another (the one this host reaches it from),
/// the call cannot arrive unless something forwards it: what to change.
fn elsewhere_hint(listener: Option<SocketAddr>, callback: Option<SocketAddr>) -> Option<String> {
    let (listener, callback) = (listener?, callback?);
    if listener.ip().is_unspecified() || listener.ip() == callback.ip() {
        return None;
    }
    Some(format!(
        "the callback listener is bound to {}, but the server calls back {} (the address this \
         host reaches it from): set the listen address to `route` (`faxnotify settings set \
         --listen-address route`) or `any`, unless something forwards the server's calls to {}",
        listener.ip(),
        callback.ip(),
        listener.ip()
    ))
}

/// The line for a lost (or never made) control connection: what failed,
/// the OS's reason and what to check, then when (and, when it moves on to
/// another server, where) the client tries again.
fn lost_text(
    server: &str,
    next: Option<&str>,
    reason: DisconnectReason,
    said: Option<String>,
    attempt: u32,
    retry_in: Duration,
) -> String {
    let whom = next.map(|n| format!(" {n}")).unwrap_or_default();
    let retry = format!(
        "retrying{whom} in {:.1} s (attempt {attempt})",
        retry_in.as_secs_f64()
    );
    match reason {
        DisconnectReason::ConnectFailed { error } => {
            let check = match error {
                ConnectError::Refused => "is the server running? is the address right?",
                ConnectError::Unreachable => "is the host up? check the address and the network",
                ConnectError::TimedOut => {
                    "is the address right? a firewall may be dropping the connection"
                }
                _ => "check the address and the network",
            };
            format!("cannot connect to {server}: {error} ({check}); {retry}")
        }
        DisconnectReason::ErrorReceived { .. } if said.is_some() => format!(
            "connection to {server} lost: {reason} (\"{}\"); {retry}",
            said.unwrap_or_default()
        ),
        other => format!("connection to {server} lost: {other}; {retry}"),
    }
}

/// Said after a login that timed out with TLS off: a TLS server sends
/// nothing until the client starts TLS, so a plain client of one waits for
/// the server's first frame until the handshake times out, again and again.
const PLAIN_TIMEOUT_HINT: &str = "\n  hint: TLS is off on this client (trust \"off\"), and a \
    server with a certificate says nothing until the client starts TLS: if it has one, set the \
    trust (`faxnotify settings set --trust ...`, or --trust)";

/// A hint when the peer's first bytes look like another protocol's: a
/// length prefix that spells "HTTP" is a web server, not an FNP server.
fn not_fnp_hint(error: &ProtocolError) -> Option<String> {
    let ProtocolError::Decode(DecodeError::FrameTooLarge { length, .. }) = error else {
        return None;
    };
    let bytes = length.to_be_bytes();
    // A TLS record (an alert, 0x15, or a handshake, 0x16, of version 3.x):
    // a TLS server answering a client that has TLS off.
    if matches!(bytes, [0x15 | 0x16, 0x03, ..]) {
        return Some(
            "the server answered in TLS: it has a certificate, and TLS is off on this client \
             (trust \"off\"): set the trust (`faxnotify settings set --trust ...`, or --trust)"
                .to_owned(),
        );
    }
    if !bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return None;
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let like = match &text[..] {
        "HTTP" => "HTTP (a web server)".to_owned(),
        "SSH-" => "SSH".to_owned(),
        _ => format!("text ({text:?}...)"),
    };
    Some(format!(
        "is this an FNP server? it answered like {like}; check the address and port"
    ))
}

/// The peer in a sentence, saying whether it proved it is the server.
fn peer_text(peer: Peer) -> String {
    if peer.is_authenticated() {
        format!("the server ({})", peer.addr())
    } else {
        format!("{} (not proven to be the server)", peer.addr())
    }
}

/// The server whose host is the name every server's certificate must
/// carry: the client checks one name whichever server it is on. Servers of
/// different host names need `tls.server_name` (or `--tls-server-name`)
/// when a certificate authority vouches for the name; a pinned certificate
/// is not checked by name.
fn one_certificate_name<'a>(tls: &TlsSettings, given: &[&'a str]) -> Result<&'a str, Failure> {
    let first = given.first().copied().unwrap_or_default();
    let by_name = matches!(tls.trust, TlsTrust::System | TlsTrust::CaFile(_));
    if by_name && tls.server_name.is_none() {
        let name = tls.name_for(first);
        if let Some(other) = given.iter().find(|g| tls.name_for(g) != name) {
            return Err(Failure::usage(format!(
                "servers {first} and {other} have different host names, and TLS checks one name \
                 on every server: set tls.server_name in the settings file (or give \
                 --tls-server-name) to the name every server's certificate carries"
            )));
        }
    }
    Ok(first)
}

fn read_password(args: &Args) -> Result<String, Failure> {
    if let Some(path) = &args.password_file {
        return password::from_file(path);
    }
    if let Ok(pw) = std::env::var(PASSWORD_ENV) {
        return Ok(pw);
    }
    if std::io::stdin().is_terminal() {
        return password::prompt(&format!("Password for {}: ", args.user), false);
    }
    Err(Failure::usage(format!(
        "no password: give --password-file FILE or set {PASSWORD_ENV} (or run on a terminal to be asked)"
    )))
}

/// Runs `faxnotify client`.
pub fn run(args: Args) -> CmdResult {
    let (settings, path) = load_settings(args.settings.as_deref())?;
    if let Some(path) = &path
        && let Some(why) = crate::file_trust::changeable_by_others(path)
    {
        tracing::warn!(
            "the settings file {}: {why}; whoever can change it chooses the server this \
             client logs in to and whether its certificate is checked: make it root's \
             (or yours), not writable by others (`chmod 644`), in a directory only its \
             owner can write",
            path.display()
        );
    }
    let given: Vec<String> = if args.server.is_empty() {
        settings
            .all_servers()
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        args.server.clone()
    };
    if given.is_empty() {
        return Err(Failure::usage(
            "no server: give --server HOST:PORT or set `server` (or `servers`) in the settings file",
        ));
    }
    let servers = ServerList::resolve(&given).map_err(Failure::usage)?;
    let mut network = settings.network;
    if let Some(policy) = args.listen {
        network.listen = policy;
    }
    let mut tls_settings = settings.tls;
    if let Some(trust) = args.trust.clone() {
        tls_settings.trust = trust;
    }
    if let Some(name) = args.tls_server_name.clone() {
        tls_settings.server_name = (!name.is_empty()).then_some(name);
    }
    let tls_name = one_certificate_name(&tls_settings, &servers.given())?;
    let tls = crate::tls::trust::client_tls(&tls_settings, tls_name).map_err(Failure::usage)?;
    let password = read_password(&args)?;
    let addrs = servers.addrs();
    let mut config = ClientConfig::new(addrs[0], args.user.clone(), password, network);
    config.servers = addrs;
    let plain = tls.is_none();
    config.tls = tls;
    let mut printer = Printer {
        json: args.json,
        strangers: Strangers::default(),
        servers,
        logged_in: false,
        control_error: None,
        plain,
        listener: None,
        callback: None,
    };

    let client = runtime::start_client(args.runtime, config).map_err(|e| match e {
        ClientStartError::Listen(reason) => {
            // The same `stopped` event a login failure gives JSON readers.
            if printer.json {
                printer.line(
                    json!({"event": "stopped", "reason": reason.to_string()}),
                    String::new,
                );
            }
            Failure::new(stop_exit(&reason), reason.to_string())
        }
        ClientStartError::Other(message) => Failure::usage(message),
    })?;

    let presses = Arc::new(AtomicUsize::new(0));
    let control = client.control();
    ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Err(e) = control.logout() {
                tracing::debug!("logout: {e}");
            }
        } else {
            std::process::exit(130);
        }
    })
    .map_err(|e| Failure::runtime(format!("cannot handle Ctrl-C: {e}")))?;

    loop {
        let polled = client.next_event(Duration::from_secs(1));
        printer.strangers_due();
        match polled {
            Polled::Event(event) => match show(&mut printer, event) {
                Next::Continue => {}
                Next::Exit(Exit::Ok, _) => return Ok(Exit::Ok),
                Next::Exit(exit, message) => {
                    return Err(Failure::new(
                        exit,
                        message.unwrap_or_else(|| "the client stopped".to_owned()),
                    ));
                }
            },
            Polled::Idle => {}
            Polled::Ended => {
                return Err(Failure::runtime("the client stopped without saying why"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_of_different_names_need_one_certificate_name() {
        let given = ["fax1.example:4580", "fax2.example:4580"];
        let system = TlsSettings::new(TlsTrust::System);
        let err = one_certificate_name(&system, &given).unwrap_err();
        assert!(
            err.message
                .contains("have different host names, and TLS checks one name"),
            "{}",
            err.message
        );
        // A name for all of them, plain TCP, or a pin (not checked by name):
        // no question.
        let mut named = system.clone();
        named.server_name = Some("fax.example".to_owned());
        assert_eq!(one_certificate_name(&named, &given).ok(), Some(given[0]));
        let off = TlsSettings::new(TlsTrust::Off);
        assert_eq!(one_certificate_name(&off, &given).ok(), Some(given[0]));
        let pin: TlsTrust = "pin:sha256:00:01:0A:AB:CD:EF:10:20:30:40:50:60:70:80:90:A0:B0:C0:D0:E0:F0:FF:01:02:03:04:05:06:07:08:09:99"
            .parse()
            .unwrap();
        assert!(one_certificate_name(&TlsSettings::new(pin), &given).is_ok());
        // One name on several ports, or one name's several addresses, is one name.
        let same = ["fax.example:4580", "fax.example:4581"];
        assert!(one_certificate_name(&system, &same).is_ok());
    }
}
