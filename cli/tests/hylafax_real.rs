//! `faxnotify hylafax` against real HylaFAX 6.0 with two iaxmodem soft
//! modems on loopback (contrib/hylafax/lab.sh): a fax that is sent and
//! received, a fax that fails, a modem flipped busy and ready, the received
//! fax cleared from HylaFAX's receive queue. The notifications the clients
//! print are checked exactly: in order, once each, and the received fax
//! (and its deletion) only at its routed user.
//!
//! It runs wherever it can: as root with the Debian packages installed.
//! Elsewhere it says it was skipped and the command that enables it;
//! `FAXNOTIFY_HYLAFAX_TEST=require` (what CI sets) turns a skip into a
//! failure, `=skip` skips it on purpose.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Running, Stream, TestServer, add_users, json, write_file};

const PASSWORD: &str = "correct horse battery";
/// Fixed ports (hfaxd, and the soft modems' IAX2 pair): a run refuses to
/// start when they are taken instead of re-binding ports found free.
const HFAXD_PORT: u16 = 14559;
const IAX_PORT: u16 = 14570;
/// The whole test is bounded by this (each fax takes ~30 s).
const BUDGET: Duration = Duration::from_secs(180);
/// Held while a lab runs: one lab per machine (fixed ports, /etc/iaxmodem).
const LAB_LOCK: &str = "/run/lock/faxnotify-hylafax-lab.lock";
const INSTALL: &str = "sudo contrib/hylafax/lab.sh install";
const AS_ROOT: &str = "sudo -E env \"PATH=$PATH\" cargo test -p faxnotify-cli --test hylafax_real";

fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/hylafax/lab.sh")
}

/// Why this machine cannot run the lab, and the command that enables it.
fn missing() -> Option<(String, &'static str)> {
    if std::env::var("FAXNOTIFY_HYLAFAX_TEST").as_deref() == Ok("skip") {
        return Some((
            "FAXNOTIFY_HYLAFAX_TEST=skip".into(),
            "unset FAXNOTIFY_HYLAFAX_TEST",
        ));
    }
    let uid = Command::new("id").arg("-u").output().ok();
    if uid.is_none_or(|o| String::from_utf8_lossy(&o.stdout).trim() != "0") {
        return Some((
            "it needs root (HylaFAX's daemons run as uucp; the soft modems are set up in /etc/iaxmodem)".into(),
            AS_ROOT,
        ));
    }
    let tools = [
        "faxq", "hfaxd", "faxgetty", "faxstate", "sendfax", "faxstat", "iaxmodem", "gs",
    ];
    let absent: Vec<_> = tools
        .into_iter()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    (!absent.is_empty()).then(|| {
        (
            format!(
                "{} not installed (Debian packages hylafax-server, hylafax-client, iaxmodem, ghostscript)",
                absent.join(", ")
            ),
            INSTALL,
        )
    })
}

/// Says the test was skipped, or fails when it must run.
fn skip(why: &str, enable: &str) {
    assert!(
        std::env::var("FAXNOTIFY_HYLAFAX_TEST").as_deref() != Ok("require"),
        "FAXNOTIFY_HYLAFAX_TEST=require, but {why}"
    );
    eprintln!("SKIPPED real_hylafax_faxes_reach_the_right_clients: {why}. To run it: {enable}");
}

/// Stops the lab (every daemon by its pid) even when the test fails.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn start(dir: &Path) -> Lab {
        let lab = Lab {
            dir: dir.to_owned(),
        };
        let out = Command::new(lab_script())
            .args(["start"])
            .arg(dir)
            .args([HFAXD_PORT.to_string(), IAX_PORT.to_string()])
            .output()
            .expect("lab.sh runs");
        assert!(
            out.status.success(),
            "lab.sh start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    fn run(&self, args: &[&str]) {
        let status = Command::new(lab_script())
            .arg(args[0])
            .arg(&self.dir)
            .args(&args[1..])
            .status()
            .expect("lab.sh runs");
        assert!(status.success(), "lab.sh {args:?} failed");
    }

    fn spool(&self) -> PathBuf {
        self.dir.join("spool")
    }

    /// Returns once faxq has taken `job` off its ready queue.
    ///
    /// HylaFAX 6.0.7's faxq can lose the poke that should run its scheduler
    /// for a job submitted within the second after a deferred scheduler run
    /// (both modems report ready in the same second when the lab starts).
    /// Nothing else pokes an idle faxq, so the job then stays ready for
    /// good: caught with faxq's tracing on a machine at load 10, "SUBMIT JOB
    /// 1" at 10:18:21.6 after both modems' READY at 10:18:20.0, then no
    /// scheduler run for the 60 s the test waited; faxstat showed the job
    /// "W" (ready), both modems "Running and idle", and neither UUCP lock
    /// file existed. So it was neither a stale lock, nor a modem not yet
    /// ready, nor a wait too short. `lab.sh dispatched` re-pokes faxq while
    /// the job's q-file says ready (see there).
    fn dispatched(&self, job: u64) {
        self.run(&["dispatched", &job.to_string()]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What HylaFAX and the bridge did, for the failure report.
            let _ = Command::new("faxstat")
                .args(["-h", &format!("127.0.0.1:{HFAXD_PORT}"), "-s", "-d", "-a"])
                .status();
            // An absent lock must not read as an empty one (it did, and
            // pointed a diagnosis at stale locks that were not there).
            for lock in ["/var/lock/LCK..ttyFN0", "/var/lock/LCK..ttyFN1"] {
                let holder = match std::fs::read_to_string(lock) {
                    Ok(pid) => format!("held by pid {:?}", pid.trim()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => "absent".into(),
                    Err(e) => format!("unreadable: {e}"),
                };
                eprintln!("--- {lock}: {holder}");
            }
            // HylaFAX's own record of the jobs it has not finished.
            let sendq = self.spool().join("sendq");
            for entry in std::fs::read_dir(&sendq).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let fields: Vec<_> = text
                    .lines()
                    .filter(|l| {
                        ["state:", "status:", "modem:", "tts:", "ndials:", "ntries:"]
                            .iter()
                            .any(|f| l.starts_with(f))
                    })
                    .collect();
                eprintln!(
                    "--- sendq/{}: {}",
                    entry.file_name().display(),
                    fields.join(" ")
                );
            }
            // The bridge's log has hfaxd's event stream and listings
            // (RUST_LOG=debug); syslog.log has faxq's and hfaxd's traces
            // (lab.sh keeps it where nothing else listens on /dev/log).
            for log in ["bridge.log", "spool/log/xferfaxlog", "syslog.log"] {
                let text = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
                eprintln!("--- {log}\n{text}");
            }
        }
        let _ = Command::new(lab_script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// `faxnotify hylafax`, its log in a file (shown when the test fails).
struct Bridge(Child);

impl Bridge {
    fn start(config: &Path, log: &Path) -> Bridge {
        let file = File::create(log).expect("the bridge's log");
        let child = Command::new(env!("CARGO_BIN_EXE_faxnotify"))
            .arg("hylafax")
            .arg("--config")
            .arg(config)
            // Debug: the event stream and listings, shown if the test fails.
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("faxnotify hylafax starts");
        let bridge = Bridge(child);
        wait_for_file(log, "subscribed to hfaxd");
        bridge
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Child::kill signals this child's own pid.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(program: &str, args: &[&str]) -> String {
    sh_env(program, args, &[])
}

fn sh_env(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A notification as the client printed it (`--json`), in short.
fn short(v: &serde_json::Value) -> String {
    let f = &v["fields"];
    match v["kind"].as_u64() {
        Some(1) => format!(
            "fax {} from {} to {} pages {}",
            f["job"], f["from"], f["to"], f["pages"]
        ),
        Some(2) => format!(
            "job {} state {} page {}/{}",
            f["job"], f["state"], f["page"], f["pages"]
        ),
        Some(4) => format!("device {} state {}", f["device"], f["state"]),
        Some(5) => format!("fax {} change {}", f["job"], f["change"]),
        _ => v.to_string(),
    }
}

struct Client {
    process: Running,
    notifications: Vec<serde_json::Value>,
}

impl Client {
    fn start(dir: &Path, server: &TestServer, user: &str) -> Client {
        // smol: the client's default runtime.
        let process = common::start_json_client(dir, "smol", server.addr, user, PASSWORD);
        Client {
            process,
            notifications: Vec::new(),
        }
    }

    /// Waits for a notification `pred` accepts, keeping every one seen.
    fn wait(&mut self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
        if self.notifications.iter().any(&pred) {
            return;
        }
        self.process.wait_line(Stream::Out, what, |l| {
            json(l).is_some_and(|v| v["event"] == "notification" && pred(&v))
        });
        // `wait_line` took the lines; re-read them from its record.
        self.notifications = self
            .process
            .seen
            .iter()
            .filter(|(s, _)| *s == Stream::Out)
            .filter_map(|(_, l)| json(l))
            .filter(|v| v["event"] == "notification")
            .collect();
    }

    fn of_kind(&self, kind: u64) -> Vec<String> {
        self.notifications
            .iter()
            .filter(|v| v["kind"] == kind)
            .map(short)
            .collect()
    }

    fn device(&self, device: &str) -> Vec<String> {
        self.notifications
            .iter()
            .filter(|v| v["kind"] == 4 && v["fields"]["device"] == device)
            .map(short)
            .collect()
    }
}

fn job_state(v: &serde_json::Value, job: u64, state: u64) -> bool {
    v["kind"] == 2 && v["fields"]["job"] == job && v["fields"]["state"] == state
}

/// Waits (bounded) until HylaFAX's status file says `text`: an external
/// state with nothing to wait on but the file.
fn wait_for_file(path: &Path, text: &str) {
    let deadline = Instant::now() + common::WAIT;
    while !std::fs::read_to_string(path).is_ok_and(|s| s.contains(text)) {
        assert!(
            Instant::now() < deadline,
            "{} never said {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The job id `sendfax` printed ("request id is 3 (group id 3) ...").
fn job_id(sendfax_output: &str) -> u64 {
    sendfax_output
        .split("request id is ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no job id in {sendfax_output:?}"))
}

#[test]
fn real_hylafax_faxes_reach_the_right_clients() {
    if let Some((why, enable)) = missing() {
        return skip(&why, enable);
    }
    // Released when the test ends, however it ends (the kernel drops the lock).
    let lock = File::create(LAB_LOCK).expect("the lab's lock file");
    if lock.try_lock().is_err() {
        return skip(
            "another run of this test holds the HylaFAX lab",
            "run it again when that one is done",
        );
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = Lab::start(&dir.path().join("lab"));

    let users = dir.path().join("users.toml");
    add_users(
        &users,
        &[("alice", PASSWORD), ("bob", PASSWORD), ("carol", PASSWORD)],
    );
    let server = TestServer::start("smol", &users, dir.path(), &[]);
    let mut alice = Client::start(dir.path(), &server, "alice");
    let mut bob = Client::start(dir.path(), &server, "bob");
    let mut carol = Client::start(dir.path(), &server, "carol");

    // Faxes to 5550001 go to bob; root's jobs are alice's.
    let config = write_file(
        dir.path(),
        "bridge.toml",
        &format!(
            "hfaxd = \"127.0.0.1:{HFAXD_PORT}\"\nuser = \"faxnotify\"\nadmin_socket = \"{}\"\n\
             unrouted = [\"carol\"]\n[route]\n\"5550001\" = [\"bob\"]\n[owners]\nroot = \"alice\"\n",
            server.admin.display()
        ),
    );
    let bridge = Bridge::start(&config, &lab.dir.join("bridge.log"));

    // A two-page fax from ttyFN0 to ttyFN1.
    let doc = dir.path().join("doc.tif");
    sh(
        "gs",
        &[
            "-q",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=tiffg4",
            "-r204x98",
            &format!("-sOutputFile={}", doc.display()),
            "-c",
            "/Helvetica findfont 24 scalefont setfont 72 700 moveto (faxnotify page one) show showpage \
             /Helvetica findfont 24 scalefont setfont 72 700 moveto (page two) show showpage",
        ],
    );
    let host = format!("127.0.0.1:{HFAXD_PORT}");
    let doc = doc.display().to_string();
    // Sent from ttyFN0 (faxq would take any idle modem).
    let from_modem0 = format!("ttyFN0@{host}");
    let sent = job_id(&sh(
        "sendfax",
        &["-h", &from_modem0, "-n", "-d", "5550001", &doc],
    ));
    lab.dispatched(sent);
    alice.wait("job completed", |v| job_state(v, sent, 3));
    bob.wait("fax received", |v| v["kind"] == 1);
    let received_job = bob
        .notifications
        .iter()
        .find(|v| v["kind"] == 1)
        .expect("the fax")["fields"]["job"]
        .clone();
    // Cleared from HylaFAX's receive queue, as faxcron's clean-up does: the
    // bridge notices it in its next listing (checked at the end).
    let recvq = lab.spool().join("recvq");
    let faxes: Vec<_> = std::fs::read_dir(&recvq)
        .expect("recvq")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tif"))
        .collect();
    assert_eq!(faxes.len(), 1, "{faxes:?}");
    std::fs::remove_file(&faxes[0]).expect("the received fax is removed");

    // The receiver is gone (once it is ready again): the next fax fails after one try.
    alice.wait("ttyFN1 ready", |v| {
        v["kind"] == 4 && v["fields"]["device"] == "ttyFN1" && v["fields"]["state"] == 0
    });
    lab.run(&["stop-modem", "1"]);
    alice.wait("ttyFN1 down", |v| {
        v["kind"] == 4 && v["fields"]["device"] == "ttyFN1" && v["fields"]["state"] == 1
    });
    let failed = job_id(&sh(
        "sendfax",
        &["-h", &from_modem0, "-n", "-T", "1", "-d", "5550009", &doc],
    ));
    lab.dispatched(failed);
    alice.wait("job failed", |v| job_state(v, failed, 4));

    // Flip ttyFN0 busy, then ready, once it is idle again after the failure.
    let spool = lab.spool().display().to_string();
    wait_for_file(&lab.spool().join("status/ttyFN0"), "Running and idle");
    alice.wait("ttyFN0 up", |v| {
        v["kind"] == 4 && v["fields"]["device"] == "ttyFN0" && v["fields"]["state"] == 0
    });
    sh("faxstate", &["-q", &spool, "-s", "busy", "ttyFN0"]);
    alice.wait("ttyFN0 busy", |v| {
        v["kind"] == 4
            && v["fields"]["device"] == "ttyFN0"
            && v["fields"]["state"] == 2
            && v["fields"]["detail"] == "Marked busy"
    });
    sh("faxstate", &["-q", &spool, "-s", "ready", "ttyFN0"]);
    alice.wait("ttyFN0 ready", |v| {
        v["kind"] == 4
            && v["fields"]["device"] == "ttyFN0"
            && v["fields"]["detail"] == "Marked ready"
    });
    for client in [&mut bob, &mut carol] {
        client.wait("ttyFN0 ready", |v| {
            v["kind"] == 4
                && v["fields"]["device"] == "ttyFN0"
                && v["fields"]["detail"] == "Marked ready"
        });
    }

    bob.wait("fax deleted", |v| v["kind"] == 5);

    // What HylaFAX itself says of the failed job.
    // (Debian's faxstat has no -O: the job format comes from ~/.hylarc.)
    let home = lab.dir.join("home");
    std::fs::create_dir_all(&home).expect("a home for faxstat");
    std::fs::write(home.join(".hylarc"), "JobFmt: \"%j|%s\"\n").expect(".hylarc");
    let doneq = sh_env("faxstat", &["-h", &host, "-d"], &[("HOME", &home)]);
    let reason = doneq
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{failed}|")))
        .unwrap_or_else(|| panic!("job {failed} not in {doneq}"))
        .trim()
        .to_owned();
    assert!(!reason.is_empty(), "HylaFAX gave no reason: {doneq}");

    // Exactly these, in this order, once each.
    assert_eq!(
        alice.of_kind(2),
        [
            // Queued before HylaFAX has prepared the document: no total yet
            // (whenever the bridge's listing was made: it races preparation).
            format!("job {sent} state 0 page 0/0"),
            format!("job {sent} state 1 page 0/2"),
            format!("job {sent} state 2 page 1/2"),
            format!("job {sent} state 2 page 2/2"),
            format!("job {sent} state 3 page 2/2"),
            format!("job {failed} state 0 page 0/0"),
            format!("job {failed} state 1 page 0/2"),
            format!("job {failed} state 4 page 0/2"),
        ],
        "{}",
        alice.process.dump()
    );
    let failure = alice
        .notifications
        .iter()
        .find(|v| job_state(v, failed, 4))
        .expect("the failure");
    assert_eq!(
        failure["fields"]["detail"],
        format!("{reason} (0 of 2 page(s) sent)")
    );
    let fax = bob.of_kind(1);
    assert_eq!(fax.len(), 1, "{}", bob.process.dump());
    assert!(
        fax[0].contains("from \"5550000\" to \"5550001\" pages 2"),
        "{fax:?}"
    );
    assert!(alice.of_kind(1).is_empty() && carol.of_kind(1).is_empty());
    assert_eq!(
        bob.of_kind(5),
        [format!("fax {received_job} change 1")],
        "{}",
        bob.process.dump()
    );
    assert!(alice.of_kind(5).is_empty() && carol.of_kind(5).is_empty());
    assert!(bob.of_kind(2).is_empty() && carol.of_kind(2).is_empty());
    for client in [&alice, &bob, &carol] {
        assert_eq!(
            client.device("ttyFN0"),
            ["device \"ttyFN0\" state 2", "device \"ttyFN0\" state 0"].repeat(3),
            "{}",
            client.process.dump()
        );
        assert_eq!(
            client.device("ttyFN1"),
            [
                "device \"ttyFN1\" state 2",
                "device \"ttyFN1\" state 0",
                "device \"ttyFN1\" state 1"
            ],
            "{}",
            client.process.dump()
        );
    }
    assert!(started.elapsed() < BUDGET, "took {:?}", started.elapsed());
    drop(bridge);
    drop(lab);
}
