//! What the commands create is as private as it says, whatever the umask
//! of whoever runs them: on a host many users share, a directory or a
//! certificate others can write lets any of them replace the settings
//! every client starts with, or the server's certificate and key.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

/// Runs `faxnotify ARGS` under umask 000 (a cron job, a container's
/// entry point or a service manager may run commands so); checks it worked.
fn run_with_umask_0(args: &[&str], stdin: &str) {
    use std::io::Write as _;
    let mut child = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\"", common::bin()])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("waits");
    assert!(
        out.status.success(),
        "faxnotify {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The file's permission bits in octal, as `ls -l` users read them.
fn mode(path: &Path) -> String {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:03o}", mode & 0o777)
}

/// `settings set` creates the directories of a new settings file
/// writable by its user only (before: 0777 under umask 000, so anyone
/// could rename their own file over the host's settings).
#[test]
fn settings_set_creates_directories_only_its_user_can_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("etc/faxnotify/client.toml");
    run_with_umask_0(
        &[
            "settings",
            "set",
            "--settings",
            file.to_str().expect("utf-8"),
            "--server",
            "127.0.0.1:4580",
        ],
        "",
    );
    assert_eq!(mode(&dir.path().join("etc")), "755");
    assert_eq!(mode(&dir.path().join("etc/faxnotify")), "755");
    assert_eq!(mode(&file), "644");
}

/// `tls self-signed` creates its directory and the certificate writable
/// by its user only, the key readable by its user only (before: the
/// directory 0777 and the certificate 0666 under umask 000, so anyone
/// could put their own certificate and key in the server's place).
#[test]
fn tls_self_signed_creates_files_only_its_user_can_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("srv/tls");
    run_with_umask_0(
        &[
            "tls",
            "self-signed",
            "--name",
            "fax.example.org",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        "",
    );
    assert_eq!(mode(&dir.path().join("srv")), "755");
    assert_eq!(mode(&out), "755");
    assert_eq!(mode(&out.join("cert.pem")), "644");
    assert_eq!(mode(&out.join("key.pem")), "600");
}

/// The users file is its user's alone under any umask (it always was).
#[test]
fn user_add_creates_a_users_file_only_its_user_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.toml");
    run_with_umask_0(
        &[
            "user",
            "add",
            "--users",
            file.to_str().expect("utf-8"),
            "alice",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert_eq!(mode(&file), "600");
}

/// `tls self-signed` run by root into a directory another user can write
/// (one they made first, say): a symbolic link they planted as cert.pem
/// is replaced, never written through. Before, the certificate went into
/// whatever file the link named: one it created (a dangling link) or,
/// with --force, an existing one it overwrote (/etc/shadow, say).
#[test]
fn tls_self_signed_never_writes_through_a_planted_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("tls");
    std::fs::create_dir(&out).expect("mkdir");
    let created = dir.path().join("created-by-the-link");
    std::os::unix::fs::symlink(&created, out.join("cert.pem")).expect("symlink");
    run_with_umask_0(
        &[
            "tls",
            "self-signed",
            "--name",
            "fax.example.org",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        "",
    );
    assert!(!created.exists(), "the dangling link's target was created");
    assert!(
        !std::fs::symlink_metadata(out.join("cert.pem"))
            .expect("cert")
            .is_symlink()
    );

    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    std::fs::remove_file(out.join("cert.pem")).expect("rm");
    std::os::unix::fs::symlink(&victim, out.join("cert.pem")).expect("symlink");
    run_with_umask_0(
        &[
            "tls",
            "self-signed",
            "--force",
            "--name",
            "fax.example.org",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        "",
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious\n"
    );
    assert_eq!(mode(&out.join("cert.pem")), "644");
}

/// Starts a client of a server that refuses, with the settings file `file`.
fn client_with_settings(file: &Path) -> common::Running {
    common::Running::start_with_env(
        &[
            "client",
            "--settings",
            file.to_str().expect("utf-8"),
            "--user",
            "alice",
        ],
        &[("FAXNOTIFY_PASSWORD", std::ffi::OsStr::new("correct horse"))],
    )
}

/// A settings file other users may write to (mode 0666, as umask 000 made
/// it, or a chmod) is named in a warning: they choose the server every
/// client logs in to. One only its owner may write is not.
#[test]
fn a_client_warns_of_settings_others_may_change() {
    let (_held, server) = common::refusing_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("client.toml");
    common::faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&file)
        .args(["--server", &server.to_string(), "--trust", "off"])
        .assert()
        .success();
    let mut client = client_with_settings(&file);
    // The warning comes before the first attempt, on the other stream:
    // wait for the second attempt so that both have been read.
    client.wait_line(common::Stream::Out, "a second attempt", |l| {
        l.contains("cannot connect") && l.contains("(attempt 2)")
    });
    client.kill();
    assert!(
        client.lines_with("whoever can change it").is_empty(),
        "{}",
        client.dump()
    );

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let mut client = client_with_settings(&file);
    client.wait_line(common::Stream::Err, "the warning", |l| {
        l.contains("WARN")
            && l.contains("other users may write to it (mode 666)")
            && l.contains("whoever can change it chooses the server")
    });
    client.kill();
}
