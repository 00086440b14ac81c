//! The raw baseline on smol (async-io): the same connections, NOTIFY bytes
//! and 13-byte ACKs as [`super::raw_mio`], one task per connection on an
//! executor — no protocol, no driver task, no channels between tasks.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_io::Async;
use faxnotify_smol::Executor;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::messages::{self, ChildMsg, ChildReport, Command, Spec};
use super::payload::{self, Framer, RawNotify};
use super::raw_shared::ServerShared;
use super::smol_clients::{SmolClients, executor_thread};
use super::sys::{self, CpuSample};
use super::tally::{self, Recorder, Tally};

/// One server connection: waits for "go", fills the window, then reads
/// ACKs and refills.
async fn serve(
    stream: Async<TcpStream>,
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

/// The raw server process: one executor thread, one task per connection.
pub fn server(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let listener = Async::<TcpListener>::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|e| e.to_string())?;
    let addr = listener.get_ref().local_addr().map_err(|e| e.to_string())?;
    messages::send(&ChildMsg::Listening { addr });
    let cmds = messages::commands(|| {});
    let setup_start = CpuSample::now();
    let executor = Arc::new(Executor::new());
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let (go_tx, go_rx) = async_channel::bounded::<()>(1);
    let shared = Arc::new(ServerShared::new(spec.per_client * spec.clients as u64));
    let (m, w) = (spec.per_client, u64::from(spec.window));
    {
        let executor2 = Arc::clone(&executor);
        let shared = Arc::clone(&shared);
        executor
            .spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.get_ref().set_nodelay(true);
                    shared.connected.fetch_add(1, Ordering::AcqRel);
                    let task = serve(stream, go_rx.clone(), Arc::clone(&shared), m, w);
                    executor2
                        .spawn(async move {
                            let _ = task.await;
                        })
                        .detach();
                }
            })
            .detach();
    }
    let thread = executor_thread(&executor, &stop_rx, "load-raw-server".into())?;
    let finish = |thread: std::thread::JoinHandle<()>| {
        stop_tx.close();
        let _ = thread.join();
    };

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
                finish(thread);
                return Ok(());
            }
            _ => {}
        }
    }
    if !tally::wait_for(&cmds, Command::Go) {
        finish(thread);
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
                finish(thread);
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
    finish(thread);
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
    let connected = Async::<TcpStream>::connect(server).await;
    let _ = slots.0.try_send(());
    let mut stream = connected?;
    stream.get_ref().set_nodelay(true)?;
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

/// The raw clients process: one task per connection on one executor run
/// by `client_threads` threads.
pub fn clients(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let server = spec.server.ok_or("no server address")?;
    let process = SmolClients::new(spec);
    for _ in 0..spec.clients {
        let task = client(
            server,
            process.slots.clone(),
            Arc::clone(&process.recorder),
            process.tally.clone(),
        );
        let tally = process.tally.clone();
        process
            .executor
            .spawn(async move {
                if let Err(e) = task.await
                    && !tally.quitting()
                {
                    tally.note(format!("raw client: {e}"));
                }
            })
            .detach();
    }
    process.run(spec, "load-raw-smol-clients")
}
