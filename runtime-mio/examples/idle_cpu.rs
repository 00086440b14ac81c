//! Measures the CPU time an idle server and client loop use.
//!
//! Starts a server and a logged-in client on loopback, lets them sit idle
//! (default 5 s; pass another number of seconds as the first argument),
//! and prints each loop thread's CPU time over that span from
//! `/proc/self/task/*/stat` (Linux only), and how often each loop woke up.
//!
//! ```text
//! cargo run --release -p faxnotify-mio --example idle_cpu -- 10
//! ```

use std::time::{Duration, Instant};

use faxnotify_core::client::{ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{MemoryUserStore, ServerConfig};
use faxnotify_core::wire::Role;
use faxnotify_mio::{Client, Server};

/// CPU time (user + system, in clock ticks) of the threads whose name
/// starts with `prefix`.
fn thread_ticks(prefix: &str) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // Fields after the name: state is field 3; utime 14, stime 15.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        *total.get_or_insert(0) += utime + stime;
    }
    total
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let mut users = MemoryUserStore::new();
    users.add_password("idle", "pw", &[0x5a; 16], 4096, Role::User)?;
    let server = Server::builder(ServerConfig::new([1; 32]), users)
        .listen("127.0.0.1:0".parse()?)
        .start()?;
    let config = ClientConfig::new(
        server.local_addr(),
        "idle",
        "pw",
        NetworkSettings::new(ListenPolicy::Dynamic),
    );
    let client = Client::start(config)?;
    for event in client.events().iter() {
        if matches!(event, Event::CallbackEstablished { .. }) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));

    let (server_wake, client_wake) = (server.stats()?.wakeups, client.stats()?.wakeups);
    let before = (
        thread_ticks("faxnotify-serv"),
        thread_ticks("faxnotify-clie"),
    );
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = start.elapsed();
    let after = (
        thread_ticks("faxnotify-serv"),
        thread_ticks("faxnotify-clie"),
    );
    let (server_wake2, client_wake2) = (server.stats()?.wakeups, client.stats()?.wakeups);

    println!("idle for {elapsed:.2?} (lease 30 s: keepalives every 10 s)");
    for (name, b, a, wakeups) in [
        ("server", before.0, after.0, server_wake2 - server_wake),
        ("client", before.1, after.1, client_wake2 - client_wake),
    ] {
        match (b, a) {
            (Some(b), Some(a)) => println!(
                "{name} loop: {} clock ticks of CPU (1 tick = 10 ms at USER_HZ 100), {wakeups} wake-ups",
                a - b
            ),
            _ => println!("{name} loop: CPU time not available on this OS; {wakeups} wake-ups"),
        }
    }
    client.logout()?;
    client.join()?;
    server.shutdown()?;
    Ok(())
}
