//! `faxnotify conformance` against faxnotify's own server and client, on
//! every runtime (mio, smol, tokio), through the CLI, over plain TCP and with `--tls`: every
//! case that runs passes.
//!
//! The cases that wait for protocol timers are skipped (`--skip-slow`) to
//! keep CI short (about 80 s for the eight runs on a loaded two-core machine); the
//! core-level suite (conformance/tests/conformance_faxnotify.rs) runs them all.
//! Set `FAXNOTIFY_CONFORMANCE_FULL=1` to run every case here too.

mod common;

use common::{RUNTIMES, Running, TestServer, add_users, bin, faxnotify, write_file};
use std::time::{Duration, Instant};

/// The counts of the tree's last line: `N passed, N failed, N blocked, N skipped`.
fn counts(stdout: &str) -> (u32, u32, u32, u32) {
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}"));
    let numbers: Vec<u32> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2], numbers[3])
}

/// `--skip-slow`, unless `FAXNOTIFY_CONFORMANCE_FULL` is set.
fn slow_flag() -> &'static [&'static str] {
    if std::env::var_os("FAXNOTIFY_CONFORMANCE_FULL").is_some() {
        &[]
    } else {
        &["--skip-slow"]
    }
}

/// How the suite makes the server notify: through the admin socket
/// directly on one runtime, and through a `faxnotify notify` command line
/// (as docs/conformance.md writes it) on the other.
fn trigger(runtime: &str, admin: &std::path::Path) -> Vec<String> {
    if runtime == "mio" {
        vec!["--admin-socket".into(), admin.display().to_string()]
    } else {
        let command = format!(
            "'{}' notify --admin '{}' --user {{user}} {{text}}",
            bin(),
            admin.display()
        );
        vec!["--notify-command".into(), command]
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1 in `dir`
/// (`faxnotify tls self-signed`), and how the suite trusts it: by the CA
/// file on mio, by the pinned fingerprint on smol.
fn certificate(runtime: &str, dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let made = faxnotify()
        .args([
            "tls",
            "self-signed",
            "--name",
            "localhost",
            "--name",
            "127.0.0.1",
        ])
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let trust = if runtime == "mio" {
        vec![
            "--tls".to_owned(),
            format!("ca:{cert}"),
            "--tls-name".to_owned(),
            "localhost".to_owned(),
        ]
    } else {
        let printed = faxnotify()
            .args(["tls", "fingerprint", &cert])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&printed.stdout).into_owned();
        let pin = text
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no fingerprint in {text:?}"));
        vec!["--tls".to_owned(), format!("pin:{pin}")]
    };
    (
        vec!["--tls-cert".to_owned(), cert, "--tls-key".to_owned(), key],
        trust,
    )
}

/// The suite against `faxnotify server` on `runtime`, over TLS or not.
fn against_our_server(runtime: &str, tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(
        &users,
        &[("alice", "correct horse"), ("bob", "battery staple")],
    );
    let (server_tls, suite_tls) = if tls {
        certificate(runtime, dir.path())
    } else {
        (Vec::new(), Vec::new())
    };
    let mut server_args: Vec<&str> = vec![
        "--lease",
        "10s",
        "--handshake-timeout",
        "3s",
        "--max-failed-logins",
        "1000",
        "--max-failed-logins-per-address",
        "1000",
    ];
    server_args.extend(server_tls.iter().map(String::as_str));
    let mut server = TestServer::start(runtime, &users, dir.path(), &server_args);
    let pw = write_file(dir.path(), "pw", "correct horse");
    let output = faxnotify()
        .args([
            "conformance",
            "server",
            &server.addr.to_string(),
            "--user",
            "alice",
        ])
        .arg("--password-file")
        .arg(&pw)
        .args(["--user2", "bob:battery staple", "--handshake-timeout", "3s"])
        .args(slow_flag())
        .args(trigger(runtime, &server.admin))
        .args(&suite_tls)
        .arg("--json")
        .arg(dir.path().join("report.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (passed, failed, blocked, skipped) = counts(&stdout);
    assert_eq!((failed, blocked), (0, 0), "{runtime}:\n{stdout}");
    assert_eq!(output.status.code(), Some(0), "{runtime}:\n{stdout}");
    // Only the slow cases are skipped (the trigger and the second user were
    // given), and without TLS the cases about TLS.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    for case in report["cases"].as_array().unwrap() {
        if case["outcome"] == "skipped" {
            let expected = case["slow"] == true || (!tls && case["section"] == "tls");
            assert!(expected, "{runtime}: {case}");
        }
    }
    assert!(
        passed >= 60,
        "{runtime}: {passed} passed, {skipped} skipped"
    );
    server.stop_cleanly();
}

#[test]
fn our_server_passes_on_every_runtime() {
    for runtime in RUNTIMES {
        against_our_server(runtime, false);
    }
}

#[test]
fn our_server_passes_over_tls_on_every_runtime() {
    for runtime in RUNTIMES {
        against_our_server(runtime, true);
    }
}

/// The suite against `faxnotify client` on `runtime`, over TLS (the suite's
/// own CA, trusted through `{settings_file}`) or not.
fn against_our_client(runtime: &str, tls: bool) {
    let output = faxnotify()
        .args(["conformance", "client"])
        .args(slow_flag())
        .args(if tls { &["--tls"][..] } else { &[] })
        .args(["--", bin(), "client"])
        .args([
            "--runtime",
            runtime,
            "--server",
            "{addr}",
            "--user",
            "{user}",
        ])
        .args([
            "--password-file",
            "{password_file}",
            "--settings",
            "{settings_file}",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (passed, failed, blocked, skipped) = counts(&stdout);
    assert_eq!((failed, blocked), (0, 0), "{runtime}:\n{stdout}");
    assert_eq!(output.status.code(), Some(0), "{runtime}:\n{stdout}");
    if tls {
        // No case is slow among the client's TLS cases: none may be skipped.
        assert!(
            stdout.contains("FNP/1 over TLS") && !stdout.contains("run the suite with --tls"),
            "{runtime}:\n{stdout}"
        );
    }
    assert!(
        passed >= 60,
        "{runtime}: {passed} passed, {skipped} skipped\n{stdout}"
    );
}

#[test]
fn our_client_passes_on_every_runtime() {
    for runtime in RUNTIMES {
        against_our_client(runtime, false);
    }
}

#[test]
fn our_client_passes_over_tls_on_every_runtime() {
    for runtime in RUNTIMES {
        against_our_client(runtime, true);
    }
}

/// Ctrl-C of the suite ends the client under test, which runs in a process
/// group of its own (so the terminal's SIGINT does not reach it), with
/// whatever it started.
#[test]
fn interrupting_the_suite_ends_the_client_under_test() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("client.pid");
    let script = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
    let mut suite = Running::start(&[
        "conformance",
        "client",
        "--case",
        "client/framing/zero-length",
        "--",
        "bash",
        "-c",
        &script,
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the client under test never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    suite.interrupt();
    let status = suite.wait_exit();
    assert_eq!(status.code(), Some(130), "{}", suite.dump());
    assert!(
        !suite.lines_with("interrupted").is_empty(),
        "{}",
        suite.dump()
    );
    faxnotify_testkit::process::assert_ends(
        pid,
        Duration::from_secs(10),
        "the client under test's child, after the suite was interrupted",
    );
}
