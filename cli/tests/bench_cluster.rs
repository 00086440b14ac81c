//! `faxnotify bench --cluster`, small: three servers in cluster mode on a
//! real 3-node NATS cluster beside a standalone server in the same run, and
//! the bus's per-message costs; without nats-server, a plain refusal.

mod common;

use common::faxnotify;
use faxnotify_cluster::harness::skip_unless_available;

/// The table's rows whose first cell is `first`, as cells.
fn rows<'a>(table: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    table
        .lines()
        .filter(|l| l.starts_with(&format!("| {first} |")))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

#[test]
fn a_small_cluster_bench_puts_three_clustered_servers_beside_one_standalone() {
    if skip_unless_available(
        "a_small_cluster_bench_puts_three_clustered_servers_beside_one_standalone",
    ) {
        return;
    }
    let out = faxnotify()
        .args([
            "bench",
            "--cluster",
            "--clients",
            "6",
            "--window",
            "8",
            "--notifications",
            "30",
            "--bus-messages",
            "100",
        ])
        .timeout(std::time::Duration::from_secs(240))
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!text.contains("FAILED"), "{text}");
    assert!(!text.contains("received"), "nothing lost: {text}");
    // tokio only, no raw baseline: the standalone row, then the cluster row.
    let rows = rows(&text, "tokio");
    assert_eq!(rows.len(), 2, "{text}");
    let (standalone, cluster) = (&rows[0], &rows[1]);
    assert_eq!(
        (standalone[1], cluster[1]),
        ("faxnotify", "cluster"),
        "{text}"
    );
    for row in [standalone, cluster] {
        assert_eq!(
            (row[2], row[3], row[4]),
            ("6", "8", "30"),
            "N, W, M: {text}"
        );
        let p50: f64 = row[9].parse().unwrap();
        let p99: f64 = row[10].parse().unwrap();
        assert!(p50 > 0.0 && p99 >= p50, "latencies: {text}");
    }
    let rate: f64 = standalone[5].parse().unwrap();
    let cluster_rate: f64 = cluster[5].parse().unwrap();
    let ratio: f64 = cluster[8].parse().unwrap();
    assert!(rate > 0.0 && cluster_rate > 0.0, "{text}");
    assert!(
        (ratio - cluster_rate / rate).abs() < 0.01,
        "×plain is cluster / standalone: {text}"
    );
    // Three server processes: three times the threads' worth of memory at least.
    let rss: f64 = cluster[14].parse().unwrap();
    let standalone_rss: f64 = standalone[14].parse().unwrap();
    assert!(rss > 2.0 * standalone_rss, "three servers' memory: {text}");
    assert!(text.contains("nats-server CPU"), "{text}");
    // At most one log message per notification (a user's notifications
    // that wait for the previous message share one), and reports for them
    // (one message per acknowledgement and origin).
    let stored = text
        .split("the bus stored ")
        .nth(1)
        .and_then(|rest| rest.split_once(" notifications"))
        .map(|(counts, _)| counts.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default();
    let log: u64 = stored.first().and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!((1..=180).contains(&log), "log messages: {text}");
    let reports: u64 = stored.get(3).and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!(reports >= 1, "reports: {text}");

    // The bus's costs: every measurement, with a rate.
    let bus: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("| bus "))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(bus.len(), 5, "{text}");
    for line in bus {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let per_second: f64 = cells[2].parse().unwrap();
        assert!(per_second > 0.0, "{line}");
    }
    assert!(text.contains("100 messages per measurement"), "{text}");
}

#[test]
fn without_nats_server_a_cluster_bench_says_what_is_missing_and_how_to_get_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = faxnotify()
        .args(["bench", "--cluster", "--clients", "1", "--window", "1"])
        .env("PATH", empty.path())
        .env_remove("FAXNOTIFY_NATS_TEST")
        .assert()
        .failure();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("nats-server is not installed")
            && stderr.contains("apt-get install -y nats-server"),
        "{stderr}"
    );
    assert!(out.get_output().stdout.is_empty(), "no table: {stderr}");
}
