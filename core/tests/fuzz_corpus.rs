//! Replays every committed fuzz corpus file through its harness, so machines
//! without a nightly toolchain still check them (and a crash found by the
//! fuzzer, once committed to the corpus, stays fixed); and checks that the
//! seeds of the structured targets are what `faxnotify_core::fuzzing::seeds`
//! builds. `FAXNOTIFY_WRITE_SEEDS=1` (re)writes them.

use std::path::{Path, PathBuf};

use faxnotify_core::fuzzing;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, harness: fn(&[u8])) {
    let dir = corpus(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the {target} corpus is empty");
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| harness(&data));
        assert!(
            outcome.is_ok(),
            "{} fails the {target} harness",
            file.display()
        );
    }
}

#[test]
fn decode_corpus() {
    replay("decode", fuzzing::decode);
}

#[test]
fn client_corpus() {
    replay("client", fuzzing::client);
}

#[test]
fn server_corpus() {
    replay("server", fuzzing::server);
}

#[test]
fn server_tls_corpus() {
    replay("server_tls", fuzzing::server_tls);
}

#[test]
fn committed_seeds_are_current() {
    let write = std::env::var_os("FAXNOTIFY_WRITE_SEEDS").is_some();
    let seeds = fuzzing::seeds();
    assert!(seeds.iter().any(|s| s.target == "client"));
    assert!(seeds.iter().any(|s| s.target == "server"));
    assert!(seeds.iter().any(|s| s.target == "server_tls"));
    for seed in seeds {
        let path = corpus(seed.target).join(seed.name);
        if write {
            std::fs::create_dir_all(corpus(seed.target)).unwrap();
            std::fs::write(&path, &seed.data).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with FAXNOTIFY_WRITE_SEEDS=1 to write the seeds)",
                path.display()
            )
        });
        assert_eq!(
            committed,
            seed.data,
            "{} is stale (run with FAXNOTIFY_WRITE_SEEDS=1)",
            path.display()
        );
    }
}
