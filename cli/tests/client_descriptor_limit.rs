//! A client at its limit of open file descriptors (`ulimit -n`) while
//! strangers flood its callback port, which is open to whoever can reach
//! it: each connection the client refuses gives its descriptor back at
//! once, even if the stranger never closes its end, so the flood cannot
//! leave the client without descriptors (to accept the server's callback,
//! or to dial it again), and the session goes on delivering.

mod common;

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};

use common::{
    RUNTIMES, Running, Stream, TestServer, WAIT, add_users, faxnotify, json, sockets_held,
    start_json_client_with_fd_limit, wait_for_sockets,
};

/// Low enough that the refusals below use every descriptor several times over.
const FD_LIMIT: u32 = 64;
/// Callbacks the client lets wait for their CB_HELLO at once (the core's
/// default `max_pending_callbacks`): the strangers that take these places
/// keep them until the handshake timeout, and every later one is refused.
const PENDING: usize = 8;
/// Strangers refused one after another and kept open.
const REFUSED: usize = 3 * FD_LIMIT as usize;
const PASSWORD: &str = "correct horse battery";
/// Refused sockets the client may still be closing while the next
/// stranger connects: a stranger sees the FIN just before the client
/// releases the socket, so one, with room for a busy machine.
const LAG: usize = 16;

/// The address of the client's callback listener, from its `listening` line.
fn callback_addr(client: &Running) -> SocketAddr {
    client
        .seen
        .iter()
        .filter(|(stream, _)| *stream == Stream::Out)
        .filter_map(|(_, line)| json(line))
        .find(|v| v["event"] == "listening")
        .and_then(|v| v["addr"].as_str().and_then(|a| a.parse().ok()))
        .unwrap_or_else(|| panic!("no listening line; output:\n{}", client.dump()))
}

/// A stranger on the callback port, greeted with CB_CHALLENGE: it then
/// holds one of the pending places.
fn pending_stranger(to: SocketAddr, i: usize, client: &Running) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&to, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut prefix = [0u8; 5];
    if let Err(e) = stream.read_exact(&mut prefix) {
        panic!(
            "stranger {i} got no CB_CHALLENGE ({e}); output:\n{}",
            client.dump()
        );
    }
    stream
}

/// A stranger the client refuses: it reads nothing but the client's FIN,
/// and keeps its own end open. On a slow machine a pending place may free
/// up first (its stranger's handshake timed out): then this one is greeted
/// and closed at its own timeout, which is as good for the count.
fn refused_stranger(to: SocketAddr, i: usize, client: &Running) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&to, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut got = Vec::new();
    if let Err(e) = stream.read_to_end(&mut got) {
        panic!(
            "refused stranger {i} of {REFUSED} was not closed ({e}); output:\n{}",
            client.dump()
        );
    }
    assert!(
        got.is_empty() || got.get(4) == Some(&0x20),
        "refused stranger {i}: got {got:02x?}, expected a bare close (or a CB_CHALLENGE)"
    );
    stream
}

fn strangers_cannot_take_the_clients_descriptors(runtime: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start(runtime, &users, dir.path(), &[]);
    let mut client = start_json_client_with_fd_limit(
        dir.path(),
        runtime,
        server.addr,
        "alice",
        PASSWORD,
        Some(FD_LIMIT),
    );
    let to = callback_addr(&client);
    let pid = client.pid();
    let pending: Vec<TcpStream> = (0..PENDING)
        .map(|i| pending_stranger(to, i, &client))
        .collect();
    let before = sockets_held(pid);
    // The strangers never close: a client that waits for them keeps a
    // descriptor per refusal, reaches its limit and fails to accept.
    let mut refused = Vec::with_capacity(REFUSED);
    for i in 0..REFUSED {
        refused.push(refused_stranger(to, i, &client));
        // Fails fast when the refusals pile up (with no room left, the
        // client would stop accepting and each stranger wait for it).
        let held = sockets_held(pid);
        assert!(
            held <= before + LAG,
            "{runtime}: the client holds {held} sockets after {} refusals, {before} before",
            i + 1
        );
    }
    if let Err(held) = wait_for_sockets(pid, before + 1) {
        panic!(
            "{runtime}: the client holds {held} sockets after {REFUSED} refusals, {before} before"
        );
    }
    // The session still delivers, with the strangers still open.
    faxnotify()
        .arg("notify")
        .arg("--admin-socket")
        .arg(&server.admin)
        .args(["--user", "alice", "message", "still here"])
        .assert()
        .success();
    client.wait_line(Stream::Out, "the notification", |l| {
        json(l).is_some_and(|v| v["event"] == "notification" && l.contains("still here"))
    });
    client.interrupt();
    client.wait_exit();
    let failed = client.lines_with("accept failed");
    assert!(
        failed.is_empty(),
        "{runtime}: the client could not accept while refusing strangers:\n{}",
        failed.join("\n")
    );
    server.process.interrupt();
    server.process.wait_exit();
    drop((pending, refused));
}

#[test]
fn strangers_on_the_callback_port_cannot_take_the_clients_descriptors_on_every_runtime() {
    for runtime in RUNTIMES {
        strangers_cannot_take_the_clients_descriptors(runtime);
    }
}
