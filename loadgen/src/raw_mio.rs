//! The raw baseline on mio: the same connections, the same NOTIFY bytes,
//! a 13-byte ACK back for each, at most `window` frames unacknowledged per
//! connection — and no protocol: no login, no callback, no decoding beyond
//! the length prefix, no queues, no application hand-off.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use super::messages::{self, ChildMsg, ChildReport, Command, Spec};
use super::payload::{self, Framer, RawNotify};
use super::sys::{self, CpuSample};
use super::tally::{self, Recorder, Tally};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);

/// One connection of either side.
struct Raw {
    stream: TcpStream,
    out: Vec<u8>,
    framer: Framer,
    sent: u64,
    acked: u64,
    writable_interest: bool,
    connecting: bool,
}

impl Raw {
    fn new(stream: TcpStream, connecting: bool) -> Self {
        Self {
            stream,
            out: Vec::new(),
            framer: Framer::default(),
            sent: 0,
            acked: 0,
            writable_interest: connecting,
            connecting,
        }
    }

    /// Writes what it can; registers for WRITABLE while something is left.
    fn flush(&mut self, poll: &Poll, key: usize) -> io::Result<()> {
        let mut written = 0;
        while written < self.out.len() {
            match self.stream.write(&self.out[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.drain(..written);
        let want = !self.out.is_empty();
        if want != self.writable_interest {
            self.writable_interest = want;
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            poll.registry()
                .reregister(&mut self.stream, Token(key), interest)?;
        }
        Ok(())
    }
}

fn read_into(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Serves one ready server connection: flushes, reads ACKs, refills the
/// window. Returns the notifications newly acknowledged.
#[allow(clippy::too_many_arguments)]
fn serve(
    c: &mut Raw,
    poll: &Poll,
    key: usize,
    buf: &mut [u8],
    frame: &RawNotify,
    m: u64,
    w: u64,
    writable: bool,
) -> io::Result<u64> {
    if writable {
        c.flush(poll, key)?;
    }
    let mut newly = 0;
    while let Some(n) = read_into(&mut c.stream, buf)? {
        let acked = &mut c.acked;
        c.framer.feed(&buf[..n], |ack| {
            let mut s = [0u8; 8];
            s.copy_from_slice(&ack[5..13]);
            let seq = u64::from_be_bytes(s);
            newly += seq.saturating_sub(*acked);
            *acked = (*acked).max(seq);
        });
        let now_ns = sys::monotonic_ns();
        while c.sent < m && c.sent - c.acked < w {
            c.sent += 1;
            frame.write(c.sent, now_ns, &mut c.out);
        }
        c.flush(poll, key)?;
    }
    Ok(newly)
}

/// The raw server process.
pub fn server(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let run = || -> io::Result<Result<(), String>> {
        let mut poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        messages::send(&ChildMsg::Listening {
            addr: listener.local_addr()?,
        });
        let w = waker.clone();
        let cmds = messages::commands(move || {
            let _ = w.wake();
        });
        let setup_start = CpuSample::now();
        let frame = RawNotify::new();
        let mut conns: Slab<Raw> = Slab::with_capacity(spec.clients);
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 64 * 1024];
        let m = spec.per_client;
        let w = u64::from(spec.window);
        let total = m * spec.clients as u64;
        let mut acked_total = 0u64;
        let mut go: Option<(u64, CpuSample, u64)> = None;
        let mut ready_sent = false;
        let mut last_setup = Instant::now();
        let mut done = false;
        loop {
            poll.poll(&mut events, Some(Duration::from_millis(100)))?;
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => loop {
                        match listener.accept() {
                            Ok((mut stream, _)) => {
                                stream.set_nodelay(true)?;
                                let entry = conns.vacant_entry();
                                poll.registry().register(
                                    &mut stream,
                                    Token(entry.key()),
                                    Interest::READABLE,
                                )?;
                                entry.insert(Raw::new(stream, false));
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    },
                    Token(key) => {
                        let Some(c) = conns.get_mut(key) else {
                            continue;
                        };
                        let served =
                            serve(c, &poll, key, &mut buf, &frame, m, w, event.is_writable());
                        match served {
                            Ok(newly) => acked_total += newly,
                            Err(_) => {
                                // The peer went away (at the end of a run).
                                let mut c = conns.remove(key);
                                let _ = poll.registry().deregister(&mut c.stream);
                            }
                        }
                    }
                }
            }
            match cmds.try_recv() {
                Ok(Command::Go) if go.is_none() => {
                    let now_ns = sys::monotonic_ns();
                    go = Some((now_ns, CpuSample::now(), sys::rss_bytes()));
                    for (key, c) in conns.iter_mut() {
                        while c.sent < m && c.sent - c.acked < w {
                            c.sent += 1;
                            frame.write(c.sent, now_ns, &mut c.out);
                        }
                        c.flush(&poll, key)?;
                    }
                }
                Ok(Command::Quit) | Err(TryRecvError::Disconnected) => return Ok(Ok(())),
                Ok(Command::Go) | Err(TryRecvError::Empty) => {}
            }
            if !ready_sent
                && (last_setup.elapsed() > Duration::from_millis(100)
                    || conns.len() == spec.clients)
            {
                last_setup = Instant::now();
                messages::send(&ChildMsg::SetUp { done: conns.len() });
                if conns.len() == spec.clients {
                    ready_sent = true;
                    messages::send(&ChildMsg::Ready {
                        sessions: conns.len(),
                    });
                }
            }
            if let Some((start_ns, go_cpu, ready_rss)) = go
                && !done
                && acked_total >= total
            {
                done = true;
                let end_ns = sys::monotonic_ns();
                let cpu = CpuSample::now().since(go_cpu);
                messages::send(&ChildMsg::Done(Box::new(ChildReport {
                    start_ns,
                    end_ns,
                    count: total,
                    cpu,
                    setup_cpu_ns: go_cpu.total_ns.saturating_sub(setup_start.total_ns),
                    logins_ns: 0,
                    peak_rss: sys::peak_rss_bytes(),
                    ready_rss,
                    threads: messages::thread_count(),
                    latency: None,
                    broadcast_ns: Vec::new(),
                    notes: Vec::new(),
                })));
            }
        }
    };
    run().map_err(|e| e.to_string())?
}

/// One thread's share of the raw clients.
fn client_loop(
    server: SocketAddr,
    count: usize,
    per_client: u64,
    in_flight_max: usize,
    tally: &Arc<Tally>,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    tally.on_command(move || {
        let _ = waker.wake();
    });
    let mut recorder = Recorder::new(tally, count as u64 * per_client);
    let mut conns: Slab<Raw> = Slab::with_capacity(count);
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut started = 0;
    let mut connecting = 0;
    loop {
        if tally.quitting() {
            return Ok(());
        }
        while started < count && connecting < in_flight_max {
            let mut stream = TcpStream::connect(server)?;
            stream.set_nodelay(true)?;
            let entry = conns.vacant_entry();
            poll.registry().register(
                &mut stream,
                Token(entry.key()),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            entry.insert(Raw::new(stream, true));
            started += 1;
            connecting += 1;
        }
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            let Token(key) = event.token();
            if event.token() == WAKER {
                continue;
            }
            let Some(c) = conns.get_mut(key) else {
                continue;
            };
            match receive(c, &poll, key, &mut buf, &mut recorder, event.is_writable()) {
                Ok(Some(true)) => {
                    connecting -= 1;
                    tally.client_ready();
                }
                Ok(_) => {}
                Err(e) => {
                    if !tally.quitting() && recorder.received() < count as u64 * per_client {
                        tally.note(format!("raw client connection failed: {e}"));
                    }
                    let mut c = conns.remove(key);
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }
}

/// Serves one ready client connection: completes its connect, flushes,
/// reads NOTIFYs and ACKs each. Returns `Some(true)` when it just connected.
fn receive(
    c: &mut Raw,
    poll: &Poll,
    key: usize,
    buf: &mut [u8],
    recorder: &mut Recorder,
    writable: bool,
) -> io::Result<Option<bool>> {
    let mut connected = None;
    if c.connecting {
        if let Some(e) = c.stream.take_error()? {
            return Err(e);
        }
        match c.stream.peer_addr() {
            Ok(_) => {
                c.connecting = false;
                connected = Some(true);
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    if writable {
        c.flush(poll, key)?;
    }
    while let Some(n) = read_into(&mut c.stream, buf)? {
        let out = &mut c.out;
        c.framer.feed(&buf[..n], |frame| {
            recorder.record(payload::raw_sent_ns(frame));
            let mut s = [0u8; 8];
            s.copy_from_slice(&frame[5..13]);
            payload::write_ack(u64::from_be_bytes(s), out);
        });
        c.flush(poll, key)?;
    }
    Ok(connected)
}

/// The raw clients process.
pub fn clients(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let server = spec.server.ok_or("no server address")?;
    let tally = Tally::new(spec.clients as u64 * spec.per_client);
    let threads = spec.client_threads.clamp(1, spec.clients.max(1));
    let mut handles = Vec::new();
    for t in 0..threads {
        let count = (0..spec.clients).filter(|i| i % threads == t).count();
        let tally = tally.clone();
        let per_client = spec.per_client;
        let in_flight = spec.logins_in_flight.div_ceil(threads).max(1);
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-raw-clients-{t}"))
                .spawn(move || {
                    if let Err(e) = client_loop(server, count, per_client, in_flight, &tally) {
                        tally.note(format!("raw client loop failed: {e}"));
                    }
                })
                .map_err(|e| e.to_string())?,
        );
    }
    tally::report_loop(spec, &tally, threads);
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
