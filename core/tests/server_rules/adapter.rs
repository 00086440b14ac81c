//! The adapter's side of the shared I/O vocabulary (`faxnotify_core::io`):
//! the inputs only a client takes are misuse for the server, and written
//! buffers handed back are reused.

use faxnotify_core::server::{BindError, Input, InputError, Output};

use crate::harness::*;

#[test]
fn the_server_refuses_listener_inputs_as_misuse() {
    let mut h = Harness::new();
    let local = addr("127.0.0.1:4581");
    let bound = h.server.handle_input(h.now, Input::Bound { local });
    assert_eq!(bound, Err(InputError::NotAListener));
    let failed = h.server.handle_input(
        h.now,
        Input::BindFailed {
            addr: local,
            error: BindError::AddrInUse,
        },
    );
    assert_eq!(failed, Err(InputError::NotAListener));
    // Nothing happened: no output, the server goes on as before.
    assert!(h.server.poll_output().is_none());
    h.login("192.0.2.10:40000", "alice", ALICE_PW);
}

#[test]
fn a_recycled_buffer_carries_the_next_transmit() {
    let mut h = Harness::new();
    let recycled = Vec::with_capacity(3000);
    h.server.recycle(recycled);
    let conn = h.server.handle_accept(h.now, addr("192.0.2.10:40000"));
    // SERVER_HELLO is written into the recycled buffer, not a new one.
    match h.server.poll_output() {
        Some(Output::Transmit { conn: c, data }) => {
            assert_eq!(c, conn);
            assert!(!data.is_empty());
            assert!(data.capacity() >= 3000, "capacity {}", data.capacity());
        }
        other => panic!("expected SERVER_HELLO, got {other:?}"),
    }
}
