//! `faxnotify demo` runs with no set-up and loses nothing, on every runtime (mio, smol, tokio),
//! over TLS by default and over plain TCP with `--plain`.

mod common;

use common::{RUNTIMES, faxnotify};

/// The number after `label` on its summary line.
fn count(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{summary}"))
}

#[test]
fn the_demo_delivers_everything_exactly_once() {
    for runtime in RUNTIMES {
        let output = faxnotify()
            .args(["demo", "--burst", "100", "--runtime", runtime])
            .output()
            .expect("the demo runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
        let sent = count(&stdout, "notifications sent:");
        // 11 story steps reach 1 or 3 sessions (19 deliveries), then 100 to each of 3.
        assert_eq!(sent, 19 + 300, "{stdout}");
        assert_eq!(count(&stdout, "delivered:"), sent, "{stdout}");
        assert_eq!(count(&stdout, "duplicates:"), 0, "{stdout}");
        assert_eq!(count(&stdout, "lost:"), 0, "{stdout}");
        // Over TLS by default, with the pin shown.
        assert!(
            stdout.contains(&format!("summary ({runtime} runtime, TLS 1.3)"))
                && stdout.contains("over TLS 1.3")
                && stdout.contains("the clients pin\n  sha256:"),
            "{stdout}"
        );
        // The second fixed-port client was refused with the clear error.
        assert!(
            stdout.contains("dave: refused, as it should be: callback port")
                && stdout.contains("only one client per machine"),
            "{stdout}"
        );
        // Every policy is shown.
        for policy in ["(dynamic)", "(range:", "(fixed:"] {
            assert!(stdout.contains(policy), "{policy} missing:\n{stdout}");
        }
        assert!(stdout.contains("latency p50 / p99:"), "{stdout}");
    }
}

#[test]
fn the_demo_runs_over_plain_tcp_when_asked() {
    let output = faxnotify()
        .args(["demo", "--burst", "10", "--runtime", "mio", "--plain"])
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert_eq!(count(&stdout, "lost:"), 0, "{stdout}");
    assert!(
        stdout.contains("over plain TCP (--plain)")
            && stdout.contains("summary (mio runtime, plain TCP)")
            && !stdout.contains("sha256:"),
        "{stdout}"
    );
}
