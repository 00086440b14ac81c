//! Whether this machine can run the cluster tests, and saying so.

use std::process::Command;

/// The one command that enables the cluster tests where `nats-server` is
/// missing.
pub const ENABLE: &str = "sudo apt-get install -y nats-server";

/// Why the cluster tests cannot run here and the command that enables
/// them, or `None` when they can.
pub fn unavailable() -> Option<(String, &'static str)> {
    if std::env::var("FAXNOTIFY_NATS_TEST").as_deref() == Ok("skip") {
        return Some((
            "FAXNOTIFY_NATS_TEST=skip".into(),
            "unset FAXNOTIFY_NATS_TEST",
        ));
    }
    match Command::new("nats-server").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some((
            format!(
                "nats-server --version failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            ENABLE,
        )),
        Err(_) => Some((
            "nats-server is not installed (Debian package nats-server)".into(),
            ENABLE,
        )),
    }
}

/// `true` when `test` must be skipped: prints that it was skipped and how
/// to enable it. Panics instead when `FAXNOTIFY_NATS_TEST=require` (CI),
/// so a machine without `nats-server` cannot pass unnoticed.
pub fn skip_unless_available(test: &str) -> bool {
    let Some((why, enable)) = unavailable() else {
        return false;
    };
    assert!(
        std::env::var("FAXNOTIFY_NATS_TEST").as_deref() != Ok("require"),
        "FAXNOTIFY_NATS_TEST=require, but {why}"
    );
    eprintln!("SKIPPED {test}: {why}. To run it: {enable}");
    true
}
