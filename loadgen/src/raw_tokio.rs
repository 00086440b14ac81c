//! The raw baseline on tokio: the same connections, NOTIFY bytes and
//! 13-byte ACKs as [`super::raw_mio`], one task per connection on a tokio
//! runtime (the server's: current-thread on one thread; the clients':
//! [`super::tokio_clients`]) — no protocol, no driver task, no channels
//! between tasks.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::messages::{self, ChildMsg, ChildReport, Command, Spec};
use super::payload::{self, Framer, RawNotify};
use super::raw_shared::ServerShared;
use super::sys::{self, CpuSample};
use super::tally::{self, Recorder, Tally};
use super::tokio_clients::{self, TokioClients, TokioThreads};

/// One server connection: waits for "go", fills the window, then reads
/// ACKs and refills.
async fn serve(
    stream: TcpStream,
    go: async_channel::Receiver<()>,
    shared: Arc<ServerShared>,
    m: u64,
    w: u64,
) -> std::io::Result<()> {
    let frame = RawNotify::new();
    let mut framer = Framer::default();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut sent, mut acked) = (0u64, 0u64);
    let _ = go.recv().await; // closed on "go"
    let mut stream = stream;
    loop {
        let now_ns = sys::monotonic_ns();
        while sent < m && sent - acked < w {
            sent += 1;
            frame.write(sent, now_ns, &mut out);
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if acked >= m {
            return Ok(());
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        shared.record_acks(&mut framer, &buf[..n], &mut acked);
    }
}

/// The raw server process: a current-thread runtime on one thread, one
/// task per connection.
pub fn server(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let threads = TokioThreads::start(1, "load-raw-tokio-server")?;
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let listener = {
        let _runtime = threads.handle().enter();
        TcpListener::from_std(listener).map_err(|e| e.to_string())?
    };
    messages::send(&ChildMsg::Listening { addr });
    let cmds = messages::commands(|| {});
    let setup_start = CpuSample::now();
    let (go_tx, go_rx) = async_channel::bounded::<()>(1);
    let shared = Arc::new(ServerShared::new(spec.per_client * spec.clients as u64));
    let (m, w) = (spec.per_client, u64::from(spec.window));
    {
        let shared = Arc::clone(&shared);
        tokio_clients::spawn(&threads, async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                shared.connected.fetch_add(1, Ordering::AcqRel);
                let task = serve(stream, go_rx.clone(), Arc::clone(&shared), m, w);
                tokio::spawn(async move {
                    let _ = task.await;
                });
            }
        });
    }

    // Set-up.
    let mut last = usize::MAX;
    loop {
        let connected = shared.connected.load(Ordering::Acquire);
        if connected != last {
            last = connected;
            messages::send(&ChildMsg::SetUp { done: connected });
            if connected >= spec.clients {
                messages::send(&ChildMsg::Ready {
                    sessions: connected,
                });
                break;
            }
        }
        match cmds.recv_timeout(Duration::from_millis(20)) {
            Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => {
                threads.stop();
                return Ok(());
            }
            _ => {}
        }
    }
    if !tally::wait_for(&cmds, Command::Go) {
        threads.stop();
        return Ok(());
    }
    let ready_rss = sys::rss_bytes();
    let go_cpu = CpuSample::now();
    let start_ns = sys::monotonic_ns();
    go_tx.close();
    loop {
        if shared.acked.load(Ordering::Acquire) >= shared.total {
            break;
        }
        match cmds.recv_timeout(Duration::from_millis(1)) {
            Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => {
                threads.stop();
                return Ok(());
            }
            _ => {}
        }
    }
    let end_cpu = shared.end_cpu();
    messages::send(&ChildMsg::Done(Box::new(ChildReport {
        start_ns,
        end_ns: shared.end_ns.load(Ordering::Acquire),
        count: shared.total,
        cpu: end_cpu.since(go_cpu),
        setup_cpu_ns: go_cpu.total_ns.saturating_sub(setup_start.total_ns),
        logins_ns: 0,
        peak_rss: sys::peak_rss_bytes(),
        ready_rss,
        threads: messages::thread_count(),
        latency: None,
        broadcast_ns: Vec::new(),
        notes: Vec::new(),
    })));
    tally::wait_for(&cmds, Command::Quit);
    threads.stop();
    Ok(())
}

/// One raw client connection: connect (when a slot is free), then read
/// NOTIFYs and write an ACK for each.
async fn client(
    server: SocketAddr,
    slots: (async_channel::Sender<()>, async_channel::Receiver<()>),
    recorder: Arc<Mutex<Recorder>>,
    tally: Arc<Tally>,
) -> std::io::Result<()> {
    let _ = slots.1.recv().await;
    let connected = TcpStream::connect(server).await;
    let _ = slots.0.try_send(());
    let mut stream = connected?;
    stream.set_nodelay(true)?;
    tally.client_ready();
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        {
            let mut recorder = recorder
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            framer.feed(&buf[..n], |frame| {
                recorder.record(payload::raw_sent_ns(frame));
                let mut s = [0u8; 8];
                s.copy_from_slice(&frame[5..13]);
                payload::write_ack(u64::from_be_bytes(s), &mut out);
            });
        }
        stream.write_all(&out).await?;
        out.clear();
    }
}

/// The raw clients process: one task per connection on one runtime of
/// `client_threads` threads.
pub fn clients(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let server = spec.server.ok_or("no server address")?;
    let process = TokioClients::start(spec, "load-raw-tokio-clients")?;
    for _ in 0..spec.clients {
        let task = client(
            server,
            process.slots.clone(),
            Arc::clone(&process.recorder),
            process.tally.clone(),
        );
        let tally = process.tally.clone();
        tokio_clients::spawn(&process.executor, async move {
            if let Err(e) = task.await
                && !tally.quitting()
            {
                tally.note(format!("raw client: {e}"));
            }
        });
    }
    process.run(spec);
    Ok(())
}
