//! Replays every input under `fuzz/regressions/<target>/` through the same harness the fuzz
//! target uses (`authgate::fuzzing`), so a crash found once stays fixed without nightly.

use std::path::Path;

#[test]
fn every_regression_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut ran = 0;
    for (name, harness) in authgate::fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            let data = std::fs::read(&path).expect("read regression input");
            let outcome = std::panic::catch_unwind(|| harness(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target `{name}` panics on {}",
                path.display()
            );
            ran += 1;
        }
    }
    assert!(
        ran >= authgate::fuzzing::TARGETS.len(),
        "only {ran} inputs found under {}",
        root.display()
    );
}
