//! A TCP relay for failures that are not clean: it can stop forwarding
//! without closing either side (a dropped route, a firewall's DROP), in
//! one direction or both, forward a byte at a time, or late.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a [`Valve`] does with the bytes it relays.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Flow {
    /// Forwards both ways.
    Open = 0,
    /// Forwards nothing, closes nothing: both sides see a silent peer.
    Held = 1,
    /// Forwards only from the target to the connecting side.
    HeldOnTheWayIn = 2,
    /// Forwards only from the connecting side to the target.
    HeldOnTheWayBack = 3,
    /// Forwards both ways, one byte every 100 ms.
    Trickle = 4,
}

impl Flow {
    fn from_u8(v: u8) -> Flow {
        match v {
            1 => Flow::Held,
            2 => Flow::HeldOnTheWayIn,
            3 => Flow::HeldOnTheWayBack,
            4 => Flow::Trickle,
            _ => Flow::Open,
        }
    }
}

/// A relay on 127.0.0.1 to one target whose [`Flow`] the test sets; it
/// applies to every connection, those relayed already too.
pub struct Valve {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

/// What the relaying threads read: the flow, and the delay each chunk
/// waits before it is forwarded.
#[derive(Default)]
struct Shared {
    flow: AtomicU8,
    delay_ms: Arc<AtomicU64>,
}

impl Valve {
    /// Relays to `target` (`IP:PORT`, or `nats://IP:PORT`), open.
    pub fn start(target: &str) -> Valve {
        let target: SocketAddr = target
            .trim_start_matches("nats://")
            .parse()
            .expect("an IP:PORT target");
        let listener = TcpListener::bind("127.0.0.1:0").expect("valve bind");
        let addr = listener.local_addr().expect("valve addr");
        let shared = Arc::new(Shared::default());
        let threads = Arc::clone(&shared);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue; // as the dead target would: closed
                };
                for (from, to, way_in) in [
                    (clone(&client), clone(&server), true),
                    (server, client, false),
                ] {
                    let valve = Arc::clone(&threads);
                    std::thread::spawn(move || pump(from, to, way_in, &valve));
                }
            }
        });
        Valve { addr, shared }
    }

    /// The URL a faxnotify server is given for a NATS node behind it.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Sets what the valve does from now on.
    pub fn set(&self, flow: Flow) {
        self.shared.flow.store(flow as u8, Ordering::SeqCst);
    }

    /// Delays what is read from now on by `delay` each way (latency: the
    /// round trip grows by twice it).
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }
}

fn clone(s: &TcpStream) -> TcpStream {
    s.try_clone().expect("clone a relayed socket")
}

/// Copies `from` to `to` as the flow allows, each chunk no earlier than
/// the delay after it was read (a reader and a writer thread, so a delay
/// is latency, not a cap on throughput); a held direction keeps what it
/// read, so the sender sees a peer that stopped answering, and holds a
/// close as well: behind a black hole the other side never sees it.
fn pump(mut from: TcpStream, mut to: TcpStream, way_in: bool, valve: &Shared) {
    let _ = from.set_nodelay(true);
    let _ = to.set_nodelay(true);
    let (chunks, queue) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let delay = Arc::clone(&valve.delay_ms);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let due = Instant::now() + Duration::from_millis(delay.load(Ordering::SeqCst));
            if chunks.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
    });
    let held = || match Flow::from_u8(valve.flow.load(Ordering::SeqCst)) {
        Flow::Held => true,
        Flow::HeldOnTheWayIn => way_in,
        Flow::HeldOnTheWayBack => !way_in,
        Flow::Open | Flow::Trickle => false,
    };
    'relay: for (due, chunk) in queue {
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let mut sent = 0;
        while sent < chunk.len() {
            if held() {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let trickle = Flow::from_u8(valve.flow.load(Ordering::SeqCst)) == Flow::Trickle;
            let step = if trickle { 1 } else { chunk.len() - sent };
            if to.write_all(&chunk[sent..sent + step]).is_err() {
                break 'relay;
            }
            sent += step;
            if trickle {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    while held() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = reader.join();
}
