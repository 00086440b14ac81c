//! The client under test as a child process: its command line with the
//! placeholders filled in, its files, its stdout read against the contract
//! of docs/conformance.md, and its exit.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::conn::secs;
use super::group::Group;
use super::log::CaseLog;
use crate::case::Fail;

/// Lines of stderr kept for failure reports.
const STDERR_TAIL: usize = 20;
/// The longest line of the client's output the suite keeps; the rest of a
/// longer line is read and dropped. A notification line under the stdout
/// contract (a 64 KiB payload in hex, its fields escaped) fits.
const MAX_LINE: usize = 1024 * 1024;
/// How much of the client's stdout (in lines kept) the suite holds per
/// case; later lines are read and dropped, so that a client writing
/// without end neither fills the suite's memory nor blocks on its pipe.
const MAX_STDOUT: usize = 64 * 1024 * 1024;
/// What each line kept counts against [`MAX_STDOUT`] besides its bytes
/// (its `String`, its place in the channel and in the list of lines).
const LINE_COST: usize = 64;

/// What the suite substitutes into the client's command line.
#[derive(Clone, Debug)]
pub struct Placeholders {
    /// The suite's server.
    pub addr: SocketAddr,
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
    /// The client settings (TOML) to write to `{settings_file}`; a
    /// `{ca_file}` in it names the file holding `ca_pem`.
    pub settings: String,
    /// The CA certificate (PEM) to write to `{ca_file}`, under `--tls`.
    pub ca_pem: Option<String>,
}

/// One notification the client handed to its application, as printed on
/// stdout under the contract.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivered {
    /// NOTIFY.seq.
    pub seq: u64,
    /// NOTIFY.kind.
    pub kind: u8,
    /// The payload: as received for raw deliveries (unknown kind,
    /// malformed); for a parsed kind possibly re-encoded from its fields.
    pub payload: Vec<u8>,
    /// Whether the client flagged a known kind's payload as unparseable.
    pub malformed: bool,
    /// The parsed fields, if the client printed them.
    pub fields: Option<Value>,
}

/// A running client under test. Killed when dropped, with every process
/// it started.
#[derive(Debug)]
pub struct ClientProcess {
    child: Child,
    /// The client's process group: it and whatever it started.
    group: Group,
    stdout: Receiver<String>,
    stdout_lines: Vec<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    dir: PathBuf,
    log: CaseLog,
    exit: Option<ExitStatus>,
}

static DIRS: AtomicU64 = AtomicU64::new(0);

/// The argument list with every placeholder replaced.
pub fn fill(
    command: &[String],
    vars: &Placeholders,
    password_file: &Path,
    settings_file: &Path,
) -> Vec<String> {
    let addr = vars.addr.to_string();
    let host = match vars.addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    command
        .iter()
        .map(|arg| {
            arg.replace("{addr}", &addr)
                .replace("{host}", &host)
                .replace("{port}", &vars.addr.port().to_string())
                .replace("{user}", &vars.user)
                .replace("{password_file}", &password_file.display().to_string())
                .replace("{password}", &vars.password)
                .replace("{settings_file}", &settings_file.display().to_string())
        })
        .collect()
}

impl ClientProcess {
    /// Writes the files and starts the client.
    pub fn spawn(command: &[String], vars: &Placeholders, log: &CaseLog) -> Result<Self, Fail> {
        let dir = std::env::temp_dir().join(format!(
            "fnp1-conformance-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        let setup = |e: std::io::Error| {
            Fail::failed("the suite to prepare the client's files", e.to_string())
        };
        std::fs::create_dir_all(&dir).map_err(setup)?;
        let password_file = dir.join("password");
        let settings_file = dir.join("client.toml");
        std::fs::write(&password_file, &vars.password).map_err(setup)?;
        let ca_file = dir.join("ca.pem");
        if let Some(pem) = &vars.ca_pem {
            std::fs::write(&ca_file, pem).map_err(setup)?;
        }
        let settings = vars
            .settings
            .replace("{ca_file}", &ca_file.display().to_string());
        std::fs::write(&settings_file, settings).map_err(setup)?;
        let argv = fill(command, vars, &password_file, &settings_file);
        let Some((program, args)) = argv.split_first() else {
            return Err(Fail::failed("a client command line", "an empty one"));
        };
        log.line(format_args!("process: starting {}", argv.join(" ")));
        let (mut child, group) = Group::spawn(
            Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .map_err(|e| {
            Fail::failed(
                format!("the client command {program:?} to start"),
                e.to_string(),
            )
        })?;

        let (tx, stdout) = channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut kept = 0;
                let mut dropped = false;
                read_lines(out, |line| {
                    // A line costs its bookkeeping too: a flood of empty
                    // lines must not be free.
                    kept += line.len() + LINE_COST;
                    if kept <= MAX_STDOUT {
                        return tx.send(line).is_ok();
                    }
                    if !dropped {
                        dropped = true;
                        let note = format!(
                            "(the suite keeps {} MiB of the client's stdout per case; the rest is dropped)",
                            MAX_STDOUT / (1024 * 1024)
                        );
                        return tx.send(note).is_ok();
                    }
                    true
                });
            });
        }
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(err) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            std::thread::spawn(move || keep_tail(err, &tail));
        }
        Ok(Self {
            child,
            group,
            stdout,
            stdout_lines: Vec::new(),
            stderr,
            dir,
            log: log.clone(),
            exit: None,
        })
    }

    fn drain_stdout(&mut self) {
        while let Ok(line) = self.stdout.try_recv() {
            self.log
                .line(format_args!("process stdout: {}", shown(&line)));
            self.stdout_lines.push(line);
        }
    }

    /// The process's exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.log.line(format_args!("process: exited with {status}"));
            self.exit = Some(status);
        }
        self.exit
    }

    /// Waits up to `wait` for the process to exit.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines the client wrote to stderr, joined with ` | `, with
    /// the characters that could rewrite a report escaped (see [`shown`]).
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().map(|t| t.clone()).unwrap_or_default();
        tail.iter()
            .map(|l| shown(l))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// Every notification printed so far under the stdout contract.
    pub fn delivered(&mut self) -> Result<Vec<Delivered>, Fail> {
        self.drain_stdout();
        let mut out = Vec::new();
        for line in &self.stdout_lines {
            if let Some(d) = parse_contract_line(line)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Waits until at least `count` notifications were printed (or `wait` passed).
    pub fn wait_delivered(&mut self, count: usize, wait: Duration) -> Result<Vec<Delivered>, Fail> {
        let deadline = Instant::now() + wait;
        loop {
            let delivered = self.delivered()?;
            if delivered.len() >= count || Instant::now() >= deadline {
                return Ok(delivered);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Fails unless the process is still running (it should not have given up).
    pub fn expect_running(&mut self, why: &str) -> Result<(), Fail> {
        match self.exited() {
            None => Ok(()),
            Some(status) => Err(Fail::failed(
                format!("the client to keep running {why}"),
                format!("it exited with {status}; stderr: {}", self.stderr_tail()),
            )),
        }
    }

    /// Describes how long the process ran before an expected event did not come.
    pub fn describe_missing(&mut self, what: &str, wait: Duration) -> String {
        match self.exited() {
            Some(status) => format!(
                "no {what}; the client exited with {status}; stderr: {}",
                self.stderr_tail()
            ),
            None => format!("no {what} within {}", secs(wait)),
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        // The whole group, even when the client itself has exited: what
        // it started must not outlive the case (see `group`).
        self.group.end();
        if self.exited().is_none() {
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A line the client wrote, as the reports may show it: control characters
/// (a carriage return, ESC sequences) and the invisible characters that
/// reorder or hide text become `\u{..}` escapes, so that the client under
/// test cannot rewrite the terminal's line or forge a line of the report.
pub(crate) fn shown(line: &str) -> String {
    faxnotify_core::peer_text::escaped(line)
}

fn keep_tail(stream: impl Read, tail: &Mutex<VecDeque<String>>) {
    read_lines(stream, |line| {
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        true
    });
}

/// Hands `each` the lines of `stream` until it ends or `each` returns
/// false: bytes that are not UTF-8 as U+FFFD, at most [`MAX_LINE`] bytes of
/// a line (the rest is read and dropped), so that a client writing without
/// a line end cannot fill the suite's memory, and one invalid byte does not
/// stop the reading (the client would then block on a full pipe).
fn read_lines(stream: impl Read, mut each: impl FnMut(String) -> bool) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
        match reader.by_ref().take(limit).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        } else if line.len() >= MAX_LINE && !skip_rest_of_line(&mut reader) {
            return;
        }
        if !each(String::from_utf8_lossy(&line).into_owned()) {
            return;
        }
    }
}

/// Reads up to and including the next line end; false at the end of the
/// stream or on an error.
fn skip_rest_of_line(reader: &mut impl BufRead) -> bool {
    loop {
        let (consumed, found) = match reader.fill_buf() {
            Ok([]) | Err(_) => return false,
            Ok(buf) => match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            },
        };
        reader.consume(consumed);
        if found {
            return true;
        }
    }
}

/// Parses one stdout line under the contract: a JSON object with
/// `"event": "notification"` is a delivery and must carry `seq`, `kind`,
/// `payload` (hex) and `malformed`; every other line is ignored.
pub fn parse_contract_line(line: &str) -> Result<Option<Delivered>, Fail> {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) else {
        return Ok(None);
    };
    if obj.get("event").and_then(Value::as_str) != Some("notification") {
        return Ok(None);
    }
    let violation = |what: &str| {
        Fail::failed(
            format!("a notification line with {what} (stdout contract, docs/conformance.md)"),
            format!("{line:?}"),
        )
    };
    let seq = obj
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| violation("a numeric \"seq\""))?;
    let kind = obj
        .get("kind")
        .and_then(Value::as_u64)
        .and_then(|k| u8::try_from(k).ok())
        .ok_or_else(|| violation("a numeric \"kind\" 0..=255"))?;
    let payload = obj
        .get("payload")
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| violation("\"payload\" as a hex string"))?;
    let malformed = obj
        .get("malformed")
        .and_then(Value::as_bool)
        .ok_or_else(|| violation("a boolean \"malformed\""))?;
    Ok(Some(Delivered {
        seq,
        kind,
        payload,
        malformed,
        fields: obj.get("fields").cloned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_lines_parse_and_others_are_ignored() {
        let d = parse_contract_line(
            r#"{"event":"notification","seq":7,"kind":3,"payload":"0003686921","malformed":false,"fields":{"text":"hi!"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (d.seq, d.kind, d.payload.as_slice(), d.malformed),
            (7, 3, &[0, 3, b'h', b'i', b'!'][..], false)
        );
        assert_eq!(d.fields.unwrap()["text"], "hi!");
        assert_eq!(parse_contract_line("logged in as alice").unwrap(), None);
        assert_eq!(
            parse_contract_line(r#"{"event":"status","state":"reachable"}"#).unwrap(),
            None
        );
        let broken = parse_contract_line(
            r#"{"event":"notification","seq":"7","kind":3,"payload":"","malformed":false}"#,
        );
        assert!(
            matches!(broken, Err(Fail::Failed { expected, .. }) if expected.contains("\"seq\""))
        );
    }

    #[test]
    fn lines_are_read_bounded_and_lossily() {
        let mut input = b"one\r\ntw\xffo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend(b"\nlast");
        let mut lines = Vec::new();
        read_lines(input.as_slice(), |l| {
            lines.push(l);
            true
        });
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[..2], ["one", "tw\u{fffd}o"]);
        assert_eq!(lines[2].len(), MAX_LINE);
        assert_eq!(lines[3], "last");
    }

    #[test]
    fn lines_are_shown_with_controls_and_reordering_characters_escaped() {
        assert_eq!(
            shown("boom\r\x1b[2K ok \u{202e}x Müller"),
            "boom\\u{d}\\u{1b}[2K ok \\u{202e}x Müller"
        );
    }

    #[test]
    fn placeholders_are_filled_in_every_argument() {
        let vars = Placeholders {
            addr: "127.0.0.1:4580".parse().unwrap(),
            user: "alice".into(),
            password: "pw".into(),
            settings: String::new(),
            ca_pem: None,
        };
        let cmd: Vec<String> = [
            "c",
            "--server={addr}",
            "{host}:{port}",
            "{user}/{password}",
            "{password_file}",
            "{settings_file}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let argv = fill(&cmd, &vars, Path::new("/t/pw"), Path::new("/t/s.toml"));
        assert_eq!(
            argv,
            [
                "c",
                "--server=127.0.0.1:4580",
                "127.0.0.1:4580",
                "alice/pw",
                "/t/pw",
                "/t/s.toml"
            ]
        );
        let v6 = Placeholders {
            addr: "[::1]:9".parse().unwrap(),
            ..vars
        };
        assert_eq!(
            fill(
                &["{host} {port} {addr}".into()],
                &v6,
                Path::new(""),
                Path::new("")
            )[0],
            "[::1] 9 [::1]:9"
        );
    }
}
