//! The HylaFAX bridge's configuration edited while it runs: new routes
//! take effect without a restart, a file that does not load keeps the old
//! ones and says why, once, and what needs a restart is said to.

mod common;

use std::path::Path;

use common::{Running, Stream, refusing_port};

/// Writes `text` to `path` as an editor that renames its copy over the
/// file does (readers see the old file or the new one).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn config(hfaxd: &str, routes: &str) -> String {
    format!(
        "hfaxd = \"{hfaxd}\"\nuser = \"faxnotify\"\nadmin_socket = \"/nonexistent/admin.sock\"\n\
         unrouted = [\"frontdesk\"]\n[route]\n{routes}[owners]\nroot = \"alice\"\n"
    )
}

#[test]
fn an_edited_configuration_is_taken_while_the_bridge_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Bound, never listening: hfaxd "refuses", and the bridge waits to
    // try again, which is when it must notice the edit too.
    let (_held, hfaxd) = refusing_port();
    let hfaxd = hfaxd.to_string();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, config(&hfaxd, "\"5550001\" = [\"bob\"]\n")).expect("write");
    let mut bridge = Running::start(&["hylafax", "--config", path.to_str().expect("utf-8")]);
    bridge.wait_line(Stream::Err, "the first refusal", |l| {
        l.contains("cannot subscribe to hfaxd's events")
    });

    replace(
        &path,
        &config(
            &hfaxd,
            "\"5550001\" = [\"bob\"]\n\"5550002\" = [\"carol\"]\n",
        ),
    );
    bridge.wait_line(Stream::Err, "the reload", |l| {
        l.contains("INFO") && l.contains("reloaded: 2 route(s), 1 unrouted user(s), 1 owner(s)")
    });

    replace(&path, "hfaxd = \n");
    bridge.wait_line(Stream::Err, "the refusal of a broken file", |l| {
        l.contains("WARN")
            && l.contains("configuration not reloaded (keeping the old routes)")
            && l.contains("bridge.toml")
    });

    replace(&path, &config("127.0.0.1:1", "\"5550002\" = [\"carol\"]\n"));
    bridge.wait_line(Stream::Err, "what needs a restart", |l| {
        l.contains("hfaxd, user and admin_socket take effect when the bridge restarts")
            && l.contains(&format!("keeps using {hfaxd}"))
    });
    bridge.kill();
    let said = bridge
        .seen
        .iter()
        .filter(|(_, l)| l.contains("not reloaded"))
        .count();
    assert_eq!(
        said,
        1,
        "a broken file is reported once:\n{}",
        bridge.dump()
    );
}
