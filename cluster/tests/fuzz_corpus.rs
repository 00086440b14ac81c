//! Replays the committed `cluster` fuzz corpus through its harness, so
//! machines without a nightly toolchain still check it (and a crash found
//! by the fuzzer, once committed to the corpus, stays fixed).

use std::path::Path;

#[test]
fn cluster_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/cluster");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the cluster corpus lost its seeds");
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| faxnotify_cluster::fuzzing::bus(&data));
        assert!(
            outcome.is_ok(),
            "{} fails the cluster harness",
            file.display()
        );
    }
}
