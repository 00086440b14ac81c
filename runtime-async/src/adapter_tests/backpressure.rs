//! Backpressure on real sockets: a client application that stops reading
//! events, a server application that does, and a peer that floods without
//! reading.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use faxnotify_core::client::{self as core_client, Event, Input, ListenPolicy, Output};
use faxnotify_core::server::{Refused, Target};
use faxnotify_core::wire::{CallbackState, Caps, Frame};
use futures_lite::future;

use super::Harness;
use super::support::*;
use crate::{Client, Runtime, Server};

/// Polls `check` every 10 ms until it holds (bounded by [`WAIT`]).
async fn eventually<R: Runtime>(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        sleep::<R>(Duration::from_millis(10)).await;
    }
}

/// An application that stops reading events stops its client acknowledging:
/// the server holds back within its window and queue limit, and once the
/// application catches up everything accepted arrives once, in order.
pub fn a_client_app_that_stops_reading_holds_the_server_within_its_window_and_queue<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        const WINDOW: u32 = 8;
        const QUEUE: usize = 100;
        const EVENTS: usize = 4;
        let mut config = server_config();
        config.window = WINDOW;
        config.queue_limit = QUEUE;
        let (server, _) = start_server_with(&h, loopback(), config, &["alice"]).await;
        let mut client_options = options(&h, 2);
        client_options.event_capacity = EVENTS;
        let mut config = client_config(server.local_addr(), "alice", ListenPolicy::Dynamic);
        config.caps = Caps::NONE;
        let client = Client::start_with(config, client_options)
            .await
            .expect("start");
        let Event::LoggedIn { session, .. } =
            expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        expect(&client, "reachable", |e| {
            matches!(
                e,
                Event::CallbackStatus {
                    state: CallbackState::Reachable,
                    ..
                }
            )
        })
        .await;

        // The application stops reading events; the server keeps notifying.
        let mut accepted = 0u64;
        let mut refused = 0usize;
        // What each seq carries: the client may acknowledge (and so make
        // room in the queue) between two refusals, so seq and i may differ.
        let mut sent = Vec::new();
        for i in 1..=150 {
            let report = server
                .notify(Target::Session(session), message(format!("n{i}")))
                .await
                .expect("notify");
            accepted += report.accepted.len() as u64;
            for delivery in &report.accepted {
                sent.push((delivery.seq, format!("n{i}")));
            }
            for (_, why) in &report.refused {
                assert_eq!(*why, Refused::QueueFull { limit: QUEUE });
                refused += 1;
            }
        }
        // The client took at most what fills its event queue from one read
        // (a window of NOTIFYs), then stopped reading and acknowledging.
        let most_acked = (EVENTS + WINDOW as usize) as u64;
        eventually::<H::Rt>("the server's window fills", async || {
            let info = server
                .session(session)
                .await
                .expect("running")
                .expect("listed");
            info.unacked == u64::from(WINDOW)
        })
        .await;
        let info = server
            .session(session)
            .await
            .expect("running")
            .expect("listed");
        assert!(
            info.acked_seq <= most_acked,
            "acked {} > {most_acked}",
            info.acked_seq
        );
        assert!(info.queue_depth <= QUEUE, "{info:?}");
        assert_eq!(info.last_seq, accepted);
        assert!(
            refused >= 150 - QUEUE - most_acked as usize,
            "refused only {refused}"
        );
        assert_eq!(accepted as usize + refused, 150);

        // The application catches up: everything accepted arrives, once, in order.
        let got = notifications(&client, accepted as usize).await;
        assert_eq!(got, sent);
        let seqs: Vec<u64> = got.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=accepted).collect::<Vec<_>>());
        eventually::<H::Rt>("everything acknowledged", async || {
            let info = server
                .session(session)
                .await
                .expect("running")
                .expect("listed");
            info.queue_depth == 0
        })
        .await;
        logout(client).await;
        server.shutdown().await;
    });
}

/// A server application that stops reading its events pauses the server's
/// intake, and the paused driver sleeps until something it can act on
/// happens (room for events, a request, the core's next deadline), even
/// once the core has no deadline left: while paused nothing is read, so
/// the logins in flight time out (and a session logged in just before the
/// pause expires with its lease), and then nothing at all is due. Once the
/// application reads again, every client logs in.
pub fn a_server_app_that_stops_reading_pauses_intake_and_the_driver_sleeps<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        const CLIENTS: usize = 4;
        // Wake-ups allowed while paused with nothing to act on: a sleeping
        // driver has none; one that spins has hundreds of thousands.
        const MOST_WAKE_UPS: u64 = 100;
        let names: Vec<String> = (0..CLIENTS).map(|i| format!("user{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut config = server_config();
        // Long enough for a login on a loaded machine, short enough that
        // the logins held up by the pause time out within the test.
        config.handshake_timeout = Duration::from_secs(3);
        // A login that completed just before the pause is no longer in
        // flight: it ends when its lease runs out, since nothing its client
        // sends is read. At the default 30 s that is the whole of the wait
        // below (runtime-mio/tests/idle.rs was seen failing on it).
        config.lease = Duration::from_secs(5);
        let mut server_options = options(&h, 1);
        // The first login's event fills the queue.
        server_options.event_capacity = 1;
        let (server, events) = Server::bind_with(loopback(), config, users(&names), server_options)
            .await
            .expect("server binds");
        let addr = server.local_addr();
        let mut clients = Vec::new();
        for name in &names {
            clients.push(start_client(&h, client_config(addr, name, ListenPolicy::Dynamic)).await);
        }
        // The first session opens: its event fills the queue and the server
        // stops reading and accepting, its handshake and any others
        // accepted meanwhile unfinished.
        eventually::<H::Rt>("a session opens", async || {
            server.stats().await.expect("running").sessions >= 1
        })
        .await;
        // They time out [C-9]; then the core has no deadline at all.
        eventually::<H::Rt>("the paused handshakes time out", async || {
            let stats = server.stats().await.expect("running");
            stats.sessions == 0 && stats.connections == 0
        })
        .await;
        let before = server.driver_turns();
        sleep::<H::Rt>(Duration::from_millis(300)).await;
        let paused_turns = server.driver_turns() - before;
        assert!(
            paused_turns < MOST_WAKE_UPS,
            "the paused driver woke {paused_turns} times in 300 ms with nothing to do"
        );

        // The application reads again: the clients (which reconnected
        // meanwhile) are accepted and all log in.
        let read_on = async {
            while events.next().await.is_some() {}
            panic!("the server's events ended");
        };
        let all_in = eventually::<H::Rt>("every client logs in", async || {
            server.stats().await.expect("running").sessions == CLIENTS
        });
        future::or(all_in, read_on).await;
        // From here on events are discarded, so logouts are not held up.
        drop(events);
        for client in clients {
            logout(client).await;
        }
        server.shutdown().await;
    });
}

/// Logs in over a blocking socket by driving the core client by hand, and
/// returns the control connection (plus the callback listener, kept open).
/// faxnotify-testkit's `socket::login` does the same, but this crate is
/// published and cannot depend on the unpublished testkit.
fn raw_login(server: SocketAddr, user: &str) -> (TcpStream, TcpListener) {
    let mut config = client_config(server, user, ListenPolicy::Dynamic);
    config.caps = Caps::NONE;
    let now = Instant::now();
    let mut core = core_client::Client::new(config, [5; 32], now).expect("config");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut control: Option<(faxnotify_core::ConnId, TcpStream)> = None;
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(output) = core.poll_output() {
            match output {
                Output::Listen { .. } => {
                    let local = listener.local_addr().expect("addr");
                    core.handle_input(now, Input::Bound { local })
                        .expect("bound");
                }
                Output::Connect { conn, addr } => {
                    let stream = TcpStream::connect(addr).expect("connect");
                    stream.set_read_timeout(Some(WAIT)).expect("timeout");
                    control = Some((conn, stream));
                    core.handle_input(now, Input::Connected { conn })
                        .expect("connected");
                }
                Output::Transmit { data, .. } => {
                    control
                        .as_mut()
                        .expect("control")
                        .1
                        .write_all(&data)
                        .expect("write");
                }
                Output::Event(Event::LoggedIn { .. }) => {
                    let (_, stream) = control.expect("control");
                    return (stream, listener);
                }
                Output::Event(_) => {}
                other => panic!("unexpected {other:?} during login"),
            }
        }
        let (conn, stream) = control.as_mut().expect("control");
        let n = stream.read(&mut buf).expect("read during login");
        assert!(n > 0, "server closed during login");
        core.handle_input(
            Instant::now(),
            Input::Received {
                conn: *conn,
                data: &buf[..n],
            },
        )
        .expect("input");
    }
}

/// An endless stream of PINGs, written in bursts that may stop part-way.
///
/// A blocking write whose timeout runs out after some bytes went returns
/// that short count (socket(7), `SO_SNDTIMEO`); on a loaded machine, where
/// the server reads in fits and starts, that happens. The next write must go
/// on from there: starting the burst again would cut a frame in two, and
/// the server rightly closes a connection that sends a malformed frame —
/// with the flood's data unread, so the flood then fails with a reset.
struct Pings {
    burst: Vec<u8>,
    frame_len: usize,
    /// Where in `burst` the stream goes on.
    at: usize,
}

impl Pings {
    fn new(ping: &[u8]) -> Self {
        Self {
            burst: ping.repeat(1_000),
            frame_len: ping.len(),
            at: 0,
        }
    }

    /// Writes (part of) the rest of the burst; returns how much went.
    fn write_to(&mut self, w: &mut impl Write) -> io::Result<usize> {
        let n = w.write(&self.burst[self.at..])?;
        self.at = (self.at + n) % self.burst.len();
        Ok(n)
    }

    /// What completes the frame a short write cut, or a whole PING.
    fn rest_of_frame(&self) -> &[u8] {
        let end = self.at + self.frame_len - self.at % self.frame_len;
        &self.burst[self.at..end]
    }
}

/// A peer that sends PINGs without reading the PONGs stops being read, alone:
/// the others are served meanwhile, and it is read again once it reads.
pub fn a_peer_that_floods_without_reading_is_paused_alone<H: Harness>() {
    let h = setup::<H>();
    let (server, _events) = h.block_on(start_server(&h, loopback(), &["mallory", "alice"]));
    let addr = server.local_addr();
    let (mut flood, _callback_listener) = raw_login(addr, "mallory");

    // PINGs without ever reading the PONGs.
    let ping = Frame::Ping { nonce: 7 }.to_vec().expect("encode");
    let mut pings = Pings::new(&ping);
    flood
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let started = Instant::now();
    let mut sent = 0usize;
    let stalled = loop {
        match pings.write_to(&mut flood) {
            Ok(n) => sent += n,
            // Two seconds without room: the server stopped reading this connection.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break true;
            }
            Err(e) => panic!("flood write failed: {e}"),
        }
        if started.elapsed() > WAIT * 2 {
            break false;
        }
    };
    assert!(
        stalled,
        "the server kept reading a peer that never reads ({sent} bytes)"
    );

    // Everyone else is still served while that connection is paused.
    h.block_on(async {
        assert_eq!(server.stats().await.expect("responsive").sessions, 1);
        let client = start_client(&h, client_config(addr, "alice", ListenPolicy::Dynamic)).await;
        expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
        server
            .notify(
                Target::user("alice").expect("name"),
                message("still served"),
            )
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "still served".to_owned())]
        );
        logout(client).await;
    });

    // Once the peer reads its PONGs, the server reads again.
    flood.set_nonblocking(true).expect("nonblocking");
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + WAIT;
    let mut resumed = false;
    while Instant::now() < deadline && !resumed {
        loop {
            match flood.read(&mut buf) {
                Ok(0) => panic!("the server closed the flooding connection"),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        match flood.write(pings.rest_of_frame()) {
            Ok(_) => resumed = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(resumed, "the server never read again");
    h.block_on(server.shutdown());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `max` bytes per write, like a blocking
    /// socket whose send timeout ran out part-way.
    struct Short {
        got: Vec<u8>,
        max: usize,
    }

    impl Write for Short {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.max);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Short writes go on where they stopped: what arrives is whole PINGs.
    #[test]
    fn short_writes_keep_the_ping_stream_whole() {
        let ping = Frame::Ping { nonce: 7 }.to_vec().expect("encode");
        let mut pings = Pings::new(&ping);
        // A count that is no multiple of the frame length cuts frames.
        let mut w = Short {
            got: Vec::new(),
            max: 5_001,
        };
        for _ in 0..7 {
            pings.write_to(&mut w).expect("write");
        }
        assert_ne!(w.got.len() % ping.len(), 0, "the test must cut a frame");
        w.max = usize::MAX;
        let rest = pings.rest_of_frame().to_vec();
        w.write_all(&rest).expect("write");
        assert_eq!(w.got.len() % ping.len(), 0);
        assert!(w.got.chunks(ping.len()).all(|frame| frame == ping));
        // On a frame boundary, the rest of the frame is a whole PING.
        assert_eq!(Pings::new(&ping).rest_of_frame(), &ping[..]);
    }
}
