//! Replays every stored history in `regressions/*.json`: agreeing histories
//! must still agree (and produce their `expect`ed outcomes); a recorded
//! divergence must still diverge at its call, so a fix on either side is
//! noticed and the file updated.

use conformance::{regressions_dir, Regression};

#[test]
fn replay_regressions() {
    let mut files: Vec<_> = std::fs::read_dir(regressions_dir())
        .expect("regressions/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regression files");
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let r: Regression = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: unreadable: {e}", f.display()));
                continue;
            }
        };
        if let Err(e) = r.check() {
            failures.push(format!("{}: {e}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_divergence_is_detected_when_compared_strictly_only() {
    let text = std::fs::read_to_string(regressions_dir().join("d1-stage2-filter.json")).unwrap();
    let mut r: Regression = serde_json::from_str(&text).unwrap();
    assert!(conformance::run(&r.history).is_err());
    r.history.strictness.stage2_exact = false;
    assert!(conformance::run(&r.history).is_ok());
}
