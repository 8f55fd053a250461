//! Runs every scenario under /scenarios (format: `scenarios/README.md`).

use std::path::PathBuf;

#[test]
fn every_scenario_passes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 30,
        "expected the scenario corpus, found {}",
        paths.len()
    );
    let mut out = Vec::new();
    let sum = guest_memfd::scenario::run_files(&paths, &mut out);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(sum.failed, 0, "{text}");
    assert!(text
        .trim_end()
        .ends_with(&format!("{} passed, 0 failed", paths.len())));
}
