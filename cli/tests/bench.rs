//! `faxnotify bench` end to end, small: every run completes on every
//! runtime (mio, smol, tokio), with its raw baseline and the ratio beside it.

mod common;

use common::{RUNTIMES, faxnotify};

/// The table's rows for one runtime, as cells.
fn rows<'a>(table: &'a str, runtime: &str) -> Vec<Vec<&'a str>> {
    table
        .lines()
        .filter(|l| l.starts_with(&format!("| {runtime} |")))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

#[test]
fn a_small_bench_measures_every_runtime_against_the_raw_baseline() {
    let out = faxnotify()
        .args([
            "bench",
            "--clients",
            "3",
            "--window",
            "1,8",
            "--notifications",
            "40",
        ])
        .assert()
        .success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!table.contains("FAILED"), "{table}");
    assert!(!table.contains("received"), "nothing lost: {table}");
    for runtime in RUNTIMES {
        let rows = rows(&table, runtime);
        // (faxnotify, raw) for each window.
        assert_eq!(rows.len(), 4, "{runtime}: {table}");
        for pair in rows.chunks(2) {
            let (fnp, raw) = (&pair[0], &pair[1]);
            assert_eq!((fnp[1], raw[1]), ("faxnotify", "raw"), "{table}");
            assert_eq!((fnp[2], fnp[4]), ("3", "40"), "N and M: {table}");
            let rate: f64 = fnp[5].parse().unwrap();
            let raw_rate: f64 = raw[5].parse().unwrap();
            let ratio: f64 = fnp[7].parse().unwrap();
            assert!(rate > 0.0 && raw_rate > 0.0, "{table}");
            assert!(
                (ratio - rate / raw_rate).abs() < 0.01,
                "the ratio is faxnotify / raw: {table}"
            );
        }
    }
}

#[test]
fn a_small_scale_run_reports_broadcasts_and_the_backchannel_share() {
    let out = faxnotify()
        .args([
            "bench",
            "--scale",
            "--runtime",
            "mio",
            "--clients",
            "20",
            "--broadcasts",
            "3",
        ])
        .assert()
        .success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let rows = rows(&table, "mio");
    assert_eq!(rows.len(), 1, "{table}");
    assert_eq!(
        rows[0][1], "20 (18 + 2)",
        "10 % over the backchannel: {table}"
    );
    assert_eq!(rows[0][5], "3", "broadcasts: {table}");
}

#[test]
fn a_small_bench_over_tls_puts_tls_beside_plain_faxnotify() {
    let out = faxnotify()
        .args([
            "bench",
            "--tls",
            "--no-raw",
            "--clients",
            "2",
            "--window",
            "8",
            "--notifications",
            "40",
        ])
        .assert()
        .success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!table.contains("FAILED"), "{table}");
    assert!(!table.contains("received"), "nothing lost: {table}");
    for runtime in RUNTIMES {
        let rows = rows(&table, runtime);
        assert_eq!(rows.len(), 2, "{runtime}: {table}");
        let (plain, tls) = (&rows[0], &rows[1]);
        assert_eq!(
            (plain[1], tls[1]),
            ("faxnotify", "faxnotify+tls"),
            "{table}"
        );
        let rate: f64 = plain[5].parse().unwrap();
        let tls_rate: f64 = tls[5].parse().unwrap();
        let ratio: f64 = tls[8].parse().unwrap();
        assert!(
            (ratio - tls_rate / rate).abs() < 0.01,
            "×plain is TLS / plain: {table}"
        );
        // Both logged every client in.
        for row in [plain, tls] {
            let logins: f64 = row[17].parse().unwrap();
            assert!(logins > 0.0, "{table}");
        }
    }
}

#[test]
fn a_run_whose_clients_cannot_listen_ends_at_once_saying_how_many_and_why() {
    // The clients' only callback port, held here on the wildcard address,
    // which conflicts with every loopback address a clients process uses:
    // each client with a listener fails to bind, as when ephemeral ports
    // run out. Before the fix the server waited for them until the timeout.
    let held = std::net::TcpListener::bind(("0.0.0.0", 0)).expect("a port to hold");
    let port = held.local_addr().expect("its port").port();
    let range = format!("{port}-{port}");
    for runtime in RUNTIMES {
        let out = faxnotify()
            .args([
                "bench",
                "--scale",
                "--runtime",
                runtime,
                "--clients",
                "20",
                "--broadcasts",
                "1",
                "--listen-ports",
                &range,
                // A regression would wait this long and say "timed out".
                "--timeout",
                "120",
            ])
            .assert()
            .failure();
        let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let rows = rows(&table, runtime);
        assert_eq!(rows.len(), 1, "{table}");
        let row = rows[0].join("|");
        // 2 of the 20 take delivery over the backchannel and start.
        assert!(
            row.contains("18 of 20 clients could not bind a callback listener"),
            "{runtime}: {table}"
        );
        assert!(
            row.contains(&format!("callback range {range} is in use")),
            "{runtime}: why: {table}"
        );
        assert!(
            row.contains("Wait a minute for TIME-WAIT to clear, or lower --clients"),
            "{runtime}: what to do: {table}"
        );
    }
    drop(held);
}
