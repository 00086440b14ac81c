//! Every check of `adapter_tests` runs in every adapter: the
//! `adapter_tests!` macro lists each `pub fn name<H: Harness>()` of each
//! group file, and nothing else. A check written but not listed would
//! compile and silently never run.

use std::collections::BTreeSet;
use std::path::Path;

const CHECK: &str = "<H: Harness>()";
const GROUP: &str = "$crate::__adapter_test_group!($harness,";

/// `group::name` of every check written in the group files.
fn written(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("the adapter_tests directory") {
        let path = entry.expect("an entry").path();
        let group = path.file_stem().expect("a file name").to_string_lossy();
        if group == "mod" || group == "support" {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("a group file");
        for line in source.lines() {
            let Some(rest) = line.strip_prefix("pub fn ") else {
                continue;
            };
            if let Some(name) = rest.strip_suffix(&format!("{CHECK} {{")) {
                found.insert(format!("{group}::{name}"));
            }
        }
    }
    found
}

/// `group::name` of every check the macro expands to (read without
/// whitespace, whatever rustfmt makes of the invocations).
fn listed(macro_source: &str) -> BTreeSet<String> {
    let compact: String = macro_source.split_whitespace().collect();
    let mut found = BTreeSet::new();
    for block in compact.split(GROUP).skip(1) {
        let (group, rest) = block.split_once(",[").expect("group,[names]");
        let (names, _) = rest.split_once(']').expect("the end of the names");
        for name in names.split(',').filter(|n| !n.is_empty()) {
            found.insert(format!("{group}::{name}"));
        }
    }
    found
}

#[test]
fn the_macro_runs_every_check_written() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/adapter_tests");
    let macro_source = std::fs::read_to_string(dir.join("mod.rs")).expect("mod.rs");
    let written = written(&dir);
    let listed = listed(&macro_source);
    assert!(written.len() >= 20, "too few checks found: {written:?}");
    let unlisted: Vec<_> = written.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&written).collect();
    assert!(
        unlisted.is_empty(),
        "checks adapter_tests! does not run: {unlisted:?}"
    );
    assert!(
        missing.is_empty(),
        "adapter_tests! runs checks not written: {missing:?}"
    );
}
