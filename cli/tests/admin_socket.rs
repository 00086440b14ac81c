//! The admin socket: owner-only, created safely, and a bad request gets an
//! error line, never a crash.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use common::{TestServer, add_users, bin, faxnotify, json};
use predicates::prelude::*;
use predicates::str::contains;

fn ask(
    stream: &mut UnixStream,
    reader: &mut BufReader<UnixStream>,
    line: &str,
) -> serde_json::Value {
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    json(reply.trim()).unwrap_or_else(|| panic!("not JSON: {reply:?}"))
}

#[test]
fn bad_requests_get_error_lines_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    let mut server = TestServer::start("mio", &users, dir.path(), &[]);

    let meta = std::fs::symlink_metadata(&server.admin).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let mut stream = UnixStream::connect(&server.admin).unwrap();
    // A missing reply fails the test instead of hanging it.
    stream.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for (line, code) in [
        ("", "bad_request"),
        ("   ", "bad_request"),
        ("this is not json", "bad_request"),
        (r#"{"op":"reboot"}"#, "bad_request"),
        (
            r#"{"op":"notify","to":"all","notification":{"kind":"server_message"}}"#,
            "bad_request",
        ),
        (
            r#"{"op":"notify","to":{"user":"nobody"},"notification":{"kind":"server_message","text":"x"}}"#,
            "no_such_user",
        ),
        (r#"{"op":"end_session","session":"zz"}"#, "no_such_session"),
        (
            r#"{"op":"end_session","session":"0123456789abcdef"}"#,
            "no_such_session",
        ),
    ] {
        let reply = ask(&mut stream, &mut reader, line);
        assert_eq!(reply["ok"], false, "{line}: {reply}");
        assert_eq!(reply["error"], code, "{line}: {reply}");
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
    // A payload too large for a NOTIFY frame.
    let huge = "x".repeat(70_000);
    let reply = ask(
        &mut stream,
        &mut reader,
        &format!(
            r#"{{"op":"notify","to":"all","notification":{{"kind":"server_message","text":"{huge}"}}}}"#
        ),
    );
    assert_eq!(reply["error"], "cannot_encode", "{reply}");
    // The same connection still answers.
    let reply = ask(&mut stream, &mut reader, r#"{"op":"sessions"}"#);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["sessions"], serde_json::json!([]));
    let reply = ask(
        &mut stream,
        &mut reader,
        r#"{"op":"notify","to":{"user":"ALICE"},"notification":{"kind":"job_status","job":1,"state":3}}"#,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["accepted"], serde_json::json!([]));
    drop(stream);

    server.stop_cleanly();
}

#[test]
fn the_socket_path_is_never_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);

    // A regular file at the path: refused, and left alone.
    let file = dir.path().join("file.sock");
    std::fs::write(&file, "precious").unwrap();
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--admin-socket")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("is not a socket"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");

    // A stale socket (nobody listening) is replaced.
    let mut server = {
        let stale = dir.path().join("admin-smol.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        TestServer::start("smol", &users, dir.path(), &[])
    };
    // A live one is not: a second server refuses to start.
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--admin-socket")
        .arg(&server.admin)
        .assert()
        .code(2)
        .stderr(contains("in use by a running server"));
    // ... and the first one still answers on it.
    faxnotify()
        .args(["sessions", "--admin-socket"])
        .arg(&server.admin)
        .assert()
        .success()
        .stdout(contains("no sessions"));
    server.stop_cleanly();
    assert!(!server.admin.exists());
}

/// The user a squatter runs as.
const NOBODY: u32 = 65534;

/// Whether this test process may run another process as [`NOBODY`].
fn can_switch_users() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Another user's `faxnotify server` holding `path`, as a squatter would
/// (issue 17, case 5); returns it once it answers there.
fn squatter(dir: &std::path::Path, path: &std::path::Path) -> std::process::Child {
    let users = dir.join("squatter.toml");
    add_users(&users, &[("mallory", "pw")]);
    std::os::unix::fs::chown(&users, Some(NOBODY), Some(NOBODY)).unwrap();
    let mut child = Command::new(bin())
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--admin-socket")
        .arg(path)
        .env_remove("RUST_LOG")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "the squatter did not start: {seen}");
        seen.push_str(&line);
        if line.contains("admin socket at") {
            break;
        }
    }
    // Keep reading its log, so that it never stalls.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    child
}

#[test]
fn a_socket_another_user_serves_is_refused_by_everyone() {
    if !can_switch_users() {
        eprintln!("skipped: only root can run the squatter as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A shared directory, as /tmp is.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = dir.path().join("faxnotify.sock");
    let mut squatter = squatter(dir.path(), &path);

    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&path)
        .args(["--user", "alice", "message", "the secret contents"])
        .assert()
        .code(1)
        .stderr(
            contains("is served by uid 65534")
                .and(contains("nothing was sent"))
                .and(contains("not by root or by you")),
        );
    faxnotify()
        .args(["sessions", "--admin-socket"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(contains("is served by uid 65534"));
    faxnotify()
        .args(["end-session", "--admin-socket"])
        .arg(&path)
        .arg("0123456789abcdef")
        .assert()
        .code(1)
        .stderr(contains("is served by uid 65534"));

    // The real server refuses to start there, and says why.
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--admin-socket")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains("is served by uid 65534").and(contains("refusing to start")));
    let _ = squatter.kill();
    let _ = squatter.wait();
}

#[test]
fn bad_socket_paths_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    let long = dir.path().join("x".repeat(110));
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    for (path, says) in [
        (long, "a Unix socket path can have at most 107"),
        (dir.path().join("missing").join("a.sock"), "does not exist"),
        (file.join("a.sock"), "is not a directory"),
    ] {
        faxnotify()
            .args(["server", "--listen", "127.0.0.1:0", "--users"])
            .arg(&users)
            .arg("--admin-socket")
            .arg(&path)
            .assert()
            .code(2)
            // Refused before listening: no "listening on" line.
            .stderr(contains(says).and(contains("listening on").not()));
    }
}

/// `faxnotify ARGS` as [`NOBODY`] with `XDG_RUNTIME_DIR=xdg`.
fn as_nobody(xdg: &std::path::Path, args: &[std::ffi::OsString]) -> Command {
    let mut command = Command::new(bin());
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("FAXNOTIFY_ADMIN_SOCKET")
        .env("XDG_RUNTIME_DIR", xdg)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null());
    command
}

#[test]
fn the_default_path_is_in_a_private_directory() {
    if !can_switch_users() {
        eprintln!("skipped: only root can run the server as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let xdg = dir.path().join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    std::os::unix::fs::chown(&xdg, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    std::os::unix::fs::chown(&users, Some(NOBODY), Some(NOBODY)).unwrap();
    let server_args = |extra: &[&str]| -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = ["server", "--listen", "127.0.0.1:0", "--users"]
            .iter()
            .map(Into::into)
            .collect();
        args.push(users.clone().into());
        args.extend(extra.iter().map(Into::into));
        args
    };

    // A directory others can enter is refused, and the server says why.
    let private = xdg.join("faxnotify");
    std::fs::create_dir(&private).unwrap();
    std::os::unix::fs::chown(&private, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = server_args(&["--admin-socket"]);
    let out = as_nobody(&xdg, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has mode 755") && stderr.contains("chmod 700"),
        "{stderr}"
    );
    std::fs::remove_dir(&private).unwrap();

    // Without a path: $XDG_RUNTIME_DIR/faxnotify/admin.sock, in a 0700
    // directory it creates, and the admin commands find it by default.
    let mut server = as_nobody(&xdg, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("admin socket at") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    assert!(
        seen.contains(&format!(
            "admin socket at {}",
            private.join("admin.sock").display()
        )),
        "{seen}"
    );
    let meta = std::fs::metadata(&private).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let out = as_nobody(&xdg, &["sessions".into()]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no sessions"));
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_client_that_never_reads_its_replies_stops_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    let mut server = TestServer::start("mio", &users, dir.path(), &[]);

    // Requests as fast as the server takes them, never reading a reply.
    // The server must stop reading once its replies wait unread, rather
    // than queue a reply per request for as long as the client writes.
    const GAVE_UP: usize = 8 * 1024 * 1024;
    let mut stream = UnixStream::connect(&server.admin).unwrap();
    stream
        .set_write_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    let chunk = r#"{"op":"sessions"}
"#
    .repeat(4096);
    let mut taken = 0;
    let stalled = loop {
        match stream.write(chunk.as_bytes()) {
            Ok(n) => taken += n,
            Err(e) => break e,
        }
        assert!(
            taken < GAVE_UP,
            "the server took {taken} bytes of requests whose replies were never read"
        );
    };
    assert!(
        matches!(
            stalled.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{stalled}"
    );
    // The connection still works once the client reads.
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    assert_eq!(json(reply.trim()).unwrap()["ok"], true, "{reply}");
    drop((stream, reader));

    server.stop_cleanly();
}

#[test]
fn connections_that_say_nothing_do_not_keep_notify_out() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    let mut server = TestServer::start("mio", &users, dir.path(), &[]);

    // A slowloris: more silent connections than the server serves at
    // once, and one that trickles a request that never ends.
    let mut silent: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(&server.admin).unwrap())
        .collect();
    let mut trickle = UnixStream::connect(&server.admin).unwrap();
    trickle.write_all(br#"{"op":"#).unwrap();
    silent.push(trickle);
    let started = std::time::Instant::now();
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&server.admin)
        .args(["--all", "hello"])
        .assert()
        // Answered: nobody to notify, not `busy`.
        .code(6)
        .stderr(contains("nobody is logged in"));
    assert!(started.elapsed() < common::WAIT, "{:?}", started.elapsed());
    drop(silent);

    server.stop_cleanly();
}
