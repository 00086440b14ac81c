//! Publish-with-ack latency and throughput of the notification log on a
//! real 3-node JetStream cluster on loopback (needs `nats-server`):
//!
//! ```text
//! cargo run --release -p faxnotify-cluster --example publish_latency [COUNT]
//! ```
//!
//! First COUNT notifications one at a time (each waits for JetStream's ack:
//! the latency a `notify` sees), then COUNT more with 64 in flight (what a
//! busy server's publishes add up to). A measurement, not a test: the
//! numbers depend on the machine and on what else runs on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use faxnotify_cluster::harness::{NatsCluster, unavailable};
use faxnotify_cluster::{Bus, BusConfig, ClusterSecret, ServerId};
use faxnotify_core::wire::{EncodedNotification, Notification};

const IN_FLIGHT: usize = 64;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("COUNT is a number"))
        .unwrap_or(10_000);
    if let Some((why, enable)) = unavailable() {
        eprintln!("cannot measure: {why}. To enable: {enable}");
        std::process::exit(2);
    }
    let cluster = NatsCluster::start(3).unwrap_or_else(|err| panic!("{err}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(measure(&cluster, count));
}

async fn measure(cluster: &NatsCluster, count: usize) {
    let mut config = BusConfig::new(cluster.urls());
    config.log_max_bytes = 256 << 20;
    let bus = Bus::connect(config, ServerId(1), ClusterSecret::from_bytes(&[1; 32]))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let note = EncodedNotification::encode(&Notification::server_message(
        "fax 4711 from +49 30 1234567 received, 3 pages",
    ))
    .expect("encodes");
    println!(
        "{count} notifications of {} payload bytes, 3 nodes, replicas 3, file storage",
        note.payload().len() + 1
    );

    // Warm-up: connections, stream leader, page cache.
    for _ in 0..200 {
        bus.publish(&bus.publish_id(), "warmup", &note)
            .await
            .expect("accepted");
    }

    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for n in 0..count {
        let user = format!("user{}", n % 100);
        let t = Instant::now();
        bus.publish(&bus.publish_id(), &user, &note)
            .await
            .expect("accepted");
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "one at a time:   p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  {:>7.0} msgs/s",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("count > 0")),
        count as f64 / elapsed.as_secs_f64()
    );

    let bus = Arc::new(bus);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(IN_FLIGHT);
    for worker in 0..IN_FLIGHT {
        let bus = Arc::clone(&bus);
        let note = note.clone();
        let share = count / IN_FLIGHT + usize::from(worker < count % IN_FLIGHT);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for n in 0..share {
                let user = format!("user{}", (worker + n * IN_FLIGHT) % 100);
                let t = Instant::now();
                bus.publish(&bus.publish_id(), &user, &note)
                    .await
                    .expect("accepted");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for task in tasks {
        latencies.extend(task.await.expect("a publisher task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "{IN_FLIGHT} in flight:     p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  {:>7.0} msgs/s",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("count > 0")),
        count as f64 / elapsed.as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
