//! Symmetry reduction is trusted only because it gives the same verdicts
//! as the unreduced search on every gate row: every configuration under
//! `configs/` (the liveness rows too: their safety and sanity properties
//! are searched both ways here, though the gate checks them for liveness
//! only), every `always` and `sometimes` property, and every path the
//! reduced search reports is a real path of the model that ends where the
//! property is discovered.

use model::gate::load_dir;
use model::symmetry::Symmetry;
use model::{GmemModel, State};
use stateright::{Expectation, Model};
use std::collections::BTreeSet;

/// A reduced discovery is a path of the model from its initial state,
/// ending in a state that violates (always) or satisfies (sometimes) the
/// property.
fn real_path(name: &str, m: &GmemModel, p: &str, d: &search::Discovery<GmemModel>) {
    assert_eq!(d.states.len(), d.actions.len() + 1, "{name}: {p}");
    let init = m.init_states();
    assert_eq!(
        d.states[0], init[d.init],
        "{name}: {p}: starts at the initial state"
    );
    for (k, a) in d.actions.iter().enumerate() {
        let next: Option<State> = m.next_state(&d.states[k], *a);
        assert_eq!(
            next.as_ref(),
            Some(&d.states[k + 1]),
            "{name}: {p}: step {k} ({a:?}) is a step of the model"
        );
    }
    let prop = m
        .properties()
        .into_iter()
        .find(|q| q.name == p)
        .expect("a discovered property is a property of the model");
    let holds = (prop.condition)(m, d.last_state().unwrap());
    assert_eq!(
        holds,
        prop.expectation != Expectation::Always,
        "{name}: {p} at the end of the reduced search's path"
    );
}

#[test]
fn every_gate_row_same_verdicts_reduced() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let rows = load_dir(&dir).expect("configs/ loads");
    assert!(rows.len() >= 70, "{} rows", rows.len());
    let opts = search::Options {
        threads: 2,
        ..Default::default()
    };
    let mut reduced_somewhere = 0;
    for g in &rows {
        let m = GmemModel::new(g.cfg.clone()).unwrap();
        let sym = Symmetry::of(m.cfg());
        let t0 = std::time::Instant::now();
        let plain = search::run(&m, &opts).unwrap();
        let t1 = t0.elapsed();
        let t0 = std::time::Instant::now();
        let canon = |s: &State| sym.canonical(s);
        let red =
            search::run_reduced(&m, &opts, &canon).unwrap_or_else(|e| panic!("{}: {e}", g.name));
        let t2 = t0.elapsed();
        assert!(plain.is_complete() && red.is_complete(), "{}", g.name);
        let a: BTreeSet<&str> = plain.discoveries.keys().copied().collect();
        let b: BTreeSet<&str> = red.discoveries.keys().copied().collect();
        assert_eq!(
            a, b,
            "{}: discovered properties, unreduced vs reduced",
            g.name
        );
        for (p, d) in &red.discoveries {
            real_path(&g.name, &m, p, d);
        }
        if plain.end == search::End::Exhausted {
            assert_eq!(red.end, search::End::Exhausted, "{}", g.name);
            assert!(red.unique <= plain.unique, "{}", g.name);
            if red.unique < plain.unique {
                reduced_somewhere += 1;
            }
        }
        eprintln!(
            "{:<40} {:>6.2}s {:>6.2}s {:>9} {:>9} {:>6.2} {:?} {}",
            g.name,
            t1.as_secs_f64(),
            t2.as_secs_f64(),
            plain.unique,
            red.unique,
            plain.unique as f64 / red.unique.max(1) as f64,
            plain.end,
            sym.describe()
        );
    }
    assert!(reduced_somewhere > 0);
}
