//! Seeded cluster runs [D-17]: two or three server cores on a model of the
//! shared log and session store, under server crashes, graceful restarts,
//! frozen servers, bus partitions, a slow bus and connection resets, with
//! every invariant of `faxnotify_sim::cluster` checked.
//!
//! `FAXNOTIFY_CLUSTER_SEEDS=FIRST..END` runs another range (a soak:
//! `FAXNOTIFY_CLUSTER_SEEDS=0..100000 cargo test --release -p faxnotify-sim
//! --test cluster_seeds -- --nocapture`).

use std::collections::BTreeMap;
use std::ops::Range;

use faxnotify_sim::SimRng;
use faxnotify_sim::cluster::{self, ClusterConfig, ClusterReport, ClusterScenario};

/// Seeds run by a plain `cargo test`.
const DEFAULT_SEEDS: Range<u64> = 0..60;

fn run(seed: u64) -> ClusterReport {
    let mut rng = SimRng::new(seed ^ 0x0c1a_57e7);
    let faults = rng.range(2, 10) as usize;
    let scenario = ClusterScenario::random(&mut rng, faults);
    cluster::run(&ClusterConfig::new(seed), &scenario).unwrap_or_else(|violation| {
        panic!(
            "{violation}\nreproduce with: FAXNOTIFY_CLUSTER_SEEDS={seed}..{} \
             cargo test --release -p faxnotify-sim --test cluster_seeds -- --nocapture",
            seed + 1
        )
    })
}

fn seeds() -> Range<u64> {
    let Ok(spec) = std::env::var("FAXNOTIFY_CLUSTER_SEEDS") else {
        return DEFAULT_SEEDS;
    };
    let (a, b) = spec
        .split_once("..")
        .expect("FAXNOTIFY_CLUSTER_SEEDS is FIRST..END");
    let parse = |s: &str| s.trim().parse::<u64>().expect("a seed");
    parse(a)..parse(b)
}

#[test]
fn clustered_servers_lose_nothing_accepted_under_faults() {
    let mut observed: BTreeMap<String, u64> = BTreeMap::new();
    let (mut accepted, mut handed, mut runs) = (0u64, 0u64, 0u64);
    for seed in seeds() {
        let report = run(seed);
        runs += 1;
        accepted += report.accepted;
        handed += report.handed;
        for (what, n) in report.observed {
            *observed.entry(what).or_default() += n;
        }
    }
    println!("{runs} cluster runs: {accepted} notifications accepted, {handed} handed over");
    for (what, n) in &observed {
        println!("  {what}: {n}");
    }
    // The faults the runs exist for did happen.
    for must in [
        "server killed",
        "server restarted gracefully",
        "server lost the bus",
        "server gave its sessions up without the bus",
        "session restored on another server",
        "compare-and-set lost a race",
        "seq the client had from the previous server",
        "client resumed",
        "log message of several notifications",
        "session resumed in the middle of a log message",
        "log message handed over in part (queue full)",
        "server frozen past its owner lease",
        "woke: late timers before what waited",
        "woke: what waited before late timers",
        "session released before its unrenewed lease ran out",
    ] {
        assert!(
            observed.get(must).copied().unwrap_or(0) > 0,
            "no run exercised {must:?}: {observed:?}"
        );
    }
}

#[test]
fn the_same_seed_runs_the_same_way() {
    // A plain seed, and the first whose faults include a node frozen past
    // its lease (its waking order is drawn from the seed too).
    let froze = (0..)
        .find(|&s| {
            run(s)
                .observed
                .contains_key("server frozen past its owner lease")
        })
        .expect("a seed");
    for seed in [3, froze] {
        let a = run(seed);
        let b = run(seed);
        assert_eq!(
            (a.accepted, a.handed, a.virtual_time, &a.observed),
            (b.accepted, b.handed, b.virtual_time, &b.observed),
            "seed {seed}"
        );
    }
}
