//! The compact liveness engine (`liveness::check`: fingerprints, 8-byte edges, lassos
//! replayed from the initial state) against the reference engine it replaced
//! (`liveness::reference::check`: every state stored in full): on every liveness row of the
//! gate and every liveness property the row exercises, the verdicts, the lassos (initial
//! state, every stem and loop step with its state, the fairness witnesses) and the graph's
//! counts must be equal. (Rows over 500,000 states, the `@full` rows of the largest
//! designs, are compared at that scale in docs/benchmarks.md instead.)

use liveness::{reference, Options, Verdict};
use model::gate::{GateConfig, Pass};

/// Every gate row, from `configs/`.
fn gate_configs() -> Vec<GateConfig> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    model::gate::load_dir(&dir).expect("configs/ loads")
}
use model::{properties, GmemModel};

/// The largest graph the reference engine is run on here.
const REFERENCE_MAX_STATES: usize = 500_000;

#[test]
fn compact_and_reference_engines_agree_on_every_liveness_gate_row() {
    let opts = Options::default();
    let mut compared = 0;
    let mut violated = 0;
    let mut skipped = 0;
    for row in gate_configs()
        .into_iter()
        .filter(|r| r.pass == Pass::Liveness)
    {
        let m = GmemModel::new(row.cfg.clone()).expect("gate rows are valid");
        for (id, scope) in properties::liveness(m.cfg()).into_iter().flat_map(|id| {
            properties::pending_scopes(m.cfg(), id)
                .into_iter()
                .map(move |sc| (id, sc))
        }) {
            let pending = |s: &_| properties::eval_in(&m, s, id, scope);
            let new = liveness::check(&m, pending, &opts);
            let what = format!("{} / {} / {scope:?}", row.name, id.name());
            if new.states > REFERENCE_MAX_STATES {
                // The reference engine keeps every state in full (about
                // 1.3 KB each): the largest `@full` rows would take
                // gigabytes. Only rows built on a safety row's whole
                // configuration may be that large.
                assert!(row.base.is_some(), "{what}: {} states", new.states);
                skipped += 1;
                continue;
            }
            let old = reference::check(&m, pending, &opts);
            assert_eq!(new.verdict, old.verdict, "{what}: verdict or lasso differs");
            assert_eq!(
                (
                    new.states,
                    new.edges,
                    new.pending_states,
                    new.truncated_states
                ),
                (
                    old.states,
                    old.edges,
                    old.pending_states,
                    old.truncated_states
                ),
                "{what}: graph differs"
            );
            // n*m/2^64: about 3e-8 at the 382k states of huge_whole@full.
            assert!(new.collision_probability < 1e-6, "{what}");
            if let Verdict::Violated(l) = &new.verdict {
                // The replayed lasso is a real behaviour of the model.
                assert!(l.to_path(&m).is_some(), "{what}: lasso does not replay");
                violated += 1;
            }
            compared += 1;
        }
    }
    // Every liveness row exercises a property, and some rows violate one: the comparison
    // covers lassos, not only "holds".
    eprintln!("{compared} row/property pairs compared, {violated} violated, {skipped} too large");
    assert!(
        skipped <= 8,
        "{skipped} row/property pairs too large to compare"
    );
    assert!(
        compared >= 20,
        "only {compared} row/property pairs compared"
    );
    assert!(violated >= 5, "only {violated} violations compared");
}

#[test]
fn a_bound_never_holds_and_a_found_violation_survives_it() {
    let row = gate_configs()
        .into_iter()
        .find(|r| r.name == "inplace@faulting_gup_users")
        .expect("row exists");
    let m = GmemModel::new(row.cfg).unwrap();
    let id = invariants::PropertyId::ConversionEventuallySucceeds;
    let full = model::live::check(&m, id, &Options::default());
    assert!(full.lasso().is_some(), "the row's livelock is found");
    for opts in [
        Options {
            max_states: Some(full.states / 10),
            ..Default::default()
        },
        Options {
            timeout: Some(std::time::Duration::ZERO),
            ..Default::default()
        },
    ] {
        let r = model::live::check(&m, id, &opts);
        assert!(!r.holds(), "{opts:?}: a bounded run said holds");
        assert!(r.truncated_states > 0, "{opts:?}");
    }
}
