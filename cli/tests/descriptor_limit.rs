//! A server at its limit of open file descriptors (`ulimit -n`): it gets
//! each one back as soon as a connection it closed has ended (a peer that
//! makes it close connections — a flood of garbage, of slow handshakes —
//! must not leave it holding sockets until it can accept nobody, for good),
//! a flood of connections that never log in cannot take them all
//! ([D-15] rule 3 must still make room for others), and a connection it
//! refuses gives its descriptor back at once, even if the peer never
//! closes its end.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd as _;

use nix::sys::socket::{SockaddrIn, connect};

use common::{
    RUNTIMES, TestServer, WAIT, add_users, bound_socket, sockets_held, start_json_client,
    wait_for_sockets,
};

/// Low enough that every descriptor is used several times over below.
const FD_LIMIT: u32 = 64;
/// Connections made one after another, each closed by the server.
const CONNECTIONS: usize = 3 * FD_LIMIT as usize;

/// Connects, sends a frame of length 0 (MALFORMED) and reads the server's
/// reply to its end; panics if the server does not greet connection `i`.
fn garbage_connection(server: &TestServer, i: usize) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut prefix = [0u8; 5];
    if let Err(e) = stream.read_exact(&mut prefix) {
        panic!(
            "connection {i} of {CONNECTIONS} got no SERVER_HELLO ({e}): the server does not \
             accept connections any more; output:\n{}",
            server.process.dump()
        );
    }
    assert_eq!(prefix[4], 0x01, "connection {i}: SERVER_HELLO first");
    stream.write_all(&[0, 0, 0, 0]).expect("write");
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .unwrap_or_else(|e| panic!("connection {i}: the server did not close it ({e})"));
    let error = rest.windows(3).any(|w| w == [0x7f, 0x00, 0x03]);
    assert!(error, "connection {i}: ERROR MALFORMED before the close");
}

fn run(runtime: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "correct horse battery")]);
    let server = TestServer::start_with_fd_limit(runtime, &users, dir.path(), &[], FD_LIMIT);
    for i in 0..CONNECTIONS {
        garbage_connection(&server, i);
    }
}

/// A connection from `from` to `to`, made at once (the kernel completes it
/// whether or not the server accepts it yet).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let fd = bound_socket(from);
    let SocketAddr::V4(to) = to else {
        panic!("an IPv4 server")
    };
    connect(fd.as_raw_fd(), &SockaddrIn::from(to)).expect("connect");
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream
}

/// Whether the server greets `stream` (SERVER_HELLO) rather than refusing
/// it (an ERROR, or a close).
fn greeted(stream: &mut TcpStream) -> std::io::Result<bool> {
    let mut prefix = [0u8; 5];
    match stream.read_exact(&mut prefix) {
        Ok(()) => Ok(prefix[4] == 0x01),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(false),
        Err(e) => Err(e),
    }
}

/// Addresses of one /24 flooding, and connections from each: more in all
/// than the server has descriptors.
const FLOOD_ADDRESSES: u8 = 20;
const FLOOD_PER_ADDRESS: usize = 4;

fn flood_then_greet(runtime: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "correct horse battery")]);
    // A handshake timeout longer than the test: the flood's connections
    // stay unless the server makes room.
    let server = TestServer::start_with_fd_limit(
        runtime,
        &users,
        dir.path(),
        &["--handshake-timeout", "1h"],
        FD_LIMIT,
    );
    // Every flood connection is in the server's queue before the other
    // client's: the server meets them first.
    let flood: Vec<TcpStream> = (0..FLOOD_ADDRESSES)
        .flat_map(|i| (0..FLOOD_PER_ADDRESS).map(move |_| Ipv4Addr::new(127, 0, 1, 2 + i)))
        .map(|from| connect_from(from, server.addr))
        .collect();
    let mut other = connect_from(Ipv4Addr::LOCALHOST, server.addr);
    std::thread::scope(|scope| {
        // The flood keeps what is greeted and closes what is refused.
        for mut stream in flood {
            scope.spawn(move || {
                if greeted(&mut stream).unwrap_or(false) {
                    let _ = stream.read_to_end(&mut Vec::new());
                }
            });
        }
        let greeting = greeted(&mut other);
        assert!(
            matches!(greeting, Ok(true)),
            "{runtime}: a client from another network got no SERVER_HELLO ({greeting:?}) while \
             {} unauthenticated connections from one network were open; output:\n{}",
            usize::from(FLOOD_ADDRESSES) * FLOOD_PER_ADDRESS,
            server.process.dump()
        );
        // Ends the flood's readers: the server closes their connections.
        drop(server);
    });
}

/// Refused connections made one after another and kept open by their
/// peer: several times what the server may hold.
const REFUSED: usize = 3 * FD_LIMIT as usize;

/// Reads refused connection `i` to its end: the refusal's ERROR
/// LIMIT_EXCEEDED (and no SERVER_HELLO), then the server's FIN.
fn read_refusal(stream: &mut TcpStream, i: usize, server: &TestServer) {
    let mut got = Vec::new();
    if let Err(e) = stream.read_to_end(&mut got) {
        panic!(
            "refused connection {i} of {REFUSED} did not end ({e}); output:\n{}",
            server.process.dump()
        );
    }
    assert!(
        got.len() > 7 && got[4] == 0x7f && got[5..7] == [0x00, 0x08],
        "refused connection {i}: {got:02x?} is not an ERROR LIMIT_EXCEEDED"
    );
}

fn refusals_give_their_descriptors_back(runtime: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "correct horse battery")]);
    let mut server = TestServer::start_with_fd_limit(
        runtime,
        &users,
        dir.path(),
        &[
            "--handshake-timeout",
            "1h",
            "--max-unauthenticated-per-ip",
            "1",
        ],
        FD_LIMIT,
    );
    // One connection from the flooding address waits to log in: every
    // further one from there is refused.
    let flood = Ipv4Addr::new(127, 0, 1, 2);
    let mut waiting = connect_from(flood, server.addr);
    assert!(
        matches!(greeted(&mut waiting), Ok(true)),
        "{runtime}: the first connection was not greeted"
    );
    let pid = server.process.pid();
    let before = sockets_held(pid);
    // The peers never close: a server that waits for them keeps a
    // descriptor per refusal, reaches its limit, and fails to accept.
    let mut refused = Vec::with_capacity(REFUSED);
    for i in 0..REFUSED {
        let mut stream = connect_from(flood, server.addr);
        read_refusal(&mut stream, i, &server);
        refused.push(stream);
    }
    // Their sockets are gone (the last may still be on its way out).
    if let Err(held) = wait_for_sockets(pid, before + 1) {
        panic!("{runtime}: {held} sockets held after {REFUSED} refusals, {before} before");
    }
    // Someone else logs in right after, with the refused peers still open.
    let client = start_json_client(
        dir.path(),
        runtime,
        server.addr,
        "alice",
        "correct horse battery",
    );
    drop(client);
    server.process.interrupt();
    server.process.wait_exit();
    let failed = server.process.lines_with("accept failed;");
    assert!(
        failed.is_empty(),
        "{runtime}: the server could not accept while refusing connections:\n{}",
        failed.join("\n")
    );
    drop(refused);
}

#[test]
fn refused_connections_give_their_descriptors_back_at_once_on_every_runtime() {
    for runtime in RUNTIMES {
        refusals_give_their_descriptors_back(runtime);
    }
}

#[test]
fn a_flood_that_never_logs_in_leaves_room_for_others_on_every_runtime() {
    for runtime in RUNTIMES {
        flood_then_greet(runtime);
    }
}

#[test]
fn a_server_at_its_descriptor_limit_keeps_accepting_on_every_runtime() {
    for runtime in RUNTIMES {
        run(runtime);
    }
}
