//! What the tester tells the suite: the implementation under test, how to
//! reach or start it, which cases to run, and how long to wait.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use faxnotify_core::tls::ClientTls;

use crate::peer::group::Group;

/// One run of the suite.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunConfig {
    /// The implementation under test.
    pub target: Target,
    /// Which cases run.
    pub selection: Selection,
    /// How long the suite waits for things.
    pub timeouts: Timeouts,
}

impl RunConfig {
    /// Every case of the target's mode, default timeouts.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            selection: Selection::default(),
            timeouts: Timeouts::default(),
        }
    }
}

/// The implementation under test.
#[derive(Debug)]
#[non_exhaustive]
pub enum Target {
    /// A running server; the suite plays its clients.
    Server(ServerTarget),
    /// A client program; the suite plays its server and starts it per case.
    Client(ClientTarget),
}

/// A server under test (`faxnotify conformance server ADDR ...`).
#[non_exhaustive]
pub struct ServerTarget {
    /// Where the server listens for control connections.
    pub addr: SocketAddr,
    /// A user that exists on the server, as the tester typed it (the suite
    /// prepares it with RFC 8265 UsernameCaseMapped).
    pub user: String,
    /// That user's password.
    pub password: String,
    /// A second, different user, for the cases about another user's session
    /// ([C-6]); those are skipped without it.
    pub second_user: Option<(String, String)>,
    /// How the suite makes the server send a notification to a user; cases
    /// about delivery are skipped without it.
    pub trigger: Option<Box<dyn NotifyTrigger>>,
    /// FNP/1 over TLS (`--tls`): the server name the suite verifies and whom
    /// it trusts. Every connection then runs TLS 1.3 and the logins and
    /// callbacks are bound to it (protocol.md section 12); without it the
    /// cases about TLS are skipped.
    pub tls: Option<ClientTls>,
}

impl ServerTarget {
    /// A target with one user and no notification trigger.
    pub fn new(addr: SocketAddr, user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            addr,
            user: user.into(),
            password: password.into(),
            second_user: None,
            trigger: None,
            tls: None,
        }
    }
}

impl fmt::Debug for ServerTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTarget")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field(
                "second_user",
                &self.second_user.as_ref().map(|(user, _)| user),
            )
            .field(
                "trigger",
                &self.trigger.as_ref().map(|trigger| trigger.describe()),
            )
            .field("tls", &self.tls)
            .finish()
    }
}

/// Makes the server under test queue a notification for a user.
///
/// The suite asks for SERVER_MESSAGE notifications (kind 3) with a text it
/// chooses, and recognises them by that text. `notify` must return once the
/// server has accepted the notification (queued it for the user's sessions),
/// so that two calls in a row are delivered in that order.
pub trait NotifyTrigger {
    /// Queues SERVER_MESSAGE `text` for every session of `user`.
    fn notify(&self, user: &str, text: &str) -> Result<(), String>;

    /// A short description for reports (e.g. the command line).
    fn describe(&self) -> String;
}

/// A [`NotifyTrigger`] that runs a command per notification, e.g.
/// `faxnotify notify --admin /run/faxnotify.sock --user {user} {text}`.
///
/// Each argument may contain the placeholders `{user}` (the prepared user
/// name) and `{text}` (the message). The command must exit with status 0
/// once the server has accepted the notification.
#[derive(Clone, Debug)]
pub struct CommandTrigger {
    argv: Vec<String>,
    timeout: Duration,
}

impl CommandTrigger {
    /// A trigger running `argv` (program first). `None` if `argv` is empty.
    pub fn new(argv: Vec<String>) -> Option<Self> {
        if argv.is_empty() {
            return None;
        }
        Some(Self {
            argv,
            timeout: Duration::from_secs(10),
        })
    }

    /// Splits a command line on whitespace, honouring single and double
    /// quotes (no escapes beyond those): for `--notify-command "..."`.
    pub fn parse(command_line: &str) -> Option<Self> {
        Self::new(split_command_line(command_line)?)
    }
}

impl NotifyTrigger for CommandTrigger {
    fn notify(&self, user: &str, text: &str) -> Result<(), String> {
        let argv: Vec<String> = self
            .argv
            .iter()
            .map(|arg| arg.replace("{user}", user).replace("{text}", text))
            .collect();
        // Whatever the command leaves running ends with `group`: the suite
        // is done with it once it has exited or run out of time.
        let (mut child, mut group) = Group::spawn(
            Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        )
        .map_err(|e| format!("cannot run {:?}: {e}", argv[0]))?;
        // Read as it comes (a full pipe would block the command), bounded.
        let stderr = child.stderr.take().map(CommandStderr::read);
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    // First, so that nothing it left holds its stderr open.
                    group.end();
                    let stderr = stderr.map(CommandStderr::text).unwrap_or_default();
                    return Err(format!(
                        "notify command exited with {status}: {}",
                        stderr.trim()
                    ));
                }
                Ok(None) if std::time::Instant::now() >= deadline => {
                    group.end();
                    let _ = child.wait();
                    return Err(format!(
                        "notify command did not finish within {:?}",
                        self.timeout
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("waiting for the notify command: {e}")),
            }
        }
    }

    fn describe(&self) -> String {
        self.argv.join(" ")
    }
}

/// A notify command's stderr, read on a thread as it comes: at most
/// [`CommandStderr::KEPT`] bytes kept, the rest dropped.
struct CommandStderr {
    kept: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    ended: std::sync::mpsc::Receiver<()>,
}

impl CommandStderr {
    /// What a failure's report shows of it.
    const KEPT: usize = 4096;
    /// How long an exited command's stderr may take to end: a process the
    /// command left behind may hold it open for ever.
    const END_WAIT: Duration = Duration::from_millis(500);

    fn read(mut pipe: std::process::ChildStderr) -> Self {
        use std::io::Read as _;
        let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (done, ended) = std::sync::mpsc::channel();
        let into = std::sync::Arc::clone(&kept);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut kept) = into.lock() {
                    let room = Self::KEPT.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&buf[..room]);
                }
            }
            let _ = done.send(());
        });
        Self { kept, ended }
    }

    /// The text read once the stream ended (or [`Self::END_WAIT`] passed),
    /// with what could rewrite a report escaped.
    fn text(self) -> String {
        let _ = self.ended.recv_timeout(Self::END_WAIT);
        let kept = self.kept.lock().map(|k| k.clone()).unwrap_or_default();
        crate::peer::process::shown(String::from_utf8_lossy(&kept).trim())
    }
}

/// A client under test (`faxnotify conformance client -- CMD ...`).
///
/// The suite starts `command` once per case, after replacing these
/// placeholders in every argument:
///
/// | placeholder | value |
/// |---|---|
/// | `{addr}` | the suite's server, `host:port` (IPv6 in brackets) |
/// | `{host}`, `{port}` | the same, split |
/// | `{user}`, `{password}` | the credentials the suite's server accepts |
/// | `{password_file}` | a file holding the password (no trailing newline) |
/// | `{settings_file}` | a client settings file (TOML) with the listen policy the case needs, and under `--tls` its `[tls]` trust |
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientTarget {
    /// Program and arguments, with placeholders.
    pub command: Vec<String>,
    /// Whether the client prints one JSON object per delivered notification
    /// on stdout (the contract in docs/conformance.md). Cases about what the
    /// client hands its application are skipped without it.
    pub stdout_contract: bool,
    /// The address the suite's server listens on (default 127.0.0.1).
    pub listen_ip: IpAddr,
    /// The user the suite's server accepts.
    pub user: String,
    /// Its password.
    pub password: String,
    /// FNP/1 over TLS (`--tls`): the suite makes a CA and certificates for
    /// the run, serves TLS 1.3 on control connections and callbacks, and
    /// tells the client to trust that CA in `{settings_file}`
    /// (`[tls] trust = "ca:PATH"`). Without it the cases about TLS are skipped.
    pub tls: bool,
}

impl ClientTarget {
    /// A target started with `command`, following the stdout contract.
    pub fn new(command: Vec<String>) -> Self {
        Self {
            command,
            stdout_contract: true,
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            user: "conformance".to_owned(),
            password: "fnp1 conformance pass".to_owned(),
            tls: false,
        }
    }

    /// Whether the command line lets the suite choose the listen policy.
    pub fn has_settings_file(&self) -> bool {
        self.command
            .iter()
            .any(|arg| arg.contains("{settings_file}"))
    }
}

/// Which cases run.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Selection {
    /// Case ids or id prefixes ending at a `/` boundary (`server/framing`
    /// runs the section). Empty: every case of the mode.
    pub cases: Vec<String>,
    /// Skip cases marked slow (they wait for protocol timers).
    pub skip_slow: bool,
    /// Go on after a case's first deviation where its next checks do not
    /// depend on it, and report every deviation (`--keep-going`).
    pub keep_going: bool,
}

/// How long the suite waits. The defaults suit a loaded two-core CI machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// For a frame, an ERROR or a close that should come promptly. Default 5 s.
    pub expect: Duration,
    /// How long the suite watches to conclude that something does *not*
    /// happen (no frame, no close). Default 1 s.
    pub quiet: Duration,
    /// The server's handshake timeout [C-9] (accept to ADVERTISE_OK). Default 10 s.
    pub handshake: Duration,
    /// The callback handshake timeout [B-7]. Default 5 s.
    pub callback_handshake: Duration,
    /// Slack allowed on top of a protocol timer before it counts as missed. Default 3 s.
    pub margin: Duration,
    /// From starting a client under test to its control connection. Default 15 s.
    pub client_start: Duration,
    /// Longest protocol timer (lease) a slow case is willing to wait for;
    /// longer leases skip those cases with the reason. Default 35 s.
    pub max_timer_wait: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            expect: Duration::from_secs(5),
            quiet: Duration::from_secs(1),
            handshake: Duration::from_secs(10),
            callback_handshake: Duration::from_secs(5),
            margin: Duration::from_secs(3),
            client_start: Duration::from_secs(15),
            max_timer_wait: Duration::from_secs(35),
        }
    }
}

/// Splits a command line on unquoted whitespace; `'...'` and `"..."` group.
/// `None` for an unterminated quote.
pub(crate) fn split_command_line(line: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_arg = true;
            }
            None if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            None => {
                current.push(c);
                in_arg = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_arg {
        args.push(current);
    }
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_on_whitespace_and_group_quotes() {
        assert_eq!(
            split_command_line(r#"faxnotify notify --user {user} "a b"  'c "d"'"#).unwrap(),
            ["faxnotify", "notify", "--user", "{user}", "a b", r#"c "d""#]
        );
        assert_eq!(split_command_line(r#"x "" y"#).unwrap(), ["x", "", "y"]);
        assert_eq!(split_command_line("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_command_line("a 'b"), None);
    }
}
