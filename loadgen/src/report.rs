//! The figures of a run and the table `faxnotify bench` prints.

use std::fmt::Write as _;

use super::histogram::Histogram;
use super::sys::CpuSample;
use super::{Implementation, Runtime};

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Figures {
    /// Notifications received by the client applications.
    pub notifications: u64,
    /// From the first `notify` to the last receipt, seconds.
    pub seconds: f64,
    /// Notifications per second.
    pub per_second: f64,
    /// Latency from `notify` to the client application, ns.
    pub latency: Histogram,
    /// Server CPU during delivery.
    pub server_cpu: CpuSample,
    /// Clients' CPU during delivery (all clients processes).
    pub clients_cpu: CpuSample,
    /// Server peak RSS, bytes.
    pub server_peak_rss: u64,
    /// Server RSS with every session up, before delivery, bytes.
    pub server_ready_rss: u64,
    /// Clients' peak RSS (sum over processes), bytes.
    pub clients_peak_rss: u64,
    /// OS threads of the server process.
    pub server_threads: usize,
    /// OS threads of the clients processes.
    pub clients_threads: usize,
    /// Clients processes.
    pub client_processes: usize,
    /// Server CPU before delivery (start-up and logins), ns.
    pub server_setup_cpu_ns: u64,
    /// Clients' CPU before delivery (start-up and logins), ns.
    pub clients_setup_cpu_ns: u64,
    /// The scale run: each broadcast's time from `notify` to the last
    /// acknowledgement, ns.
    pub broadcast_ns: Vec<u64>,
    /// From starting the processes to every session up, seconds.
    pub setup_seconds: f64,
    /// Measured by the server: from listening to every session's delivery
    /// path up (the logins, with the clients process's start), seconds.
    pub logins_seconds: f64,
    /// Anything unexpected.
    pub notes: Vec<String>,
}

/// One configuration's result.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The runtime.
    pub runtime: Runtime,
    /// faxnotify or raw.
    pub implementation: Implementation,
    /// N.
    pub clients: usize,
    /// The window.
    pub window: u32,
    /// M (for a scale run: the number of broadcasts).
    pub per_client: u64,
    /// Sessions without a callback listener (backchannel delivery).
    pub backchannel: usize,
    /// Throughput of every repetition of this configuration (the figures
    /// are those of the median one).
    pub samples: Vec<f64>,
    /// The figures, or why the run failed.
    pub outcome: Result<Figures, String>,
}

fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 10.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// "min–max" of the repetitions' throughputs, in thousands ("–" for one run).
fn range(samples: &[f64]) -> String {
    if samples.len() < 2 {
        return "–".to_owned();
    }
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(0.0, f64::max);
    format!("{:.0}k–{:.0}k", min / 1e3, max / 1e3)
}

fn secs(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e9)
}

impl RunResult {
    /// One line for the progress display.
    pub fn summary(&self) -> String {
        match &self.outcome {
            Ok(f) => format!(
                "{:.0} notifications/s, p50 {} ms, p99 {} ms, max {} ms",
                f.per_second,
                ms(f.latency.quantile(0.5)),
                ms(f.latency.quantile(0.99)),
                ms(f.latency.max())
            ),
            Err(e) => format!("FAILED: {e}"),
        }
    }
}

/// The table: one row per run, each faxnotify row with its ratio to the
/// raw baseline of the same runtime, N and window.
pub fn render_table(results: &[RunResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| runtime | impl | N | W | M | notifications/s | range of runs | ×raw | ×plain | p50 ms | p99 ms | max ms | server CPU s (usr/sys) | clients CPU s (usr/sys) | server RSS MiB | clients RSS MiB | logins s | logins/s |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let Ok(f) = &r.outcome else {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | FAILED: {} | | | | | | | | | | | | |",
                r.runtime,
                r.implementation,
                r.clients,
                r.window,
                r.per_client,
                r.outcome.as_ref().err().map_or("", String::as_str)
            );
            continue;
        };
        // This row's throughput over that of the same runtime, N and
        // window with `base`.
        let over = |base: Implementation| {
            results
                .iter()
                .find(|b| {
                    b.implementation == base
                        && b.runtime == r.runtime
                        && b.clients == r.clients
                        && b.window == r.window
                })
                .and_then(|b| b.outcome.as_ref().ok())
                .map_or("–".to_owned(), |b| {
                    format!("{:.2}", f.per_second / b.per_second.max(f64::MIN_POSITIVE))
                })
        };
        let ratio = match r.implementation {
            Implementation::Raw => "1".to_owned(),
            _ => over(Implementation::Raw),
        };
        let plain = match r.implementation {
            Implementation::FaxnotifyTls | Implementation::FaxnotifyCluster => {
                over(Implementation::Faxnotify)
            }
            _ => "–".to_owned(),
        };
        // Every session logged in, with its delivery path up, within
        // the server's login time.
        let (login_time, logins) = match r.implementation {
            Implementation::Raw => ("–".to_owned(), "–".to_owned()),
            _ => (
                format!("{:.3}", f.logins_seconds),
                format!(
                    "{:.0}",
                    r.clients as f64 / f.logins_seconds.max(f64::MIN_POSITIVE)
                ),
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} ({}/{}) | {} ({}/{}) | {} | {} | {} | {} |",
            r.runtime,
            r.implementation,
            r.clients,
            r.window,
            r.per_client,
            f.per_second,
            range(&r.samples),
            ratio,
            plain,
            ms(f.latency.quantile(0.5)),
            ms(f.latency.quantile(0.99)),
            ms(f.latency.max()),
            secs(f.server_cpu.total_ns),
            secs(f.server_cpu.user_ns),
            secs(f.server_cpu.system_ns),
            secs(f.clients_cpu.total_ns),
            secs(f.clients_cpu.user_ns),
            secs(f.clients_cpu.system_ns),
            mib(f.server_peak_rss),
            mib(f.clients_peak_rss),
            login_time,
            logins,
        );
    }
    write_notes(&mut out, results);
    out
}

/// The runs' notes, one line per run that has any, after a table.
fn write_notes(out: &mut String, results: &[RunResult]) {
    let notes: Vec<String> = results
        .iter()
        .filter_map(|r| {
            let f = r.outcome.as_ref().ok()?;
            (!f.notes.is_empty()).then(|| {
                format!(
                    "- {} {} N={} W={}: {}",
                    r.runtime,
                    r.implementation,
                    r.clients,
                    r.window,
                    f.notes.join("; ")
                )
            })
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
}

/// The scale table: one row per runtime.
pub fn render_scale_table(results: &[RunResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| runtime | sessions (callback + backchannel) | set-up s | server RSS ready / peak MiB | server MiB per 1 000 sessions | broadcasts | broadcast done p50 / max ms | per-client latency p50 / p99 / max ms | server CPU ms per broadcast | clients RSS MiB |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let Ok(f) = &r.outcome else {
            let _ = writeln!(
                out,
                "| {} | {} | FAILED: {} | | | | | | | |",
                r.runtime,
                r.clients,
                r.outcome.as_ref().err().map_or("", String::as_str)
            );
            continue;
        };
        let mut done = f.broadcast_ns.clone();
        done.sort_unstable();
        let p50 = done.get(done.len() / 2).copied().unwrap_or(0);
        let max = done.last().copied().unwrap_or(0);
        let broadcasts = done.len().max(1) as u64;
        let _ = writeln!(
            out,
            "| {} | {} ({} + {}) | {:.1} | {} / {} | {:.2} | {} | {} / {} | {} / {} / {} | {:.1} | {} |",
            r.runtime,
            r.clients,
            r.clients - r.backchannel,
            r.backchannel,
            f.setup_seconds,
            mib(f.server_ready_rss),
            mib(f.server_peak_rss),
            f.server_ready_rss as f64 / (1024.0 * 1024.0) / (r.clients as f64 / 1000.0),
            done.len(),
            ms(p50),
            ms(max),
            ms(f.latency.quantile(0.5)),
            ms(f.latency.quantile(0.99)),
            ms(f.latency.max()),
            f.server_cpu.total_ns as f64 / 1e6 / broadcasts as f64,
            mib(f.clients_peak_rss),
        );
    }
    write_notes(&mut out, results);
    out
}
