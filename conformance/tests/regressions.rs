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

/// The former stage-2 divergences agree under the strict comparison.
#[test]
fn resolved_stage2_divergences_agree_strictly() {
    for f in [
        "d1-stage2-filter.json",
        "d2-stage2-rounding.json",
        "d4-huge-whole-partial-punch-stage2.json",
    ] {
        let text = std::fs::read_to_string(regressions_dir().join(f)).unwrap();
        let r: Regression = serde_json::from_str(&text).unwrap();
        assert!(r.history.strictness.stage2_exact, "{f}: strict");
        assert!(conformance::run(&r.history).is_ok(), "{f}");
    }
}
