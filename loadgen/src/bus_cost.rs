//! The bus's own per-message costs, measured on the bench's NATS cluster
//! before the runs, so that docs/performance.md can extrapolate beyond
//! what one machine runs (100 servers, a million sessions):
//!
//! - **publish, one at a time**: each notification waits for JetStream's
//!   ack (stored on a quorum of the log's 3 replicas) before the next: the
//!   latency one `notify` sees;
//! - **publish, [`IN_FLIGHT`] in flight**: what a busy server's publishes
//!   add up to;
//! - **publish, batched**: the same with log messages of [`BATCH`]
//!   notifications each ([`Bus::publish_batch`], the form
//!   `ClusterNode::publish` sends a user's waiting notifications in): if
//!   messages per second hardly drop, batching multiplies notifications
//!   per second by nearly [`BATCH`];
//! - **read back**: one user's notifications read from the log in order
//!   after they were stored, as a resumed session's new owner catches up;
//! - **live**: publishes ([`IN_FLIGHT`] in flight) to one user while a
//!   reader follows the user's log, as a session's owner does during
//!   delivery: from the first publish to the last message read.
//!
//! With each, the CPU the `nats-server` processes used per message.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faxnotify_cluster::{Bus, ClusterSecret, LogSeq, ServerId};
use faxnotify_core::wire::EncodedNotification;

use super::fnp_cluster::bus_config;
use super::messages::ClusterSpec;
use super::payload;

/// Publishes in flight in the pipelined measurements.
pub const IN_FLIGHT: usize = 64;
/// Notifications per message in the batched measurement.
pub const BATCH: usize = 16;

/// One measurement.
#[derive(Clone, Copy, Debug, Default)]
pub struct Phase {
    /// Messages per second.
    pub per_second: f64,
    /// Median latency of one message, ns (0 where not measured).
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// CPU of the nats-server processes per message, ns (0 where it
    /// could not be read).
    pub nats_cpu_ns: u64,
    /// Bytes of each message's payload.
    pub payload_bytes: usize,
}

/// The bus's per-message costs.
#[derive(Clone, Debug)]
pub struct BusCost {
    /// Messages per measurement.
    pub messages: usize,
    /// Publish with ack, one at a time.
    pub sequential: Phase,
    /// Publish with ack, [`IN_FLIGHT`] in flight.
    pub in_flight: Phase,
    /// Publish with ack of [`BATCH`]-notification messages, [`IN_FLIGHT`]
    /// in flight.
    pub batched: Phase,
    /// Reading one user's log in order, after the fact.
    pub read: Phase,
    /// Publishing and following one user's log at once.
    pub live: Phase,
}

/// Measures on the cluster of `spec`; `nats_cpu_ns` reads the nats-server
/// processes' CPU so far.
pub async fn measure(
    spec: &ClusterSpec,
    messages: usize,
    nats_cpu_ns: &(dyn Fn() -> u64 + Sync),
) -> Result<BusCost, String> {
    let messages = messages.max(1);
    let bus = Bus::connect(
        bus_config(spec),
        ServerId(u64::MAX),
        ClusterSecret::from_bytes(&spec.secret),
    )
    .await
    .map_err(|e| format!("cannot join the cluster: {e}"))?;
    let bus = Arc::new(bus);
    let one =
        EncodedNotification::encode(&payload::notification(0, 0)).map_err(|e| e.to_string())?;
    let single = std::slice::from_ref(&one);
    // A log message of BATCH notifications (batch form: a 3-byte header,
    // 3 bytes per entry).
    let batch = vec![one.clone(); BATCH];
    let batch_bytes = 3 + BATCH * (3 + one.payload().len());
    // Warm-up: connections, stream leaders, page cache.
    publish(&bus, single, "warmup", 200, 1).await?;

    let phase = |(rate, mut latencies): (f64, Vec<Duration>), cpu: u64, bytes: usize| {
        latencies.sort();
        Phase {
            per_second: rate,
            p50_ns: percentile(&latencies, 0.50),
            p99_ns: percentile(&latencies, 0.99),
            nats_cpu_ns: cpu / messages as u64,
            payload_bytes: bytes,
        }
    };
    let cpu = nats_cpu_ns();
    let sequential = publish(&bus, single, "sequential", messages, 1).await?;
    let sequential = phase(sequential, nats_cpu_ns() - cpu, one.payload().len() + 1);
    let cpu = nats_cpu_ns();
    let first = bus.log_last_seq().await.map_err(|e| e.to_string())?.0 + 1;
    let in_flight = publish(&bus, single, "pipelined", messages, IN_FLIGHT).await?;
    let in_flight = phase(in_flight, nats_cpu_ns() - cpu, one.payload().len() + 1);
    let cpu = nats_cpu_ns();
    let batched = publish(&bus, &batch, "batched", messages, IN_FLIGHT).await?;
    let batched = phase(batched, nats_cpu_ns() - cpu, batch_bytes);
    let cpu = nats_cpu_ns();
    let read = read(&bus, "pipelined", first, messages).await?;
    let read = phase(
        (read, Vec::new()),
        nats_cpu_ns() - cpu,
        one.payload().len() + 1,
    );
    let cpu = nats_cpu_ns();
    let live = live(&bus, &one, messages).await?;
    let live = phase(live, nats_cpu_ns() - cpu, one.payload().len() + 1);
    Ok(BusCost {
        messages,
        sequential,
        in_flight,
        batched,
        read,
        live,
    })
}

/// Publishes `count` messages (each holding `notes`) for `user` with
/// `in_flight` workers: the rate and every message's latency.
async fn publish(
    bus: &Arc<Bus>,
    notes: &[EncodedNotification],
    user: &str,
    count: usize,
    in_flight: usize,
) -> Result<(f64, Vec<Duration>), String> {
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..in_flight {
        let share = count / in_flight + usize::from(worker < count % in_flight);
        let (bus, notes, user) = (Arc::clone(bus), notes.to_vec(), user.to_owned());
        workers.spawn(async move {
            let notes: Vec<&EncodedNotification> = notes.iter().collect();
            let mut latencies = Vec::with_capacity(share);
            for _ in 0..share {
                let t = Instant::now();
                bus.publish_batch(&bus.publish_id(), &user, &notes)
                    .await
                    .map_err(|e| e.to_string())?;
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(count);
    while let Some(done) = workers.join_next().await {
        latencies.extend(done.map_err(|e| e.to_string())??);
    }
    Ok((count as f64 / started.elapsed().as_secs_f64(), latencies))
}

/// Reads `count` of `user`'s messages from log seq `from`: the rate.
async fn read(bus: &Bus, user: &str, from: u64, count: usize) -> Result<f64, String> {
    let started = Instant::now();
    let mut log = bus
        .read_user(user, LogSeq(from))
        .await
        .map_err(|e| e.to_string())?;
    for n in 0..count {
        match log.next(Duration::from_secs(5)).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(format!("the log's read stalled after {n} of {count}")),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Publishes `count` messages to a user whose log a reader follows: the
/// rate from the first publish to the last message read, and the publishes'
/// latencies.
async fn live(
    bus: &Arc<Bus>,
    note: &EncodedNotification,
    count: usize,
) -> Result<(f64, Vec<Duration>), String> {
    let from = bus.log_last_seq().await.map_err(|e| e.to_string())?.0 + 1;
    let mut log = bus
        .read_user("live", LogSeq(from))
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let reader = async move {
        for n in 0..count {
            match log.next(Duration::from_secs(5)).await {
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("the live read stalled after {n} of {count}")),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    };
    let notes = std::slice::from_ref(note);
    let (published, read) = tokio::join!(publish(bus, notes, "live", count, IN_FLIGHT), reader);
    read?;
    let (_, latencies) = published?;
    Ok((count as f64 / started.elapsed().as_secs_f64(), latencies))
}

fn percentile(sorted: &[Duration], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    u64::try_from(sorted[i].as_nanos()).unwrap_or(u64::MAX)
}

/// The bus's costs as a Markdown table (after the runs' table).
pub fn render_bus_table(cost: &BusCost) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| bus (3 nats-server nodes, replicas 3, file storage) | payload bytes | messages/s | notifications/s | p50 ms | p99 ms | nats-server CPU µs/message |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let rows = [
        ("publish with ack, one at a time", cost.sequential, 1),
        ("publish with ack, 64 in flight", cost.in_flight, 1),
        (
            "publish with ack, 64 in flight, 16 notifications per message",
            cost.batched,
            BATCH,
        ),
        ("read one user's log back in order", cost.read, 1),
        (
            "publish 64 in flight while following the user's log (a session's path)",
            cost.live,
            1,
        ),
    ];
    for (what, p, per_message) in rows {
        let latency = |ns: u64| match p.p50_ns {
            0 => "–".to_owned(),
            _ => format!("{:.3}", ns as f64 / 1e6),
        };
        let _ = writeln!(
            out,
            "| {what} | {} | {:.0} | {:.0} | {} | {} | {} |",
            p.payload_bytes,
            p.per_second,
            p.per_second * per_message as f64,
            latency(p.p50_ns),
            latency(p.p99_ns),
            match p.nats_cpu_ns {
                0 => "–".to_owned(),
                ns => format!("{:.1}", ns as f64 / 1e3),
            }
        );
    }
    let _ = writeln!(out, "\n{} messages per measurement.", cost.messages);
    out
}
