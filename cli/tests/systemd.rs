//! `Type=notify`: under systemd (`NOTIFY_SOCKET` set) the server says
//! READY=1 once it listens and serves its admin socket, and STOPPING=1
//! when Ctrl-C (or SIGTERM) starts its shutdown.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;

use common::{Running, Stream, WAIT, add_users, faxnotify};

/// The next notification datagram, without its trailing newline.
fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification within {WAIT:?}: {e}"));
    String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()
}

#[test]
fn the_server_says_ready_once_it_serves_and_stopping_on_ctrl_c() {
    for runtime in common::RUNTIMES {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        add_users(&users, &[("alice", "pw")]);
        let notify = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&notify).unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        let admin = dir.path().join("admin.sock");
        let args = [
            "server".to_owned(),
            "--runtime".into(),
            runtime.into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--users".into(),
            users.display().to_string(),
            "--admin-socket".into(),
            admin.display().to_string(),
        ];
        let mut server = Running::start_with_env(&args, &[("NOTIFY_SOCKET", notify.as_os_str())]);

        assert_eq!(next(&socket), "READY=1", "{runtime}");
        server.wait_line(Stream::Err, "\"ready\"", |l| l.contains("ready: serving"));
        // Ready means serving: the control port takes a connection and the
        // admin socket answers, with no retry.
        let line = server
            .seen
            .iter()
            .map(|(_, l)| l.clone())
            .find(|l| l.contains("listening on "))
            .unwrap_or_else(|| panic!("no \"listening on\":\n{}", server.dump()));
        let addr: SocketAddr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        TcpStream::connect(addr).expect("the server listens once it said READY=1");
        faxnotify()
            .args(["sessions", "--admin-socket"])
            .arg(&admin)
            .assert()
            .success();

        server.interrupt();
        assert_eq!(next(&socket), "STOPPING=1", "{runtime}");
        assert!(server.wait_exit().success(), "{}", server.dump());
    }
}

#[test]
fn without_notify_socket_the_server_runs_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "pw")]);
    let mut server = common::TestServer::start("mio", &users, dir.path(), &[]);
    server.stop_cleanly();
    assert!(
        !server.process.dump().contains("NOTIFY_SOCKET"),
        "{}",
        server.process.dump()
    );
}
