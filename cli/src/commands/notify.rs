//! `faxnotify notify`: queue a notification on a running server through
//! its admin socket. This is how a fax engine reports activity, e.g. from
//! HylaFAX's `faxrcvd` or `notify` scripts:
//!
//! ```text
//! faxnotify notify --wait --user alice \
//!     fax-received --job 42 --from "+1 555 0100" --to sales --pages 3
//! ```
//!
//! The admin socket is the server's default one unless `--admin-socket`
//! says otherwise; `--wait` waits for the delivery reports (see
//! docs/architecture.md, "The admin socket").

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, Subcommand};
use faxnotify_core::wire::MAX_STR_LEN;
use serde_json::Value;

use crate::admin::client::{Connection, Received, error_of, socket_path};
use crate::admin::protocol::{EnumValue, NotificationSpec, Request, To, codes, request_line};
use crate::failure::{CmdResult, Exit, Failure};
use crate::parse;

/// How long the reply to the notify itself may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// `faxnotify notify`.
#[derive(Debug, ClapArgs)]
#[command(
    disable_help_subcommand = true,
    after_help = "\
`faxnotify notify --admin-socket PATH --user USER TEXT` is short for `... message TEXT`. \
The recipient (--user, --session or --all) and the other options may come before or \
after the kind: `faxnotify notify message hi --user alice` works too. A long text \
comes from a file with --text-file FILE, or from standard input with --text-file -.

Limits: every text field (a message, a detail, a caller id, ...) holds at most 4096 \
bytes of UTF-8, and a whole notification must fit in one NOTIFY frame (65535 bytes). \
In the fields a fax engine passes on (--from, --to, --detail, --device, --by, \
--comment), bytes that are not UTF-8 become U+FFFD.

Exit status: 0 when queued for every recipient session (at least one); 6 when \
some recipient refused it (queue full) or there was nobody to queue it for; \
2 for an unknown user or bad fields; 1 when the admin socket cannot be used.
With --wait: 0 when every recipient acknowledged it (delivered); 7 when some \
recipient's session ended first (undelivered); 6 when some recipient refused \
it and the others got it; 8 when the time ran out first (none known to have failed).
Against a server in cluster mode (`faxnotify server --cluster`): 0 once the cluster \
stored it durably (every session of the user, on any server, gets it); 6 when it \
could not be made durable (nothing accepted); 8 when the bus did not answer whether \
it stored it (it may have: see whether it arrived before sending it again); --wait \
reports every session of the user in the cluster.

The admin socket speaks one JSON request per line (see docs/architecture.md), e.g.
  {\"op\":\"notify\",\"to\":{\"user\":\"alice\"},\"notification\":{\"kind\":\"server_message\",\"text\":\"hi\"}}"
)]
pub struct Args {
    /// The server's admin socket (`faxnotify server --admin-socket`; default:
    /// the server's default path).
    #[arg(
        long,
        visible_alias = "admin",
        env = "FAXNOTIFY_ADMIN_SOCKET",
        value_name = "PATH",
        global = true
    )]
    admin_socket: Option<PathBuf>,
    /// Wait until every recipient has acknowledged it (delivered) or its
    /// session has ended (undelivered), at most TIMEOUT (default 60s).
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "60s",
          value_parser = parse::duration, global = true)]
    wait: Option<Duration>,
    /// Every session of this user.
    #[arg(long, value_name = "USER", global = true, conflicts_with_all = ["all", "session"])]
    user: Option<String>,
    /// Every session of every user.
    #[arg(long, global = true, conflicts_with = "session")]
    all: bool,
    /// One session, by the id `faxnotify sessions` shows.
    #[arg(long, value_name = "ID", global = true)]
    session: Option<String>,
    /// Print the server's JSON reply instead of a sentence.
    #[arg(long, global = true)]
    json: bool,
    /// A server message: short for `message TEXT`.
    #[arg(value_name = "TEXT", allow_hyphen_values = true)]
    text: Option<String>,
    /// A server message read from FILE (`-`: standard input): short for
    /// `message --text-file FILE`.
    #[arg(long, value_name = "FILE", conflicts_with = "text")]
    text_file: Option<PathBuf>,
    /// What happened.
    #[command(subcommand)]
    kind: Option<Kind>,
}

/// The notification kinds of docs/protocol.md section 8.
#[derive(Debug, Subcommand)]
enum Kind {
    /// A fax was received (kind 1).
    FaxReceived {
        /// The job number.
        #[arg(long)]
        job: u64,
        /// Caller id / TSI of the sender.
        #[arg(long, value_parser = parse::engine_text())]
        from: String,
        /// DID or recipient.
        #[arg(long, value_parser = parse::engine_text())]
        to: String,
        /// Pages received.
        #[arg(long)]
        pages: u16,
        /// When, in ms since the Unix epoch (default: now).
        #[arg(long, value_name = "MS")]
        received_at_ms: Option<u64>,
    },
    /// A send job changed state (kind 2).
    JobStatus {
        /// The job number.
        #[arg(long)]
        job: u64,
        /// queued, dialing, sending, completed, failed, retrying, cancelled,
        /// blocked (or a number).
        #[arg(long)]
        state: String,
        /// The page being sent.
        #[arg(long, default_value_t = 0)]
        page: u16,
        /// Pages in all.
        #[arg(long, default_value_t = 0)]
        pages: u16,
        /// The attempt number.
        #[arg(long, default_value_t = 0)]
        attempt: u16,
        /// Free text.
        #[arg(long, value_parser = parse::engine_text(), default_value = "")]
        detail: String,
    },
    /// A message from the administrator (kind 3).
    #[command(visible_alias = "server-message")]
    Message {
        /// The text (at most 4096 bytes).
        #[arg(
            allow_hyphen_values = true,
            required_unless_present = "text_file",
            conflicts_with = "text_file"
        )]
        text: Option<String>,
        /// Read the text from FILE (`-`: standard input).
        #[arg(long, value_name = "FILE")]
        text_file: Option<PathBuf>,
    },
    /// A modem or device changed state (kind 4).
    DeviceStatus {
        /// The device, e.g. ttyS0.
        #[arg(long, value_parser = parse::engine_text())]
        device: String,
        /// up, down, busy (or a number).
        #[arg(long)]
        state: String,
        /// Free text.
        #[arg(long, value_parser = parse::engine_text(), default_value = "")]
        detail: String,
    },
    /// Someone changed a received fax: seen, deleted, commented (kind 5).
    FaxUpdated {
        /// The job number.
        #[arg(long)]
        job: u64,
        /// seen, deleted, commented (or a number).
        #[arg(long)]
        change: String,
        /// Who changed it.
        #[arg(long, value_parser = parse::engine_text())]
        by: String,
        /// Free text.
        #[arg(long, value_parser = parse::engine_text(), default_value = "")]
        comment: String,
    },
}

fn enum_arg(text: &str) -> EnumValue {
    match text.parse::<u8>() {
        Ok(n) => EnumValue::Number(n),
        Err(_) => EnumValue::Name(text.to_owned()),
    }
}

impl Kind {
    fn spec(self) -> Result<NotificationSpec, Failure> {
        Ok(match self {
            Kind::FaxReceived {
                job,
                from,
                to,
                pages,
                received_at_ms,
            } => NotificationSpec::FaxReceived {
                job,
                from,
                to,
                pages,
                received_at_ms,
            },
            Kind::JobStatus {
                job,
                state,
                page,
                pages,
                attempt,
                detail,
            } => NotificationSpec::JobStatus {
                job,
                state: enum_arg(&state),
                page,
                pages,
                attempt,
                detail,
            },
            Kind::Message { text, text_file } => NotificationSpec::ServerMessage {
                text: message_text(text, text_file.as_deref())?,
            },
            Kind::DeviceStatus {
                device,
                state,
                detail,
            } => NotificationSpec::DeviceStatus {
                device,
                state: enum_arg(&state),
                detail,
            },
            Kind::FaxUpdated {
                job,
                change,
                by,
                comment,
            } => NotificationSpec::FaxUpdated {
                job,
                change: enum_arg(&change),
                by,
                comment,
            },
        })
    }
}

/// The most of a text file or standard input read: a text carries at most
/// [`MAX_STR_LEN`] bytes, and one trailing newline (`\r\n`) is not part of
/// it. Reading stops one byte beyond, so that a text without end (`yes |`,
/// `/dev/zero`) is refused instead of read until the memory runs out.
const MAX_TEXT_READ: usize = MAX_STR_LEN + 2;

/// A message's text: given on the command line, or read from a file or
/// standard input (`-`), where one trailing newline is not part of it.
fn message_text(text: Option<String>, file: Option<&Path>) -> Result<String, Failure> {
    let Some(file) = file else {
        return Ok(text.unwrap_or_default());
    };
    let read = if file == Path::new("-") {
        read_text(std::io::stdin(), "the text from standard input")?
    } else {
        let opened = std::fs::File::open(file).map_err(|e| {
            Failure::usage(format!("cannot read the text file {}: {e}", file.display()))
        })?;
        read_text(opened, &format!("the text file {}", file.display()))?
    };
    let text = read.strip_suffix('\n').unwrap_or(&read);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(text.to_owned())
}

/// Reads `what` from `reader`: at most [`MAX_TEXT_READ`] bytes of UTF-8.
fn read_text(reader: impl std::io::Read, what: &str) -> Result<String, Failure> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    reader
        .take(MAX_TEXT_READ as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read {what}: {e}")))?;
    if bytes.len() > MAX_TEXT_READ {
        return Err(Failure::usage(format!(
            "{what} is longer than a message can carry (at most {MAX_STR_LEN} bytes): not sent"
        )));
    }
    faxnotify_textfile::utf8_text(bytes)
        .map_err(|e| Failure::usage(format!("cannot read {what}: {e}")))
}

/// Runs `faxnotify notify`.
pub fn run(args: Args) -> CmdResult {
    let to = match (args.user, args.all, args.session) {
        (Some(user), _, _) => To::User(user),
        (None, true, _) => To::All,
        (None, false, Some(session)) => To::Session(session),
        (None, false, None) => {
            return Err(Failure::usage(
                "say who gets it: --user USER, --session ID or --all",
            ));
        }
    };
    let notification = match (args.kind, args.text, args.text_file) {
        (Some(kind), None, None) => kind.spec()?,
        (Some(_), _, _) => {
            return Err(Failure::usage(
                "give the text either before the kind (as a message) or to the kind, not both",
            ));
        }
        (None, text, Some(file)) => NotificationSpec::ServerMessage {
            text: message_text(text, Some(&file))?,
        },
        (None, Some(text), None) => NotificationSpec::ServerMessage { text },
        (None, None, None) => {
            return Err(Failure::usage(
                "say what happened: fax-received, job-status, message TEXT, device-status \
                 or fax-updated (see `faxnotify notify --help`)",
            ));
        }
    };
    let built = notification.to_notification().map_err(Failure::usage)?;
    if let Err(e) = built.to_payload() {
        return Err(Failure::usage(format!(
            "the notification does not fit in a NOTIFY frame: {e}"
        )));
    }
    let path = socket_path(args.admin_socket)?;
    let started = Instant::now();
    let mut connection = Connection::open(&path)?;
    // The id labels the report lines; one request per connection here, so
    // the process id is enough.
    let id = format!("notify-{}", std::process::id());
    connection.send(&request_line(
        &Request::Notify {
            to: to.clone(),
            notification,
        },
        Some(&id),
        args.wait.is_some(),
    ))?;
    let reply = match connection.receive(REPLY_TIMEOUT)? {
        Received::Line(reply) => reply,
        Received::Closed => {
            return Err(Failure::runtime(format!(
                "the server closed the admin socket {} without answering",
                path.display()
            )));
        }
        Received::TimedOut => {
            return Err(Failure::runtime(format!(
                "the server did not answer on the admin socket {} within {}s",
                path.display(),
                REPLY_TIMEOUT.as_secs()
            )));
        }
    };
    if args.json {
        outln!("{reply}");
    }
    if let Some((code, message)) = error_of(&reply) {
        let exit = match code.as_str() {
            codes::NO_SUCH_USER | codes::BAD_REQUEST | codes::CANNOT_ENCODE => Exit::Usage,
            codes::NO_SUCH_SESSION | codes::NOT_DURABLE => Exit::NotQueued,
            // Not a refusal: it may be delivered, so not the "send it
            // again" of a refusal either.
            codes::DURABILITY_UNKNOWN => Exit::WaitTimedOut,
            _ => Exit::Runtime,
        };
        return Err(Failure::new(exit, message));
    }
    let list = |key: &str| {
        reply
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let accepted = list("accepted");
    let refused = list("refused");
    // Cluster mode: accepted once durable in the cluster's log; the
    // sessions that get it live on any server.
    let clustered = reply.get("cluster").and_then(Value::as_bool) == Some(true);
    if !args.json && clustered {
        for a in &accepted {
            outln!(
                "accepted: log seq {}.{} for user {} (durable in the cluster)",
                a["log_seq"],
                a["log_index"],
                a["user"].as_str().unwrap_or("?")
            );
        }
    }
    if !args.json && !clustered {
        for a in &accepted {
            outln!(
                "queued: seq {} for session {}{}",
                a["seq"],
                a["session"].as_str().unwrap_or("?"),
                who(a)
            );
        }
    }
    for r in &refused {
        eprintln!(
            "faxnotify: not queued for session {}{}: {}",
            r["session"].as_str().unwrap_or("?"),
            who(r),
            r["message"].as_str().unwrap_or("refused")
        );
    }
    if accepted.is_empty() && refused.is_empty() {
        let nobody = match &to {
            To::User(user) => format!("{user} has no session (not logged in)"),
            To::All => "nobody is logged in".to_owned(),
            To::Session(s) => format!("no session {s}"),
        };
        return Err(Failure::new(
            Exit::NotQueued,
            format!("nothing was queued: {nobody}"),
        ));
    }
    let queued = if refused.is_empty() {
        Exit::Ok
    } else {
        Exit::NotQueued
    };
    // In cluster mode, every session of the user in the cluster reports.
    let recipients = match reply.get("recipients").and_then(Value::as_u64) {
        Some(n) if clustered => usize::try_from(n).unwrap_or(usize::MAX),
        _ => accepted.len(),
    };
    match args.wait {
        None => Ok(queued),
        Some(timeout) => wait(
            &mut connection,
            recipients,
            started + timeout,
            args.json,
            queued,
        ),
    }
}

/// Reads the delivery reports until `done` or `deadline`; the exit status
/// says what became of the notification.
fn wait(
    connection: &mut Connection,
    accepted: usize,
    deadline: Instant,
    json: bool,
    queued: Exit,
) -> CmdResult {
    let mut delivered = 0usize;
    let mut undelivered = 0usize;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match connection.receive(left)? {
            Received::Line(line) => line,
            Received::Closed => {
                return Err(Failure::runtime(format!(
                    "the server closed the admin socket before reporting every delivery \
                     ({} of {accepted} unknown)",
                    accepted - delivered - undelivered
                )));
            }
            Received::TimedOut => {
                let pending = accepted - delivered - undelivered;
                eprintln!(
                    "faxnotify: timed out: {pending} of {accepted} recipient{} not reported yet \
                     (still queued: the server delivers it when it can)",
                    if accepted == 1 { "" } else { "s" }
                );
                return Ok(if undelivered > 0 {
                    Exit::Undelivered
                } else if queued != Exit::Ok {
                    queued
                } else {
                    Exit::WaitTimedOut
                });
            }
        };
        if json {
            outln!("{line}");
        }
        let session = line["session"].as_str().unwrap_or("?");
        match line["report"].as_str() {
            Some("delivered") => {
                delivered += 1;
                if !json {
                    outln!(
                        "delivered: seq {} to session {session}{}",
                        line["seq"],
                        who(&line)
                    );
                }
            }
            Some("undelivered") => {
                undelivered += 1;
                eprintln!(
                    "faxnotify: undelivered: seq {} to session {session}{}: {}",
                    line["seq"],
                    who(&line),
                    line["message"].as_str().unwrap_or("its session ended")
                );
            }
            Some("done") => break,
            _ => {}
        }
    }
    Ok(if undelivered > 0 {
        Exit::Undelivered
    } else {
        queued
    })
}

fn who(entry: &Value) -> String {
    match entry.get("user").and_then(Value::as_str) {
        Some(user) => format!(" ({user})"),
        None => String::new(),
    }
}
