//! Replays every committed fuzz corpus file through its harness, so machines
//! without a nightly toolchain still check them (and a crash found by the
//! fuzzer, once committed to the corpus, stays fixed).

use std::path::Path;

fn replay(target: &str, harness: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
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
    replay("decode", faxnotify_core::fuzzing::decode);
}
