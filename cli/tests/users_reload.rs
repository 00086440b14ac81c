//! The running server and its users file: the reload notices every change
//! of contents, reads only a bounded regular file, never quotes it, and
//! never runs on the thread that drains the runtime's events.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Stream, TestServer, add_users, faxnotify, json, write_file};

const PASSWORD: &str = "correct horse battery";

fn start_client(server: &TestServer, dir: &Path, user: &str, password: &str) -> common::Running {
    let pw = write_file(dir, &format!("pw-{user}"), password);
    common::Running::start(&[
        "client".to_owned(),
        "--server".into(),
        server.addr.to_string(),
        "--user".into(),
        user.into(),
        "--password-file".into(),
        pw.display().to_string(),
        "--listen".into(),
        "dynamic".into(),
        "--json".into(),
    ])
}

fn notify(server: &TestServer, text: &str) {
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&server.admin)
        .args(["--user", "alice", "message", text])
        .assert()
        .success();
}

/// A FIFO swapped in for the users file (which would block whoever opens
/// it) neither stalls the server nor the session: the notifications keep
/// arriving, the server keeps logging their delivery, and the reload says
/// what is wrong.
#[test]
fn a_fifo_users_file_does_not_stall_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start("mio", &users, dir.path(), &[]);
    let mut client = start_client(&server, dir.path(), "alice", PASSWORD);
    client.wait_line(Stream::Out, "reachable", |l| {
        json(l).is_some_and(|v| v["event"] == "status" && v["state"] == "reachable")
    });
    notify(&server, "before");
    client.wait_line(Stream::Out, "#1", |l| l.contains("before"));

    std::fs::remove_file(&users).unwrap();
    let status = Command::new("mkfifo")
        .arg(&users)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    server
        .process
        .wait_line(Stream::Err, "the reload's refusal", |l| {
            l.contains("not reloaded") && l.contains("not a regular file")
        });
    for i in 2..=21 {
        notify(&server, &format!("while the FIFO is there {i}"));
    }
    for i in 2..=21 {
        let text = format!("while the FIFO is there {i}");
        client.wait_line(Stream::Out, &text, |l| l.contains(&text));
    }
    // The thread that logs the runtime's events is not stuck either.
    server
        .process
        .wait_line(Stream::Err, "the delivery of seq 21", |l| {
            l.contains("delivered") && l.contains("..=21")
        });
    // A users file put back is read again.
    std::fs::remove_file(&users).unwrap();
    add_users(&users, &[("alice", PASSWORD), ("bob", PASSWORD)]);
    server.process.wait_line(Stream::Err, "the reload", |l| {
        l.contains("users file reloaded: 2 users")
    });
}

/// A replacement of the same size with the same modification time (a
/// rename of a copy whose mtime was set back) is still noticed.
#[test]
fn a_replacement_with_the_same_size_and_mtime_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start("smol", &users, dir.path(), &[]);
    // The same user with another password: the same size, other bytes.
    let other = dir.path().join("other.toml");
    std::fs::copy(&users, &other).unwrap();
    faxnotify()
        .args(["user", "add", "--replace", "--users"])
        .arg(&other)
        .args(["alice", "--password-stdin"])
        .write_stdin("a new password!!\n")
        .assert()
        .success();
    let old = std::fs::metadata(&users).unwrap();
    assert_eq!(std::fs::metadata(&other).unwrap().len(), old.len());
    std::fs::File::options()
        .write(true)
        .open(&other)
        .unwrap()
        .set_modified(old.modified().unwrap())
        .unwrap();
    std::fs::rename(&other, &users).unwrap();
    let new = std::fs::metadata(&users).unwrap();
    assert_eq!(
        (new.len(), new.modified().unwrap()),
        (old.len(), old.modified().unwrap())
    );
    server.process.wait_line(Stream::Err, "the reload", |l| {
        l.contains("users file reloaded: 1 users")
    });
    // The new password works.
    let mut client = start_client(&server, dir.path(), "alice", "a new password!!");
    client.wait_line(Stream::Out, "logged_in", |l| {
        json(l).is_some_and(|v| v["event"] == "logged_in")
    });
}

/// The peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// A 100 MB users file swapped in is refused without being read: the
/// server's memory and its log stay small.
#[test]
fn a_huge_users_file_costs_neither_memory_nor_log() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start("mio", &users, dir.path(), &[]);
    let huge = dir.path().join("huge.toml");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&huge).unwrap());
        let line = format!("# {}\n", "x".repeat(1 << 20));
        for _ in 0..100 {
            f.write_all(line.as_bytes()).unwrap();
        }
        f.write_all(b"version = [\n").unwrap();
    }
    std::fs::rename(&huge, &users).unwrap();
    server.process.wait_line(Stream::Err, "the refusal", |l| {
        l.contains("not reloaded") && l.contains("larger than")
    });
    let peak = peak_rss_kib(server.process.pid());
    assert!(peak < 64 * 1024, "the server peaked at {peak} KiB");
    let logged: usize = server.process.seen.iter().map(|(_, l)| l.len() + 1).sum();
    assert!(logged < 64 * 1024, "{logged} bytes of log");
}
