//! A client core logged in over a real, blocking socket: for the runtimes'
//! tests that need a raw control connection to a real server loop (to
//! flood it without reading, say), which an in-memory network cannot give.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use faxnotify_core::ConnId;
use faxnotify_core::client::{Client, ClientConfig, Event};
use faxnotify_core::io::{Input, Output};

use crate::endpoint::Endpoint;

/// Logs `config`'s user in to the server it names, over a blocking TCP
/// connection, with the client core in an [`Endpoint`]; returns the logged-in
/// control connection, which the test then owns, and the client's callback
/// listener (on 127.0.0.1, never accepting). Keep the listener to let the
/// server's callback dial connect and then time out; drop it to have the
/// dial refused.
///
/// Returns at the client's `LoggedIn` event (after ADVERTISE_OK); the
/// core is dropped there, so the callback is never answered and the
/// control connection is the test's alone.
///
/// # Panics
/// If a socket fails, the server closes the connection, or `wait` passes
/// without a byte from the server: the login failed.
pub fn login(config: ClientConfig, wait: Duration) -> (TcpStream, TcpListener) {
    let now = Instant::now();
    let client = Client::new(config, [5; 32], now).expect("a valid client configuration");
    let mut client = Endpoint::new(client);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the callback listener");
    let mut control: Option<(ConnId, TcpStream)> = None;
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(output) = client.next_output() {
            match output {
                Output::Listen { .. } => {
                    let local = listener.local_addr().expect("the listener's address");
                    client.input(Instant::now(), Input::Bound { local });
                }
                Output::Connect { conn, addr } => {
                    let stream = TcpStream::connect(addr).expect("connect to the server");
                    stream.set_read_timeout(Some(wait)).expect("read timeout");
                    control = Some((conn, stream));
                    client.input(Instant::now(), Input::Connected { conn });
                }
                Output::Transmit { data, .. } => {
                    let (_, stream) = control.as_mut().expect("a connection to write on");
                    stream.write_all(&data).expect("write during login");
                }
                Output::Event(Event::LoggedIn { .. }) => {
                    let (_, stream) = control.expect("the control connection");
                    return (stream, listener);
                }
                Output::Event(_) => {}
                other => panic!("the client asked for {other:?} during login"),
            }
        }
        let (conn, stream) = control.as_mut().expect("the client dialled");
        let n = stream.read(&mut buf).expect("read during login");
        assert!(n > 0, "the server closed the connection during login");
        client.receive(Instant::now(), *conn, &buf[..n]);
    }
}
