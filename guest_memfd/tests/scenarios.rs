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

/// The v13 and host-reach scenarios assert real outcomes: with the guard
/// that a behaviour rests on removed (a bug switch), the scenario
/// exercising it fails (a mismatch or an invariant violation after a step).
#[test]
fn v13_scenarios_fail_without_their_guards() {
    use guest_memfd::scenario::{parse::parse, run_scenario};
    use guest_memfd::Bug;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let cases = [
        (
            "conversions_v13.two_vm_binding.json",
            Bug::InvalidateOneBinding,
        ),
        ("conversions_v13.two_vm_binding.json", Bug::ZapWrongFilter),
        ("conversions_v13.indexing.json", Bug::ZapWrongFilter),
        ("conversions_v13.indexing.json", Bug::NoMakeShared),
        ("conversions_v13.truncate.json", Bug::NoReclaimOnFree),
        (
            "conversions_v13.error_offset_in_gmem_mapping.json",
            Bug::CopyOutUnderLock,
        ),
        (
            "conversions_v13.pinned_fastfail_with_lru_neighbour.json",
            Bug::NoLruDrain,
        ),
        (
            "host_reach.odp_retry_catches_conversion.json",
            Bug::OdpNoRetry,
        ),
        ("host_reach.odp_retry_after_punch.json", Bug::OdpNoRetry),
    ];
    for (file, bug) in cases {
        let text = std::fs::read_to_string(dir.join(file)).expect("read");
        let mut sc = parse(file, &text).expect("parses");
        let clean = run_scenario(file, &sc).expect("runs");
        assert!(clean.passed, "{file}: {:?}", clean.lines);
        sc.config.bugs = vec![bug];
        let r = run_scenario(file, &sc).expect("runs");
        assert!(
            !r.passed,
            "{file} passes with {} on:\n{}",
            bug.name(),
            r.lines.join("\n")
        );
    }
}
