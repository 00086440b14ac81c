//! A server at its limit of open file descriptors (`ulimit -n`) gets each
//! one back as soon as a connection it closed has ended: a peer that makes
//! it close connections — a flood of garbage, of slow handshakes — must
//! not leave it holding sockets until it can accept nobody, for good.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use common::{RUNTIMES, TestServer, WAIT, add_users};

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

#[test]
fn a_server_at_its_descriptor_limit_keeps_accepting_on_every_runtime() {
    for runtime in RUNTIMES {
        run(runtime);
    }
}
