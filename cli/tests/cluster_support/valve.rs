//! A TCP relay for failures that are not clean: it can stop forwarding
//! without closing either side (a dropped route, a firewall's DROP), in
//! one direction or both, or forward a byte at a time, slowly.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

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
    flow: Arc<AtomicU8>,
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
        let flow = Arc::new(AtomicU8::new(Flow::Open as u8));
        let shared = Arc::clone(&flow);
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
                    let flow = Arc::clone(&shared);
                    std::thread::spawn(move || pump(from, to, way_in, &flow));
                }
            }
        });
        Valve { addr, flow }
    }

    /// The URL a faxnotify server is given for a NATS node behind it.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Sets what the valve does from now on.
    pub fn set(&self, flow: Flow) {
        self.flow.store(flow as u8, Ordering::SeqCst);
    }
}

fn clone(s: &TcpStream) -> TcpStream {
    s.try_clone().expect("clone a relayed socket")
}

/// Copies `from` to `to` as the flow allows; a held direction keeps what
/// it read and reads no more, so the sender's buffers fill as behind a
/// black hole.
fn pump(mut from: TcpStream, mut to: TcpStream, way_in: bool, flow: &AtomicU8) {
    let _ = from.set_nodelay(true);
    let _ = to.set_nodelay(true);
    let mut buf = [0u8; 16 * 1024];
    let held = || match Flow::from_u8(flow.load(Ordering::SeqCst)) {
        Flow::Held => true,
        Flow::HeldOnTheWayIn => way_in,
        Flow::HeldOnTheWayBack => !way_in,
        Flow::Open | Flow::Trickle => false,
    };
    'relay: loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut sent = 0;
        while sent < n {
            if held() {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let now = Flow::from_u8(flow.load(Ordering::SeqCst));
            let step = if now == Flow::Trickle { 1 } else { n - sent };
            if to.write_all(&buf[sent..sent + step]).is_err() {
                break 'relay;
            }
            sent += step;
            if now == Flow::Trickle {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // A close is held too: behind a black hole the other side never sees it.
    while held() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
