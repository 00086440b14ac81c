//! A client at its limit of open file descriptors (`ulimit -n`) while
//! strangers flood its callback port, which is open to whoever can reach
//! it: each stranger the client closes to make room for a newer one gives
//! its descriptor back at once, even if the stranger never closes its end,
//! so the flood cannot leave the client without descriptors (to accept the
//! server's callback, or to dial it again), and the session goes on
//! delivering.

mod common;

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};

use common::{
    RUNTIMES, Running, Stream, TestServer, WAIT, add_users, faxnotify, json, sockets_held,
    start_json_client_with_fd_limit, wait_for_sockets,
};

/// Low enough that the strangers below use every descriptor several times over.
const FD_LIMIT: u32 = 64;
/// Callbacks the client lets wait for their CB_HELLO at once (the core's
/// default `max_pending_callbacks`): each stranger beyond them makes the
/// client close the oldest [B-7].
const PENDING: usize = 8;
/// Strangers that push older ones out, one after another; all are kept open.
const PUSHED_OUT: usize = 3 * FD_LIMIT as usize;
const PASSWORD: &str = "correct horse battery";
/// Closed sockets the client may still be releasing while the next
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
    // The whole frame (length, type, nonce), so that what comes next is
    // the close.
    let mut length = [0u8; 4];
    let mut frame = Vec::new();
    let read = stream.read_exact(&mut length).and_then(|()| {
        frame.resize(u32::from_be_bytes(length) as usize, 0);
        stream.read_exact(&mut frame)
    });
    if let Err(e) = read {
        panic!(
            "stranger {i} got no CB_CHALLENGE ({e}); output:\n{}",
            client.dump()
        );
    }
    assert_eq!(
        frame.first(),
        Some(&0x20),
        "stranger {i}: not a CB_CHALLENGE"
    );
    stream
}

/// A stranger pushed out by a newer one: after its CB_CHALLENGE it reads
/// nothing but the client's FIN, and keeps its own end open. (On a slow
/// machine its handshake may time out first: an ERROR TIMEOUT, then the
/// close, which is as good for the count.)
fn pushed_out(mut stream: TcpStream, i: usize, client: &Running) -> TcpStream {
    let mut got = Vec::new();
    if let Err(e) = stream.read_to_end(&mut got) {
        panic!(
            "stranger {i} was not closed when newer ones came ({e}); output:\n{}",
            client.dump()
        );
    }
    assert!(
        got.is_empty() || got.get(4) == Some(&0x7f),
        "stranger {i}: got {got:02x?}, expected a bare close (or an ERROR)"
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
    let mut pending: VecDeque<TcpStream> = (0..PENDING)
        .map(|i| pending_stranger(to, i, &client))
        .collect();
    let before = sockets_held(pid);
    // The strangers never close: a client that waits for them keeps a
    // descriptor per stranger, reaches its limit and fails to accept.
    let mut closed = Vec::with_capacity(PUSHED_OUT);
    for i in 0..PUSHED_OUT {
        pending.push_back(pending_stranger(to, PENDING + i, &client));
        let oldest = pending.pop_front().expect("a pending stranger");
        closed.push(pushed_out(oldest, i, &client));
        // Fails fast when the closed ones pile up (with no room left, the
        // client would stop accepting and each stranger wait for it).
        let held = sockets_held(pid);
        assert!(
            held <= before + LAG,
            "{runtime}: the client holds {held} sockets after {} strangers pushed out, {before} before",
            i + 1
        );
    }
    if let Err(held) = wait_for_sockets(pid, before + 1) {
        panic!(
            "{runtime}: the client holds {held} sockets after {PUSHED_OUT} strangers pushed out, {before} before"
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
        "{runtime}: the client could not accept while pushing strangers out:\n{}",
        failed.join("\n")
    );
    server.process.interrupt();
    server.process.wait_exit();
    drop((pending, closed));
}

#[test]
fn strangers_on_the_callback_port_cannot_take_the_clients_descriptors_on_every_runtime() {
    for runtime in RUNTIMES {
        strangers_cannot_take_the_clients_descriptors(runtime);
    }
}
